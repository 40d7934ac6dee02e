"""StoreParamsInDeviceLayout: trainable parameters kept in the layout their consumers read.

Run on a traced forward graph before the backward pass is appended (``BuildTrainingStep``), so
that the gradients, the optimizer update and the optimizer slots are all computed in that layout
and the step never permutes the parameter. Two patterns, each rewriting the ``Param`` node into one
whose ``layout`` attribute (``graphc.ir.ParamLayout``) says how the device copy relates to Keras'
array; the runtime converts at the host boundary:

* every consumer of the parameter is ``Transpose(p, perm)`` with one perm (Conv2D's HWIO kernel
  read as OIHW): the parameter is stored transposed and the Transposes disappear;
* the parameter is the weight of ``MatMul(Flatten(U(Transpose(z, perm))), p)`` with ``perm`` keeping
  the batch axis first and ``U`` a chain of elementwise unary ops (Dense after a Flatten of a
  channels-last Conv2D, whose NCHW output a Transpose turns to NHWC before the Flatten): the
  kernel's rows are stored in ``z``'s order, the MatMul reads ``Flatten(U(z))`` and the activation
  Transpose disappears (forward and, through the backward pass, its gradient's).

Only single-use chains are rewritten, so no value anyone else reads changes. ``layouts`` maps the
uid of each rewritten Variable to its ParamLayout; ``builder`` (optional) is told the new Param
values so that ``Builder.param`` returns them.
"""
from __future__ import annotations

from graphc.ir import Graph, Node, ParamLayout, TensorType
from graphc.ops import get_op

from .base import Pass, PassResult
from .cancel_transposes import UNARY_OPS, inverse, is_identity, perm_of


class StoreParamsInDeviceLayout(Pass):
    """Rewrites the Params of ``variables`` into device layouts where a pattern above matches."""

    def __init__(self, variables, builder=None):
        self.uids = {v.uid for v in variables}
        self.builder = builder
        self.layouts: dict[int, ParamLayout] = {}
        self.reasons: dict[str, str] = {}  # variable path -> why it stays in Keras' layout

    def run(self, graph: Graph) -> PassResult:
        self.layouts = {}
        self.reasons = {}
        for node in graph.params():
            var = node.attrs["variable"]
            if var.uid not in self.uids or node.attrs.get("layout") is not None:
                continue
            found = _transposed(graph, node) or _flattened(graph, node)
            if isinstance(found, str) or found is None:
                self.reasons[var.path] = found or "no pattern"
                continue
            layout, rewrite = found
            new = graph.add_node("Param", [], [TensorType(var.dtype, layout.shape)],
                                 {"variable": var, "layout": layout}, node.scope)
            rewrite(new.output)
            graph.remove_node(node)
            self.layouts[var.uid] = layout
            if self.builder is not None:
                self.builder._params[var.uid] = new.output
        return PassResult(graph, bool(self.layouts), {"params": len(self.layouts)})


def _single_use(graph: Graph, v) -> Node | None:
    uses = graph.uses(v)
    if len(uses) != 1 or v in graph.outputs:
        return None
    return uses[0][0]


def _transposed(graph: Graph, node: Node):
    """Every use is ``Transpose(p, perm)`` with one perm: store ``transpose(p, perm)``."""
    uses = graph.uses(node.output)
    if not uses or any(u.op != "Transpose" for u, _ in uses) or node.output in graph.outputs:
        return None
    perms = {perm_of(u) for u, _ in uses}
    if len(perms) != 1:
        return "read through Transposes with different perms"
    perm = perms.pop()
    if is_identity(perm):
        return None
    layout = ParamLayout.transposed(node.output.shape, perm)

    def rewrite(new):
        for u, _ in uses:
            graph.replace_all_uses(u.output, new)
            graph.remove_node(u)

    return layout, rewrite


def _flattened(graph: Graph, node: Node):
    """``MatMul(Flatten(U(Transpose(z, perm))), p)``: store p's rows in z's order."""
    p = node.output
    mm = _single_use(graph, p)
    if mm is None or mm.op != "MatMul" or mm.inputs[1] is not p or p.type.rank != 2:
        return None
    flat = mm.inputs[0].node
    if flat.op != "Flatten" or int(flat.attrs.get("axis", 1)) != 1 or _single_use(graph, flat.output) is not mm:
        return None
    chain = []
    v = flat.inputs[0]
    while v.node.op in UNARY_OPS and _single_use(graph, v) is not None and len(v.node.inputs) == 1:
        chain.append(v.node)
        v = v.node.inputs[0]
    t = v.node
    if t.op != "Transpose" or _single_use(graph, t.output) is None:
        return None
    perm = perm_of(t)
    z = t.inputs[0]
    if perm[0] != 0 or not all(isinstance(d, int) for d in z.shape[1:]):
        return "the Flatten's Transpose moves the batch axis or a dimension is not static"
    q = tuple(a - 1 for a in perm[1:])                # Flatten input axis j is z's axis q[j] + 1
    rows, units = p.shape
    split = tuple(z.shape[1 + a] for a in q) + (units,)
    layout = ParamLayout(tuple(p.shape), split, inverse(q) + (len(q),), (rows, units))

    def rewrite(new):
        cur = z
        for u in reversed(chain):
            out = get_op(u.op).infer_node([cur.type], u.attrs)[0]
            cur = graph.add_node(u.op, [cur], [out], dict(u.attrs), u.scope).output
        f = graph.add_node("Flatten", [cur], [flat.output.type], dict(flat.attrs), flat.scope).output
        m = graph.add_node("MatMul", [f, new], [mm.output.type], dict(mm.attrs), mm.scope).output
        graph.replace_all_uses(mm.output, m)
        for old in [mm, flat] + chain + [t]:
            graph.remove_node(old)

    return layout, rewrite
