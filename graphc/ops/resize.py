"""Resize: nearest-neighbour upsampling by integer factors (Keras' UpSampling2D).

The IR op keeps the subset of ONNX Resize whose semantics are exact and layout-free: ``mode``
"nearest" with one positive integer scale per axis. Output element ``o`` along an axis reads input
``o // scale`` (ONNX ``coordinate_transformation_mode="asymmetric"``, ``nearest_mode="floor"``), i.e.
each element is repeated ``scale`` times. Because every axis has its own scale, the op works on
NHWC and NCHW alike, and a Transpose moves through it by permuting the scales.

Gradient: dX = ReduceSum over the repeats: Reshape dY from (.., H*s, ..) to (.., H, s, ..) and sum
the inserted axes.
"""
from __future__ import annotations

import numpy as np

from .base import OpDef, emit, register_op


def _scales(scales, rank):
    if scales is None:
        raise ValueError("Resize needs scales")
    scales = tuple(int(s) for s in scales)
    if len(scales) != rank:
        raise ValueError(f"Resize needs one scale per axis ({rank}), received {scales}")
    if any(s < 1 for s in scales):
        raise ValueError(f"Resize scales must be positive integers, received {scales}")
    return scales


@register_op
class Resize(OpDef):
    """Y = X with element ``i`` along each axis repeated ``scales[axis]`` times (nearest)."""

    def infer(self, x, scales=None, mode="nearest"):
        if mode != "nearest":
            raise NotImplementedError(f"Resize mode {mode!r} is not supported; graphc implements 'nearest' "
                                      "with integer scales")
        s = _scales(scales, x.rank)
        return x.with_shape(tuple(d * k if isinstance(d, int) else (d if k == 1 else None)
                                  for d, k in zip(x.shape, s)))

    def ref(self, x, scales=None, mode="nearest"):
        for axis, k in enumerate(_scales(scales, x.ndim)):
            if k != 1:
                x = np.repeat(x, k, axis=axis)
        return x

    def lower(self, ctx, node):
        scales = ctx.const(np.asarray(node.attrs["scales"], np.float32), "scales")
        ctx.emit("Resize", [ctx.inputs[0], "", scales], ctx.outputs, mode="nearest",
                 coordinate_transformation_mode="asymmetric", nearest_mode="floor")

    def grad(self, node, dys):
        from .reduce import reduce_sum
        from .shape import reshape

        x, dy = node.inputs[0], dys[0]
        scales = _scales(node.attrs.get("scales"), x.type.rank)
        target, sum_axes = [], []
        unknown = 0
        for i, (d, k) in enumerate(zip(x.shape, scales)):
            if isinstance(d, int):
                target.append(d)
            elif i == 0 and k == 1:
                target.append(0)  # Reshape's 0 copies the (symbolic) batch size
            else:
                target.append(-1)
                unknown += 1
            if k != 1:
                sum_axes.append(len(target))
                target.append(k)
        if unknown > 1:
            raise NotImplementedError(f"Resize gradient needs at most one unknown dim, received {x.type}")
        summed = reduce_sum(reshape(dy, tuple(target)), tuple(sum_axes), keepdims=False)
        return [summed]


def resize_nearest(x, scales):
    """Nearest upsampling by integer ``scales`` (one per axis of ``x``)."""
    return emit("Resize", x, scales=tuple(int(s) for s in scales), mode="nearest")
