"""The op contract and the builder that layers, gradient rules and passes emit IR through.

Every op is one ``OpDef`` subclass registered under its class name, with four parts:

* ``infer(*input_types, **attrs)`` -> output TensorType(s); raises ValueError/TypeError on misuse;
* ``ref(*arrays, **attrs)`` -> output array(s): the NumPy oracle (constant folding, tests, debug);
* ``lower(ctx, node)``: emits ONNX nodes through ``ctx.emit`` (never builds protobufs);
* ``grad(node, dys)`` -> one gradient Value (or None) per input, built with the ops API under the
  current builder. Ops that are not differentiable set ``differentiable = False``.

Attributes use ONNX spelling and ONNX defaults, declared as keyword defaults of ``infer``/``ref``.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Sequence

import numpy as np

from graphc.ir import Graph, TensorType, Value, Variable

REGISTRY: dict[str, "OpDef"] = {}


def register_op(cls):
    """Class decorator: instantiates the OpDef and registers it under its class name."""
    cls.name = cls.__name__
    if cls.name in REGISTRY:
        raise ValueError(f"op {cls.name} is registered twice")
    REGISTRY[cls.name] = cls()
    return cls


def get_op(name: str) -> "OpDef":
    try:
        return REGISTRY[name]
    except KeyError:
        raise NotImplementedError(f"op {name!r} is not defined in graphc.ops") from None


class OpDef:
    """Base of all op definitions. See the module docstring for the contract."""

    name: str = ""
    #: False when no input has a gradient (comparisons, shapes, ids); ``grad`` is then not needed.
    differentiable: bool = True
    #: Input ports that never carry a gradient (shapes, indices, masks).
    nondiff_inputs: tuple = ()

    def infer(self, *types: TensorType, **attrs) -> TensorType | tuple:
        raise NotImplementedError(f"{self.name}.infer")

    def ref(self, *arrays: np.ndarray, **attrs):
        raise NotImplementedError(f"{self.name}.ref")

    def lower(self, ctx: "LowerContext", node) -> None:
        """Default: one ONNX node of the same name with the same attributes."""
        ctx.emit(self.name, ctx.inputs, ctx.outputs, **node.attrs)

    def grad(self, node, dys: list) -> list:
        raise NotImplementedError(f"{self.name}.grad")

    def infer_node(self, input_types: Sequence[TensorType], attrs: dict) -> list[TensorType]:
        out = self.infer(*input_types, **attrs)
        return list(out) if isinstance(out, (tuple, list)) else [out]

    def ref_node(self, arrays: Sequence[np.ndarray], attrs: dict) -> list[np.ndarray]:
        out = self.ref(*arrays, **attrs)
        return [np.asarray(o) for o in out] if isinstance(out, (tuple, list)) else [np.asarray(out)]


class LowerContext:
    """What ``OpDef.lower`` sees: ONNX names of the node's inputs and outputs, the target opset,
    and callbacks to emit nodes and constants. Implemented by ``graphc.onnx.export``."""

    opset: int
    inputs: list[str]
    outputs: list[str]

    def emit(self, op_type: str, inputs: Sequence[str], outputs: Sequence[str] | int = 1,
             domain: str = "", **attrs) -> list[str]:
        raise NotImplementedError

    def const(self, array, hint: str = "const") -> str:
        raise NotImplementedError

    def fresh(self, hint: str) -> str:
        raise NotImplementedError


# -- the builder ---------------------------------------------------------------------------------

_current: contextvars.ContextVar = contextvars.ContextVar("graphc_builder", default=None)


class OpError(ValueError):
    """An op rejected its inputs; the message names the layer scope that emitted it."""


class Builder:
    """Appends op applications to a Graph under a scope, inferring types as it goes."""

    def __init__(self, graph: Graph, scope: tuple = ()):
        self.graph = graph
        self.scope_stack: list[str] = list(scope)
        self._params: dict[int, Value] = {}
        for n in graph.nodes:
            if n.op == "Param":
                self._params[n.attrs["variable"].uid] = n.output
        self.training: Any = False  # bool, or a Value (bool scalar) when training is a graph input
        self.call_index: dict[int, int] = {}
        #: (Variable, new value) pairs a training-mode trace produces besides its outputs, e.g.
        #: BatchNormalization's moving statistics; the training step writes them back.
        self.state_updates: list = []

    @property
    def scope(self) -> tuple:
        return tuple(self.scope_stack)

    @contextlib.contextmanager
    def name_scope(self, name: str):
        self.scope_stack.append(name)
        try:
            yield self
        finally:
            self.scope_stack.pop()

    @contextlib.contextmanager
    def activate(self):
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)

    # -- values --
    def input(self, name: str, type: TensorType) -> Value:
        return self.graph.add_node("Input", [], [type], {"name": name}, self.scope).output

    def param(self, variable: Variable) -> Value:
        v = self._params.get(variable.uid)
        if v is None:
            v = self.graph.add_node("Param", [], [variable.type], {"variable": variable}, ()).output
            self._params[variable.uid] = v
        return v

    def constant(self, array, dtype=None) -> Value:
        array = np.asarray(array, dtype=dtype)
        if array.dtype == np.float64 and dtype is None:
            array = array.astype(np.float32)
        return self.graph.add_node("Constant", [], [TensorType.of(array)], {"value": array}, self.scope).output

    def as_value(self, x, like: Value | None = None) -> Value:
        if isinstance(x, Value):
            return x
        if isinstance(x, Variable):
            return self.param(x)
        if like is not None and np.ndim(x) == 0 and not isinstance(x, np.ndarray):
            return self.constant(np.asarray(x, dtype=like.dtype), dtype=like.dtype)
        if isinstance(x, np.ndarray):  # an array's dtype is deliberate: a float64 one stays float64
            return self.constant(x, dtype=x.dtype)
        return self.constant(x)

    # -- ops --
    def emit(self, op: str, *inputs, **attrs):
        """Applies ``op`` to ``inputs``; returns its output Value, or a tuple for several outputs."""
        opdef = get_op(op)
        like = next((x for x in inputs if isinstance(x, Value)), None)
        values = [None if x is None else self.as_value(x, like) for x in inputs]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        try:
            types = opdef.infer_node([None if v is None else v.type for v in values], attrs)
        except (ValueError, TypeError) as e:
            where = f' in layer "{self.scope[-1]}"' if self.scope else ""
            received = ", ".join("None" if v is None else str(v.type) for v in values)
            raise type(e)(f"{op}{where}: {e} (inputs: {received})") from None
        node = self.graph.add_node(op, values, types, attrs, self.scope)
        return node.outputs[0] if len(node.outputs) == 1 else tuple(node.outputs)


def current_builder() -> Builder:
    b = _current.get()
    if b is None:
        raise RuntimeError("graphc ops can only be called while a graph is being traced")
    return b


def emit(op: str, *inputs, **attrs):
    """Emits ``op`` into the current builder (the functional ops API is built on this)."""
    return current_builder().emit(op, *inputs, **attrs)


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < rank:
        raise ValueError(f"{what} {axis} is out of range for rank {rank}")
    return axis % rank
