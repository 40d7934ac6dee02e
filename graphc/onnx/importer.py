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
from onnx import TensorProto, helper, numpy_helper

from graphc.ir import Graph, TensorType, Value, Variable
from graphc.ops import REGISTRY, get_op

MIN_OPSET, MAX_OPSET = 13, 21

_DTYPES = {
    TensorProto.FLOAT: "float32", TensorProto.DOUBLE: "float64", TensorProto.FLOAT16: "float16",
    TensorProto.INT8: "int8", TensorProto.UINT8: "uint8", TensorProto.INT32: "int32",
    TensorProto.INT64: "int64", TensorProto.BOOL: "bool",
}


def ir_dtype(elem_type: int) -> str:
    if elem_type not in _DTYPES:
        name = TensorProto.DataType.Name(elem_type) if elem_type in TensorProto.DataType.values() else elem_type
        raise NotImplementedError(f"ONNX tensor type {name} is not supported (graphc supports "
                                  f"{', '.join(sorted(_DTYPES.values()))})")
    return _DTYPES[elem_type]


def _value_type(vi: onnx.ValueInfoProto) -> TensorType:
    t = vi.type
    if not t.HasField("tensor_type"):
        raise NotImplementedError(f"input {vi.name!r} is not a tensor (sequences, maps and optionals are not supported)")
    tt = t.tensor_type
    dtype = ir_dtype(tt.elem_type)
    if not tt.HasField("shape"):
        raise NotImplementedError(f"input {vi.name!r} has no shape (unknown rank is not supported)")
    dims = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return TensorType(dtype, tuple(dims))


class _Ctx:
    """What a converter sees: the ONNX node, its input Values, and helpers to emit IR nodes."""

    def __init__(self, importer: "_Importer", node: onnx.NodeProto):
        self.imp = importer
        self.node = node
        self.attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        for k, v in list(self.attrs.items()):
            if isinstance(v, bytes):
                self.attrs[k] = v.decode()
            elif isinstance(v, onnx.TensorProto):
                self.attrs[k] = numpy_helper.to_array(v)
        self.inputs = [importer.env[n] if n else None for n in node.input]
        self.scope = (node.name,) if node.name else ()

    def input(self, i: int) -> Value | None:
        return self.inputs[i] if i < len(self.inputs) else None

    def const(self, i: int) -> np.ndarray | None:
        """Input ``i`` as an array when it is computable at import time, else None."""
        v = self.input(i)
        return None if v is None else self.imp.static_value(v)

    def need_const(self, i: int, what: str) -> np.ndarray:
        a = self.const(i)
        if a is None:
            raise NotImplementedError(f"{self.node.op_type}: the {what} is computed at run time (graphc needs it constant)")
        return a

    def emit(self, op: str, inputs, **attrs):
        attrs = {k: v for k, v in attrs.items() if v is not None}
        types = get_op(op).infer_node([None if v is None else v.type for v in inputs], attrs)
        n = self.imp.graph.add_node(op, list(inputs), types, attrs, self.scope)
        return n.outputs[0] if len(n.outputs) == 1 else list(n.outputs)

    def constant(self, array) -> Value:
        array = np.asarray(array)
        return self.imp.graph.add_node("Constant", [], [TensorType.of(array)], {"value": array}, self.scope).output


# -- converters: ONNX node -> IR Value(s) ---------------------------------------------------------------

_SAME = ("Abs", "Neg", "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Reciprocal", "Erf", "Sign", "Softplus",
         "Identity", "Not", "IsNaN", "LeakyRelu", "Elu", "Selu", "Floor", "Ceil", "Round", "Sin", "Cos", "Tan", "Asin",
         "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Softsign", "HardSigmoid", "HardSwish",
         "ThresholdedRelu", "Celu", "Mish", "Gelu", "Add", "Sub", "Mul", "Div", "Pow", "Equal", "Greater", "Less",
         "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor", "Mod", "PRelu", "Where", "MatMul", "Gemm",
         "GlobalAveragePool", "GlobalMaxPool", "Size", "DepthToSpace", "SpaceToDepth", "ArgMax", "ArgMin",
         "LRN", "Shrink", "IsInf", "Einsum", "GatherElements", "Hardmax")


def _same(ctx):
    return ctx.emit(ctx.node.op_type, ctx.inputs, **ctx.attrs)


def _variadic(ctx):
    op = {"Max": "Max", "Min": "Min", "Sum": "Add", "Mean": "Add"}[ctx.node.op_type]
    ins = [v for v in ctx.inputs if v is not None]
    y = ins[0]
    for v in ins[1:]:
        y = ctx.emit(op, [y, v])
    if len(ins) == 1:
        y = ctx.emit("Identity", [y])
    if ctx.node.op_type == "Mean" and len(ins) > 1:
        y = ctx.emit("Div", [y, ctx.constant(np.asarray(len(ins), y.dtype))])
    return y


def _cast(ctx):
    return ctx.emit("Cast", [ctx.input(0)], to=ir_dtype(ctx.attrs["to"]))


def _cast_like(ctx):
    return ctx.emit("Cast", [ctx.input(0)], to=ctx.input(1).dtype)


def _reshape(ctx):
    if ctx.attrs.get("allowzero", 0):
        raise NotImplementedError("Reshape with allowzero=1 is not supported")
    shape = ctx.const(1)
    if shape is not None:
        return ctx.emit("Reshape", [ctx.input(0)], shape=tuple(int(s) for s in shape))
    return ctx.emit("DynReshape", [ctx.input(0), ctx.input(1)])


def _axes_attr_or_input(ctx, i: int):
    if "axes" in ctx.attrs:
        return tuple(int(a) for a in ctx.attrs["axes"])
    if ctx.input(i) is None:
        return None
    return tuple(int(a) for a in ctx.need_const(i, "axes input"))


def _unsqueeze(ctx):
    return ctx.emit("Unsqueeze", [ctx.input(0)], axes=_axes_attr_or_input(ctx, 1))


def _squeeze(ctx):
    axes = _axes_attr_or_input(ctx, 1)
    x = ctx.input(0)
    if axes is None:
        if not x.type.is_static:
            raise NotImplementedError("Squeeze without axes needs a static input shape")
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    return ctx.emit("Squeeze", [x], axes=axes)


def _slice(ctx):
    starts = ctx.need_const(1, "starts input")
    ends = ctx.need_const(2, "ends input")
    axes = ctx.const(3) if ctx.input(3) is not None else None
    steps = ctx.const(4) if ctx.input(4) is not None else None
    if (ctx.input(3) is not None and axes is None) or (ctx.input(4) is not None and steps is None):
        raise NotImplementedError("Slice: axes or steps computed at run time are not supported")
    big = 2 ** 62

    def clamp(a):
        return tuple(int(max(-big, min(big, v))) for v in a)

    return ctx.emit("Slice", [ctx.input(0)], starts=clamp(starts), ends=clamp(ends),
                    axes=None if axes is None else tuple(int(a) for a in axes),
                    steps=None if steps is None else tuple(int(s) for s in steps))


def _reduce(ctx):
    op = ctx.node.op_type
    keepdims = int(ctx.attrs.get("keepdims", 1))
    axes = _axes_attr_or_input(ctx, 1)
    x = ctx.input(0)
    if axes is not None and len(axes) == 0:
        axes = None
    if axes is None and ctx.attrs.get("noop_with_empty_axes", 0):
        return ctx.emit("Identity", [x])
    return ctx.emit(op, [x], axes=axes, keepdims=keepdims)


def _softmax(ctx):
    return ctx.emit(ctx.node.op_type, [ctx.input(0)], axis=int(ctx.attrs.get("axis", -1)))


def _flatten(ctx):
    return ctx.emit("Flatten", [ctx.input(0)], axis=int(ctx.attrs.get("axis", 1)))


def _transpose(ctx):
    perm = ctx.attrs.get("perm")
    x = ctx.input(0)
    return ctx.emit("Transpose", [x], perm=tuple(perm) if perm is not None else tuple(reversed(range(x.type.rank))))


def _concat(ctx):
    return ctx.emit("Concat", [v for v in ctx.inputs if v is not None], axis=int(ctx.attrs["axis"]))


def _gather(ctx):
    return ctx.emit("Gather", ctx.inputs, axis=int(ctx.attrs.get("axis", 0)))


def _shape(ctx):
    x = ctx.input(0)
    start, end = ctx.attrs.get("start"), ctx.attrs.get("end")
    if x.type.is_static:
        return ctx.constant(np.asarray(x.shape, np.int64)[slice(start, end)])
    s = ctx.emit("Shape", [x])
    if start is None and end is None:
        return s
    return ctx.emit("Slice", [s], starts=(int(start or 0),), ends=(int(end) if end is not None else 2 ** 62,),
                    axes=(0,))


def _expand(ctx):
    shape = ctx.const(1)
    x = ctx.input(0)
    if shape is not None:
        return ctx.emit("Expand", [x, ctx.constant(shape.astype(np.int64))], shape_hint=tuple(int(s) for s in shape))
    return ctx.emit("Expand", [x, ctx.input(1)])


def _pad(ctx):
    mode = ctx.attrs.get("mode", "constant")
    if mode != "constant":
        raise NotImplementedError(f"Pad mode {mode!r} is not supported (constant only)")
    x = ctx.input(0)
    pads = [int(p) for p in ctx.need_const(1, "pads input")]
    value = ctx.const(2) if ctx.input(2) is not None else np.zeros(())
    if value is None:
        raise NotImplementedError("Pad: a constant_value computed at run time is not supported")
    r = x.type.rank
    if ctx.input(3) is not None:
        axes = [int(a) % r for a in ctx.need_const(3, "axes input")]
        full = [0] * (2 * r)
        for k, a in enumerate(axes):
            full[a], full[r + a] = pads[k], pads[len(axes) + k]
        pads = full
    if any(p < 0 for p in pads):
        raise NotImplementedError("Pad with negative pads is not supported")
    v = np.asarray(value).reshape(-1)
    return ctx.emit("Pad", [x], pads=tuple(pads), value=float(v[0]) if v.size else 0.0)


def _constant(ctx):
    a = ctx.attrs
    if "value" in a:
        return ctx.constant(a["value"])
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64),
                       ("value_ints", np.int64)):
        if key in a:
            return ctx.constant(np.asarray(a[key], dtype))
    raise NotImplementedError(f"Constant with {sorted(a)} is not supported")


def _constant_of_shape(ctx):
    value = ctx.attrs.get("value")
    value = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)
    shape = ctx.const(0)
    if shape is not None:
        return ctx.constant(np.full(tuple(int(s) for s in shape), value[0], dtype=value.dtype))
    return ctx.emit("ConstantOfShape", [ctx.input(0)], value=value)


def _range(ctx):
    vals = [ctx.const(i) for i in range(3)]
    if all(v is not None for v in vals):
        return ctx.constant(np.arange(vals[0], vals[1], vals[2]).astype(vals[0].dtype))
    return ctx.emit("Range", ctx.inputs)


def _tile(ctx):
    return ctx.emit("Tile", [ctx.input(0)], repeats=tuple(int(r) for r in ctx.need_const(1, "repeats input")))


def _split(ctx):
    x = ctx.input(0)
    axis = int(ctx.attrs.get("axis", 0))
    n_out = len(ctx.node.output)
    if "split" in ctx.attrs:
        split = [int(s) for s in ctx.attrs["split"]]
    elif ctx.input(1) is not None:
        split = [int(s) for s in ctx.need_const(1, "split input")]
    else:
        d = x.shape[axis]
        if not isinstance(d, int):
            raise NotImplementedError("Split into equal parts needs a static axis size")
        n = int(ctx.attrs.get("num_outputs", n_out))
        size = -(-d // n)
        split = [size] * (d // size) + ([d % size] if d % size else [])
    out = ctx.emit("Split", [x], axis=axis, split=tuple(split))
    return out if isinstance(out, list) else [out]


def _clip(ctx):
    ins = list(ctx.inputs) + [None] * (3 - len(ctx.inputs))
    if "min" in ctx.attrs or "max" in ctx.attrs:  # opset < 11 form
        x = ins[0]
        ins = [x, ctx.constant(np.asarray(ctx.attrs.get("min", -np.inf), x.dtype)),
               ctx.constant(np.asarray(ctx.attrs.get("max", np.inf), x.dtype))]
    while ins and ins[-1] is None:
        ins.pop()
    return ctx.emit("Clip", ins)


def _conv_pads(ctx, x: Value, kernel, strides, dilations):
    """Explicit pads from ``pads`` or ``auto_pad`` (SAME_* needs static spatial sizes)."""
    auto = ctx.attrs.get("auto_pad", "NOTSET")
    k = len(kernel)
    if auto in ("NOTSET", ""):
        return tuple(ctx.attrs.get("pads", (0,) * (2 * k)))
    if auto == "VALID":
        return (0,) * (2 * k)
    begin, end = [], []
    for i in range(k):
        size = x.shape[2 + i]
        if not isinstance(size, int):
            raise NotImplementedError(f"auto_pad={auto} needs static spatial sizes")
        out = -(-size // strides[i])
        total = max(0, (out - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1 - size)
        small, big = total // 2, total - total // 2
        begin.append(small if auto == "SAME_UPPER" else big)
        end.append(big if auto == "SAME_UPPER" else small)
    return tuple(begin + end)


def _conv(ctx):
    x, w = ctx.input(0), ctx.input(1)
    if x.type.rank != 4:
        raise NotImplementedError(f"{ctx.node.op_type} is supported in 2-D (rank-4 input) only")
    kernel = tuple(ctx.attrs.get("kernel_shape") or w.shape[2:])
    if not all(isinstance(k, int) for k in kernel):
        raise NotImplementedError("Conv with an unknown kernel size is not supported")
    strides = tuple(ctx.attrs.get("strides") or (1,) * len(kernel))
    dilations = tuple(ctx.attrs.get("dilations") or (1,) * len(kernel))
    pads = _conv_pads(ctx, x, kernel, strides, dilations)
    ins = [v for v in ctx.inputs]
    while ins and ins[-1] is None:
        ins.pop()
    if ctx.node.op_type == "ConvTranspose":
        if "output_shape" in ctx.attrs or ctx.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", ""):
            raise NotImplementedError("ConvTranspose with output_shape or auto_pad is not supported")
        return ctx.emit("ConvTranspose", ins, kernel_shape=kernel, strides=strides, pads=pads, dilations=dilations,
                        group=int(ctx.attrs.get("group", 1)),
                        output_padding=tuple(ctx.attrs["output_padding"]) if "output_padding" in ctx.attrs else None)
    return ctx.emit("Conv", ins, kernel_shape=kernel, strides=strides, pads=pads, dilations=dilations,
                    group=int(ctx.attrs.get("group", 1)))


def _pool(ctx):
    op = ctx.node.op_type
    x = ctx.input(0)
    if x.type.rank != 4:
        raise NotImplementedError(f"{op} is supported in 2-D (rank-4 input) only")
    kernel = tuple(ctx.attrs["kernel_shape"])
    strides = tuple(ctx.attrs.get("strides") or (1,) * len(kernel))
    dilations = tuple(ctx.attrs.get("dilations") or (1,) * len(kernel))
    if any(d != 1 for d in dilations):
        raise NotImplementedError(f"{op} with dilations is not supported")
    if ctx.attrs.get("ceil_mode", 0):
        raise NotImplementedError(f"{op} with ceil_mode=1 is not supported")
    if ctx.attrs.get("storage_order", 0):
        raise NotImplementedError("MaxPool with storage_order=1 is not supported")
    pads = _conv_pads(ctx, x, kernel, strides, dilations)
    if op == "AveragePool":
        return ctx.emit(op, [x], kernel_shape=kernel, strides=strides, pads=pads,
                        count_include_pad=int(ctx.attrs.get("count_include_pad", 0)))
    if len(ctx.node.output) > 1 and ctx.node.output[1]:
        return ctx.emit("MaxPoolWithIndices", [x], kernel_shape=kernel, strides=strides, pads=pads)
    return ctx.emit("MaxPool", [x], kernel_shape=kernel, strides=strides, pads=pads)


def _batch_norm(ctx):
    if ctx.attrs.get("training_mode", 0) or len([o for o in ctx.node.output if o]) > 1:
        raise NotImplementedError("BatchNormalization in training mode is not supported")
    return ctx.emit("BatchNormalization", ctx.inputs[:5], epsilon=float(ctx.attrs.get("epsilon", 1e-5)))


def _dropout(ctx):
    training = ctx.const(2) if ctx.input(2) is not None else np.asarray(False)
    if training is None or bool(np.asarray(training).reshape(-1)[0]):
        raise NotImplementedError("Dropout in training mode is not supported on import")
    y = ctx.emit("Identity", [ctx.input(0)])
    if len(ctx.node.output) > 1 and ctx.node.output[1]:  # outside training the mask is all True
        ones = ctx.emit("ConstantOfShapeLike", [ctx.input(0)], value=1.0)
        return [y, ctx.emit("Cast", [ones], to="bool")]
    return y


def _with_const_input(attr: str, port: int, default=None, cast=int):
    """A converter moving constant input ``port`` into attribute ``attr`` (Trilu k, TopK K, ...)."""

    def convert(ctx):
        ins = [ctx.input(0)] + [v for i, v in enumerate(ctx.inputs[1:], 1) if i != port]
        value = ctx.const(port) if ctx.input(port) is not None else default
        if ctx.input(port) is not None and value is None:
            raise NotImplementedError(f"{ctx.node.op_type}: input {port} is computed at run time "
                                      "(graphc needs it constant)")
        attrs = dict(ctx.attrs)
        if value is not None:
            attrs[attr] = cast(np.asarray(value).reshape(-1)[0])
        while ins and ins[-1] is None:
            ins.pop()
        return ctx.emit(ctx.node.op_type, ins, **attrs)

    return convert


def _layer_norm(ctx):
    if len([o for o in ctx.node.output if o]) > 1:
        raise NotImplementedError("LayerNormalization's Mean and InvStdDev outputs are not supported")
    ins = list(ctx.inputs)
    while ins and ins[-1] is None:
        ins.pop()
    return ctx.emit("LayerNormalization", ins, **ctx.attrs)


CONVERTERS: dict = {op: _same for op in _SAME}
CONVERTERS.update({
    "Max": _variadic, "Min": _variadic, "Sum": _variadic, "Mean": _variadic, "Cast": _cast, "CastLike": _cast_like,
    "Reshape": _reshape, "Unsqueeze": _unsqueeze, "Squeeze": _squeeze, "Slice": _slice, "Softmax": _softmax,
    "LogSoftmax": _softmax, "Flatten": _flatten, "Transpose": _transpose, "Concat": _concat, "Gather": _gather,
    "Shape": _shape, "Expand": _expand, "Pad": _pad, "Constant": _constant, "ConstantOfShape": _constant_of_shape,
    "Range": _range, "Tile": _tile, "Split": _split, "Clip": _clip, "Conv": _conv, "ConvTranspose": _conv,
    "MaxPool": _pool, "AveragePool": _pool, "BatchNormalization": _batch_norm, "Dropout": _dropout,
    "Trilu": _with_const_input("k", 1, 0), "CumSum": _with_const_input("axis", 1), "TopK": _with_const_input("k", 1),
    "OneHot": _with_const_input("depth", 1), "LayerNormalization": _layer_norm,
})
for _op in ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
            "ReduceLogSumExp", "ReduceSumSquare"):
    CONVERTERS[_op] = _reduce

# IR ops the converters emit for an ONNX op (the op is unsupported when one is not registered)
_NEEDS = {"Conv": ("Conv",), "ConvTranspose": ("ConvTranspose",), "MaxPool": ("MaxPool",),
          "AveragePool": ("AveragePool",), "BatchNormalization": ("BatchNormalization",), "Sum": ("Add",),
          "Mean": ("Add",), "CastLike": ("Cast",), "Constant": (), "ConstantOfShape": (), "Range": (),
          "Dropout": ("Identity",), "Trilu": ("Trilu",), "CumSum": ("CumSum",), "TopK": ("TopK",),
          "OneHot": ("OneHot",), "LayerNormalization": ("LayerNormalization",)}


def supported_ops() -> list[str]:
    """ONNX ops (default domain) the importer can map onto registered IR ops."""
    out = []
    for op in CONVERTERS:
        needs = _NEEDS.get(op, (op,) if op in _SAME else ())
        if all(n in REGISTRY for n in needs):
            out.append(op)
    return sorted(out)


# -- the importer -------------------------------------------------------------------------------------

class _Importer:
    def __init__(self, model: onnx.ModelProto, name: str | None, params: bool):
        self.model = model
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
        for t in self.model.graph.initializer:
            array = numpy_helper.to_array(t)
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
    """
    if isinstance(model, (str, os.PathLike)):
        model = onnx.load(os.fspath(model))
    elif isinstance(model, (bytes, bytearray)):
        model = onnx.load_from_string(bytes(model))
    model = prepare(model)
    return _Importer(model, name, params).run()


def model_opset(model: onnx.ModelProto) -> int:
    """The default-domain opset to export an imported model back with (within 13-21)."""
    return max(MIN_OPSET, min(MAX_OPSET, _default_opset(model)))
