"""ONNX's loss ops, for imported models: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.

graphc's own losses are composed of primitive ops (``graphc.losses``); these two exist so that an
imported graph that uses them keeps its meaning. Neither is differentiated.
"""
from __future__ import annotations

import numpy as np

from graphc.ir import TensorType

from .base import OpDef, register_op


def _nll(x, t, w=None, ignore_index=None, reduction="mean"):
    """ONNX NegativeLogLikelihoodLoss on log-probabilities ``x`` (N, C, d...), targets (N, d...)."""
    t = t.astype(np.int64)
    keep = np.ones(t.shape, bool) if ignore_index is None else t != ignore_index
    tt = np.where(keep, t, 0)
    picked = np.take_along_axis(x, tt[:, None], axis=1)[:, 0]
    weight = (np.ones(x.shape[1], x.dtype) if w is None else w)[tt] * keep
    loss = -picked * weight
    if reduction == "none":
        return loss.astype(x.dtype)
    if reduction == "sum":
        return np.asarray(loss.sum(), x.dtype)
    return np.asarray(loss.sum() / weight.sum(), x.dtype)


def _loss_type(x, t, reduction):
    if t.dtype not in ("int32", "int64"):
        raise TypeError(f"targets must be int32 or int64, received {t.dtype}")
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"reduction must be 'none', 'sum' or 'mean', received {reduction!r}")
    return TensorType(x.dtype, t.shape if reduction == "none" else ())


@register_op
class NegativeLogLikelihoodLoss(OpDef):
    """ONNX NLL loss: -x[n, t[n, d], d] * weight[t], reduced by ``reduction``; ``ignore_index``
    targets count for nothing (graphc's own losses are composed ops; this one serves import)."""

    differentiable = False

    def infer(self, x, t, w=None, ignore_index=None, reduction="mean"):
        return _loss_type(x, t, reduction)

    def ref(self, x, t, w=None, ignore_index=None, reduction="mean"):
        return _nll(x, t, w, ignore_index, reduction)


@register_op
class SoftmaxCrossEntropyLoss(OpDef):
    """ONNX softmax cross-entropy: (loss, log_prob) with log_prob = LogSoftmax(scores, axis=1)."""

    differentiable = False

    def infer(self, x, t, w=None, ignore_index=None, reduction="mean"):
        return _loss_type(x, t, reduction), x

    def ref(self, x, t, w=None, ignore_index=None, reduction="mean"):
        xf = x.astype(np.float64)
        m = xf.max(axis=1, keepdims=True)
        log_prob = xf - m - np.log(np.exp(xf - m).sum(axis=1, keepdims=True))
        return _nll(log_prob, t, None if w is None else w.astype(np.float64), ignore_index,
                    reduction).astype(x.dtype), log_prob.astype(x.dtype)
