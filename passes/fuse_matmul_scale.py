"""FuseMatMulScale: MatMul with a scalar scale or transposed operands becomes onnxruntime's contrib
FusedMatMul (domain com.microsoft; onnxruntime's "MatMulScaleFusion" and "MatmulTransposeFusion").

Rewrites (s a scalar constant, T a Transpose swapping the last two axes):
    Mul(MatMul(a, b), s) / Mul(s, MatMul(a, b)) / Div(MatMul(a, b), s) -> FusedMatMul(a, b){alpha=s}
    MatMul(T(a), b) / MatMul(a, T(b))                                    -> FusedMatMul{transA / transB}
and a FusedMatMul absorbs the same patterns again. Only with ``target="onnxruntime"`` and
``allow_contrib=True``.
"""
from __future__ import annotations

import numpy as np

from graphc.ir import Graph

from .base import Pass, PassResult
from .rewrite import NoMatch, add_op, constant_value, replace_node, single_use, topological_nodes

_MATMULS = ("MatMul", "FusedMatMul")


def _swaps_last_two(node) -> bool:
    rank = node.inputs[0].type.rank
    perm = node.attrs.get("perm")
    if rank < 2:
        return False
    expected = tuple(range(rank - 2)) + (rank - 1, rank - 2)
    return tuple(perm if perm is not None else reversed(range(rank))) == expected


class FuseMatMulScale(Pass):
    def __init__(self):
        self.near_misses: dict = {}

    def run(self, graph: Graph) -> PassResult:
        fused = 0
        self.near_misses = {}
        for node in topological_nodes(graph):
            if node.id not in graph.nx:
                continue
            if node.op in ("Mul", "Div"):
                m = self._scale(graph, node)
            elif node.op in _MATMULS:
                m = self._transpose(node)
            else:
                continue
            if isinstance(m, NoMatch):
                self.near_misses[node.id] = m.reason
                continue
            inputs, attrs, scope = m
            new = add_op(graph, "FusedMatMul", inputs, attrs, scope)
            replace_node(graph, node, new.outputs)
            fused += 1
        return PassResult(graph, fused > 0, {"fused": fused})

    def _scale(self, graph, node):
        for pos in ((0, 1) if node.op == "Mul" else (0,)):
            y = node.inputs[pos]
            mm = y.node
            if mm.op not in _MATMULS or y.dtype != "float32":
                continue
            s = constant_value(node.inputs[1 - pos])
            if s is None or s.size != 1 or node.outputs[0].type != y.type:
                return NoMatch("the other operand is not a scalar constant")
            if not single_use(graph, y):
                return NoMatch("the MatMul result has other uses")
            scale = float(np.asarray(s).reshape(-1)[0])
            if node.op == "Div":
                scale = 1.0 / scale
            attrs = dict(mm.attrs)
            attrs["alpha"] = float(attrs.get("alpha", 1.0)) * scale
            return list(mm.inputs), attrs, mm.scope
        return NoMatch("no operand is a float32 MatMul")

    def _transpose(self, node):
        inputs, attrs, n = list(node.inputs), dict(node.attrs), 0
        if inputs[0].dtype != "float32":
            return NoMatch("onnxruntime's FusedMatMul is used for float32 only")
        for port, flag in ((0, "transA"), (1, "transB")):
            t = inputs[port].node
            if t.op == "Transpose" and _swaps_last_two(t):
                inputs[port] = t.inputs[0]
                attrs[flag] = 0 if attrs.get(flag, 0) else 1
                n += 1
        if not n:
            return NoMatch("no operand is a Transpose of the last two axes")
        return inputs, attrs, node.scope
