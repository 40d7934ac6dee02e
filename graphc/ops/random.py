"""Dropout: ONNX's Dropout op with ``training_mode`` as an input, so one graph serves train and eval.

``Dropout(X, ratio, training_mode; seed) -> (Y, mask)``. In training, each element is kept with
probability ``1 - ratio`` and scaled by ``1 / (1 - ratio)``; ``mask`` (bool) says which were kept.
Outside training ``Y = X`` and the mask is all True. The gradient reuses the mask:
``dX = Where(mask, dY * scale, 0)`` with ``scale = 1/(1-ratio)`` in training and 1 outside it.

The random draw: onnxruntime's generator (seeded by ``seed``, advancing across runs of one session)
and the NumPy reference (``numpy.random.default_rng(seed)``, fresh per call) give different masks,
so tests compare the two on statistics and on the mask the op reports, never element by element.
"""
from __future__ import annotations

import numpy as np

from graphc.ir import TensorType, format_shape, is_float

from .base import OpDef, emit, register_op


def _scalar_ok(t: TensorType) -> bool:
    return t.rank == 0 or (t.rank == 1 and t.shape[0] == 1)


@register_op
class Dropout(OpDef):
    """Y = X * mask / (1 - ratio) in training, X otherwise; mask is the op's second output."""

    nondiff_inputs = (1, 2)

    def infer(self, x, ratio, training, seed=None):
        if not is_float(x.dtype):
            raise TypeError(f"Dropout needs a float tensor, received {x.dtype}")
        if not is_float(ratio.dtype) or not _scalar_ok(ratio):
            raise TypeError(f"Dropout ratio must be a float scalar, received {ratio}")
        if training.dtype != "bool" or not _scalar_ok(training):
            raise TypeError(f"Dropout training_mode must be a bool scalar, received {training}")
        return x, TensorType("bool", x.shape)

    def ref(self, x, ratio, training, seed=None):
        r = float(np.asarray(ratio).reshape(()))
        if not bool(np.asarray(training).reshape(())) or r == 0.0:
            return x.copy(), np.ones(x.shape, bool)
        rng = np.random.default_rng(seed)
        mask = rng.random(x.shape) >= r
        return (x * mask / (1.0 - r)).astype(x.dtype), mask

    def lower(self, ctx, node):
        ratio = ctx.inputs[1]
        training = ctx.inputs[2]
        if ctx.input_types[1].dtype != ctx.input_types[0].dtype:
            ratio = ctx.emit("Cast", [ratio], 1, to=ctx.onnx_dtype(ctx.input_types[0].dtype))[0]
        if ctx.input_types[1].rank:
            ratio = ctx.emit("Reshape", [ratio, ctx.const(np.zeros((0,), np.int64), "scalar")], 1)[0]
        if ctx.input_types[2].rank:
            training = ctx.emit("Reshape", [training, ctx.const(np.zeros((0,), np.int64), "scalar")], 1)[0]
        seed = node.attrs.get("seed")
        ctx.emit("Dropout", [ctx.inputs[0], ratio, training], ctx.outputs,
                 seed=None if seed is None else int(seed))

    def grad(self, node, dys):
        from .elementwise import cast, div, mul, sub, where

        x, ratio, training = node.inputs
        mask = node.outputs[1]
        dy = dys[0]
        if dy is None:
            return [None, None, None]
        r = ratio if ratio.dtype == x.dtype else cast(ratio, x.dtype)
        one = np.ones((), x.dtype)
        scale = where(training, div(one, sub(one, r)), one)
        # a multiply by the cast mask: onnxruntime's CPU Where is single-threaded and slower
        return [mul(mul(dy, scale), cast(mask, x.dtype)), None, None]


def dropout(x, rate, training, seed=None, noise_shape=None):
    """Applies Dropout with ``rate``; ``training`` is a bool or a bool scalar Value. Returns Y.

    With ``training`` a Python False (or rate 0) no op is emitted at all. ``noise_shape`` (Keras'
    argument: one entry per axis, None for "as the input", 1 to share the draw along that axis)
    draws the kept/dropped pattern on that shape and broadcasts it over ``x``: Dropout of a tensor
    of ones gives the scaled mask, which multiplies ``x``.
    """
    from .base import current_builder

    if isinstance(training, (bool, np.bool_)) or training is None:
        if not training or rate == 0:
            return x
        training = current_builder().constant(np.asarray(True))
    ratio = np.asarray(rate, x.dtype)
    shape = _noise_shape(x, noise_shape)
    if shape is None:
        y, _ = emit("Dropout", x, ratio, training, seed=None if seed is None else int(seed))
        return y
    mask, _ = emit("Dropout", _ones(x, shape), ratio, training, seed=None if seed is None else int(seed))
    return emit("Mul", x, mask)


def _noise_shape(x, noise_shape):
    """``noise_shape`` resolved against ``x`` (None entries take x's dims), or None when it is x's shape."""
    if noise_shape is None:
        return None
    noise_shape = tuple(noise_shape)
    if len(noise_shape) != x.type.rank:
        raise ValueError(f"Dropout: noise_shape {noise_shape} must have one entry per axis of the input, "
                         f"which has shape {format_shape(x.shape)}")
    shape = []
    for i, (n, d) in enumerate(zip(noise_shape, x.shape)):
        if n is None or (isinstance(d, int) and n == d):
            shape.append(d)
        elif n == 1:
            shape.append(1)
        else:
            raise ValueError(f"Dropout: noise_shape {noise_shape} does not broadcast to the input's shape "
                             f"{format_shape(x.shape)} (axis {i}: expected None, 1 or {d}, received {n})")
    return None if tuple(shape) == tuple(x.shape) else tuple(shape)


def _ones(x, shape):
    """A tensor of ones of ``shape``, whose symbolic dims are x's (read at run time)."""
    from .base import current_builder
    from .elementwise import add, mul
    from .shape import expand, shape_of

    b = current_builder()
    if all(isinstance(d, int) for d in shape):
        return b.constant(np.ones(shape, x.dtype))
    from_x = np.array([0 if d == 1 else 1 for d in shape], np.int64)
    fixed = np.array([1 if d == 1 else 0 for d in shape], np.int64)
    dims = add(mul(shape_of(x), b.constant(from_x)), b.constant(fixed))
    return expand(b.constant(np.ones((), x.dtype)), dims, shape_hint=shape)
