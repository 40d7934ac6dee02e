"""MaskBeforeMaxUnpool: a 0/1 mask of a max pool's input, multiplied into the pool's gradient, is
applied to the pooled gradient before it is scattered back, on the pool's (smaller) output.

Rewrite (x the pool's input, P its output, I its indices, m a mask of x):
    Mul(MaxUnpool(g, I, x), Cast(m(x))) -> MaxUnpool(Mul(g, Cast(m(P))), I, x)

``m`` is a chain of comparisons with scalar constants and ``Not``, ending in a ``Cast`` of the bool
to the gradient's type, so the mask is 0 or 1. The rewrite is exact: MaxUnpool places g[i] at the
position of P[i]'s maximum, where x equals P[i], and zeros elsewhere, which any 0/1 mask keeps.

Gradients make this pattern wherever an activation feeds a max pool: a ReLU's gradient is
``dY * Cast(Y > 0)`` and the pool's is a MaxUnpool (disjoint windows). In the toy ResNet's step the
mask then covers 64x64x9x9 values instead of 64x64x28x28 (three elementwise passes 10x smaller).
Does not fire when the mask reads anything but the pool's input and scalar constants, or when the
indices do not come from a MaxPoolWithIndices of that input.
"""
from __future__ import annotations

from graphc.ir import Graph

from .rewrite import Match, NoMatch, RewritePass, add_op, constant_value, replace_node

#: Ops a mask chain may hold besides the final Cast (each elementwise, bool-valued).
MASK_OPS = frozenset({"Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Equal", "Not"})


def _mask_chain(value, x):
    """The nodes computing ``value`` from ``x`` (first to last) if ``value`` is a bool mask made of
    ``MASK_OPS`` on ``x`` and scalar constants, else a NoMatch."""
    node = value.node
    chain = []
    for v in node.inputs:
        if v is x:
            continue
        c = constant_value(v)
        if c is not None:
            if c.size != 1:
                return NoMatch(f"the mask's {node.op} reads a non-scalar constant of shape {c.shape}")
            continue
        if v.node.op not in MASK_OPS:
            return NoMatch(f"the mask's {node.op} reads {v.node.op}'s output, not the pool's input or a scalar")
        sub = _mask_chain(v, x)
        if isinstance(sub, NoMatch):
            return sub
        chain.extend(n for n in sub if n not in chain)
    if not chain and not any(v is x for v in node.inputs):
        return NoMatch(f"the mask's {node.op} does not read the pool's input")
    return chain + [node]


class MaskBeforeMaxUnpool(RewritePass):
    ops = ("Mul",)
    stat = "moved"

    def match(self, graph: Graph, node):
        for port in (0, 1):
            u, c = node.inputs[port], node.inputs[1 - port]
            if u.node.op != "MaxUnpool":
                continue
            g, idx, x = u.node.inputs
            pool = idx.node
            if pool.op != "MaxPoolWithIndices" or pool.inputs[0] is not x or idx is not pool.outputs[1]:
                return NoMatch("the MaxUnpool's indices do not come from a MaxPoolWithIndices of its shape input")
            if c.node.op != "Cast" or c.node.inputs[0].dtype != "bool" or c.dtype != u.dtype:
                return NoMatch(f"the other factor is not a bool mask cast to {u.dtype}")
            if c.node.inputs[0].node.op not in MASK_OPS:
                return NoMatch(f"the mask is made by {c.node.inputs[0].node.op}, not a comparison")
            chain = _mask_chain(c.node.inputs[0], x)
            if isinstance(chain, NoMatch):
                return chain
            return Match({"port": port, "chain": chain + [c.node], "x": x, "pooled": pool.outputs[0]})
        return NoMatch("no factor comes from a MaxUnpool")

    def rewrite(self, graph: Graph, node, m):
        port, x, pooled = m.values["port"], m.values["x"], m.values["pooled"]
        unpool = node.inputs[port].node
        mapped = {id(x): pooled}
        for n in m.values["chain"]:  # the mask, recomputed on the pooled values
            ins = [mapped.get(id(v), v) for v in n.inputs]
            mapped[id(n.outputs[0])] = add_op(graph, n.op, ins, n.attrs, n.scope).outputs[0]
        mask = mapped[id(m.values["chain"][-1].outputs[0])]
        g = unpool.inputs[0]
        masked = add_op(graph, "Mul", [g, mask] if port == 0 else [mask, g], {}, node.scope).outputs[0]
        new = add_op(graph, "MaxUnpool", [masked, *unpool.inputs[1:]], unpool.attrs, unpool.scope)
        replace_node(graph, node, new.outputs)
