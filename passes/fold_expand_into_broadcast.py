"""FoldExpandIntoBroadcast: an Expand feeding a broadcasting op is dropped when broadcasting alone
gives the same result.

Rewrites (E = Expand(a, s), op a broadcasting elementwise op: Add, Sub, Mul, Div, Max, Min, the
comparisons, And, Where):
    op(..., E, ..., c, ...) -> op(..., a, ..., c, ...)
when every dim of the target ``s`` is provably redundant: it is 1, or provably equal to the dim at the
same (right-aligned) position of ``a`` or of another operand, and ``s`` has no more dims than the
operands do. The target's dims are known when ``s`` is ``Shape(b)`` (``b``'s dims) or a constant;
symbolic dims are equal when their names match, unknown dims never are. Broadcasting a dim against
an equal dim (or 1) changes nothing, so the op's output has the same shape and, elementwise, the
same values. Gradients make this pattern: the gradient of a mean is ``Expand(dY / n, Shape(x))``,
usually multiplied by a tensor of ``x``'s shape.

The Expand is removed once nothing else reads it.

When the target is not covered and the Expand is read by ``op`` alone, the Expand moves after it:
    op(..., E, ..., c, ...) -> Expand(op(..., a, ..., c, ...), s)
if ``op`` of the unexpanded operands is statically smaller than its output (a dim 1 where the
output's is not, or a lower rank). Broadcasting is associative, so the values are the same; ``op``
then runs on the small tensor, and the Expand travels down until a consumer covers its target and
drops it (the mean gradient ``Expand(dY / n) * 2 * mask``) or it meets an op that is not a
broadcasting one. Each move takes the Expand strictly downward, so the rewriting terminates.
"""
from __future__ import annotations

from graphc.ir import Graph
from graphc.ops import REGISTRY, get_op
from graphc.ops.elementwise import Where, _Binary, _Compare

from .rewrite import Match, NoMatch, RewritePass, add_op, constant_value, prune, single_use

#: Ops whose output is the elementwise op of their operands broadcast NumPy-style.
BROADCAST_OPS = tuple(sorted(name for name, op in REGISTRY.items() if isinstance(op, (_Binary, _Compare, Where))))


def _same_dim(a, b) -> bool:
    """True when two dims are provably equal (equal ints, or the same symbolic name)."""
    return (isinstance(a, int) and isinstance(b, int) and a == b) or (isinstance(a, str) and a == b)


def target_dims(s) -> tuple | None:
    """The dims the int64 vector ``s`` holds, when the graph says: ``Shape(b)`` or a constant."""
    if s.node.op == "Shape":
        return tuple(s.node.inputs[0].shape)
    array = constant_value(s)
    if array is not None and array.ndim == 1:
        return tuple(int(d) for d in array)
    return None


def redundant_target(a_shape: tuple, s_dims: tuple, others: list) -> str | None:
    """None when broadcasting ``a_shape`` with the ``others`` already covers every dim of ``s_dims``,
    else why not."""
    rank = max([len(a_shape)] + [len(o) for o in others])
    if len(s_dims) > rank:
        return f"the Expand target has rank {len(s_dims)}, more than the operands' {rank}"
    for i in range(1, len(s_dims) + 1):
        d = s_dims[-i]
        if d == 1:
            continue
        dims = [sh[-i] if len(sh) >= i else 1 for sh in [a_shape] + others]
        if not any(_same_dim(d, e) for e in dims):
            return (f"dim {len(s_dims) - i} of the Expand target ({d}) is not provably equal to a dim the "
                    "other operands broadcast to")
    return None


class FoldExpandIntoBroadcast(RewritePass):
    ops = BROADCAST_OPS
    stat = "folded"

    def match(self, graph: Graph, node):
        reason = "no operand comes from an Expand"
        for port, v in enumerate(node.inputs):
            if v is None or v.node.op != "Expand":
                continue
            expand = v.node
            s_dims = target_dims(expand.inputs[1])
            if s_dims is None:
                reason = f"the target of Expand %{expand.id} is computed at run time (not Shape or a constant)"
                continue
            a = expand.inputs[0]
            others = [u.shape for j, u in enumerate(node.inputs) if j != port and u is not None]
            why = redundant_target(a.shape, s_dims, others)
            if why is not None:
                reason = why
                continue
            types = [u.type for u in node.inputs]
            types[port] = a.type
            try:
                new = get_op(node.op).infer_node(types, node.attrs)
            except (TypeError, ValueError) as e:
                reason = f"the op rejects the unexpanded operand: {e}"
                continue
            if [t for t in new] != [o.type for o in node.outputs]:
                reason = f"the inferred type would change from {node.outputs[0].type} to {new[0]}"
                continue
            return port, a, expand
        sink = self._match_sink(graph, node)
        return sink if sink is not None else NoMatch(reason)

    def _match_sink(self, graph: Graph, node):
        """A Match moving the one single-use Expand operand of ``node`` after it, or None."""
        ports = [p for p, v in enumerate(node.inputs) if v is not None and v.node.op == "Expand"]
        if len(ports) != 1 or not single_use(graph, node.inputs[ports[0]]):
            return None
        port = ports[0]
        a = node.inputs[port].node.inputs[0]
        types = [u.type for u in node.inputs]
        types[port] = a.type
        try:
            (small,) = get_op(node.op).infer_node(types, node.attrs)
        except (TypeError, ValueError):
            return None
        out = node.outputs[0].shape
        smaller = len(small.shape) < len(out) or any(d == 1 and e != 1 for d, e in zip(small.shape, out))
        return Match({"port": port}) if smaller else None

    def rewrite(self, graph: Graph, node, m):
        count = 0
        while not isinstance(m, NoMatch):  # another operand may come from an Expand too
            if isinstance(m, Match):
                why = self._sink(graph, node, m.values["port"])
                return count + 1 if why is None else (count or why)
            port, a, expand = m
            graph.set_input(node, port, a)
            prune(graph, [expand])
            count += 1
            m = self.match(graph, node)
        return count

    def _sink(self, graph: Graph, node, port: int):
        expand = node.inputs[port].node
        inputs = list(node.inputs)
        inputs[port] = expand.inputs[0]
        op = add_op(graph, node.op, inputs, node.attrs, node.scope)
        moved = add_op(graph, "Expand", [op.outputs[0], expand.inputs[1]], expand.attrs, expand.scope)
        if moved.outputs[0].type != node.outputs[0].type:
            prune(graph, [moved])
            return f"the moved Expand infers {moved.outputs[0].type}, not {node.outputs[0].type}"
        graph.replace_all_uses(node.outputs[0], moved.outputs[0])
        prune(graph, [node])
        return None
