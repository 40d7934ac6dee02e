"""ReuseMaxPoolIndices: a training graph's MaxPool takes its values from the MaxPoolWithIndices its
gradient added, so the pool runs once.

Rewrite:
    MaxPool(x){attrs}, MaxPoolWithIndices(x){same attrs} -> (Y, I) = MaxPoolWithIndices(x); MaxPool's
    uses read Y

The forward graph keeps the cheap single-output MaxPool (an inference graph has nothing else), and
its gradient rule re-pools with indices. In a training step both would run: onnxruntime's MaxPool
with indices costs several times the plain pool on the CPU and already yields the same values, so
the plain pool is redundant. Does not fire when no MaxPoolWithIndices reads the same input with the
same kernel, strides, pads and ceil mode.
"""
from __future__ import annotations

from graphc.ir import Graph
from graphc.ops.pool import pool_attrs

from .base import Pass, PassResult
from .rewrite import NoMatch, replace_node, topological_nodes


def _key(node) -> tuple:
    a = pool_attrs(**{k: v for k, v in node.attrs.items() if k in ("kernel_shape", "strides", "pads", "ceil_mode")})
    return tuple(sorted((k, tuple(v) if isinstance(v, (list, tuple)) else v) for k, v in a.items()))


class ReuseMaxPoolIndices(Pass):
    def __init__(self):
        self.near_misses: dict = {}

    def run(self, graph: Graph) -> PassResult:
        reused = 0
        self.near_misses = {}
        for node in topological_nodes(graph):
            if node.op != "MaxPool" or node.id not in graph.nx:
                continue
            m = self.match(graph, node)
            if isinstance(m, NoMatch):
                self.near_misses[node.id] = m.reason
                continue
            replace_node(graph, node, [m.outputs[0]])
            reused += 1
        return PassResult(graph, reused > 0, {"reused": reused})

    def match(self, graph, node):
        key = _key(node)
        others = [user for user, _ in graph.uses(node.inputs[0]) if user.op == "MaxPoolWithIndices"]
        if not others:
            return NoMatch("no MaxPoolWithIndices reads the same input")
        for other in others:
            if _key(other) == key and other.outputs[0].type == node.outputs[0].type:
                return other
        return NoMatch("the MaxPoolWithIndices on the same input has other attributes")
