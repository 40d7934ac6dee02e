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

from graphc.ir import TensorType, is_float

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


def dropout(x, rate, training, seed=None):
    """Applies Dropout with ``rate``; ``training`` is a bool or a bool scalar Value. Returns Y.

    With ``training`` a Python False (or rate 0) no op is emitted at all.
    """
    from .base import current_builder

    if isinstance(training, (bool, np.bool_)) or training is None:
        if not training or rate == 0:
            return x
        training = current_builder().constant(np.asarray(True))
    ratio = np.asarray(rate, x.dtype)
    y, _ = emit("Dropout", x, ratio, training, seed=None if seed is None else int(seed))
    return y
