"""Batch normalization: ONNX's inference-mode BatchNormalization op, and batch statistics from
primitives for training.

``BatchNormalization(X, scale, B, mean, var; epsilon)`` is ONNX's op in inference mode (one output,
channels on axis 1): ``Y = (X - mean) / sqrt(var + epsilon) * scale + B``. Passes fold it into a
preceding Conv (``FoldConvBatchNorm``). Training-mode BatchNormalization is *not* an op here: ORT's
CUDA kernel refuses training mode at opset >= 14 (ONNX_TRAINING_NOTES §1.5), so training uses
``moments`` and ``normalize`` below, built from ReduceMean/Sub/Mul/Sqrt/Reciprocal, whose gradient
rules give the batch-norm backward of §1.3.
"""
from __future__ import annotations

import numpy as np

from graphc.ir import is_float
from graphc.ir.types import dims_equal

from .base import OpDef, emit, register_op


def _channel_shape(rank: int) -> tuple:
    return (-1,) + (1,) * (rank - 2)


@register_op
class BatchNormalization(OpDef):
    """Inference-mode ONNX BatchNormalization over axis 1 (NC or NCHW...).

    dX = dY * scale / sqrt(var + eps); dscale = sum(dY * xhat); dB = sum(dY), sums over every axis
    but 1. ``mean`` and ``var`` (moving statistics, never trained) have no gradient.
    """

    nondiff_inputs = (3, 4)

    def infer(self, x, scale, b, mean, var, epsilon=1e-5, momentum=None):
        if not is_float(x.dtype):
            raise TypeError(f"BatchNormalization needs a float tensor, received {x.dtype}")
        if x.rank < 2:
            raise ValueError(f"BatchNormalization needs rank >= 2 (N, C, ...), received shape {x.shape}")
        c = x.shape[1]
        for t, what in ((scale, "scale"), (b, "B"), (mean, "mean"), (var, "var")):
            if t.rank != 1 or dims_equal(t.shape[0], c) is False:
                raise ValueError(f"BatchNormalization: {what} must have shape ({c},), received {t.shape}")
            if t.dtype != x.dtype:
                raise TypeError(f"BatchNormalization: {what} must be {x.dtype}, received {t.dtype}")
        return x

    def ref(self, x, scale, b, mean, var, epsilon=1e-5, momentum=None):
        shape = _channel_shape(x.ndim)
        inv = 1.0 / np.sqrt(var.reshape(shape) + np.asarray(epsilon, x.dtype))
        return ((x - mean.reshape(shape)) * inv * scale.reshape(shape) + b.reshape(shape)).astype(x.dtype)

    def lower(self, ctx, node):
        ctx.emit("BatchNormalization", ctx.inputs, ctx.outputs, epsilon=float(node.attrs.get("epsilon", 1e-5)))

    def grad(self, node, dys):
        from .elementwise import add, mul, reciprocal, sqrt, sub
        from .reduce import reduce_sum
        from .shape import reshape

        x, scale, _, mean, var = node.inputs
        dy = dys[0]
        rank = x.type.rank
        shape = _channel_shape(rank)
        eps = np.asarray(node.attrs.get("epsilon", 1e-5), x.dtype)
        inv = reshape(reciprocal(sqrt(add(var, eps))), shape)
        xhat = mul(sub(x, reshape(mean, shape)), inv)
        axes = (0,) + tuple(range(2, rank))
        dx = mul(dy, mul(inv, reshape(scale, shape)))
        dscale = reduce_sum(mul(dy, xhat), axes, keepdims=False)
        db = reduce_sum(dy, axes, keepdims=False)
        return [dx, dscale, db, None, None]


def batch_normalization(x, scale, b, mean, var, epsilon=1e-5):
    """Inference-mode BatchNormalization over axis 1."""
    return emit("BatchNormalization", x, scale, b, mean, var, epsilon=float(epsilon))


def moments(x, axes):
    """Mean and biased (population) variance of ``x`` over ``axes``, keepdims — Keras' ``moments``."""
    from .elementwise import mul, sub
    from .reduce import reduce_mean

    mean = reduce_mean(x, axes, keepdims=True)
    centered = sub(x, mean)
    return mean, reduce_mean(mul(centered, centered), axes, keepdims=True)


def normalize(x, mean, var, scale, offset, epsilon):
    """``(x - mean) / sqrt(var + epsilon) * scale + offset`` by broadcasting; scale/offset may be None."""
    from .elementwise import add, mul, reciprocal, sqrt, sub

    inv = reciprocal(sqrt(add(var, np.asarray(epsilon, var.dtype))))
    if scale is not None:
        inv = mul(inv, scale)
    y = mul(sub(x, mean), inv)
    return add(y, offset) if offset is not None else y
