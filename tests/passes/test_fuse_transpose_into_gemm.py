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
