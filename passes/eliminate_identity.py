"""EliminateIdentity: removes ops that return their input unchanged.

Rewrites (each ``-> x`` means every use of the output reads ``x`` instead):
    Identity(x)                                    -> x
    Reshape / Flatten / Squeeze / Unsqueeze / Expand / DynReshape(x) with output shape == x's
        (no unknown dims)                          -> x
    Transpose(x, perm=identity)                    -> x
    Cast(x, to=x.dtype)                            -> x
    Concat(x) (one input)                          -> x
    Pad(x, pads=all 0) / Slice covering all of x   -> x
    Dropout(x, ratio, training=Constant False) or ratio Constant 0, mask unused -> x
    Add(x, 0), Add(0, x), Sub(x, 0), Mul(x, 1), Mul(1, x), Div(x, 1), Pow(x, 1)
        with the constant not changing x's shape or dtype -> x
"""
from __future__ import annotations

import numpy as np

from graphc.ir import Graph, Value

from .base import Pass, PassResult
from .rewrite import NoMatch, all_equal, constant_value, is_used, replace_node, topological_nodes

_SHAPE_OPS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Expand", "DynReshape")
# op -> (neutral element, which operand positions may hold it)
_NEUTRAL = {"Add": (0, (0, 1)), "Sub": (0, (1,)), "Mul": (1, (0, 1)), "Div": (1, (1,)), "Pow": (1, (1,))}


def _same_static_shape(a: Value, b: Value) -> bool:
    return a.shape == b.shape and all(d is not None for d in a.shape) and a.dtype == b.dtype


class EliminateIdentity(Pass):
    def __init__(self):
        self.near_misses: dict = {}

    def run(self, graph: Graph) -> PassResult:
        removed: dict = {}
        self.near_misses = {}
        for node in topological_nodes(graph):
            if node.id not in graph.nx:
                continue
            m = self.match(graph, node)
            if isinstance(m, NoMatch):
                if m.reason:
                    self.near_misses[node.id] = m.reason
                continue
            replace_node(graph, node, [m] + [None] * (len(node.outputs) - 1))
            removed[node.op] = removed.get(node.op, 0) + 1
        stats = {f"removed_{op}": n for op, n in sorted(removed.items())}
        return PassResult(graph, bool(removed), stats)

    def match(self, graph: Graph, node):
        """The value that replaces ``node``'s output, or NoMatch(reason)."""
        op = node.op
        x = node.inputs[0] if node.inputs else None
        if x is None:
            return NoMatch("")
        y = node.outputs[0]
        if op == "Identity":
            return x
        if op in _SHAPE_OPS:
            return x if _same_static_shape(x, y) else NoMatch(f"{op} changes the shape {x.type} -> {y.type}")
        if op == "Transpose":
            perm = node.attrs.get("perm")
            if perm is None:
                return x if x.type.rank <= 1 else NoMatch("default perm reverses the axes")
            return x if list(perm) == list(range(len(perm))) else NoMatch(f"perm {tuple(perm)} is not identity")
        if op == "Cast":
            return x if y.dtype == x.dtype else NoMatch(f"casts {x.dtype} to {y.dtype}")
        if op == "Concat":
            return x if len(node.inputs) == 1 else NoMatch("several inputs")
        if op == "Pad":
            return x if not any(node.attrs.get("pads", ())) else NoMatch("pads are not all 0")
        if op == "Slice":
            return x if _same_static_shape(x, y) and not any(
                s != 1 for s in node.attrs.get("steps") or ()) else NoMatch("slices part of x")
        if op == "Dropout":
            return self._dropout(graph, node)
        if op in _NEUTRAL:
            return self._neutral(node)
        return NoMatch("")

    def _dropout(self, graph, node):
        if len(node.outputs) > 1 and is_used(graph, node.outputs[1]):
            return NoMatch("the dropout mask is used")
        training = constant_value(node.inputs[2]) if len(node.inputs) > 2 else None
        ratio = constant_value(node.inputs[1]) if len(node.inputs) > 1 else None
        if training is not None and not bool(np.asarray(training).reshape(-1)[0]):
            return node.inputs[0]
        if ratio is not None and float(np.asarray(ratio).reshape(-1)[0]) == 0.0:
            return node.inputs[0]
        return NoMatch("training mode is not a constant False and the ratio is not a constant 0")

    def _neutral(self, node):
        neutral, positions = _NEUTRAL[node.op]
        y = node.outputs[0]
        for pos in positions:
            c = constant_value(node.inputs[pos])
            if c is None or not all_equal(c, neutral):
                continue
            x = node.inputs[1 - pos]
            if x.type == y.type:
                return x
            return NoMatch(f"{node.op} with {neutral} broadcasts {x.type} to {y.type}")
        return NoMatch("")
