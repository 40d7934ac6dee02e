"""FuseConsecutiveGathers: a Gather of a Gather with constant indices along the same axis is one
Gather.

Rewrites (c1, c2 integer Constants, c1 a vector, both on axis a):
    Gather(Gather(x, c1, axis=a), c2, axis=a) -> Gather(x, take(c1, c2), axis=a)
Gathering positions c2 of the positions c1 picks is gathering positions c1[c2]; NumPy's ``take``
wraps negative c2 as Gather does, and out-of-range c2 leaves the graph alone. The inner Gather
stays while something else reads it. Shape arithmetic makes this pattern (sizes picked from a
``Shape`` and then one of them again).
"""
from __future__ import annotations

import numpy as np

from graphc.ir import Graph
from graphc.ops.base import normalize_axis

from .rewrite import NoMatch, RewritePass, add_constant, add_op, constant_value, prune, replace_node


class FuseConsecutiveGathers(RewritePass):
    ops = ("Gather",)

    def match(self, graph: Graph, node):
        inner = node.inputs[0].node
        if inner.op != "Gather":
            return NoMatch(f"input comes from {inner.op}, not a Gather")
        x = inner.inputs[0]
        c1, c2 = constant_value(inner.inputs[1]), constant_value(node.inputs[1])
        if c1 is None or c2 is None:
            return NoMatch("indices are not both constants")
        if c1.ndim != 1:
            return NoMatch(f"the inner indices have rank {c1.ndim}, not 1")
        a1 = normalize_axis(inner.attrs.get("axis", 0), x.type.rank)
        a2 = normalize_axis(node.attrs.get("axis", 0), node.inputs[0].type.rank)
        if a1 != a2:
            return NoMatch(f"the Gathers pick along different axes ({a1} and {a2})")
        try:
            picked = np.take(c1, c2)
        except IndexError as e:
            return NoMatch(f"the outer indices are out of range: {e}")
        return x, np.asarray(picked, c1.dtype), a1

    def rewrite(self, graph: Graph, node, m):
        x, indices, axis = m
        new = add_op(graph, "Gather", [x, add_constant(graph, indices, node.scope)], {"axis": axis}, node.scope)
        if new.outputs[0].type != node.outputs[0].type:
            prune(graph, [new])
            return f"the fused Gather infers {new.outputs[0].type}, not {node.outputs[0].type}"
        replace_node(graph, node, new.outputs)
