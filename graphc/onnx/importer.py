"""ONNX ModelProto -> IR: ``import_model("m.onnx")`` gives a ``Graph`` the passes can optimize.

Each ONNX node maps onto registry ops. Shape-like operands that the IR keeps as attributes
(Reshape's shape, Slice's starts/ends/axes/steps, Unsqueeze/Squeeze/Reduce axes, Pad's pads, Tile's
repeats, Split's sizes) must be constant: initializers, Constant nodes, or small subgraphs of
constants and ``Shape`` of statically shaped values, which the importer evaluates. A Reshape or
Expand whose target is computed at run time becomes ``DynReshape`` / ``Expand`` with an input.

Opsets 13 to 21 are imported as they are. A model stamped with a newer opset is accepted when
every op it uses is unchanged since opset 21; an older model is first upgraded with
``onnx.version_converter``. Every op graphc cannot map is listed in one ``NotImplementedError``.
"""
from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import numpy_helper

from graphc.ir import Graph, TensorType, Value, Variable
from graphc.ops import get_op

from .files import UnsafeOnnxFileError, check_has_graph, load_onnx
from .converters import CONVERTERS, _Ctx, _value_type, ir_dtype, supported_ops

__all__ = ["CONVERTERS", "import_model", "ir_dtype", "model_opset", "prepare", "supported_ops"]

MIN_OPSET, MAX_OPSET = 13, 21


# -- the importer -------------------------------------------------------------------------------------

class _Importer:
    def __init__(self, model: onnx.ModelProto, name: str | None, params: bool, source_opset: int):
        self.model = model
        self.source_opset = source_opset  # before any upgrade: a few ops changed meaning on the way
        self.graph = Graph(name or model.graph.name or "imported")
        self.env: dict = {}
        self.params = params
        self._static: dict = {}

    def static_value(self, v: Value):
        """The array of ``v`` when it follows from constants (and static shapes) alone, else None."""
        key = (v.node.id, v.index)
        if key in self._static:
            return self._static[key]
        node = v.node
        result = None
        if node.op == "Constant":
            result = node.attrs["value"]
        elif node.op == "Shape" and node.inputs[0].type.is_static:
            result = np.asarray(node.inputs[0].shape, np.int64)
        elif node.op not in ("Input", "Param") and node.inputs and node.op not in ("Dropout",):
            args = [None if u is None else self.static_value(u) for u in node.inputs]
            if all(a is not None or u is None for a, u in zip(args, node.inputs)):
                while args and args[-1] is None:
                    args.pop()
                try:
                    with np.errstate(all="ignore"):
                        result = get_op(node.op).ref_node(args, node.attrs)[v.index]
                except Exception:  # not evaluable here: stays dynamic
                    result = None
        self._static[key] = result
        return result

    def run(self) -> Graph:
        g = self.graph
        inits = {t.name: t for t in self.model.graph.initializer}
        if not self.model.graph.output:
            raise ValueError(f"ONNX graph {self.model.graph.name!r} has no outputs: nothing to import")
        for t in self.model.graph.initializer:
            try:
                array = numpy_helper.to_array(t)
            except (ValueError, TypeError) as e:  # dims that disagree with the stored data
                raise ValueError(f"ONNX initializer {t.name!r} (dims {list(t.dims)}) is corrupted: {e}") from None
            ir_dtype(t.data_type)
            if self.params and array.dtype.kind == "f":
                var = Variable(array, t.name)
                self.env[t.name] = g.add_node("Param", [], [var.type], {"variable": var}).output
            else:
                self.env[t.name] = g.add_node("Constant", [], [TensorType.of(array)], {"value": array}).output
        for vi in self.model.graph.input:
            if vi.name in inits:
                continue  # IR < 4 models list initializers among the inputs
            self.env[vi.name] = g.add_node("Input", [], [_value_type(vi)], {"name": vi.name}).output
        for node in self.model.graph.node:
            undefined = [n for n in node.input if n and n not in self.env]
            if undefined:
                raise ValueError(f"ONNX node {node.name or node.op_type!r} ({node.op_type}) reads {undefined}, which no "
                                 "graph input, initializer or earlier node defines (a malformed or unsorted graph)")
            ctx = _Ctx(self, node)
            try:
                out = CONVERTERS[node.op_type](ctx)
            except (ValueError, TypeError) as e:
                raise NotImplementedError(f"ONNX node {node.name or node.op_type!r} ({node.op_type}): {e}") from None
            outs = out if isinstance(out, list) else [out]
            names = [n for n in node.output]
            if len(outs) < len([n for n in names if n]):
                raise NotImplementedError(f"{node.op_type}: {len(names)} outputs requested, graphc gives {len(outs)}")
            for n, v in zip(names, outs):
                if n:
                    if n in self.env:
                        raise ValueError(f"ONNX node {node.name or node.op_type!r} ({node.op_type}) writes {n!r}, "
                                         "which is already defined (a graph must assign each value once)")
                    self.env[n] = v
        outs, names = [], []
        for vi in self.model.graph.output:
            if vi.name not in self.env:
                raise ValueError(f"graph output {vi.name!r} is not produced by any node")
            outs.append(self.env[vi.name])
            names.append(vi.name)
        g.set_outputs(outs, names)
        return g


def _default_opset(model: onnx.ModelProto) -> int:
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return o.version
    return 1


def _ops(graph) -> set:
    return {(n.domain or "", n.op_type) for n in graph.node}


def _signature(schema, ignore=()) -> tuple:
    """What an op version means apart from the tensor types it accepts: its inputs, outputs and
    attributes with their defaults. Versions after 21 that only add types (bfloat16, float8,
    4-bit ints) have the same signature as version 21, so the model means the same at opset 21."""
    attrs = tuple(sorted((name, a.required, a.default_value.SerializeToString())
                         for name, a in schema.attributes.items() if name not in ignore))
    ins = tuple((i.name, int(i.option)) for i in schema.inputs)
    outs = tuple((o.name, int(o.option)) for o in schema.outputs)
    return attrs, ins, outs, schema.min_input, schema.max_input, schema.min_output, schema.max_output


def prepare(model: onnx.ModelProto) -> onnx.ModelProto:
    """Checks domains and ops, brings the opset into 13-21; raises NotImplementedError listing every
    unsupported op."""
    opset = _default_opset(model)
    ops = _ops(model.graph)
    foreign = sorted(f"{d}.{op}" for d, op in ops if d not in ("", "ai.onnx"))
    supported = set(supported_ops())
    missing = sorted({op for d, op in ops if d in ("", "ai.onnx") and op not in supported})
    if foreign or missing:
        raise NotImplementedError("graphc cannot import ops: " + ", ".join(missing + foreign))
    if opset > MAX_OPSET:
        set_attrs: dict = {}
        for n in model.graph.node:
            set_attrs.setdefault(n.op_type, set()).update(a.name for a in n.attribute)
        changed = []
        for _, op in sorted(ops):
            newer = onnx.defs.get_schema(op, opset)
            if newer.since_version <= MAX_OPSET:
                continue
            try:
                older = onnx.defs.get_schema(op, MAX_OPSET)
            except onnx.defs.SchemaError:
                changed.append(f"{op} (new in opset {newer.since_version})")
                continue
            # attributes added after 21 that the model leaves at their defaults keep the old meaning
            ignore = set(newer.attributes) - set(older.attributes) - set_attrs.get(op, set())
            if _signature(newer, ignore) != _signature(older):
                changed.append(f"{op} (changed in opset {newer.since_version})")
        if changed:
            raise NotImplementedError(f"model opset {opset}: graphc imports opsets {MIN_OPSET}-{MAX_OPSET}; ops "
                                      f"whose inputs or attributes changed after {MAX_OPSET}: {', '.join(changed)}")
    elif opset < MIN_OPSET:
        try:
            from onnx import version_converter

            model = version_converter.convert_version(model, MIN_OPSET)
        except Exception as e:
            raise NotImplementedError(f"model opset {opset} could not be upgraded to {MIN_OPSET}: "
                                      f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        return prepare(model)
    return model


def import_model(model, name: str | None = None, params: bool = False) -> Graph:
    """Loads an ONNX model into the IR.

    Args:
        model: a path, bytes, or an ``onnx.ModelProto``.
        name: graph name (the ONNX graph's name by default).
        params: float initializers become Params (Variables named after them) instead of
            Constants, so a runtime session feeds them as inputs.

    Returns:
        A Graph whose inputs and outputs carry the ONNX names.

    Raises:
        NotImplementedError: listing the ops (or features) graphc cannot map.
        TypeError: ``model`` is none of the above.
        ValueError: the file or bytes are not a valid ONNX model (``UnsafeOnnxFileError``), or the graph reads
            a value nothing defines.
    """
    if isinstance(model, (str, os.PathLike)):
        model = load_onnx(model)  # external data must stay inside the model's folder
    elif isinstance(model, (bytes, bytearray)):
        try:
            model = onnx.load_from_string(bytes(model))
        except Exception as e:  # protobuf's DecodeError and friends
            raise UnsafeOnnxFileError(f"model: bytes that are not a valid ONNX model ({type(e).__name__}: {e})") from None
        check_has_graph(model, "model (bytes)")
    elif not isinstance(model, onnx.ModelProto):
        raise TypeError(f"import_model: model must be a path, bytes or an onnx.ModelProto, received "
                        f"{type(model).__name__}")
    source_opset = _default_opset(model)
    model = prepare(model)
    return _Importer(model, name, params, source_opset).run()


def model_opset(model: onnx.ModelProto) -> int:
    """The default-domain opset to export an imported model back with (within 13-21)."""
    return max(MIN_OPSET, min(MAX_OPSET, _default_opset(model)))
