"""CancelTransposes: removes the layout Transposes that channels-last layers leave between NCHW ops.

Every Conv2D / pooling layer wraps its NCHW op in ``Transpose(NHWC -> NCHW)`` and
``Transpose(NCHW -> NHWC)``; between two such layers there is usually an activation, a residual Add,
a padding or a batch norm in the way. The pass moves Transposes *down* (toward the outputs) through
layout-free ops until they meet the next Transpose and cancel:

* ``Transpose(x, identity)`` -> ``x``;
* ``Transpose(Transpose(x, p1), p2)`` -> ``x`` when the composed perm is the identity, else one
  ``Transpose(x, p1 o p2)``;
* ``U(Transpose(x, p))`` -> ``Transpose(U(x), p)`` for elementwise unary ``U`` (Relu, Sigmoid, Tanh,
  Cast, ...), and for Softmax/LogSoftmax with the axis mapped through ``p``;
* ``B(Transpose(a, p), Transpose(b, p))`` and ``B(Transpose(a, p), c)`` -> ``Transpose(B(a, b'), p)``
  for elementwise ops with several inputs (Add, Mul, Max, Where, Clip, ...) when every other
  operand is a Transpose with the same perm, a Constant or Param (permuted to match:
  a bias of shape (C,) on NHWC becomes a bias of shape (C, 1, 1) on NCHW), or a scalar;
* ``Pad``, ``Slice``, ``Resize`` and keepdims reductions of ``Transpose(x, p)`` -> the op on ``x``
  with its per-axis attributes permuted, then ``Transpose(.., p)``. Through a ``Pad`` only when the
  Transpose can go on down to one it cancels: a Pad copies rows of its innermost axis, and an NHWC
  Pad left on NCHW costs 5x (a 64x64x9x9 dW input, 0.25 -> 1.2 ms in onnxruntime).

A Transpose is only moved when the op being crossed is its single use, so the number of
Transposes never grows; each move takes a Transpose strictly downward, so the pass terminates. It
sweeps in stable topological order until nothing changes (a fixed point, hence idempotent). New
nodes are added and the old ones pruned when dead: no node, attribute or constant array that the
graph shares with others is mutated. ``near_misses`` maps a Transpose's node id to why it was not
moved in the last sweep.
"""
from __future__ import annotations

import numpy as np

from graphc.ir import Graph, Node, TensorType, Value
from graphc.ops import get_op

from .base import Pass, PassResult

#: Elementwise ops with one input whose attributes do not mention axes.
UNARY_OPS = frozenset({
    "Abs", "Acos", "Asin", "Atan", "Cast", "Ceil", "Cos", "Elu", "Erf", "Exp", "Floor", "Gelu", "HardSigmoid",
    "HardSwish", "Identity", "IsInf", "IsNaN", "LeakyRelu", "Log", "Mish", "Neg", "Not", "Reciprocal", "Relu",
    "Round", "Selu", "Sigmoid", "Sign", "Sin", "Softplus", "Softsign", "Sqrt", "Tan", "Tanh", "ThresholdedRelu",
})
#: Elementwise ops with several broadcasting inputs.
NARY_OPS = frozenset({
    "Add", "And", "BitwiseAnd", "Clip", "Div", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Max",
    "Min", "Mod", "Mul", "Or", "Pow", "PRelu", "Sub", "Where", "Xor",
})
AXIS_OPS = frozenset({"Softmax", "LogSoftmax"})
REDUCE_OPS = frozenset({"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2"})
PERMUTED_ATTR_OPS = frozenset({"Pad", "Slice", "Resize"}) | REDUCE_OPS


def perm_of(node: Node) -> tuple:
    perm = node.attrs.get("perm")
    rank = node.inputs[0].type.rank
    return tuple(int(p) for p in perm) if perm is not None else tuple(reversed(range(rank)))


def compose(p1: tuple, p2: tuple) -> tuple:
    """The perm of ``Transpose(Transpose(x, p1), p2)``: output axis i reads x's axis p1[p2[i]]."""
    return tuple(p1[i] for i in p2)


def inverse(p: tuple) -> tuple:
    return tuple(int(i) for i in np.argsort(p))


def is_identity(p: tuple) -> bool:
    return all(i == v for i, v in enumerate(p))


def permute_shape(shape: tuple, p: tuple) -> tuple:
    return tuple(shape[i] for i in p)


class CancelTransposes(Pass):
    """Sinks Transposes through layout-free ops and cancels or merges adjacent ones."""

    def __init__(self, max_sweeps: int = 1000):
        self.max_sweeps = max_sweeps
        self.near_misses: dict[int, str] = {}

    def run(self, graph: Graph) -> PassResult:
        stats = {"cancelled": 0, "merged": 0, "sunk": 0}
        modified = False
        for _ in range(self.max_sweeps):
            self.near_misses = {}
            changed = False
            for node in graph.nodes:
                if node.op != "Transpose" or not _alive(graph, node):
                    continue
                kind = self._rewrite_transpose(graph, node)
                if kind:
                    stats[kind] += 1
                    changed = True
            modified |= changed
            if not changed:
                return PassResult(graph, modified, {k: v for k, v in stats.items() if v})
        raise RuntimeError(f"{self.name}: still changing after {self.max_sweeps} sweeps")

    # -- one Transpose --------------------------------------------------------------------------
    def _rewrite_transpose(self, graph: Graph, t: Node) -> str | None:
        p = perm_of(t)
        x = t.inputs[0]
        if is_identity(p):
            _replace(graph, t.output, x, [t])
            return "cancelled"
        if x.node.op == "Transpose":
            q = compose(perm_of(x.node), p)
            inner = x.node
            if is_identity(q):
                _replace(graph, t.output, inner.inputs[0], [t])
                return "cancelled"
            new = graph.add_node("Transpose", [inner.inputs[0]], [t.output.type], {"perm": q}, t.scope)
            _replace(graph, t.output, new.output, [t])
            return "merged"
        uses = graph.uses(t.output)
        if any(v is t.output for v in graph.outputs):
            return self._miss(t, "its output is a graph output")
        consumers = {n.id: n for n, _ in uses}
        if len(consumers) != 1:
            return self._miss(t, f"it has {len(consumers)} consumers; moving it would duplicate it")
        consumer = next(iter(consumers.values()))
        if len(consumer.outputs) != 1:
            return self._miss(t, f"its consumer {consumer.op} has {len(consumer.outputs)} outputs")
        if consumer.op == "Pad" and not _reaches_cancel(graph, consumer.output, p):
            return self._miss(t, "below the Pad it would reach no Transpose to cancel with (the Pad stays on the "
                                 "permuted layout, where its rows are longer)")
        plan = self._plan_sink(graph, t, p, consumer)
        if isinstance(plan, str):
            return self._miss(t, plan)
        self._apply_sink(graph, t, p, consumer, *plan)
        return "sunk"

    def _miss(self, t: Node, reason: str) -> None:
        self.near_misses[t.id] = reason
        return None

    # -- sinking ----------------------------------------------------------------------------------
    def _plan_sink(self, graph: Graph, t: Node, p: tuple, c: Node):
        """(new inputs spec, new attrs) to rebuild ``c`` below ``t``, or the reason it cannot be."""
        op = c.op
        r = len(p)
        attrs = dict(c.attrs)
        if op in UNARY_OPS:
            specs = [("value", t.inputs[0])]
        elif op in AXIS_OPS:
            axis = int(attrs.get("axis", -1)) % r
            attrs["axis"] = p[axis]
            specs = [("value", t.inputs[0])]
        elif op in NARY_OPS:
            specs = []
            for port, v in enumerate(c.inputs):
                if v is None:
                    specs.append(("none", None))
                elif v.node.op == "Transpose" and perm_of(v.node) == p:
                    specs.append(("value", v.node.inputs[0]))
                elif v.type.rank == 0:
                    specs.append(("value", v))
                elif v.node.op in ("Constant", "Param") and v.type.rank <= r:
                    specs.append((v.node.op.lower(), v))
                else:
                    return (f"operand {port} of {op} is neither a Transpose with perm {p}, a constant nor a scalar")
        elif op in PERMUTED_ATTR_OPS:
            if c.inputs.index(t.output) != 0 or any(v is not None for v in c.inputs[1:]):
                return f"{op} reads the Transpose on an input other than its only data input"
            specs = [("value", t.inputs[0])]
            if op == "Pad":
                pads = tuple(attrs["pads"])
                new = [0] * (2 * r)
                for i in range(r):
                    new[p[i]], new[r + p[i]] = pads[i], pads[r + i]
                attrs["pads"] = tuple(new)
            elif op == "Slice":
                axes = attrs.get("axes")
                axes = tuple(range(len(attrs["starts"]))) if axes is None else tuple(axes)
                attrs["axes"] = tuple(p[a % r] for a in axes)
            elif op == "Resize":
                scales = tuple(attrs["scales"])
                new = [1] * r
                for i in range(r):
                    new[p[i]] = scales[i]
                attrs["scales"] = tuple(new)
            else:
                if not attrs.get("keepdims", 1):
                    return f"{op} with keepdims=0 changes the rank"
                axes = attrs.get("axes")
                attrs["axes"] = None if axes is None else tuple(sorted(p[a % r] for a in axes))
        else:
            return f"its consumer {op} is not layout-free"
        # the rebuilt op must give the consumer's type once transposed back
        types = []
        for kind, v in specs:
            if kind == "none":
                types.append(None)
            elif kind in ("constant", "param"):
                types.append(TensorType(v.dtype, _moved_shape(v.shape, p)))
            else:
                types.append(v.type)
        try:
            out = get_op(op).infer_node(types, {k: v for k, v in attrs.items() if v is not None})
        except (ValueError, TypeError, NotImplementedError) as e:
            return f"{op} does not accept the untransposed operands: {e}"
        if len(out) != 1 or permute_shape(out[0].shape, p) != c.output.shape or out[0].dtype != c.output.dtype:
            return f"{op} below the Transpose would not give {c.output.type}"
        return specs, attrs, out[0]

    def _apply_sink(self, graph: Graph, t: Node, p: tuple, c: Node, specs, attrs, out_type) -> None:
        inputs = []
        for kind, v in specs:
            if kind == "constant":
                inputs.append(_moved_constant(graph, v, p, c.scope))
            elif kind == "param":
                inputs.append(_moved_param(graph, v, p, c.scope))
            else:
                inputs.append(v)
        attrs = {k: v for k, v in attrs.items() if v is not None}
        moved = graph.add_node(c.op, inputs, [out_type], attrs, c.scope)
        back = graph.add_node("Transpose", [moved.output], [c.output.type], {"perm": p}, t.scope)
        _replace(graph, c.output, back.output, [c])


# -- helpers ------------------------------------------------------------------------------------

def _reaches_cancel(graph: Graph, v: Value, p: tuple, limit: int = 32) -> bool:
    """True if a Transpose with perm ``p`` sunk to ``v`` could go on, one consumer at a time through
    ops it sinks through, down to a Transpose that it cancels (elementwise ops with several inputs
    are assumed to let it through)."""
    movable = UNARY_OPS | AXIS_OPS | NARY_OPS | PERMUTED_ATTR_OPS
    for _ in range(limit):
        if any(o is v for o in graph.outputs):
            return False
        consumers = {n.id: n for n, _ in graph.uses(v)}
        if len(consumers) != 1:
            return False
        c = next(iter(consumers.values()))
        if c.op == "Transpose":
            return is_identity(compose(p, perm_of(c)))
        if c.op not in movable or len(c.outputs) != 1:
            return False
        v = c.output
    return False


def _alive(graph: Graph, node: Node) -> bool:
    return node.id in graph.nx and graph.node(node.id) is node


def _is_used(graph: Graph, v: Value) -> bool:
    return bool(graph.uses(v)) or any(o is v for o in graph.outputs)


def _replace(graph: Graph, old: Value, new: Value, dead: list) -> None:
    graph.replace_all_uses(old, new)
    _prune(graph, dead)


def _prune(graph: Graph, nodes: list) -> None:
    """Removes the given nodes once unused, then their producers that became unused (not Inputs)."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if not _alive(graph, node) or node.op == "Input" or any(_is_used(graph, v) for v in node.outputs):
            continue
        producers = [v.node for v in node.inputs if v is not None]
        graph.nx.remove_node(node.id)
        stack.extend(producers)


def _moved_shape(shape: tuple, p: tuple) -> tuple:
    """Shape of a broadcast operand on the untransposed side: padded to rank, inverse-permuted,
    leading 1s dropped (so a (C,) bias on NHWC becomes (C, 1, 1) on NCHW)."""
    full = (1,) * (len(p) - len(shape)) + tuple(shape)
    moved = list(permute_shape(full, inverse(p)))
    while moved and moved[0] == 1:
        moved.pop(0)
    return tuple(moved)


def _moved_constant(graph: Graph, v: Value, p: tuple, scope: tuple) -> Value:
    value = np.asarray(v.node.attrs["value"])
    full = value.reshape((1,) * (len(p) - value.ndim) + value.shape)
    moved = np.ascontiguousarray(np.transpose(full, inverse(p))).reshape(_moved_shape(value.shape, p))
    return graph.add_node("Constant", [], [TensorType.of(moved)], {"value": moved}, scope).output


def _moved_param(graph: Graph, v: Value, p: tuple, scope: tuple) -> Value:
    """A Param seen through the permutation, as ops on the Param (the weight itself is not copied)."""
    full = (1,) * (len(p) - v.type.rank) + tuple(v.shape)
    target = _moved_shape(v.shape, p)
    nontrivial = [i for i in inverse(p) if full[i] != 1]
    if nontrivial == sorted(nontrivial):  # only size-1 axes move: a reshape is enough
        return graph.add_node("Reshape", [v], [v.type.with_shape(target)], {"shape": target}, scope).output
    full_v = graph.add_node("Reshape", [v], [v.type.with_shape(full)], {"shape": full}, scope).output
    moved = graph.add_node("Transpose", [full_v], [v.type.with_shape(permute_shape(full, inverse(p)))],
                           {"perm": inverse(p)}, scope).output
    return graph.add_node("Reshape", [moved], [v.type.with_shape(target)], {"shape": target}, scope).output
