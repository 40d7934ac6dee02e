"""InferShapes: re-derives every value's type from its op's ``infer``.

Rewrites: none structurally; ``Value.type`` of every non-source node becomes what the op infers
from its (re-derived) input types, so symbolic dims ("batch") flow through Reshape, Concat, Slice
and friends after rewrites and on imported graphs. Where ``infer`` knows less than the recorded
type (an unknown dim where the old type had a size or a name, e.g. from an imported model's
value_info or a DynReshape hint), the recorded dim is kept.
"""
from __future__ import annotations

from graphc.ir import SOURCE_OPS, Graph, TensorType
from graphc.ir.verify import IRError
from graphc.ops import get_op

from .base import Pass, PassResult
from .rewrite import topological_nodes


def merge_types(inferred: TensorType, old: TensorType) -> TensorType:
    """``inferred``, with unknown dims filled from ``old`` when the ranks agree."""
    if inferred.rank != old.rank or inferred.dtype != old.dtype:
        return inferred
    dims = tuple(o if n is None and o is not None else n for n, o in zip(inferred.shape, old.shape))
    return inferred.with_shape(dims)


class InferShapes(Pass):
    """Re-runs type inference over the whole graph in topological order."""

    def run(self, graph: Graph) -> PassResult:
        changed = 0
        for node in topological_nodes(graph):
            if node.op in SOURCE_OPS:
                continue
            types = [None if v is None else v.type for v in node.inputs]
            try:
                new = get_op(node.op).infer_node(types, node.attrs)
            except (ValueError, TypeError) as e:
                raise IRError(f"InferShapes: {node!r} rejects its inputs "
                              f"({', '.join(str(t) for t in types)}): {e}") from None
            if len(new) != len(node.outputs):
                raise IRError(f"InferShapes: {node!r} infers {len(new)} outputs but has {len(node.outputs)}")
            for v, t in zip(node.outputs, new):
                t = merge_types(t, v.type)
                if t != v.type:
                    v.type = t
                    changed += 1
        return PassResult(graph, changed > 0, {"changed_types": changed})
