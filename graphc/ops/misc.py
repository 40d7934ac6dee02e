"""Ops that ONNX import and the onnxruntime-targeted fusions need beyond the layers' ops.

* Elementwise math: Floor, Ceil, Round, Sin, Cos, Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh,
  Acosh, Atanh, Softsign, HardSigmoid, HardSwish, ThresholdedRelu, Celu, Mish, Gelu, Clip, PRelu,
  Mod, Or, Xor.
* Reductions: ReduceProd, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp, ReduceSumSquare;
  ArgMax, ArgMin.
* Shapes and data: Split, Tile, ConstantOfShape, Range, Size, DepthToSpace, SpaceToDepth.
* More imported-model ops: LRN, Shrink, IsInf, Einsum, GatherElements, Trilu, CumSum, Hardmax,
  LayerNormalization, TopK, OneHot.

ONNX's loss ops live in ``loss_ops``, onnxruntime's contrib fusions in ``contrib``.

Ops whose gradient graphc never needs set ``differentiable = False``; the rest give their rule.
"""
from __future__ import annotations

import math

import numpy as np

from graphc.ir import TensorType, broadcast_shapes

from .base import REGISTRY, OpDef, normalize_axis, register_op
from .elementwise import _Binary, _Compare, _Unary, where, zeros_like_scalar
from .reduce import _Reduce


def _register(cls):
    """Registers ``cls`` unless another module already defined an op of that name."""
    if cls.__name__ in REGISTRY:
        return cls
    return register_op(cls)


# -- elementwise -------------------------------------------------------------------------------------

class _Math(_Unary):
    """A float unary op given by ``fn`` (no gradient rule needed by graphc)."""

    differentiable = False
    fn = None

    def infer(self, x, **attrs):
        return super().infer(x)

    def ref(self, x, **attrs):
        with np.errstate(all="ignore"):
            return np.asarray(type(self).fn(x, **attrs)).astype(x.dtype)


def _math_op(name, fn, differentiable=False):
    cls = type(name, (_Math,), {"fn": staticmethod(fn), "__doc__": f"Y = {name}(X), elementwise.",
                                "differentiable": differentiable})
    return _register(cls)


for _name, _fn in {
    "Floor": np.floor, "Ceil": np.ceil, "Round": np.round, "Sin": np.sin, "Cos": np.cos, "Tan": np.tan,
    "Asin": np.arcsin, "Acos": np.arccos, "Atan": np.arctan, "Sinh": np.sinh, "Cosh": np.cosh,
    "Asinh": np.arcsinh, "Acosh": np.arccosh, "Atanh": np.arctanh,
    "Softsign": lambda x: x / (1 + np.abs(x)),
    "HardSigmoid": lambda x, alpha=0.2, beta=0.5: np.clip(alpha * x + beta, 0, 1),
    "HardSwish": lambda x: x * np.clip(x / 6 + 0.5, 0, 1),
    "ThresholdedRelu": lambda x, alpha=1.0: np.where(x > alpha, x, 0),
    "Celu": lambda x, alpha=1.0: np.maximum(0, x) + np.minimum(0, alpha * np.expm1(x / alpha)),
}.items():
    _math_op(_name, _fn)


@_register
class Mish(_Math):
    """Y = X * tanh(softplus(X)); ONNX has Mish from opset 18, composed before."""

    fn = staticmethod(lambda x: x * np.tanh(np.logaddexp(0, x)))

    def lower(self, ctx, node):
        if ctx.opset >= 18:
            ctx.emit("Mish", ctx.inputs, ctx.outputs)
            return
        sp = ctx.emit("Softplus", ctx.inputs, 1)[0]
        ctx.emit("Mul", [ctx.inputs[0], ctx.emit("Tanh", [sp], 1)[0]], ctx.outputs)


@_register
class Gelu(_Math):
    """Y = X * Phi(X) (``approximate="tanh"``: the tanh form); ONNX has Gelu from opset 20."""

    fn = staticmethod(lambda x, approximate="none": (
        0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))) if approximate == "tanh"
        else 0.5 * x * (1 + np.vectorize(math.erf, otypes=[np.float64])(x / math.sqrt(2))) if x.size else x))

    def lower(self, ctx, node):
        approximate = node.attrs.get("approximate", "none")
        if ctx.opset >= 20:
            ctx.emit("Gelu", ctx.inputs, ctx.outputs, approximate=approximate)
            return
        x, dt = ctx.inputs[0], ctx.dtype_of(0)

        def c(v, hint):
            return ctx.const(np.asarray(v, dt), hint)

        if approximate == "tanh":
            cube = ctx.emit("Mul", [ctx.emit("Mul", [x, x], 1)[0], x], 1)[0]
            inner = ctx.emit("Add", [x, ctx.emit("Mul", [cube, c(0.044715, "gelu_k")], 1)[0]], 1)[0]
            t = ctx.emit("Tanh", [ctx.emit("Mul", [inner, c(math.sqrt(2 / math.pi), "gelu_s")], 1)[0]], 1)[0]
        else:
            t = ctx.emit("Erf", [ctx.emit("Mul", [x, c(1 / math.sqrt(2), "gelu_r")], 1)[0]], 1)[0]
        half_x = ctx.emit("Mul", [x, c(0.5, "half")], 1)[0]
        ctx.emit("Mul", [half_x, ctx.emit("Add", [t, c(1.0, "one")], 1)[0]], ctx.outputs)


@_register
class Clip(OpDef):
    """Y = min(max(X, min), max); ``min``/``max`` optional scalar inputs as in ONNX 11+."""

    nondiff_inputs = (1, 2)

    def infer(self, x, lo=None, hi=None):
        return x

    def ref(self, x, lo=None, hi=None):
        y = x
        if lo is not None:
            y = np.maximum(y, lo)
        if hi is not None:
            y = np.minimum(y, hi)
        return np.asarray(y).astype(x.dtype)

    def grad(self, node, dys):
        from .elementwise import greater_or_equal, less_or_equal, logical_and

        x = node.inputs[0]
        keep = None
        for v, cmp in ((node.inputs[1] if len(node.inputs) > 1 else None, greater_or_equal),
                       (node.inputs[2] if len(node.inputs) > 2 else None, less_or_equal)):
            if v is not None:
                m = cmp(x, v)
                keep = m if keep is None else logical_and(keep, m)
        if keep is None:
            return [dys[0]]
        return [where(keep, dys[0], zeros_like_scalar(dys[0])), None, None][:len(node.inputs)]


@_register
class PRelu(OpDef):
    """Y = X if X >= 0 else slope * X, slope broadcast to X."""

    differentiable = False

    def infer(self, x, slope):
        return TensorType(x.dtype, broadcast_shapes(x.shape, slope.shape))

    def ref(self, x, slope):
        return np.where(x >= 0, x, x * slope).astype(x.dtype)


@_register
class Mod(_Binary):
    """ONNX Mod: ``fmod=1`` takes the dividend's sign (C fmod), else the divisor's (Python %)."""

    differentiable = False

    def infer(self, a, b, fmod=0):
        return super().infer(a, b)

    def ref(self, a, b, fmod=0):
        with np.errstate(all="ignore"):
            return (np.fmod(a, b) if fmod else np.mod(a, b)).astype(a.dtype)

    def lower(self, ctx, node):
        fmod = int(node.attrs.get("fmod", 0))
        if fmod or np.dtype(ctx.dtype_of(0)).kind != "f":
            ctx.emit("Mod", ctx.inputs, ctx.outputs, fmod=fmod)
            return
        # onnxruntime only implements fmod=1 for floats: r = fmod(a, b), plus b where r and b differ in sign
        a, b = ctx.inputs
        r = ctx.emit("Mod", [a, b], 1, fmod=1)[0]
        zero = ctx.const(np.zeros((), ctx.dtype_of(0)), "zero")
        r_neg = ctx.emit("Less", [r, zero], 1)[0]
        b_neg = ctx.emit("Less", [b, zero], 1)[0]
        nonzero = ctx.emit("Not", [ctx.emit("Equal", [r, zero], 1)[0]], 1)[0]
        fix = ctx.emit("And", [ctx.emit("Xor", [r_neg, b_neg], 1)[0], nonzero], 1)[0]
        ctx.emit("Where", [fix, ctx.emit("Add", [r, b], 1)[0], r], ctx.outputs)


class _BoolBinary(_Compare):
    def infer(self, a, b):
        if a.dtype != "bool" or b.dtype != "bool":
            raise TypeError(f"{self.name} needs bool operands, received {a.dtype}, {b.dtype}")
        return TensorType("bool", broadcast_shapes(a.shape, b.shape))


@_register
class Or(_BoolBinary):
    def ref(self, a, b):
        return np.logical_or(a, b)


@_register
class Xor(_BoolBinary):
    def ref(self, a, b):
        return np.logical_xor(a, b)


# -- reductions --------------------------------------------------------------------------------------

def _reduce_op(name, fn, from_opset=18):
    cls = type(name, (_Reduce,), {"np_fn": staticmethod(fn), "input_axes_from": from_opset,
                                  "differentiable": False, "__doc__": f"ONNX {name}; ``axes=None`` reduces all."})
    return _register(cls)


_reduce_op("ReduceProd", np.prod)
_reduce_op("ReduceL1", lambda x, axis, keepdims: np.sum(np.abs(x), axis=axis, keepdims=keepdims))
_reduce_op("ReduceL2", lambda x, axis, keepdims: np.sqrt(np.sum(np.square(x), axis=axis, keepdims=keepdims)))
_reduce_op("ReduceLogSum", lambda x, axis, keepdims: np.log(np.sum(x, axis=axis, keepdims=keepdims)))
_reduce_op("ReduceLogSumExp", lambda x, axis, keepdims: np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims)))
_reduce_op("ReduceSumSquare", lambda x, axis, keepdims: np.sum(np.square(x), axis=axis, keepdims=keepdims))


class _Arg(OpDef):
    differentiable = False

    def infer(self, x, axis=0, keepdims=1, select_last_index=0):
        a = normalize_axis(axis, x.rank)
        shape = tuple(1 if i == a else d for i, d in enumerate(x.shape)) if keepdims else \
            tuple(d for i, d in enumerate(x.shape) if i != a)
        return TensorType("int64", shape)

    def ref(self, x, axis=0, keepdims=1, select_last_index=0):
        fn = np.argmax if self.name == "ArgMax" else np.argmin
        if select_last_index:
            flipped = np.flip(x, axis)
            out = x.shape[axis] - 1 - fn(flipped, axis=axis)
        else:
            out = fn(x, axis=axis)
        if keepdims:
            out = np.expand_dims(out, axis)
        return out.astype(np.int64)


@_register
class ArgMax(_Arg):
    pass


@_register
class ArgMin(_Arg):
    pass


# -- shapes and data ---------------------------------------------------------------------------------

@_register
class Split(OpDef):
    """(Y1, ..., Yn) = X cut along ``axis`` into pieces of sizes ``split``. dX = Concat(dYi)."""

    def infer(self, x, axis=0, split=()):
        a = normalize_axis(axis, x.rank)
        d = x.shape[a]
        if isinstance(d, int) and sum(split) != d:
            raise ValueError(f"split sizes {tuple(split)} do not add up to axis {a} of size {d}")
        return tuple(x.with_shape(x.shape[:a] + (int(s),) + x.shape[a + 1:]) for s in split)

    def ref(self, x, axis=0, split=()):
        return tuple(np.split(x, np.cumsum(split)[:-1], axis=axis))

    def lower(self, ctx, node):
        ctx.emit("Split", [ctx.inputs[0], ctx.const(np.asarray(node.attrs["split"], np.int64), "split")], ctx.outputs,
                 axis=int(node.attrs.get("axis", 0)))

    def grad(self, node, dys):
        from .nn import zeros_like
        from .shape import concat

        parts = [dy if dy is not None else zeros_like(y) for dy, y in zip(dys, node.outputs)]
        return [concat(parts, node.attrs.get("axis", 0))]


@_register
class Tile(OpDef):
    """Y = X repeated ``repeats`` times along each axis."""

    differentiable = False

    def infer(self, x, repeats):
        if len(repeats) != x.rank:
            raise ValueError(f"repeats {tuple(repeats)} needs one entry per axis of rank {x.rank}")
        return x.with_shape(tuple(d * r if isinstance(d, int) else (d if r == 1 else None)
                                  for d, r in zip(x.shape, repeats)))

    def ref(self, x, repeats):
        return np.tile(x, tuple(repeats))

    def lower(self, ctx, node):
        ctx.emit("Tile", [ctx.inputs[0], ctx.const(np.asarray(node.attrs["repeats"], np.int64), "repeats")],
                 ctx.outputs)


@_register
class ConstantOfShape(OpDef):
    """Y = a tensor of ``value`` (a 1-element array) with the shape held by the int64 vector S."""

    differentiable = False

    def infer(self, s, value=None):
        dtype = "float32" if value is None else np.asarray(value).dtype.name
        n = s.shape[0] if s.rank == 1 else None
        return TensorType(dtype, (None,) * n if isinstance(n, int) else ())

    def ref(self, s, value=None):
        value = np.zeros(1, np.float32) if value is None else np.asarray(value)
        return np.full(tuple(int(d) for d in s), value.reshape(-1)[0], dtype=value.dtype)

    def lower(self, ctx, node):
        value = node.attrs.get("value")
        ctx.emit("ConstantOfShape", ctx.inputs, ctx.outputs,
                 value=None if value is None else np.asarray(value).reshape(1))


@_register
class Range(OpDef):
    """Y = [start, start + delta, ...) below ``limit`` (scalar inputs)."""

    differentiable = False

    def infer(self, start, limit, delta):
        return TensorType(start.dtype, (None,))

    def ref(self, start, limit, delta):
        return np.arange(start, limit, delta).astype(start.dtype)


@_register
class Size(OpDef):
    differentiable = False

    def infer(self, x):
        return TensorType("int64", ())

    def ref(self, x):
        return np.asarray(x.size, np.int64)


@_register
class DepthToSpace(OpDef):
    """(N, C*b*b, H, W) -> (N, C, H*b, W*b); ``mode`` DCR or CRD as in ONNX."""

    differentiable = False

    def infer(self, x, blocksize, mode="DCR"):
        n, c, h, w = x.shape
        b = blocksize
        return x.with_shape((n, c // (b * b) if isinstance(c, int) else None, h * b if isinstance(h, int) else None,
                             w * b if isinstance(w, int) else None))

    def ref(self, x, blocksize, mode="DCR"):
        n, c, h, w = x.shape
        b = blocksize
        if mode == "DCR":
            t = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
        else:
            t = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
        return t.reshape(n, c // (b * b), h * b, w * b)


@_register
class SpaceToDepth(OpDef):
    """(N, C, H*b, W*b) -> (N, C*b*b, H, W)."""

    differentiable = False

    def infer(self, x, blocksize):
        n, c, h, w = x.shape
        b = blocksize
        return x.with_shape((n, c * b * b if isinstance(c, int) else None, h // b if isinstance(h, int) else None,
                             w // b if isinstance(w, int) else None))

    def ref(self, x, blocksize):
        n, c, h, w = x.shape
        b = blocksize
        t = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4)
        return t.reshape(n, c * b * b, h // b, w // b)


# -- more ONNX ops that imported models use ----------------------------------------------------------

@_register
class LRN(OpDef):
    """Local response normalization across channels (axis 1), as ONNX defines it."""

    differentiable = False

    def infer(self, x, size, alpha=1e-4, beta=0.75, bias=1.0):
        return x

    def ref(self, x, size, alpha=1e-4, beta=0.75, bias=1.0):
        sq = np.square(x.astype(np.float64))
        c = x.shape[1]
        lo, hi = (size - 1) // 2, -(-(size - 1) // 2)
        padded = np.pad(sq, [(0, 0), (lo, hi)] + [(0, 0)] * (x.ndim - 2))
        total = sum(padded[:, i:i + c] for i in range(size))
        return (x / (bias + alpha / size * total) ** beta).astype(x.dtype)


@_register
class Shrink(OpDef):
    differentiable = False

    def infer(self, x, bias=0.0, lambd=0.5):
        return x

    def ref(self, x, bias=0.0, lambd=0.5):
        return np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0)).astype(x.dtype)


@_register
class IsInf(OpDef):
    differentiable = False

    def infer(self, x, detect_negative=1, detect_positive=1):
        return TensorType("bool", x.shape)

    def ref(self, x, detect_negative=1, detect_positive=1):
        return (np.isposinf(x) & bool(detect_positive)) | (np.isneginf(x) & bool(detect_negative))


def _einsum_terms(equation: str, ranks):
    lhs, _, rhs = equation.replace(" ", "").partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ValueError(f"equation {equation!r} has {len(terms)} operands, received {len(ranks)}")
    if not _:
        letters = [ch for t in terms for ch in t.replace("...", "")]
        rhs = ("..." if any("..." in t for t in terms) else "") + "".join(
            sorted(ch for ch in set(letters) if letters.count(ch) == 1))
    return terms, rhs


@_register
class Einsum(OpDef):
    """Y = einsum(equation, X1, X2, ...), ellipses broadcast."""

    differentiable = False

    def infer(self, *xs, equation):
        terms, rhs = _einsum_terms(equation, [x.rank for x in xs])
        dims: dict = {}
        ell = []
        for t, x in zip(terms, xs):
            n_ell = x.rank - len(t.replace("...", ""))
            head, _, tail = t.partition("...")
            shape = list(x.shape)
            for ch, d in zip(head, shape[:len(head)]):
                dims[ch] = broadcast_shapes((dims.get(ch, 1),), (d,))[0]
            if "..." in t:
                ell.append(tuple(shape[len(head):len(head) + n_ell]))
            for ch, d in zip(tail, shape[len(shape) - len(tail):] if tail else []):
                dims[ch] = broadcast_shapes((dims.get(ch, 1),), (d,))[0]
        out = []
        for part in rhs.split("..."):
            out.append([dims[ch] for ch in part])
        shape = out[0] + (list(broadcast_shapes(*ell)) if "..." in rhs else []) + (out[1] if len(out) > 1 else [])
        return TensorType(xs[0].dtype, tuple(shape))

    def ref(self, *xs, equation):
        return np.einsum(equation, *xs).astype(xs[0].dtype)


@_register
class GatherElements(OpDef):
    differentiable = False

    def infer(self, x, idx, axis=0):
        normalize_axis(axis, x.rank)
        return TensorType(x.dtype, idx.shape)

    def ref(self, x, idx, axis=0):
        idx = np.where(idx < 0, idx + x.shape[axis], idx)
        return np.take_along_axis(x, idx, axis=axis)


@_register
class Trilu(OpDef):
    """Upper (``upper=1``) or lower triangle of the last two axes, diagonal offset ``k``."""

    differentiable = False

    def infer(self, x, k=0, upper=1):
        return x

    def ref(self, x, k=0, upper=1):
        return (np.triu(x, k) if upper else np.tril(x, k)).astype(x.dtype)

    def lower(self, ctx, node):
        k = ctx.const(np.asarray(node.attrs.get("k", 0), np.int64), "k")
        ctx.emit("Trilu", [ctx.inputs[0], k], ctx.outputs, upper=int(node.attrs.get("upper", 1)))


@_register
class CumSum(OpDef):
    differentiable = False

    def infer(self, x, axis, exclusive=0, reverse=0):
        normalize_axis(axis, x.rank)
        return x

    def ref(self, x, axis, exclusive=0, reverse=0):
        y = np.flip(x, axis) if reverse else x
        out = np.cumsum(y, axis=axis, dtype=x.dtype)
        if exclusive:
            out = out - y
        return (np.flip(out, axis) if reverse else out).astype(x.dtype)

    def lower(self, ctx, node):
        axis = ctx.const(np.asarray(node.attrs["axis"], np.int64), "axis")
        ctx.emit("CumSum", [ctx.inputs[0], axis], ctx.outputs, exclusive=int(node.attrs.get("exclusive", 0)),
                 reverse=int(node.attrs.get("reverse", 0)))


@_register
class Hardmax(OpDef):
    differentiable = False

    def infer(self, x, axis=-1):
        normalize_axis(axis, x.rank)
        return x

    def ref(self, x, axis=-1):
        idx = np.expand_dims(np.argmax(x, axis=axis), axis)
        y = np.zeros_like(x)
        np.put_along_axis(y, idx, 1, axis=axis)
        return y


@_register
class LayerNormalization(OpDef):
    """(Y, Mean, InvStdDev): Y = (X - mean) / sqrt(var + epsilon) * Scale + B over the axes from
    ``axis`` on; Mean and InvStdDev keep those axes as 1 (float32 with ``stash_type=1``)."""

    differentiable = False

    def infer(self, x, scale, b=None, axis=-1, epsilon=1e-5, stash_type=1):
        a = normalize_axis(axis, x.rank)
        stat = TensorType("float32" if stash_type == 1 else x.dtype, x.shape[:a] + (1,) * (x.rank - a))
        return x, stat, stat

    def ref(self, x, scale, b=None, axis=-1, epsilon=1e-5, stash_type=1):
        axes = tuple(range(axis % x.ndim, x.ndim))
        xf = x.astype(np.float64)
        mean = xf.mean(axis=axes, keepdims=True)
        inv = 1 / np.sqrt(np.square(xf - mean).mean(axis=axes, keepdims=True) + epsilon)
        y = (xf - mean) * inv * scale
        stat = np.float32 if stash_type == 1 else x.dtype
        return (y + b if b is not None else y).astype(x.dtype), mean.astype(stat), inv.astype(stat)

    def lower(self, ctx, node):
        if ctx.opset < 17:
            raise NotImplementedError("LayerNormalization needs ONNX opset 17 or later")
        ctx.emit("LayerNormalization", ctx.inputs, ctx.outputs, **node.attrs)


@_register
class TopK(OpDef):
    """(values, indices) of the ``k`` largest (or smallest) along ``axis``; ties by lower index."""

    differentiable = False

    def infer(self, x, k, axis=-1, largest=1, sorted=1):
        a = normalize_axis(axis, x.rank)
        shape = tuple(int(k) if i == a else d for i, d in enumerate(x.shape))
        return TensorType(x.dtype, shape), TensorType("int64", shape)

    def ref(self, x, k, axis=-1, largest=1, sorted=1):
        key = -x.astype(np.float64) if largest else x.astype(np.float64)
        idx = np.take(np.argsort(key, axis=axis, kind="stable"), np.arange(int(k)), axis=axis)
        return np.take_along_axis(x, idx, axis=axis), idx.astype(np.int64)

    def lower(self, ctx, node):
        k = ctx.const(np.asarray([node.attrs["k"]], np.int64), "k")
        ctx.emit("TopK", [ctx.inputs[0], k], ctx.outputs, axis=int(node.attrs.get("axis", -1)),
                 largest=int(node.attrs.get("largest", 1)), sorted=int(node.attrs.get("sorted", 1)))


@_register
class OneHot(OpDef):
    """One-hot of ``indices`` with ``depth`` classes on ``axis``; ``values`` = [off, on]."""

    differentiable = False

    def infer(self, idx, values, depth, axis=-1):
        r = idx.rank + 1
        a = normalize_axis(axis, r)
        shape = list(idx.shape)
        shape.insert(a, int(depth))
        return TensorType(values.dtype, tuple(shape))

    def ref(self, idx, values, depth, axis=-1):
        depth = int(depth)
        i = np.asarray(idx).astype(np.int64)
        i = np.where(i < 0, i + depth, i)
        hot = (i[..., None] == np.arange(depth)) & (i[..., None] >= 0)
        y = np.where(hot, values[1], values[0]).astype(values.dtype)
        return np.moveaxis(y, -1, axis % (i.ndim + 1))

    def lower(self, ctx, node):
        depth = ctx.const(np.asarray(node.attrs["depth"], np.int64), "depth")
        ctx.emit("OneHot", [ctx.inputs[0], depth, ctx.inputs[1]], ctx.outputs, axis=int(node.attrs.get("axis", -1)))


del _name, _fn
