"""Softmax, LogSoftmax and the helper ops their gradients and Embedding need."""
from __future__ import annotations

import numpy as np

from graphc.ir import is_float

from .base import OpDef, emit, normalize_axis, register_op


class _SoftmaxBase(OpDef):
    def infer(self, x, axis=-1):
        if not is_float(x.dtype):
            raise TypeError(f"{self.name} needs a float tensor, received {x.dtype}")
        normalize_axis(axis, x.rank)
        return x


@register_op
class Softmax(_SoftmaxBase):
    """dX = Y * (dY - ReduceSum(dY * Y, axis))."""

    def ref(self, x, axis=-1):
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        return (e / np.sum(e, axis=axis, keepdims=True)).astype(x.dtype)

    def grad(self, node, dys):
        from .elementwise import mul, sub
        from .reduce import reduce_sum

        y, dy = node.outputs[0], dys[0]
        axis = normalize_axis(node.attrs.get("axis", -1), y.type.rank)
        return [mul(y, sub(dy, reduce_sum(mul(dy, y), (axis,))))]


@register_op
class LogSoftmax(_SoftmaxBase):
    """dX = dY - Exp(Y) * ReduceSum(dY, axis)."""

    def ref(self, x, axis=-1):
        m = np.max(x, axis=axis, keepdims=True)
        return (x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))).astype(x.dtype)

    def grad(self, node, dys):
        from .elementwise import exp, mul, sub
        from .reduce import reduce_sum

        y, dy = node.outputs[0], dys[0]
        axis = normalize_axis(node.attrs.get("axis", -1), y.type.rank)
        return [sub(dy, mul(exp(y), reduce_sum(dy, (axis,))))]


@register_op
class ConstantOfShapeLike(OpDef):
    """Y = a tensor of ``value`` with X's shape and dtype (lowered to ConstantOfShape(Shape(X)))."""

    differentiable = False

    def infer(self, x, value=0.0):
        return x

    def ref(self, x, value=0.0):
        return np.full(x.shape, value, dtype=x.dtype)

    def lower(self, ctx, node):
        shape = ctx.emit("Shape", [ctx.inputs[0]], [ctx.fresh("shape")])[0]
        value = np.full((1,), node.attrs.get("value", 0.0), dtype=ctx.dtype_of(0))
        ctx.emit("ConstantOfShape", [shape], ctx.outputs, value=value)


def _check_nd_indices(op: str, data, idx):
    if idx.dtype != "int64":
        raise TypeError(f"{op} indices must be int64, received {idx.dtype}")
    if idx.rank < 1:
        raise ValueError(f"{op} indices must have rank >= 1, received a scalar")
    k = idx.shape[-1]
    if not isinstance(k, int):
        raise ValueError(f"{op} needs a known last axis of the indices, received {idx.shape}")
    if k > data.rank:
        raise ValueError(f"{op}: index tuples of length {k} for a rank-{data.rank} tensor")
    return k


@register_op
class ScatterNDAdd(OpDef):
    """Y = copy of X with U added at the index tuples I (duplicates accumulate).

    I has shape (..., k), U shape I.shape[:-1] + X.shape[k:]. dX = dY, dU = GatherND(dY, I).
    Lowered to ONNX ScatterND with ``reduction="add"``.
    """

    nondiff_inputs = (1,)

    def infer(self, x, idx, u):
        k = _check_nd_indices("ScatterNDAdd", x, idx)
        expected = idx.shape[:-1] + x.shape[k:]
        if u.dtype != x.dtype:
            raise TypeError(f"ScatterNDAdd updates must have dtype {x.dtype}, received {u.dtype}")
        if len(u.shape) != len(expected) or any(
                isinstance(d, int) and isinstance(e, int) and d != e for d, e in zip(u.shape, expected)):
            raise ValueError(f"ScatterNDAdd updates must have shape {expected}, received {u.shape}")
        return x

    def ref(self, x, idx, u):
        y = x.copy()
        k = idx.shape[-1]
        flat_idx = idx.reshape(-1, k)
        flat_u = u.reshape((flat_idx.shape[0],) + x.shape[k:])
        np.add.at(y, tuple(flat_idx.T), flat_u)
        return y

    def lower(self, ctx, node):
        if ctx.dtype_of(0) == np.float16:
            # onnxruntime's CPU ScatterND has no float16 kernel with reduction="add": add in float32
            f32, f16 = ctx.onnx_dtype("float32"), ctx.onnx_dtype("float16")
            x = ctx.emit("Cast", [ctx.inputs[0]], 1, to=f32)[0]
            u = ctx.emit("Cast", [ctx.inputs[2]], 1, to=f32)[0]
            y = ctx.emit("ScatterND", [x, ctx.inputs[1], u], 1, reduction="add")[0]
            ctx.emit("Cast", [y], ctx.outputs, to=f16)
            return
        ctx.emit("ScatterND", ctx.inputs, ctx.outputs, reduction="add")

    def grad(self, node, dys):
        return [dys[0], None, gather_nd(dys[0], node.inputs[1])]


@register_op
class GatherND(OpDef):
    """Y[i...] = X[I[i..., :]] (ONNX GatherND, batch_dims 0). dX = ScatterNDAdd(zeros, I, dY)."""

    nondiff_inputs = (1,)

    def infer(self, x, idx):
        k = _check_nd_indices("GatherND", x, idx)
        return x.with_shape(idx.shape[:-1] + x.shape[k:])

    def ref(self, x, idx):
        k = idx.shape[-1]
        flat = idx.reshape(-1, k)
        return x[tuple(flat.T)].reshape(idx.shape[:-1] + x.shape[k:])

    def grad(self, node, dys):
        x, idx = node.inputs
        return [emit("ScatterNDAdd", zeros_like(x), idx, dys[0]), None]


def gather_nd(x, idx):
    return emit("GatherND", x, idx)


def softmax(x, axis=-1):
    return emit("Softmax", x, axis=int(axis))


def log_softmax(x, axis=-1):
    return emit("LogSoftmax", x, axis=int(axis))


def zeros_like(x):
    return emit("ConstantOfShapeLike", x, value=0.0)
