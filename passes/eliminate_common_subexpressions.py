"""EliminateCommonSubexpressions: merges nodes that compute the same thing.

Rewrites:
    op(a, b){attrs} ... op(a, b){attrs}   -> one node, every use reads the first
    Constant(v) ... Constant(v)            -> one Constant (same dtype, shape and bytes)
    Param(var) ... Param(var)              -> one Param (same Variable and rows)

Nodes are visited in topological order, so merged inputs make their consumers mergeable in the
same run. Graph inputs and nondeterministic ops (Dropout, random) are never merged; constants are
keyed by dtype, shape and a sample of their bytes, and confirmed byte for byte.
"""
from __future__ import annotations

import hashlib

import numpy as np

from graphc.ir import Graph

from .base import Pass, PassResult
from .rewrite import attr_key, is_deterministic, replace_node, topological_nodes


def _constant_key(a) -> tuple:
    """Cheap for big arrays: dtype, shape and a sample of the bytes; equal keys are then confirmed
    byte for byte."""
    if a.nbytes <= 4096:
        return ("Constant", a.dtype.str, a.shape, a.tobytes())
    flat = a.reshape(-1)
    sample = np.concatenate([flat[:64], flat[len(flat) // 2:len(flat) // 2 + 64], flat[-64:]])
    return ("Constant", a.dtype.str, a.shape, hashlib.sha1(sample.tobytes()).hexdigest())


def _node_key(node):
    if node.op == "Constant":
        return _constant_key(node.attrs["value"])
    if node.op == "Param":
        return ("Param", node.attrs["variable"].uid, node.attrs.get("rows"))
    ins = tuple(None if v is None else (v.node.id, v.index) for v in node.inputs)
    attrs = tuple(sorted((k, attr_key(v)) for k, v in node.attrs.items()))
    return (node.op, ins, attrs, len(node.outputs))


class EliminateCommonSubexpressions(Pass):
    def run(self, graph: Graph) -> PassResult:
        seen: dict = {}
        merged = 0
        for node in topological_nodes(graph):
            if node.op == "Input" or node.id not in graph.nx or not is_deterministic(node.op):
                continue
            key = _node_key(node)
            group = seen.setdefault(key, [])
            first = next((n for n in group if node.op != "Constant" or _same_bytes(n, node)), None)
            if first is None:
                group.append(node)
                continue
            replace_node(graph, node, first.outputs)
            merged += 1
        return PassResult(graph, merged > 0, {"merged": merged})


def _same_bytes(a, b) -> bool:
    """Confirms two Constants with equal keys hold the same bytes (NaN payloads included)."""
    x, y = a.attrs["value"], b.attrs["value"]
    if x is y or x.nbytes <= 4096:  # small keys already hold every byte
        return True
    return bool(np.array_equal(np.ascontiguousarray(x).reshape(-1).view(np.uint8),
                               np.ascontiguousarray(y).reshape(-1).view(np.uint8)))
