"""ONNX node -> IR converters, one function per ONNX op (or family), used by ``importer``.

A converter gets a ``_Ctx`` (the ONNX node, its input Values, helpers) and returns the IR Value(s)
for the node's outputs. Shape-like operands the IR keeps as attributes are read with
``ctx.const`` / ``ctx.need_const``, which evaluate small constant subgraphs (and ``Shape`` of
statically shaped values) at import time.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from graphc.ir import TensorType, Value
from graphc.ops import REGISTRY, get_op

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
         "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor", "Mod", "Where", "MatMul", "Gemm",
         "GlobalAveragePool", "GlobalMaxPool", "Size", "DepthToSpace", "SpaceToDepth", "ArgMax", "ArgMin",
         "LRN", "Shrink", "IsInf", "Einsum", "GatherElements", "Hardmax", "NegativeLogLikelihoodLoss",
         "SoftmaxCrossEntropyLoss")


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


def _spatial(ctx, x: Value, kernel):
    """strides, dilations, pads for ``kernel`` (ONNX defaults, auto_pad resolved)."""
    strides = tuple(ctx.attrs.get("strides") or (1,) * len(kernel))
    dilations = tuple(ctx.attrs.get("dilations") or (1,) * len(kernel))
    return strides, dilations, _conv_pads(ctx, x, kernel, strides, dilations)


def _lift_1d(ctx, op: str, x: Value, kernel, strides, dilations, pads):
    """graphc's conv and pool ops are 2-D: a 1-D one runs on (N, C, 1, L) with a (1, K) kernel."""
    if x.type.rank == 4:
        return x, kernel, strides, dilations, pads
    if x.type.rank != 3:
        raise NotImplementedError(f"{op} is supported in 1-D and 2-D (rank-3 or rank-4 input) only")
    x = ctx.emit("Unsqueeze", [x], axes=(2,))
    return x, (1,) + kernel, (1,) + strides, (1,) + dilations, (0, pads[0], 0, pads[1])


def _drop_1d(ctx, lifted: bool, out):
    if not lifted:
        return out
    outs = out if isinstance(out, list) else [out]
    outs = [ctx.emit("Squeeze", [v], axes=(2,)) for v in outs]
    return outs if isinstance(out, list) else outs[0]


def _conv(ctx):
    op = ctx.node.op_type
    x, w = ctx.input(0), ctx.input(1)
    kernel = tuple(ctx.attrs.get("kernel_shape") or w.shape[2:])
    if not all(isinstance(k, int) for k in kernel):
        raise NotImplementedError(f"{op} with an unknown kernel size is not supported")
    lifted = x.type.rank == 3
    x, kernel, strides, dilations, pads = _lift_1d(ctx, op, x, kernel, *_spatial(ctx, x, kernel))
    if lifted:
        w = ctx.emit("Unsqueeze", [w], axes=(2,))
    ins = [x, w] + list(ctx.inputs[2:])
    while ins and ins[-1] is None:
        ins.pop()
    group = int(ctx.attrs.get("group", 1))
    if op == "ConvTranspose":
        if "output_shape" in ctx.attrs or ctx.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", ""):
            raise NotImplementedError("ConvTranspose with output_shape or auto_pad is not supported")
        out_pad = tuple(ctx.attrs["output_padding"]) if "output_padding" in ctx.attrs else None
        if out_pad is not None and lifted:
            out_pad = (0,) + out_pad
        y = ctx.emit("ConvTranspose", ins, kernel_shape=kernel, strides=strides, pads=pads, dilations=dilations,
                     group=group, output_padding=out_pad)
    else:
        y = ctx.emit("Conv", ins, kernel_shape=kernel, strides=strides, pads=pads, dilations=dilations, group=group)
    return _drop_1d(ctx, lifted, y)


def _pool(ctx):
    op = ctx.node.op_type
    x = ctx.input(0)
    kernel = tuple(ctx.attrs["kernel_shape"])
    strides, dilations, pads = _spatial(ctx, x, kernel)
    if any(d != 1 for d in dilations):
        raise NotImplementedError(f"{op} with dilations is not supported")
    if ctx.attrs.get("ceil_mode", 0):
        raise NotImplementedError(f"{op} with ceil_mode=1 is not supported")
    if ctx.attrs.get("storage_order", 0):
        raise NotImplementedError("MaxPool with storage_order=1 is not supported")
    lifted = x.type.rank == 3
    x, kernel, strides, _, pads = _lift_1d(ctx, op, x, kernel, strides, dilations, pads)
    if op == "AveragePool":
        y = ctx.emit(op, [x], kernel_shape=kernel, strides=strides, pads=pads,
                     count_include_pad=int(ctx.attrs.get("count_include_pad", 0)))
    elif len(ctx.node.output) > 1 and ctx.node.output[1]:  # flat indices are the same over (N, C, 1, L)
        y = ctx.emit("MaxPoolWithIndices", [x], kernel_shape=kernel, strides=strides, pads=pads)
    else:
        y = ctx.emit("MaxPool", [x], kernel_shape=kernel, strides=strides, pads=pads)
    return _drop_1d(ctx, lifted, y)


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


def _prelu(ctx):
    x, slope = ctx.input(0), ctx.input(1)
    if ctx.imp.source_opset < 7 and slope.type.rank == 1 and x.type.rank > 2 and slope.shape[0] == x.shape[1] != 1:
        # PRelu before opset 7 broadcast a (C,) slope over the channel axis
        slope = ctx.emit("Reshape", [slope], shape=(slope.shape[0],) + (1,) * (x.type.rank - 2))
    return ctx.emit("PRelu", [x, slope])


def _layer_norm(ctx):
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
    "OneHot": _with_const_input("depth", 1), "LayerNormalization": _layer_norm, "PRelu": _prelu,
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
