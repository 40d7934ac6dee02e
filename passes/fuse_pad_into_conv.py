"""FusePadIntoConv: a constant Pad of the spatial axes merges into the Conv or pool that reads it
(onnxruntime's "PadFusion").

Rewrites:
    Conv(Pad(x, pads, value=0), W, B){pads=p}         -> Conv(x, W, B){pads=p + spatial pads}
    AveragePool(Pad(x, pads, value=0)){count_include_pad=1} -> AveragePool(x){pads=...}
    MaxPool(Pad(x, pads, value=-inf))                 -> MaxPool(x){pads=...}
    MaxPool(Pad(x, pads, value=0)) with x >= 0 (x made by Relu, Sigmoid, Softplus, Abs, Exp)
                                                      -> MaxPool(x){pads=...}
    op(Transpose(Pad(x, pads), perm))                 -> op(Transpose(x, perm)){pads=...}
        (the channels-last input padding a Keras model does before its first Conv)
when the Pad is in constant mode, pads nothing on the batch and channel axes, and the consumer
uses explicit padding (auto_pad NOTSET). AveragePool without count_include_pad would divide by
fewer elements than the padded version, so it does not fire. A zero pad equals MaxPool's own
padding (never picked) only when no window sees padding alone — pool pads stay smaller than the
kernel, which the op checks — and the values are non-negative.
"""
from __future__ import annotations

import math

from graphc.ir import Graph

from .rewrite import NoMatch, RewritePass, add_op, replace_node, single_use

_CONSUMERS = ("Conv", "AveragePool", "MaxPool")
_NON_NEGATIVE = ("Relu", "Sigmoid", "Softplus", "Abs", "Exp")


class FusePadIntoConv(RewritePass):
    ops = _CONSUMERS

    def rewrite(self, graph: Graph, node, m):
        x, pads, perm = m
        attrs = dict(node.attrs, pads=tuple(pads))
        made = []
        try:
            if perm is not None:
                made.append(add_op(graph, "Transpose", [x], {"perm": perm}, node.inputs[0].node.scope))
                x = made[-1].outputs[0]
            made.append(add_op(graph, node.op, [x] + list(node.inputs[1:]), attrs, node.scope))
            new = made[-1]
            reason = "" if [v.type for v in new.outputs] == [v.type for v in node.outputs[:len(new.outputs)]] \
                else "the fused op would infer a different type"
        except ValueError as e:  # e.g. pool pads would reach the kernel size
            reason = str(e)
        if reason:
            for n in reversed(made):
                graph.nx.remove_node(n.id)
            return reason
        replace_node(graph, node, new.outputs)

    def match(self, graph, node):
        pad = node.inputs[0].node
        perm = None
        if pad.op == "Transpose" and pad.inputs[0].node.op == "Pad":
            if not (single_use(graph, node.inputs[0]) and single_use(graph, pad.inputs[0])):
                return NoMatch("the Transpose or Pad has other uses")
            perm = tuple(pad.attrs.get("perm") or reversed(range(pad.inputs[0].type.rank)))
            pad = pad.inputs[0].node
        if pad.op != "Pad":
            return NoMatch(f"input comes from {pad.op}, not Pad")
        if pad.attrs.get("mode", "constant") != "constant":
            return NoMatch(f"Pad mode {pad.attrs.get('mode')!r} is not constant")
        value = float(pad.attrs.get("value", 0.0))
        x = pad.inputs[0]
        if node.op == "MaxPool":
            if not (math.isinf(value) and value < 0) and not (value == 0.0 and x.node.op in _NON_NEGATIVE):
                return NoMatch("MaxPool needs the Pad value to be -inf, or 0 on non-negative values")
            if len(node.outputs) > 1:
                return NoMatch("MaxPool returns indices, which padding changes")
        elif value != 0.0:
            return NoMatch(f"Pad value {value} is not 0")
        if node.op == "AveragePool" and not node.attrs.get("count_include_pad", 0):
            return NoMatch("AveragePool does not count padding (count_include_pad=0)")
        if node.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", b"NOTSET"):
            return NoMatch(f"{node.op} uses auto_pad={node.attrs['auto_pad']}")
        r = x.type.rank
        pads = list(pad.attrs["pads"])
        if perm is not None:  # pads of the transposed tensor
            pads = [pads[p] for p in perm] + [pads[r + p] for p in perm]
        if any(p < 0 for p in pads):
            return NoMatch("negative pads crop")
        if pads[0] or pads[1] or pads[r] or pads[r + 1]:
            return NoMatch("Pad pads the batch or channel axis")
        k = r - 2
        old = list(node.attrs.get("pads") or [0] * (2 * k))
        new = [old[i] + pads[2 + i] for i in range(k)] + [old[k + i] + pads[r + 2 + i] for i in range(k)]
        return x, new, perm
