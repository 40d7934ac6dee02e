"""MatMul and Gemm."""
from __future__ import annotations

import numpy as np

from graphc.ir import TensorType, broadcast_shapes, is_float
from graphc.ir.types import dims_equal

from .base import OpDef, emit, register_op


@register_op
class MatMul(OpDef):
    """Y = A @ B, batch dims broadcast. dA = dY @ B^T; dB = A^T @ dY summed over batch dims."""

    def infer(self, a, b):
        if a.dtype != b.dtype:
            raise TypeError(f"MatMul operands must share a dtype, received {a.dtype} and {b.dtype}")
        if a.rank == 0 or b.rank == 0:
            raise ValueError("MatMul operands must have rank >= 1")
        ash = a.shape if a.rank > 1 else (1,) + a.shape
        bsh = b.shape if b.rank > 1 else b.shape + (1,)
        if dims_equal(ash[-1], bsh[-2]) is False:
            raise ValueError(f"MatMul: last axis of A ({ash[-1]}) does not match axis -2 of B ({bsh[-2]})")
        batch = broadcast_shapes(ash[:-2], bsh[:-2])
        out = batch + (ash[-2],) * (a.rank > 1) + (bsh[-1],) * (b.rank > 1)
        return TensorType(a.dtype, out)

    def ref(self, a, b):
        return np.matmul(a, b)

    def grad(self, node, dys):
        from .shape import reshape, squeeze, transpose, unsqueeze

        a, b = node.inputs
        dy = dys[0]
        ra, rb = a.type.rank, b.type.rank
        # rank-1 operands: work on the promoted (1, K) / (K, 1) matrices, squeeze the result back
        if ra == 1 and rb == 1:
            dy = unsqueeze(dy, (0, 1))
        elif ra == 1:
            dy = unsqueeze(dy, (-2,))
        elif rb == 1:
            dy = unsqueeze(dy, (-1,))
        a2 = unsqueeze(a, (0,)) if ra == 1 else a
        b2 = unsqueeze(b, (-1,)) if rb == 1 else b
        da = matmul(dy, transpose(b2, _swap_last(b2.type.rank)))
        k, n = a2.shape[-1], b2.shape[-1]
        if b2.type.rank == 2 and a2.type.rank > 2 and isinstance(k, int) and isinstance(n, int):
            # one Gemm sums the batch dims of A and dY at once
            db = gemm(reshape(a2, (-1, k)), reshape(dy, (-1, n)), transA=1)
        else:
            db = matmul(transpose(a2, _swap_last(a2.type.rank)), dy)
        if ra == 1:
            da = squeeze(da, (-2,))
        if rb == 1:
            db = squeeze(db, (-1,))
        return [da, db]


def _swap_last(rank):
    return tuple(range(rank - 2)) + (rank - 1, rank - 2)


@register_op
class Gemm(OpDef):
    """Y = alpha * A' @ B' + beta * C (A' = A^T if transA, B' likewise; C broadcast)."""

    def infer(self, a, b, c=None, transA=0, transB=0, alpha=1.0, beta=1.0):
        if a.rank != 2 or b.rank != 2:
            raise ValueError(f"Gemm needs rank-2 A and B, received {a.shape} and {b.shape}")
        if not is_float(a.dtype) or a.dtype != b.dtype:
            raise TypeError(f"Gemm needs float operands of one dtype, received {a.dtype}, {b.dtype}")
        m, k = a.shape[::-1] if transA else a.shape
        k2, n = b.shape[::-1] if transB else b.shape
        if dims_equal(k, k2) is False:
            raise ValueError(f"Gemm: inner dims {k} and {k2} differ")
        if c is not None:
            broadcast_shapes((m, n), c.shape)
        return TensorType(a.dtype, (m, n))

    def ref(self, a, b, c=None, transA=0, transB=0, alpha=1.0, beta=1.0):
        from .elementwise import onnx_float

        a = a.T if transA else a
        b = b.T if transB else b
        y = onnx_float(alpha) * (a @ b)
        if c is not None:
            y = y + onnx_float(beta) * c
        return y.astype(a.dtype)

    def grad(self, node, dys):
        from .elementwise import mul, onnx_float

        a, b = node.inputs[0], node.inputs[1]
        ta, tb = node.attrs.get("transA", 0), node.attrs.get("transB", 0)
        alpha, beta = onnx_float(node.attrs.get("alpha", 1.0)), onnx_float(node.attrs.get("beta", 1.0))
        dy = dys[0]
        if alpha != 1.0:
            dy = mul(dy, np.asarray(alpha, dy.dtype))
        # Y = A' B'  =>  dA' = dY B'^T,  dB' = A'^T dY
        da = gemm(b, dy, transA=tb, transB=1) if ta else gemm(dy, b, transB=0 if tb else 1)
        db = gemm(dy, a, transA=1, transB=ta) if tb else gemm(a, dy, transA=0 if ta else 1)
        grads = [da, db]
        if len(node.inputs) > 2 and node.inputs[2] is not None:
            dc = dys[0] if beta == 1.0 else mul(dys[0], np.asarray(beta, dy.dtype))
            grads.append(dc)
        return grads


def matmul(a, b):
    return emit("MatMul", a, b)


def gemm(a, b, c=None, transA=0, transB=0, alpha=1.0, beta=1.0):
    attrs = {}
    if transA:
        attrs["transA"] = 1
    if transB:
        attrs["transB"] = 1
    if alpha != 1.0:
        attrs["alpha"] = float(alpha)
    if beta != 1.0:
        attrs["beta"] = float(beta)
    return emit("Gemm", a, b, c, **attrs) if c is not None else emit("Gemm", a, b, **attrs)
