import numpy as np

import graphc.ops as O
from graphc.ir import TensorType
from passes import FoldNegIntoConstant
from pass_helpers import build, check_pass, const


def test_neg_of_a_weighted_mean_seed_flips_the_constant():
    # the cross-entropy gradient: -(1 / n * w)
    def before(n, w):
        return O.relu(O.neg(O.mul(O.div(const([1.0]), n), w)))

    def expected(n, w):
        return O.relu(O.mul(O.div(const([-1.0]), n), w))

    inputs = {"n": (), "w": ("batch",)}
    g = check_pass(FoldNegIntoConstant(), build(before, inputs), build(expected, inputs))
    assert "Neg" not in g.count_ops()


def test_constant_on_either_side_of_mul_and_div():
    def before(x, y):
        return O.neg(O.mul(const(2.0), x)), O.neg(O.div(y, const(np.asarray([4.0, 0.5]))))

    def expected(x, y):
        return O.mul(const(-2.0), x), O.div(y, const(np.asarray([-4.0, -0.5])))

    inputs = {"x": (3, 2), "y": (3, 2)}
    check_pass(FoldNegIntoConstant(), build(before, inputs), build(expected, inputs))


def test_shared_constant_is_left_alone():
    def before(x, y):
        c = const(3.0)
        return O.neg(O.mul(x, c)), O.add(y, c)

    def expected(x, y):
        return O.mul(x, const(-3.0)), O.add(y, const(3.0))

    inputs = {"x": (2,), "y": (2,)}
    check_pass(FoldNegIntoConstant(), build(before, inputs), build(expected, inputs))


def test_does_not_fire_without_a_constant_or_when_the_product_is_read_elsewhere():
    p = FoldNegIntoConstant()

    def no_constant(x, y):
        return O.neg(O.mul(x, y))

    check_pass(p, build(no_constant, {"x": (2,), "y": (2,)}), fires=False)
    assert "no constant factor" in " ".join(p.near_misses.values())

    def shared_product(x):  # the product itself is also an output: it must keep its sign
        m = O.mul(x, const(2.0))
        return O.neg(m), m

    check_pass(p, build(shared_product, {"x": (2,)}), fires=False)

    def ints(k):
        return O.neg(O.mul(k, const(np.asarray(2, np.int64), np.int64)))

    check_pass(p, build(ints, {"k": TensorType("int64", (2,))}), fires=False, ort_check=False)
    assert "not a float type" in " ".join(p.near_misses.values())
