"""FoldNegIntoSub: a negation read by an addition or subtraction becomes the other one.

Rewrites (the Neg read by nothing else):
    Add(a, Neg(b)), Add(Neg(b), a) -> Sub(a, b)
    Sub(a, Neg(b))                 -> Add(a, b)
    ReduceSum(Neg(x))              -> Neg(ReduceSum(x))   (the Neg moves to the smaller tensor, where
                                                          an Add / Sub may take it in)
All exact in IEEE arithmetic (``a - b`` is ``a + (-b)``; a sum of negations is the negated sum, in
the same order). Gradients make these patterns: the gradients of ``Sub`` and ``Div`` with respect
to their second operand are negations, and the autodiff driver adds a value's gradients up with
``Add`` and reduces broadcasts with ``ReduceSum``.
"""
from __future__ import annotations

from graphc.ir import Graph

from .rewrite import Match, NoMatch, RewritePass, add_op, replace_node, single_use


class FoldNegIntoSub(RewritePass):
    ops = ("Add", "Sub", "ReduceSum")
    stat = "folded"

    def match(self, graph: Graph, node):
        ports = (0, 1) if node.op == "Add" else (1,) if node.op == "Sub" else (0,)
        for port in ports:
            v = node.inputs[port] if port < len(node.inputs) else None
            if v is None or v.node.op != "Neg":
                continue
            if not single_use(graph, v):
                return NoMatch(f"the Neg (input {port}) is read elsewhere too")
            return Match({"port": port})
        return NoMatch("no operand comes from a Neg")

    def rewrite(self, graph: Graph, node, m):
        port = m.values["port"]
        inputs = list(node.inputs)
        inputs[port] = inputs[port].node.inputs[0]
        if node.op == "ReduceSum":
            new = add_op(graph, "Neg", [add_op(graph, "ReduceSum", inputs, node.attrs, node.scope).outputs[0]],
                         {}, node.scope)
        elif node.op == "Add":
            a, b = inputs[1 - port], inputs[port]
            new = add_op(graph, "Sub", [a, b], {}, node.scope)
        else:
            new = add_op(graph, "Add", inputs, {}, node.scope)
        replace_node(graph, node, new.outputs)
