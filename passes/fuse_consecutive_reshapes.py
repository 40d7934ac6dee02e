"""FuseConsecutiveReshapes: a chain of shape-only ops collapses into one Reshape.

Rewrites (P one of Reshape, Flatten, Squeeze, Unsqueeze):
    Reshape(P(x), s)     -> Reshape(x, s')     s' = s with 0s resolved against P's output
    Flatten / Squeeze / Unsqueeze (P(x)) -> Reshape(x, s') with s' from the result type
A target is expressible when every dim is a known int, a symbolic dim found at the same position
of x (copied with 0), or at most one other dim (-1). P is removed once nothing else reads it.
"""
from __future__ import annotations

from graphc.ir import Graph
from graphc.ops.shape import static_reshape_target

from .rewrite import NoMatch, RewritePass, add_op, replace_node

_RESHAPE_LIKE = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")



class FuseConsecutiveReshapes(RewritePass):
    ops = _RESHAPE_LIKE

    def rewrite(self, graph: Graph, node, m):
        x, shape = m
        try:
            new = add_op(graph, "Reshape", [x], {"shape": shape}, node.scope)
        except ValueError as e:
            return f"the collapsed Reshape is invalid: {e}"
        if new.outputs[0].shape != node.outputs[0].shape:
            graph.nx.remove_node(new.id)
            return "the collapsed Reshape would infer a different shape"
        replace_node(graph, node, new.outputs)

    def match(self, graph: Graph, node):
        prev = node.inputs[0].node
        if prev.op not in _RESHAPE_LIKE:
            return NoMatch(f"input comes from {prev.op}, not a reshape")
        x = prev.inputs[0]
        mid = node.inputs[0].shape
        if node.op == "Reshape":
            shape = []
            for i, s in enumerate(node.attrs["shape"]):
                if s != 0:
                    shape.append(int(s))
                elif isinstance(mid[i], int):
                    shape.append(mid[i])
                elif isinstance(mid[i], str) and i < x.type.rank and x.shape[i] == mid[i]:
                    shape.append(0)
                else:
                    return NoMatch(f"dim {i} copies an unknown dim of the intermediate shape")
            if shape.count(-1) > 1:
                return NoMatch("more than one -1")
            return x, tuple(shape)
        shape = static_reshape_target(x.shape, node.outputs[0].shape)
        if shape is None:
            return NoMatch(f"{node.outputs[0].type} is not expressible as one Reshape of {x.type}")
        return x, shape
