"""Softmax, LogSoftmax and the helper ops their gradients and Embedding need."""
from __future__ import annotations

import numpy as np

from graphc.ir import TensorType, is_float

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


@register_op
class ScatterNDAdd(OpDef):
    """Y = copy of X with U added at the index tuples I (duplicates accumulate)."""

    nondiff_inputs = (1,)

    def infer(self, x, idx, u):
        if idx.dtype != "int64":
            raise TypeError(f"ScatterNDAdd indices must be int64, received {idx.dtype}")
        return x

    def ref(self, x, idx, u):
        y = x.copy()
        k = idx.shape[-1]
        flat_idx = idx.reshape(-1, k)
        flat_u = u.reshape((flat_idx.shape[0],) + x.shape[k:])
        np.add.at(y, tuple(flat_idx.T), flat_u)
        return y

    def lower(self, ctx, node):
        ctx.emit("ScatterND", ctx.inputs, ctx.outputs, reduction="add")

    def grad(self, node, dys):
        from .shape import gather

        idx = node.inputs[1]
        if idx.shape[-1] != 1:
            raise NotImplementedError("ScatterNDAdd gradient for multi-axis indices is not supported")
        from .shape import squeeze

        return [dys[0], None, gather(dys[0], squeeze(idx, (-1,)))]


def softmax(x, axis=-1):
    return emit("Softmax", x, axis=int(axis))


def log_softmax(x, axis=-1):
    return emit("LogSoftmax", x, axis=int(axis))


def zeros_like(x):
    return emit("ConstantOfShapeLike", x, value=0.0)
