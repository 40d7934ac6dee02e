import numpy as np

import graphc.ops as O
from graphc.ir import TensorType
from passes import FuseConsecutiveGathers
from pass_helpers import build, check_pass, const


def _i64(values):
    return const(np.asarray(values, np.int64), np.int64)


def test_gather_of_a_shape_gather_is_one_gather():
    # the element count of a symbolic axis: Shape -> Gather([0]) -> Gather(0)
    def before(x):
        n = O.gather(O.gather(O.shape_of(x), _i64([0, 2])), _i64(0))
        return O.mul(O.cast(n, "float32"), const(2.0))

    def expected(x):
        return O.mul(O.cast(O.gather(O.shape_of(x), _i64(0)), "float32"), const(2.0))

    inputs = {"x": ("batch", 3, 4)}
    g = check_pass(FuseConsecutiveGathers(), build(before, inputs), build(expected, inputs))
    assert g.count_ops()["Gather"] == 1


def test_along_an_inner_axis_with_negative_and_matrix_indices():
    def before(x):
        return O.gather(O.gather(x, _i64([3, -1, 0]), axis=1), _i64([[-1, 0], [1, 1]]), axis=1)

    def expected(x):
        return O.gather(x, _i64([[0, 3], [-1, -1]]), axis=1)

    check_pass(FuseConsecutiveGathers(), build(before, {"x": (2, 5)}), build(expected, {"x": (2, 5)}))


def test_does_not_fire():
    p = FuseConsecutiveGathers()

    def other_axis(x):
        return O.gather(O.gather(x, _i64([1, 0]), axis=0), _i64([2]), axis=1)

    check_pass(p, build(other_axis, {"x": (3, 4)}), fires=False)
    assert "different axes" in " ".join(p.near_misses.values())

    def computed(x, i):
        return O.gather(O.gather(x, i), _i64([0]))

    check_pass(p, build(computed, {"x": (3, 4), "i": TensorType("int64", (2,))}), fires=False, ort_check=False)
    assert "not both constants" in " ".join(p.near_misses.values())
