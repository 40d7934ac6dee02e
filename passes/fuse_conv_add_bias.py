"""FuseConvAddBias: a per-channel Add after a bias-free Conv becomes the Conv's bias input
(onnxruntime's "ConvAddFusion").

Rewrites:
    Add(Conv(X, W), b)  or  Add(b, Conv(X, W))  -> Conv(X, W, b')
where b holds one value per output channel laid out to broadcast over (N, C, spatial...) — shape
(C, 1, ..., 1) or (1, C, 1, ..., 1) — and b' is its rank-1 form: for a Constant b a new (C,)
Constant; for b = Reshape/Unsqueeze(v) with v of shape (C,) (a bias Param) simply v, so runtime
graphs keep feeding the parameter. The Conv result must feed only this Add.
"""
from __future__ import annotations

from graphc.ir import Graph

from .rewrite import (Match, NoMatch, RewritePass, add_constant, add_op,
                      constant_value, replace_node, single_use)


def _bias_source(b, channels: int, rank: int, include_params: bool):
    """Match({"array": (C,) array}) for a constant bias, Match({"vector": (C,) Value}) for a
    reshaped vector, or NoMatch(reason)."""
    if b.shape not in ((channels,) + (1,) * (rank - 2), (1, channels) + (1,) * (rank - 2)):
        return NoMatch(f"bias of shape {b.shape} is not per-channel for {channels} channels")
    value = constant_value(b, include_params)
    if value is not None:
        return Match({"array": value.reshape(channels)})
    src = b.node
    if src.op in ("Reshape", "Unsqueeze") and src.inputs[0].shape == (channels,):
        return Match({"vector": src.inputs[0]})
    return NoMatch("bias is neither constant nor a reshaped (C,) vector")


class FuseConvAddBias(RewritePass):
    ops = ("Add",)

    def __init__(self, include_params: bool = False):
        self.include_params = include_params
        super().__init__()

    def rewrite(self, graph: Graph, node, m):
        conv, src = m.values["conv"], m.values["bias"]
        bias = src.values["vector"] if "vector" in src.values else add_constant(graph, src.values["array"],
                                                                                node.scope)
        new = add_op(graph, "Conv", [conv.inputs[0], conv.inputs[1], bias], conv.attrs, conv.scope)
        replace_node(graph, node, new.outputs)

    def match(self, graph: Graph, node):
        last = NoMatch("no operand is a Conv")
        for pos in (0, 1):
            y = node.inputs[pos]
            conv = y.node
            if conv.op != "Conv":
                continue
            if len(conv.inputs) > 2 and conv.inputs[2] is not None:
                last = NoMatch("the Conv already has a bias")
                continue
            if not single_use(graph, y):
                last = NoMatch("the Conv result has other uses")
                continue
            channels, rank = conv.inputs[1].shape[0], y.type.rank
            if not isinstance(channels, int):
                last = NoMatch("unknown number of output channels")
                continue
            b = node.inputs[1 - pos]
            if b.dtype != y.dtype or node.outputs[0].type != y.type:
                last = NoMatch("the Add changes the Conv result's type")
                continue
            src = _bias_source(b, channels, rank, self.include_params)
            if src:
                return Match({"conv": conv, "bias": src})
            last = src
        return last

