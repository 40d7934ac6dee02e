"""IR -> ONNX ModelProto. The only module (with ``graphc.onnx.importer``) that builds protobufs."""
from __future__ import annotations

import re
import sys
from typing import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from graphc.ir import Graph, Value, chunk_name, param_value
from graphc.ops import get_op
from graphc.ops.base import LowerContext

DEFAULT_OPSET = 17
DEFAULT_IR_VERSION = 9
MAX_OPSET = 21

_DTYPES = {
    "float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE, "float16": TensorProto.FLOAT16,
    "int8": TensorProto.INT8, "uint8": TensorProto.UINT8, "int32": TensorProto.INT32,
    "int64": TensorProto.INT64, "bool": TensorProto.BOOL,
}


def onnx_dtype(name: str) -> int:
    return _DTYPES[name]


def _value_info(name: str, value: Value) -> onnx.ValueInfoProto:
    dims = [d if isinstance(d, int) else (d if isinstance(d, str) else None) for d in value.shape]
    return helper.make_tensor_value_info(name, onnx_dtype(value.dtype), dims)


def _clean(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_./:-]", "_", text)


class _Lowering(LowerContext):
    def __init__(self, opset: int):
        self.opset = opset
        self.nodes: list = []
        self.initializers: list = []
        self._names: set = set()
        self._next_suffix: dict = {}
        self._consts: dict = {}
        self.node_prefix = ""
        self.input_types: list = []

    def unique(self, hint: str) -> str:
        hint = _clean(hint)
        name, k = hint, self._next_suffix.get(hint, 1)
        while name in self._names:
            name = f"{hint}_{k}"
            k += 1
        self._next_suffix[hint] = k  # resume here: probing from 1 every time made lowering quadratic
        self._names.add(name)
        return name

    def fresh(self, hint: str) -> str:
        return self.unique(f"{self.node_prefix}/{hint}" if self.node_prefix else hint)

    def emit(self, op_type, inputs, outputs=1, domain="", **attrs):
        if isinstance(outputs, int):
            outputs = [self.fresh(op_type.lower()) for _ in range(outputs)]
        attrs = {k: (numpy_helper.from_array(np.asarray(v)) if isinstance(v, np.ndarray) else v)
                 for k, v in attrs.items() if v is not None}
        name = self.unique(f"{self.node_prefix}/{op_type}" if self.node_prefix else op_type)
        self.nodes.append(helper.make_node(op_type, list(inputs), list(outputs), name=name,
                                           domain=domain or None, **attrs))
        return list(outputs)

    def const(self, array, hint="const"):
        array = np.asarray(array)
        key = _const_key(array)
        if key in self._consts:
            return self._consts[key]
        name = self.unique(f"const/{hint}")
        self.initializers.append((name, array))
        self._consts[key] = name
        return name

    def onnx_dtype(self, name: str) -> int:
        return onnx_dtype(name)

    def dtype_of(self, i: int) -> np.dtype:
        return np.dtype(self.input_types[i].dtype)

    def subgraph(self, name: str, inputs: Sequence[tuple], outputs: Sequence[tuple], build) -> onnx.GraphProto:
        """Builds a body graph for a control-flow attribute (Scan, Loop, If), e.g.
        ``ctx.emit("Scan", ins, outs, body=ctx.subgraph(...), num_scan_inputs=2)``.

        Args:
            name: the body graph's name.
            inputs: one ``(hint, dtype name, shape)`` per body input, in ONNX order (Scan: states,
                then one slice per scan input); dims may be ints, names or None.
            outputs: one ``(dtype name, shape)`` per body output.
            build: ``build(body_ctx, input_names) -> output_names``; ``body_ctx`` has this context's
                ``emit``, ``const`` (a Constant node inside the body), ``fresh`` and ``subgraph``.
                Names of the enclosing graph may be read in the body (ONNX outer scope).

        Returns:
            The GraphProto to pass as the attribute value.
        """
        body = _BodyLowering(self)
        in_names = [self.fresh(hint) for hint, _, _ in inputs]
        out_names = list(build(body, in_names))
        if len(out_names) != len(outputs):
            raise ValueError(f"subgraph {name!r}: build returned {len(out_names)} outputs, declared {len(outputs)}")
        final = []
        for n in out_names:  # a body output must be produced inside the body under its own name
            if n in in_names or n not in body.produced or n in final:
                n = body.emit("Identity", [n], 1)[0]
            final.append(n)

        def info(n, dtype, shape):
            dims = [d if isinstance(d, (int, str)) else None for d in shape]
            return helper.make_tensor_value_info(n, onnx_dtype(dtype), dims)

        return helper.make_graph(body.nodes, _clean(name), [info(n, d, s) for n, (_, d, s) in zip(in_names, inputs)],
                                 [info(n, d, s) for n, (d, s) in zip(final, outputs)])


class _BodyLowering(_Lowering):
    """The context a control-flow body is built in: shares the model's name table (names stay
    unique across scopes) and emits constants as Constant nodes inside the body."""

    def __init__(self, parent: _Lowering):
        super().__init__(parent.opset)
        self._names = parent._names
        self.node_prefix = parent.node_prefix
        self.produced: set = set()

    def emit(self, op_type, inputs, outputs=1, domain="", **attrs):
        out = super().emit(op_type, inputs, outputs, domain, **attrs)
        self.produced.update(out)
        return out

    def const(self, array, hint="const"):
        array = np.asarray(array)
        key = _const_key(array)
        if key not in self._consts:
            self._consts[key] = self.emit("Constant", [], [self.fresh(f"const/{hint}")],
                                          value=numpy_helper.from_array(array))[0]
        return self._consts[key]


def to_onnx(
    graph: Graph,
    opset: int = DEFAULT_OPSET,
    ir_version: int = DEFAULT_IR_VERSION,
    params_as_inputs: bool = False,
    param_names: dict | None = None,
    producer: str = "graphc",
) -> onnx.ModelProto:
    """Lowers ``graph`` to an ONNX model.

    Args:
        graph: the IR graph; its Input nodes become graph inputs in order, its outputs the outputs.
        opset: default-domain opset, 13 to 21.
        ir_version: ONNX IR version stamped on the model (onnx stamps its newest otherwise).
        params_as_inputs: parameters become graph inputs (training steps, runtime sessions) instead
            of initializers (deployment).
        param_names: optional ONNX name per variable path.

    Returns:
        The ModelProto, not yet checked.
    """
    for arg, value in (("opset", opset), ("ir_version", ir_version)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise TypeError(f"{arg}: expected an int, received {value!r}")
    if not 13 <= opset <= MAX_OPSET:
        raise ValueError(f"opset: expected 13 to {MAX_OPSET}, received {opset}")
    ctx = _Lowering(opset)
    names: dict = {}
    inputs, initializers, outputs = [], [], []
    for v in graph.inputs:
        names[v] = ctx.unique(v.name)
        inputs.append(_value_info(names[v], v))
    for name in graph.output_names:
        ctx._names.add(_clean(name))  # reserve output names
    param_values: dict = {}
    for node in graph.nodes:
        if node.op == "Param":
            var = node.attrs["variable"]
            path = (param_names or {}).get(var.path, var.path)
            rows = node.attrs.get("rows")
            pname = ctx.unique(path if rows is None else chunk_name(path, rows))
            names[node.output] = pname
            param_values[pname] = node
    for pname, node in param_values.items():
        if params_as_inputs:
            inputs.append(_value_info(pname, node.output))
        else:
            initializers.append((pname, np.asarray(param_value(node))))
    # graph outputs get the user's names; an output that is also an input or repeated gets an Identity
    out_alias: dict = {}
    for v, name in zip(graph.outputs, graph.output_names):
        if v not in names and v not in out_alias:
            out_alias[v] = _clean(name)
    for node in graph.nodes:
        if node.op in ("Input", "Param"):
            continue
        scope = "/".join(node.scope)
        ctx.node_prefix = scope
        if node.op == "Constant":
            names[node.output] = out_alias.get(node.output) or ctx.const(node.attrs["value"], "value")
            if node.output in out_alias:
                initializers.append((names[node.output], node.attrs["value"]))
            continue
        ctx.inputs = [names[v] if v is not None else "" for v in node.inputs]
        while ctx.inputs and ctx.inputs[-1] == "":
            ctx.inputs.pop()
        ctx.input_types = [v.type if v is not None else None for v in node.inputs]
        ctx.outputs = []
        for v in node.outputs:
            names[v] = out_alias.get(v) or ctx.fresh(f"{node.op}_{node.id}" + (f":{v.index}" if v.index else ""))
            ctx.outputs.append(names[v])
        get_op(node.op).lower(ctx, node)
    ctx.node_prefix = ""
    for v, name in zip(graph.outputs, graph.output_names):
        name = _clean(name)
        if names[v] != name:
            ctx.emit("Identity", [names[v]], [name])
        outputs.append(_value_info(name, v))
    onnx_graph = helper.make_graph(ctx.nodes, _clean(graph.name), inputs, outputs)
    # contrib ops (com.microsoft, from the onnxruntime-targeted fusions) need their domain imported
    domains = sorted({n.domain for n in ctx.nodes if n.domain})
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", opset)]
                              + [helper.make_opsetid(d, 1) for d in domains],
                              producer_name=producer)
    # initializers are written straight into the model: building TensorProtos first and handing them
    # to make_graph/make_model copies every weight twice more (a third of ResNet50's export time)
    for name, array in initializers + ctx.initializers:
        _fill_tensor(model.graph.initializer.add(), name, array)
    model.ir_version = ir_version
    return model


_RAW_DTYPES = frozenset(_DTYPES) - {"bool"}


def _fill_tensor(t: onnx.TensorProto, name: str, array: np.ndarray) -> None:
    array = np.asarray(array)
    if array.dtype.name in _RAW_DTYPES and array.dtype.isnative and sys.byteorder == "little":
        t.name = name
        t.data_type = onnx_dtype(array.dtype.name)
        t.dims.extend(array.shape)
        t.raw_data = np.ascontiguousarray(array).tobytes()
    else:
        t.CopyFrom(numpy_helper.from_array(array, name))


def _const_key(array: np.ndarray):
    """Equal small constants share one initializer; large ones are deduplicated by identity only
    (hashing their bytes costs more than it saves: they are folded weights, each one distinct)."""
    if array.nbytes <= 4096:
        return (array.dtype.str, array.shape, array.tobytes())
    return ("id", id(array))  # the graph node holding the array keeps it alive while lowering


def check(model: onnx.ModelProto) -> None:
    """Full ONNX check (with strict shape inference)."""
    onnx.checker.check_model(model, full_check=True)


def check_output_path(path) -> tuple[str, str]:
    """Validates a file path to write (``filepath`` of export / export_training), creating its folder.

    Returns:
        The path as a str and its folder.

    Raises:
        TypeError: not a path. IsADirectoryError: the path is a directory. NotADirectoryError /
        PermissionError: the folder cannot be created.
    """
    import os

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"filepath: expected a path (str or os.PathLike), received {type(path).__name__}")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"filepath: {path} is a directory; give a file name such as "
                                f"{os.path.join(path, 'model.onnx')}")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise NotADirectoryError(f"filepath: cannot write {path}: a part of its folder {folder} is a file, not a "
                                 "directory") from None
    except PermissionError as e:
        raise PermissionError(f"filepath: cannot create the folder {folder} for {path}: {e.strerror}") from None
    return path, folder


def save_model(model: onnx.ModelProto, path: str) -> None:
    """Writes atomically (temporary file, then rename); large models use external data."""
    import os
    import tempfile

    path, folder = check_output_path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".graphc-", suffix=".onnx")
    except PermissionError as e:
        raise PermissionError(f"filepath: cannot write to the folder {folder}: {e.strerror}") from None
    os.close(fd)
    try:
        if model.ByteSize() > 2_000_000_000:
            onnx.save_model(model, tmp, save_as_external_data=True, all_tensors_to_one_file=True,
                            location=os.path.basename(path) + ".data")
        else:
            onnx.save_model(model, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
