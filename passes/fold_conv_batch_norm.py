"""FoldConvBatchNorm: an inference-mode BatchNormalization after a Conv folds into the Conv's
weights and bias (onnxruntime's "ConvBNFusion").

Rewrite, with s = scale / sqrt(var + epsilon):
    BatchNormalization(Conv(X, W, B), scale, bias, mean, var){epsilon}
        -> Conv(X, W * s[:, None, ...], (B - mean) * s + bias)          (B = 0 when absent)
when W, B, scale, bias, mean and var are constants (Params too with ``include_params``, the export
pipeline), the BatchNormalization is in inference mode (one output, no ``training_mode``), the
Conv result feeds only the BatchNormalization, and the dtype is float.
"""
from __future__ import annotations

import numpy as np

from graphc.ir import Graph, is_float

from .rewrite import (Match, NoMatch, RewritePass, add_constant, add_op,
                      constant_value, replace_node, single_use)


class FoldConvBatchNorm(RewritePass):
    ops = ("BatchNormalization",)
    stat = "folded"

    def __init__(self, include_params: bool = False):
        self.include_params = include_params
        super().__init__()

    def rewrite(self, graph: Graph, node, m):
        conv, w, b = m.values["conv"], m.values["w"], m.values["b"]
        scale, bias, mean, var = m.values["bn"]
        eps = float(node.attrs.get("epsilon", 1e-5))
        dtype = w.dtype
        s = (scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps))
        new_w = w * s.astype(dtype).reshape((-1,) + (1,) * (w.ndim - 1))
        new_b = ((b.astype(np.float64) - mean) * s + bias).astype(dtype)
        ins = [conv.inputs[0], add_constant(graph, new_w, conv.scope), add_constant(graph, new_b, conv.scope)]
        new = add_op(graph, "Conv", ins, conv.attrs, conv.scope)
        replace_node(graph, node, new.outputs)

    def match(self, graph: Graph, node):
        if len(node.outputs) != 1 or node.attrs.get("training_mode", 0):
            return NoMatch("BatchNormalization is in training mode")
        if len(node.inputs) != 5:
            return NoMatch(f"BatchNormalization has {len(node.inputs)} inputs, not ONNX's 5")
        x = node.inputs[0]
        conv = x.node
        if conv.op != "Conv":
            return NoMatch(f"input comes from {conv.op}, not Conv")
        if not single_use(graph, x):
            return NoMatch("the Conv result has other uses")
        if not is_float(x.dtype):
            return NoMatch("not a float Conv")
        w = constant_value(conv.inputs[1], self.include_params)
        if w is None:
            return NoMatch("the Conv weight is not constant")
        b_in = conv.inputs[2] if len(conv.inputs) > 2 else None
        b = np.zeros((w.shape[0],), w.dtype) if b_in is None else constant_value(b_in, self.include_params)
        if b is None:
            return NoMatch("the Conv bias is not constant")
        bn = [constant_value(v, self.include_params) for v in node.inputs[1:]]
        if any(a is None for a in bn):
            return NoMatch("a BatchNormalization statistic is not constant")
        if any(a.shape != (w.shape[0],) for a in bn) or b.shape != (w.shape[0],):
            return NoMatch("per-channel shapes do not match the Conv's output channels")
        return Match({"conv": conv, "w": w, "b": b, "bn": bn})
