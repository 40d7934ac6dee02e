"""FoldNegIntoConstant: a negation of a product or quotient with a constant factor flips the
constant's sign instead.

Rewrites (float tensors; each Mul / Div on the path read by nothing else):
    Neg(Mul(x, c))            -> Mul(x, -c)         (c a Constant, either operand)
    Neg(Div(c, x))            -> Div(-c, x)         Neg(Div(x, c)) -> Div(x, -c)
    Neg(Mul(Div(c, n), y))    -> Mul(Div(-c, n), y) (through up to ``max_depth`` Mul / Div)
Flipping a sign is exact in IEEE arithmetic, so the numbers are bit for bit the same. A shared
constant is not changed: the rewrite reads a new negated Constant. Gradients make this pattern: the
cross-entropy's ``-sum(y * log p)`` meets the mean's ``1 / n`` seed.
"""
from __future__ import annotations

from graphc.ir import Graph, is_float

from .rewrite import NoMatch, RewritePass, add_constant, constant_value, prune, single_use

_FACTORS = ("Mul", "Div")


class FoldNegIntoConstant(RewritePass):
    ops = ("Neg",)
    stat = "folded"
    max_depth = 4

    def match(self, graph: Graph, node):
        v = node.inputs[0]
        if not is_float(v.dtype):
            return NoMatch(f"{v.dtype} is not a float type")
        found = self._constant_factor(graph, v, self.max_depth)
        if found is None:
            return NoMatch("no constant factor on a single-use Mul / Div path")
        return found

    def _constant_factor(self, graph, v, depth):
        """(node, port) of a constant operand of the Mul / Div chain producing ``v``, or None."""
        n = v.node
        if depth == 0 or n.op not in _FACTORS or not single_use(graph, v):
            return None
        for port, u in enumerate(n.inputs):
            if constant_value(u) is not None:
                return n, port
        for u in n.inputs:
            found = self._constant_factor(graph, u, depth - 1)
            if found is not None:
                return found
        return None

    def rewrite(self, graph: Graph, node, m):
        owner, port = m
        old = owner.inputs[port]
        graph.set_input(owner, port, add_constant(graph, -constant_value(old), owner.scope))
        graph.replace_all_uses(node.outputs[0], node.inputs[0])
        prune(graph, [node, old.node])
