"""Which ops of an ONNX graph have no CUDA kernel in onnxruntime, checked without a GPU.

The table is ``runtime/data/cuda_kernels.txt``, transcribed from onnxruntime's generated
``docs/OperatorKernels.md`` (source and commit in its header). For each node the op's version
under the model's opset (the schema's ``since_version``) must fall in a registered kernel's range,
and every input and output whose formal parameter is bound to a type variable (``T``, ``T1``, ...)
must have an element type that kernel lists. On CUDA, graphc sets
``session.disable_cpu_ep_fallback`` so such a node is an error; this check names them before a
session is created, on any machine.

Usage::

    problems = missing_cuda_kernels(model_proto)
    for p in problems: print(p)
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import onnx
from onnx import defs, helper, shape_inference

TABLE_PATH = os.path.join(os.path.dirname(__file__), "data", "cuda_kernels.txt")

_CODES = {"bf16": "bfloat16", "f16": "float16", "f32": "float32", "f64": "float64", "i8": "int8", "i16": "int16",
          "i32": "int32", "i64": "int64", "u8": "uint8", "u16": "uint16", "u32": "uint32", "u64": "uint64",
          "b": "bool"}
_GROUPS = {
    "@ALL": "bf16,b,f64,f32,f16,i16,i32,i64,i8,u16,u32,u64,u8",
    "@F3": "f64,f32,f16",
    "@F4": "bf16,f64,f32,f16",
    "@NUM12": "bf16,f64,f32,f16,i16,i32,i64,i8,u16,u32,u64,u8",
    "@NUM8": "bf16,f64,f32,f16,i32,i64,u32,u64",
}


@dataclass(frozen=True)
class Kernel:
    """One CUDA kernel registration: an op, its version range and the element types per type variable."""

    op: str
    first: int
    last: int | None
    types: dict

    def covers(self, version: int) -> bool:
        return self.first <= version and (self.last is None or version <= self.last)


@dataclass(frozen=True)
class MissingKernel:
    """A node that onnxruntime cannot place on the CUDA provider."""

    node: str
    op: str
    reason: str

    def __str__(self) -> str:
        return f"{self.op} (node {self.node!r}): {self.reason}"


def _parse_types(spec: str, where: str) -> dict:
    out = {}
    for part in filter(None, spec.split(";")):
        var, _, codes = part.partition("=")
        names = []
        for code in codes.split(","):
            for c in _GROUPS.get(code, code).split(","):
                if c not in _CODES:
                    raise ValueError(f"{where}: unknown type code {c!r}")
                names.append(_CODES[c])
        out[var] = frozenset(names)
    return out


@functools.lru_cache(maxsize=1)
def kernel_table() -> dict[str, list[Kernel]]:
    """Op name -> CUDA kernels (ai.onnx domain), parsed from the checked-in data file."""
    table: dict[str, list[Kernel]] = {}
    with open(TABLE_PATH, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            fields = line.split("\t")
            op, versions = fields[0], fields[1]
            where = f"{TABLE_PATH}:{lineno}"
            if versions.endswith("+"):
                first, last = int(versions[:-1]), None
            elif "-" in versions:
                a, b = versions.split("-")
                first, last = int(a), int(b)
            else:
                first = last = int(versions)
            types = _parse_types(fields[2], where) if len(fields) > 2 else {}
            table.setdefault(op, []).append(Kernel(op, first, last, types))
    return table


def _dtype_name(elem_type: int) -> str | None:
    try:
        return helper.tensor_dtype_to_np_dtype(elem_type).name if elem_type != onnx.TensorProto.BFLOAT16 \
            else "bfloat16"
    except (KeyError, TypeError, ValueError):
        return None


def _value_types(graph: onnx.GraphProto, known: dict) -> dict:
    types = dict(known)
    for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
        if vi.type.HasField("tensor_type"):
            types[vi.name] = _dtype_name(vi.type.tensor_type.elem_type)
    for init in graph.initializer:
        types[init.name] = _dtype_name(init.data_type)
    return types


def _formal(params, i):
    if not params:
        return None
    if i < len(params):
        return params[i]
    last = params[-1]
    return last if last.option == defs.OpSchema.FormalParameterOption.Variadic else None


def _check_graph(graph, opset: int, types: dict, out: list) -> None:
    types = _value_types(graph, types)
    table = kernel_table()
    for node in graph.node:
        name = node.name or (node.output[0] if node.output else node.op_type)
        for attr in node.attribute:  # control-flow bodies (Scan, Loop, If)
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                _check_graph(sub, opset, types, out)
        if node.domain not in ("", "ai.onnx"):
            out.append(MissingKernel(name, f"{node.domain}.{node.op_type}",
                                     "not a standard op; graphc's CUDA table covers the ai.onnx domain only"))
            continue
        kernels = table.get(node.op_type)
        if not kernels:
            out.append(MissingKernel(name, node.op_type, "onnxruntime has no CUDA kernel for this op"))
            continue
        try:
            schema = defs.get_schema(node.op_type, opset, "")
        except Exception:  # onnx raises SchemaError for unknown ops
            out.append(MissingKernel(name, node.op_type, f"unknown op at opset {opset}"))
            continue
        version = schema.since_version
        kernel = next((k for k in kernels if k.covers(version)), None)
        if kernel is None:
            have = ", ".join(f"{k.first}" + ("+" if k.last is None else f"-{k.last}") for k in kernels)
            out.append(MissingKernel(name, node.op_type, f"no CUDA kernel for version {version} (opset {opset}); "
                                                         f"kernels exist for versions {have}"))
            continue
        for kind, names, params in (("input", node.input, schema.inputs), ("output", node.output, schema.outputs)):
            for i, value in enumerate(names):
                formal = _formal(params, i)
                if not value or formal is None or formal.type_str not in kernel.types:
                    continue
                dtype = types.get(value)
                if dtype is not None and dtype not in kernel.types[formal.type_str]:
                    allowed = ", ".join(sorted(kernel.types[formal.type_str]))
                    out.append(MissingKernel(name, node.op_type,
                                             f"{kind} {i} ({formal.name}) is {dtype}; the CUDA kernel for "
                                             f"version {version} takes {formal.type_str} in {{{allowed}}}"))


def missing_cuda_kernels(model: onnx.ModelProto) -> list[MissingKernel]:
    """Every node of ``model`` (subgraphs included) that onnxruntime's CUDA provider cannot run."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        raise ValueError("model imports no ai.onnx opset")
    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception:  # keep going with the declared types only
        inferred = model
    out: list[MissingKernel] = []
    _check_graph(inferred.graph, opset, {}, out)
    return out


def check_cuda_coverage(model: onnx.ModelProto, what: str = "graph") -> None:
    """Raises ``NotImplementedError`` naming every op without a CUDA kernel."""
    missing = missing_cuda_kernels(model)
    if missing:
        lines = "\n  ".join(str(m) for m in missing)
        raise NotImplementedError(f"{what}: {len(missing)} node(s) have no CUDA kernel in onnxruntime and would fail "
                                  f"with session.disable_cpu_ep_fallback:\n  {lines}\nRun this model on device='cpu'.")
