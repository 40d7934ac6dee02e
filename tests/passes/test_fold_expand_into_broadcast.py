import numpy as np

import graphc.ops as O
from graphc.ir import TensorType
from passes import FoldExpandIntoBroadcast, optimize
from pass_helpers import build, check_pass, const


def test_expand_to_the_other_operands_shape_is_dropped():
    # the gradient of a mean over classes: Expand(dY, Shape(x)) * mask, mask of x's shape
    def before(a, x, mask):
        return O.mul(O.expand_like(a, x), mask)

    def expected(a, x, mask):
        return O.mul(a, mask)

    inputs = {"a": ("batch", 1), "x": ("batch", 10), "mask": ("batch", 10)}
    g = check_pass(FoldExpandIntoBroadcast(), build(before, inputs), build(expected, inputs))
    assert "Expand" not in g.count_ops() and "Shape" not in g.count_ops()
    assert g.outputs[0].shape == ("batch", 10)


def test_same_value_and_constant_targets():
    def before(a, b, c):
        x = O.sub(c, O.expand_like(a, c))                          # target: Shape of the other operand
        y = O.add(O.expand(b, const(np.asarray([3, 4]), np.int64)), x)  # a constant target
        return O.where(O.greater(x, const(0.0)), O.expand_like(b, x), y)  # Where's other operands

    def expected(a, b, c):
        x = O.sub(c, a)
        y = O.add(b, x)
        return O.where(O.greater(x, const(0.0)), b, y)

    inputs = {"a": (3, 1), "b": (1, 4), "c": (3, 4)}
    check_pass(FoldExpandIntoBroadcast(), build(before, inputs), build(expected, inputs))


def test_both_operands_expanded():
    def before(a, b, x):
        return O.mul(O.expand_like(a, x), O.expand_like(b, x))

    def expected(a, b, x):
        return O.mul(a, b)

    p = FoldExpandIntoBroadcast()
    inputs = {"a": ("n", 1), "b": (1, 5), "x": ("n", 5)}  # a gives "n", b gives 5: both go
    check_pass(p, build(before, inputs), build(expected, inputs))
    # once the first Expand is gone, nothing else gives the 5: the second one stays
    g = check_pass(p, build(before, {"a": ("n", 1), "b": (1, 1), "x": ("n", 5)}))
    assert g.count_ops().get("Expand") == 1 and g.outputs[0].shape == ("n", 5)


def test_expand_moves_past_a_scalar_op_until_a_consumer_covers_it():
    # Expand(dY / n, Shape(x)) * 2 * mask: the Expand sinks past the scalar Mul, then vanishes
    def before(a, x, mask):
        return O.mul(O.mul(O.expand_like(a, x), const(2.0)), mask)

    def expected(a, x, mask):
        return O.mul(O.mul(a, const(2.0)), mask)

    inputs = {"a": ("batch", 1), "x": ("batch", 10), "mask": ("batch", 10)}
    check_pass(FoldExpandIntoBroadcast(), build(before, inputs), build(expected, inputs))


def test_expand_moves_past_an_op_that_does_not_cover_it_and_stops_at_other_ops():
    # (batch, 1) expanded to (batch, 10) then added to (batch, 1): the Add runs on (batch, 1) first
    def before(a, x, z):
        return O.unsqueeze(O.add(O.expand_like(a, x), z), (0,))

    def expected(a, x, z):
        return O.unsqueeze(O.expand_like(O.add(a, z), x), (0,))

    inputs = {"a": ("batch", 1), "x": ("batch", 10), "z": ("batch", 1)}
    g = check_pass(FoldExpandIntoBroadcast(), build(before, inputs), build(expected, inputs))
    assert g.outputs[0].shape == (1, "batch", 10)


def test_does_not_fire_when_the_expand_widens_the_result_and_is_read_elsewhere():
    def before(a, x, z):
        e = O.expand_like(a, x)
        return O.add(e, z), e

    p = FoldExpandIntoBroadcast()
    g = check_pass(p, build(before, {"a": ("batch", 1), "x": ("batch", 10), "z": ("batch", 1)}), fires=False)
    assert g.outputs[0].shape == ("batch", 10)
    assert "not provably equal" in " ".join(p.near_misses.values())


def test_does_not_fire_on_a_higher_rank_target_or_unknown_dims_or_a_computed_target():
    p = FoldExpandIntoBroadcast()

    def rank(a, c):  # (4,) expanded to (2, 4): the result has one more axis
        e = O.expand(a, const(np.asarray([2, 4]), np.int64))
        return O.mul(e, c), e

    check_pass(p, build(rank, {"a": (4,), "c": (4,)}), fires=False)
    assert "rank 2" in " ".join(p.near_misses.values())

    def unknown(a, x, c):  # x's first dim is unknown: it may differ from c's
        e = O.expand_like(a, x)
        return O.mul(e, c), e

    check_pass(p, build(unknown, {"a": (1, 3), "x": (None, 3), "c": (None, 3)}), fires=False)
    assert "not provably equal" in " ".join(p.near_misses.values())

    def computed(a, x, c):  # a target computed at run time says nothing statically
        e = O.expand(a, O.add(O.shape_of(x), const(np.zeros(2), np.int64)))
        return O.mul(e, c), e

    check_pass(p, build(computed, {"a": (1, 3), "x": (2, 3), "c": (2, 3)}), fires=False)
    assert "computed at run time" in " ".join(p.near_misses.values())


def test_mean_gradient_loses_its_expands_in_the_pipeline():
    from passes.autodiff import AppendGradients

    def loss(x, w, sw):  # a weighted mean over the batch of a mean over features, as losses are
        return O.reduce_mean(O.mul(O.reduce_mean(O.mul(x, w), (1,), keepdims=False), sw), keepdims=False)

    g = build(loss, {"x": ("batch", 6), "w": TensorType("float32", ("batch", 6)), "sw": ("batch",)})
    AppendGradients(g.outputs[0], [g.inputs[1]]).run(g)
    assert g.count_ops()["Expand"] == 2
    opt = optimize(g, level=1)
    assert "Expand" not in opt.count_ops(), opt.count_ops()
    from pass_helpers import assert_same_numbers

    assert_same_numbers(g, opt)
