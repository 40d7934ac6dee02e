import graphc.ops as O
from passes import FoldSqueezeIntoReduce
from pass_helpers import build, check_pass


def test_bias_gradient_reshape_becomes_keepdims_0():
    def before(dy):
        return O.relu(O.reshape(O.reduce_sum(dy, (0,), keepdims=True), (10,)))

    def expected(dy):
        return O.relu(O.reduce_sum(dy, (0,), keepdims=False))

    inputs = {"dy": ("batch", 10)}
    g = check_pass(FoldSqueezeIntoReduce(), build(before, inputs), build(expected, inputs))
    assert g.count_ops() == {"ReduceSum": 1, "Relu": 1}


def test_squeeze_and_flatten_of_spatial_means():
    def before(x):
        m = O.reduce_mean(x, (2, 3), keepdims=True)
        s = O.reduce_max(x, (2, 3), keepdims=True)
        return O.squeeze(m, (2, 3)), O.flatten(s)

    def expected(x):
        return O.reduce_mean(x, (2, 3), keepdims=False), O.reduce_max(x, (2, 3), keepdims=False)

    inputs = {"x": ("batch", 4, 3, 3)}
    check_pass(FoldSqueezeIntoReduce(), build(before, inputs), build(expected, inputs))


def test_does_not_fire():
    p = FoldSqueezeIntoReduce()

    def regroups(x):  # (2, 1, 6) -> (4, 3): more than dropping the reduced axis
        return O.reshape(O.reduce_sum(x, (1,), keepdims=True), (4, 3))

    check_pass(p, build(regroups, {"x": (2, 5, 6)}), fires=False)
    assert "the reshape does more" in " ".join(p.near_misses.values())

    def shared(x):  # the keepdims sum is read elsewhere: folding would compute it twice
        s = O.reduce_sum(x, (0,), keepdims=True)
        return O.reshape(s, (3,)), O.relu(s)

    check_pass(p, build(shared, {"x": (2, 3)}), fires=False)
    assert "read elsewhere" in " ".join(p.near_misses.values())
