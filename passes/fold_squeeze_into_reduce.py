"""FoldSqueezeIntoReduce: a reduction with keepdims=1 whose size-1 axes a Reshape / Squeeze then
drops is one reduction with keepdims=0.

Rewrites (R one of ReduceSum, ReduceMean, ReduceMax, ReduceMin, read by nothing else):
    Reshape / Squeeze / Flatten (R(x, axes, keepdims=1)) -> R(x, axes, keepdims=0)
when the result's shape is exactly R's with the reduced axes removed (no unknown dims): a
reshape moves no data, so dropping size-1 axes is all it did. Bias gradients written as
``ReduceSum(keepdims=1)`` + ``Reshape`` (as exporters and older graphc graphs do) make this pattern.
"""
from __future__ import annotations

from graphc.ir import Graph

from .rewrite import NoMatch, RewritePass, add_op, prune, replace_node, single_use

REDUCE_OPS = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin")


class FoldSqueezeIntoReduce(RewritePass):
    ops = ("Reshape", "Squeeze", "Flatten")
    stat = "folded"

    def match(self, graph: Graph, node):
        r = node.inputs[0].node
        if r.op not in REDUCE_OPS:
            return NoMatch(f"input comes from {r.op}, not a reduction")
        if not r.attrs.get("keepdims", 1):
            return NoMatch("the reduction already drops its axes")
        if not single_use(graph, node.inputs[0]):
            return NoMatch("the keepdims result is read elsewhere too")
        y = node.outputs[0]
        if any(d is None for d in y.shape):
            return NoMatch(f"{y.type} has unknown dims")
        attrs = dict(r.attrs, keepdims=0)
        return r, attrs

    def rewrite(self, graph: Graph, node, m):
        r, attrs = m
        new = add_op(graph, r.op, list(r.inputs), attrs, r.scope)
        if new.outputs[0].type != node.outputs[0].type:
            prune(graph, [new])
            return f"keepdims=0 gives {new.outputs[0].type}, not {node.outputs[0].type}: the reshape does more"
        replace_node(graph, node, new.outputs)
