"""FoldConstants: evaluates nodes whose inputs are all constants with the ops' NumPy references.

Rewrites:
    op(Constant a, Constant b, ...)      -> Constant(op.ref(a, b, ...))
    Shape(x) with x of static shape       -> Constant(x.shape)
    with ``include_params=True`` (export only): op(Param w, ...) -> Constant, e.g. the Transpose of a
    Keras-layout conv kernel to OIHW. Runtime graphs feed parameters as inputs and must not freeze
    them, so the default leaves Params alone.

A result is kept only if it does not bloat the graph: its size must not exceed the summed size of
the constant inputs that disappear with the node (those nothing else reads), or ``small_bytes`` (so ``Expand``/``Tile`` of a scalar into a big
tensor stays an op). Nondeterministic ops (Dropout, random) are never folded.
"""
from __future__ import annotations

import numpy as np

from graphc.ir import SOURCE_OPS, Graph, TensorType
from graphc.ops import get_op

from .base import Pass, PassResult
from .rewrite import NoMatch, constant_value, count_uses, is_deterministic, prune, topological_nodes


class FoldConstants(Pass):
    """Args:
        include_params: treat Params as constants (the export pipeline only).
        small_bytes: results up to this size are always allowed.
    """

    def __init__(self, include_params: bool = False, small_bytes: int = 4096):
        self.include_params = include_params
        self.small_bytes = small_bytes
        self.near_misses: dict = {}

    def run(self, graph: Graph) -> PassResult:
        folded = 0
        self.near_misses = {}
        for node in topological_nodes(graph):
            if node.op in SOURCE_OPS or node.id not in graph.nx:
                continue
            outs = self.fold(graph, node)
            if isinstance(outs, NoMatch):
                self.near_misses[node.id] = outs.reason
                continue
            for v, array in zip(node.outputs, outs):
                c = graph.add_node("Constant", [], [TensorType.of(array)], {"value": array}, node.scope)
                graph.replace_all_uses(v, c.output)
            prune(graph, [node])
            folded += 1
        return PassResult(graph, folded > 0, {"folded": folded})

    def fold(self, graph: Graph, node):
        """The folded output arrays of ``node``, or NoMatch(reason)."""
        if node.op == "Shape" and node.inputs[0].type.is_static:
            return [np.asarray(node.inputs[0].shape, np.int64)]
        if not node.inputs:
            return NoMatch("no inputs")
        arrays = []
        for v in node.inputs:
            a = None if v is None else constant_value(v, self.include_params)
            if v is not None and a is None:
                return NoMatch(f"input {v.id} is not constant")
            arrays.append(a)
        if not is_deterministic(node.op):
            return NoMatch(f"{node.op} is not deterministic")
        while arrays and arrays[-1] is None:
            arrays.pop()
        try:
            with np.errstate(all="ignore"):
                outs = get_op(node.op).ref_node(arrays, node.attrs)
        except NotImplementedError as e:
            return NoMatch(f"no reference: {e}")
        except Exception as e:  # e.g. a check op rejecting its constant input: leave it to run time
            return NoMatch(f"reference failed: {type(e).__name__}: {e}")
        # only constants nothing else reads disappear with the node; the rest stay in the file
        freed = {}
        for v, a in zip(node.inputs, arrays):
            if v is not None and a is not None:
                n = node.inputs.count(v)
                if count_uses(graph, v, n + 1) == n:
                    freed[id(v.node)] = a.nbytes
        budget = max(self.small_bytes, sum(freed.values()))
        size = sum(o.nbytes for o in outs)
        if size > budget:
            return NoMatch(f"result of {size} bytes would bloat the graph (limit {budget})")
        result = []
        for v, o in zip(node.outputs, outs):
            o = np.asarray(o)
            if o.dtype.name != v.dtype:
                o = o.astype(v.dtype)
            if not _shape_fits(o.shape, v.shape):
                return NoMatch(f"reference gives shape {o.shape}, type says {v.type}")
            # (np.ascontiguousarray turns a 0-d array into shape (1,): keep scalars scalars)
            result.append(np.ascontiguousarray(o) if o.ndim else o.copy())
        return result


def _shape_fits(actual: tuple, declared: tuple) -> bool:
    return len(actual) == len(declared) and all(not isinstance(d, int) or d == a for a, d in zip(actual, declared))
