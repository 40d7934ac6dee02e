import graphc.ops as O
from passes import FoldNegIntoSub
from pass_helpers import build, check_pass


def test_add_and_sub_take_in_a_negation():
    def before(a, b, c):
        return O.add(O.neg(b), a), O.sub(c, O.neg(a))

    def expected(a, b, c):
        return O.sub(a, b), O.add(c, a)

    inputs = {"a": (3, 4), "b": (4,), "c": (1, 4)}
    g = check_pass(FoldNegIntoSub(), build(before, inputs), build(expected, inputs))
    assert "Neg" not in g.count_ops()


def test_neg_moves_past_a_reduce_sum_into_the_gradient_sum():
    # the gradient of p / s with respect to s, summed with the other path's gradient
    def before(g, q):
        return O.add(g, O.reduce_sum(O.neg(O.mul(g, q)), (1,), keepdims=True))

    def expected(g, q):
        return O.sub(g, O.reduce_sum(O.mul(g, q), (1,), keepdims=True))

    inputs = {"g": ("batch", 10), "q": ("batch", 10)}
    check_pass(FoldNegIntoSub(), build(before, inputs), build(expected, inputs))


def test_does_not_fire_when_the_neg_is_read_elsewhere_or_is_the_minuend():
    p = FoldNegIntoSub()

    def shared(a, b):
        n = O.neg(b)
        return O.add(a, n), O.relu(n)

    check_pass(p, build(shared, {"a": (2,), "b": (2,)}), fires=False)
    assert "read elsewhere" in " ".join(p.near_misses.values())

    def minuend(a, b):
        return O.sub(O.neg(a), b)

    check_pass(p, build(minuend, {"a": (2,), "b": (2,)}), fires=False)
    assert "no operand comes from a Neg" in " ".join(p.near_misses.values())
