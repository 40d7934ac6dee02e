"""EliminateCommonSubexpressions: merges nodes that compute the same thing.

Rewrites:
    op(a, b){attrs} ... op(a, b){attrs}   -> one node, every use reads the first
    Constant(v) ... Constant(v)            -> one Constant (same dtype, shape and bytes)
    Param(var) ... Param(var)              -> one Param (same Variable)

Nodes are visited in topological order, so merged inputs make their consumers mergeable in the
same run. Graph inputs and nondeterministic ops (Dropout, random) are never merged; constants are
keyed by a digest of their bytes and confirmed byte for byte.
"""
from __future__ import annotations

import hashlib

from graphc.ir import Graph

from .base import Pass, PassResult
from .rewrite import attr_key, is_deterministic, replace_node


def _node_key(node):
    if node.op == "Constant":
        a = node.attrs["value"]
        return ("Constant", a.dtype.str, a.shape, hashlib.sha1(a.tobytes()).hexdigest())
    if node.op == "Param":
        return ("Param", node.attrs["variable"].uid)
    ins = tuple(None if v is None else (v.node.id, v.index) for v in node.inputs)
    attrs = tuple(sorted((k, attr_key(v)) for k, v in node.attrs.items()))
    return (node.op, ins, attrs, len(node.outputs))


class EliminateCommonSubexpressions(Pass):
    def run(self, graph: Graph) -> PassResult:
        seen: dict = {}
        merged = 0
        for node in graph.nodes:
            if node.op == "Input" or node.id not in graph.nx or not is_deterministic(node.op):
                continue
            key = _node_key(node)
            first = seen.get(key)
            if first is None:
                seen[key] = node
                continue
            if node.op == "Constant" and not _same_bytes(first, node):
                continue
            replace_node(graph, node, first.outputs)
            merged += 1
        return PassResult(graph, merged > 0, {"merged": merged})


def _same_bytes(a, b) -> bool:
    return a.attrs["value"].tobytes() == b.attrs["value"].tobytes()
