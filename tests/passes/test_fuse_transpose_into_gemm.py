import numpy as np

import graphc.ops as O
from passes import FuseTransposeIntoGemm
from pass_helpers import build, check_pass, const

W = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)


def test_transposes_become_trans_flags():
    def before(x):
        return O.gemm(O.transpose(x, (1, 0)), O.transpose(const(W), (1, 0)), const(np.ones(3)))

    def expected(x):
        return O.gemm(x, const(W), const(np.ones(3)), transA=1, transB=1)

    check_pass(FuseTransposeIntoGemm(), build(before, {"x": (4, 2)}), build(expected, {"x": (4, 2)}))


def test_does_not_fire_without_transpose():
    p = FuseTransposeIntoGemm()
    check_pass(p, build(lambda x: O.gemm(x, const(W.T)), {"x": (2, 4)}), fires=False)
    assert "neither A nor B" in " ".join(p.near_misses.values())


def test_gradient_style_matmuls_become_gemm():
    def before(dy, a):
        return O.matmul(dy, O.transpose(const(W), (1, 0))), O.matmul(O.transpose(a, (1, 0)), dy)

    def expected(dy, a):
        return O.gemm(dy, const(W), transB=1), O.gemm(a, dy, transA=1)

    ins = {"dy": (5, 4), "a": (5, 3)}
    check_pass(FuseTransposeIntoGemm(), build(before, ins), build(expected, ins))


def test_does_not_fire_on_batched_matmul():
    p = FuseTransposeIntoGemm()
    check_pass(p, build(lambda x: O.matmul(O.transpose(x, (0, 2, 1)), x), {"x": (2, 3, 3)}), fires=False)
    assert "not a float 2-D product" in " ".join(p.near_misses.values())
