import numpy as np

import graphc.ops as O
from passes import FuseMatMulAdd
from pass_helpers import build, check_pass, const

W = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
B = np.arange(3, dtype=np.float32)


def test_matmul_add_becomes_gemm():
    def before(x):
        return O.relu(O.add(const(B), O.matmul(x, const(W))))

    def expected(x):
        return O.relu(O.gemm(x, const(W), const(B)))

    check_pass(FuseMatMulAdd(), build(before, {"x": ("batch", 4)}), build(expected, {"x": ("batch", 4)}))


def test_does_not_fire_for_rank_3_or_shared_matmul():
    def rank3(x):
        return O.add(O.matmul(x, const(W)), const(B))

    p = FuseMatMulAdd()
    check_pass(p, build(rank3, {"x": (2, 5, 4)}), fires=False)
    assert "Gemm needs 2" in " ".join(p.near_misses.values())

    def shared(x):
        y = O.matmul(x, const(W))
        return O.add(y, const(B)), y

    p = FuseMatMulAdd()
    check_pass(p, build(shared, {"x": (2, 4)}), fires=False)
    assert "other uses" in " ".join(p.near_misses.values())


def test_does_not_fire_when_bias_grows_the_result():
    def before(x):
        return O.add(O.matmul(x, const(W)), const(np.ones((2, 1, 3))))

    p = FuseMatMulAdd()
    check_pass(p, build(before, {"x": (2, 4)}), fires=False)
    assert "rank 3" in " ".join(p.near_misses.values())
