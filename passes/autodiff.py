"""Reverse-mode automatic differentiation over the IR.

``gradients(graph, loss, wrt)`` appends the gradient nodes of ``loss`` with respect to the Values
``wrt`` (usually the outputs of ``Param`` nodes of trainable Variables) to ``graph`` and returns one
gradient Value per entry of ``wrt`` (None where the loss does not depend on it).

How it works:

* Only nodes on a path from some ``wrt`` value to ``loss`` are visited (ancestors of the loss that
  descend from a ``wrt`` node), in reverse topological order.
* Each visited node's rule ``get_op(op).grad(node, dys)`` emits the input gradients through the
  current builder, under the scope ``("grad",) + node.scope`` so ONNX names read
  ``grad/dense_1/...``.
* Inputs that cannot carry a gradient are skipped: ports listed in ``nondiff_inputs``, inputs of
  ops with ``differentiable = False``, non-float inputs, and inputs off every path to ``wrt``.
* A gradient whose shape differs from its input's (broadcasting) is reduced with
  ``graphc.ops.reduce_to_shape``; gradients of a value used several times (fan-out) are summed.

Frozen weights are excluded simply by not listing them in ``wrt``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from graphc.ir import Graph, Value, is_float
from graphc.ops import Builder, get_op, reduce_to_shape
from graphc.ops.elementwise import add, cast
from graphc.ops.nn import zeros_like

from .base import Pass, PassResult

GRAD_SCOPE = "grad"


def _relevant_nodes(graph: Graph, loss: Value, wrt: Sequence[Value]) -> set[int]:
    import networkx as nx

    upstream = graph.ancestors([loss])
    downstream: set[int] = set()
    for v in wrt:
        if v.node.id in downstream:
            continue
        downstream.add(v.node.id)
        downstream |= nx.descendants(graph.nx, v.node.id)
    return upstream & downstream


def gradients(graph: Graph, loss: Value, wrt: Sequence[Value], builder: Builder | None = None,
              seed: Value | None = None) -> list[Value | None]:
    """Appends d(loss)/d(w) for each ``w`` in ``wrt`` to ``graph``.

    Args:
        graph: the graph holding ``loss`` and ``wrt``; it is modified in place.
        loss: a float scalar Value (any shape is accepted when ``seed`` is given).
        wrt: the Values to differentiate with respect to.
        builder: the builder to emit through (its ``training`` flag and state are kept); a fresh one
            on ``graph`` by default.
        seed: the gradient of the loss itself; ones of the loss's type by default.

    Returns:
        One Value of ``w``'s type per ``w``, or None where the loss does not depend on ``w``.
    """
    if not is_float(loss.dtype):
        raise TypeError(f"gradients: the loss must be a float tensor, received {loss.type}")
    if seed is None and loss.type.rank != 0 and loss.type.size != 1:
        raise ValueError(f"gradients: the loss must be a scalar, received shape {loss.type.keras_shape()}; "
                         "reduce it (e.g. mean over the batch) first")
    b = builder or Builder(graph)
    relevant = _relevant_nodes(graph, loss, wrt)
    grads: dict[Value, Value] = {}

    with b.activate():
        saved_scope = list(b.scope_stack)
        try:
            b.scope_stack[:] = [GRAD_SCOPE]
            grads[loss] = seed if seed is not None else b.constant(np.ones(loss.shape), dtype=loss.dtype)
            order = [n for n in graph.nodes if n.id in relevant]
            for node in reversed(order):
                if node.op in ("Input", "Param", "Constant"):
                    continue
                opdef = get_op(node.op)
                dys = [grads.get(v) for v in node.outputs]
                if all(d is None for d in dys) or not opdef.differentiable:
                    continue
                b.scope_stack[:] = [GRAD_SCOPE, *node.scope]
                # rules read dys[k] for every float output; give unused ones an explicit zero
                dys = [d if d is not None or not is_float(v.dtype) else zeros_like(v)
                       for d, v in zip(dys, node.outputs)]
                try:
                    in_grads = opdef.grad(node, dys)
                except NotImplementedError as e:
                    where = f' in layer "{node.scope_name}"' if node.scope else ""
                    raise NotImplementedError(f"autodiff: cannot differentiate {node.op}{where}: {e}") from None
                if len(in_grads) < len(node.inputs):
                    in_grads = list(in_grads) + [None] * (len(node.inputs) - len(in_grads))
                for port, (x, gx) in enumerate(zip(node.inputs, in_grads)):
                    if (gx is None or x is None or port in opdef.nondiff_inputs or not is_float(x.dtype)
                            or x.node.id not in relevant):
                        continue
                    if gx.dtype != x.dtype:
                        gx = cast(gx, x.dtype)
                    if gx.shape != x.shape:
                        gx = reduce_to_shape(gx, x)
                    prev = grads.get(x)
                    grads[x] = gx if prev is None else add(prev, gx)
        finally:
            b.scope_stack[:] = saved_scope
    return [grads.get(w) for w in wrt]


class AppendGradients(Pass):
    """Makes the graph's outputs the loss and the gradients of the loss with respect to ``wrt``.

    The gradient outputs are named ``grad/<name>`` from ``names`` (variable paths by default).
    Values with no path to the loss get a zero gradient so the signature stays fixed.
    """

    def __init__(self, loss: Value, wrt: Sequence[Value], names: Sequence[str] | None = None):
        self.loss = loss
        self.wrt = list(wrt)
        self.names = list(names) if names is not None else [
            w.node.attrs["variable"].path if w.node.op == "Param" else (w.name or w.id) for w in self.wrt]

    def run(self, graph: Graph) -> PassResult:
        b = Builder(graph)
        gs = gradients(graph, self.loss, self.wrt, builder=b)
        with b.activate():
            gs = [g if g is not None else b.constant(np.zeros(w.shape), dtype=w.dtype) for g, w in zip(gs, self.wrt)]
        graph.set_outputs([self.loss] + gs, ["loss"] + [f"grad/{n}" for n in self.names])
        return PassResult(graph, True, {"gradients": len(gs)})
