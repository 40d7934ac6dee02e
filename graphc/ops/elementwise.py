"""Elementwise ops with NumPy broadcasting: arithmetic, activations, comparisons, Cast, Where."""
from __future__ import annotations

import math

import numpy as np

from graphc.ir import TensorType, as_dtype, broadcast_shapes, is_float

from .base import OpDef, emit, register_op


def onnx_float(value: float) -> float:
    """``value`` rounded as an ONNX float attribute stores it (float32), so a float64 reference
    computes with the same constant onnxruntime does."""
    return float(np.float32(value))


def _same_dtype(op: str, *types: TensorType) -> str:
    dtypes = {t.dtype for t in types}
    if len(dtypes) != 1:
        raise TypeError(f"{op} needs operands of one dtype, received {', '.join(t.dtype for t in types)}")
    return types[0].dtype


class _Binary(OpDef):
    """Broadcasting binary op; the output has the operands' dtype."""

    def infer(self, a, b):
        return TensorType(_same_dtype(self.name, a, b), broadcast_shapes(a.shape, b.shape))


class _Compare(OpDef):
    differentiable = False

    def infer(self, a, b):
        _same_dtype(self.name, a, b)
        return TensorType("bool", broadcast_shapes(a.shape, b.shape))


class _Unary(OpDef):
    """Same type in, same type out; float only unless ``any_dtype``."""

    any_dtype = False

    def infer(self, x, **attrs):  # attrs (alpha, gamma) are the ref's to validate
        if not self.any_dtype and not is_float(x.dtype):
            raise TypeError(f"{self.name} needs a float tensor, received {x.dtype}")
        return x


@register_op
class Add(_Binary):
    """Y = A + B. dA = dY, dB = dY (the autodiff driver un-broadcasts)."""

    def ref(self, a, b):
        return a + b

    def grad(self, node, dys):
        return [dys[0], dys[0]]


@register_op
class Sub(_Binary):
    """Y = A - B. dA = dY, dB = -dY."""

    def ref(self, a, b):
        return a - b

    def grad(self, node, dys):
        return [dys[0], neg(dys[0])]


@register_op
class Mul(_Binary):
    """Y = A * B. dA = dY * B, dB = dY * A."""

    def ref(self, a, b):
        return a * b

    def grad(self, node, dys):
        a, b = node.inputs
        return [mul(dys[0], b), mul(dys[0], a)]


@register_op
class Div(_Binary):
    """Y = A / B. dA = dY / B, dB = -dY * Y / B."""

    def ref(self, a, b):
        if np.issubdtype(a.dtype, np.integer):
            return np.trunc(a / b).astype(a.dtype)
        return a / b

    def grad(self, node, dys):
        a, b = node.inputs
        da = div(dys[0], b)
        return [da, neg(mul(da, node.outputs[0]))]


@register_op
class Pow(OpDef):
    """Y = A ** B (B broadcast). dA = dY * B * A^(B-1), dB = dY * Y * log(A)."""

    def infer(self, a, b):
        return TensorType(a.dtype, broadcast_shapes(a.shape, b.shape))

    def ref(self, a, b):
        return np.power(a, b.astype(a.dtype))

    def grad(self, node, dys):
        a, b = node.inputs
        bf = b if b.dtype == a.dtype else cast(b, a.dtype)
        one = np.asarray(1, a.dtype)
        da = mul(dys[0], mul(bf, pow_(a, sub(bf, one))))
        db = mul(dys[0], mul(node.outputs[0], log(a))) if is_float(b.dtype) else None
        return [da, db]


def _selection_grads(dy, a_selected):
    """[dA, dB] of an op that passes A where ``a_selected`` (bool) and B elsewhere (Max, Min).

    A multiply by the cast mask, not Where, which onnxruntime runs on one thread (as for Relu):
    ReLU6's Min(x, 6) gradient on 32x64x32x32 floats 6.9 -> 3.3-3.5 ms at 2 threads. B's share is
    dY - dA, exact for a 0/1 mask.
    """
    da = mul(dy, cast(a_selected, dy.dtype))
    return [da, sub(dy, da)]


@register_op
class Max(_Binary):
    """Elementwise maximum of two tensors. The gradient goes to the larger (A on ties)."""

    def ref(self, a, b):
        return np.maximum(a, b)

    def grad(self, node, dys):
        return _selection_grads(dys[0], greater_or_equal(*node.inputs))


@register_op
class Min(_Binary):
    """Elementwise minimum of two tensors. The gradient goes to the smaller (A on ties)."""

    def ref(self, a, b):
        return np.minimum(a, b)

    def grad(self, node, dys):
        return _selection_grads(dys[0], less_or_equal(*node.inputs))


@register_op
class Neg(_Unary):
    any_dtype = True

    def ref(self, x):
        return -x

    def grad(self, node, dys):
        return [neg(dys[0])]


@register_op
class Abs(_Unary):
    any_dtype = True

    def ref(self, x):
        return np.abs(x)

    def grad(self, node, dys):
        return [mul(dys[0], sign(node.inputs[0]))]


@register_op
class Sign(_Unary):
    any_dtype = True
    differentiable = False

    def ref(self, x):
        return np.sign(x)


@register_op
class Relu(_Unary):
    """Y = max(X, 0). dX = dY * Cast(Y > 0).

    A multiply by the cast mask, not ``Where(Y > 0, dY, 0)``: onnxruntime's CPU Where runs on one
    thread and took 1.5-2x as long as Greater + Cast + Mul on a (64, 64, 28, 28) activation.
    """

    def ref(self, x):
        return np.maximum(x, 0).astype(x.dtype)

    def grad(self, node, dys):
        y = node.outputs[0]
        return [mul(dys[0], cast(greater(y, zeros_like_scalar(y)), y.dtype))]


@register_op
class LeakyRelu(_Unary):
    """Y = X if X >= 0 else alpha * X (ONNX default alpha 0.01)."""

    def ref(self, x, alpha=0.01):
        return np.where(x >= 0, x, x * np.asarray(onnx_float(alpha), x.dtype)).astype(x.dtype)

    def grad(self, node, dys):
        x = node.inputs[0]
        alpha = onnx_float(node.attrs.get("alpha", 0.01))
        scale = where(greater_or_equal(x, zeros_like_scalar(x)), np.asarray(1, x.dtype), np.asarray(alpha, x.dtype))
        return [mul(dys[0], scale)]


@register_op
class Elu(_Unary):
    """Y = X if X > 0 else alpha * (exp(X) - 1)."""

    def ref(self, x, alpha=1.0):
        alpha = onnx_float(alpha)
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype)

    def grad(self, node, dys):
        x, y = node.inputs[0], node.outputs[0]
        alpha = np.asarray(onnx_float(node.attrs.get("alpha", 1.0)), x.dtype)
        return [mul(dys[0], where(greater(x, zeros_like_scalar(x)), np.asarray(1, x.dtype), add(y, alpha)))]


@register_op
class Selu(_Unary):
    """Y = gamma * (X if X > 0 else alpha * (exp(X) - 1)), Keras/ONNX constants."""

    def ref(self, x, alpha=1.67326319217681884765625, gamma=1.05070102214813232421875):
        alpha, gamma = onnx_float(alpha), onnx_float(gamma)
        return (gamma * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))).astype(x.dtype)

    def grad(self, node, dys):
        x, y = node.inputs[0], node.outputs[0]
        alpha = onnx_float(node.attrs.get("alpha", 1.67326319217681884765625))
        gamma = onnx_float(node.attrs.get("gamma", 1.05070102214813232421875))
        neg_branch = add(y, np.asarray(alpha * gamma, x.dtype))
        return [mul(dys[0], where(greater(x, zeros_like_scalar(x)), np.asarray(gamma, x.dtype), neg_branch))]


@register_op
class Softplus(_Unary):
    """Y = log(1 + exp(X)). dX = dY * sigmoid(X)."""

    def ref(self, x):
        return np.logaddexp(0, x).astype(x.dtype)

    def grad(self, node, dys):
        return [mul(dys[0], sigmoid(node.inputs[0]))]


@register_op
class Sigmoid(_Unary):
    """Y = 1 / (1 + exp(-X)). dX = dY * Y * (1 - Y)."""

    def ref(self, x):
        return (0.5 * (1 + np.tanh(0.5 * x))).astype(x.dtype)

    def grad(self, node, dys):
        y = node.outputs[0]
        return [mul(dys[0], mul(y, sub(np.asarray(1, y.dtype), y)))]


@register_op
class Tanh(_Unary):
    """dX = dY * (1 - Y^2)."""

    def ref(self, x):
        return np.tanh(x)

    def grad(self, node, dys):
        y = node.outputs[0]
        return [mul(dys[0], sub(np.asarray(1, y.dtype), mul(y, y)))]


@register_op
class Exp(_Unary):
    def ref(self, x):
        return np.exp(x)

    def grad(self, node, dys):
        return [mul(dys[0], node.outputs[0])]


@register_op
class Log(_Unary):
    def ref(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)

    def grad(self, node, dys):
        return [div(dys[0], node.inputs[0])]


@register_op
class Sqrt(_Unary):
    """dX = dY / (2 Y)."""

    def ref(self, x):
        with np.errstate(invalid="ignore"):
            return np.sqrt(x)

    def grad(self, node, dys):
        y = node.outputs[0]
        return [div(dys[0], mul(y, np.asarray(2, y.dtype)))]


@register_op
class Reciprocal(_Unary):
    """dX = -dY * Y^2."""

    def ref(self, x):
        with np.errstate(divide="ignore"):
            return (1 / x).astype(x.dtype)

    def grad(self, node, dys):
        y = node.outputs[0]
        return [neg(mul(dys[0], mul(y, y)))]


@register_op
class Erf(_Unary):
    """dX = dY * 2/sqrt(pi) * exp(-X^2)."""

    def ref(self, x):
        return np.vectorize(math.erf, otypes=[x.dtype])(x) if x.size else x.copy()

    def grad(self, node, dys):
        x = node.inputs[0]
        return [mul(dys[0], mul(exp(neg(mul(x, x))), np.asarray(2 / math.sqrt(math.pi), x.dtype)))]


@register_op
class Identity(OpDef):
    def infer(self, x):
        return x

    def ref(self, x):
        return x.copy()

    def grad(self, node, dys):
        return [dys[0]]


@register_op
class Cast(OpDef):
    """Y = X as dtype ``to`` (a NumPy dtype name in the IR, an ONNX enum once lowered)."""

    def infer(self, x, to):
        return TensorType(as_dtype(to), x.shape)

    def ref(self, x, to):
        return x.astype(as_dtype(to))

    def lower(self, ctx, node):
        ctx.emit("Cast", ctx.inputs, ctx.outputs, to=ctx.onnx_dtype(node.attrs["to"]))

    def grad(self, node, dys):
        x = node.inputs[0]
        if not is_float(x.dtype) or not is_float(node.attrs["to"]):
            return [None]
        return [cast(dys[0], x.dtype)]


@register_op
class Where(OpDef):
    """Y = C ? A : B, broadcast. dA = Where(C, dY, 0), dB = Where(C, 0, dY)."""

    nondiff_inputs = (0,)

    def infer(self, c, a, b):
        if c.dtype != "bool":
            raise TypeError(f"condition must be bool, received {c.dtype}")
        return TensorType(_same_dtype("Where", a, b), broadcast_shapes(c.shape, a.shape, b.shape))

    def ref(self, c, a, b):
        return np.where(c, a, b)

    def grad(self, node, dys):
        c = node.inputs[0]
        zero = zeros_like_scalar(dys[0])
        return [None, where(c, dys[0], zero), where(c, zero, dys[0])]


@register_op
class Greater(_Compare):
    def ref(self, a, b):
        return a > b


@register_op
class GreaterOrEqual(_Compare):
    def ref(self, a, b):
        return a >= b


@register_op
class Less(_Compare):
    def ref(self, a, b):
        return a < b


@register_op
class LessOrEqual(_Compare):
    def ref(self, a, b):
        return a <= b


@register_op
class Equal(_Compare):
    def ref(self, a, b):
        return a == b


@register_op
class Not(OpDef):
    differentiable = False

    def infer(self, x):
        if x.dtype != "bool":
            raise TypeError(f"Not needs bool, received {x.dtype}")
        return x

    def ref(self, x):
        return np.logical_not(x)


@register_op
class And(_Compare):
    def infer(self, a, b):
        if a.dtype != "bool" or b.dtype != "bool":
            raise TypeError(f"And needs bool operands, received {a.dtype}, {b.dtype}")
        return TensorType("bool", broadcast_shapes(a.shape, b.shape))

    def ref(self, a, b):
        return np.logical_and(a, b)


@register_op
class IsNaN(OpDef):
    differentiable = False

    def infer(self, x):
        if not is_float(x.dtype):
            raise TypeError(f"IsNaN needs a float tensor, received {x.dtype}")
        return TensorType("bool", x.shape)

    def ref(self, x):
        return np.isnan(x)


# -- functional API ---------------------------------------------------------------------------------

def add(a, b):
    return emit("Add", a, b)


def sub(a, b):
    return emit("Sub", a, b)


def mul(a, b):
    return emit("Mul", a, b)


def div(a, b):
    return emit("Div", a, b)


def pow_(a, b):
    return emit("Pow", a, b)


def maximum(a, b):
    return emit("Max", a, b)


def minimum(a, b):
    return emit("Min", a, b)


def neg(x):
    return emit("Neg", x)


def abs_(x):
    return emit("Abs", x)


def sign(x):
    return emit("Sign", x)


def relu(x):
    return emit("Relu", x)


def leaky_relu(x, alpha=0.01):
    return emit("LeakyRelu", x, alpha=float(alpha))


def elu(x, alpha=1.0):
    return emit("Elu", x, alpha=float(alpha))


def selu(x):
    return emit("Selu", x)


def softplus(x):
    return emit("Softplus", x)


def sigmoid(x):
    return emit("Sigmoid", x)


def tanh(x):
    return emit("Tanh", x)


def exp(x):
    return emit("Exp", x)


def log(x):
    return emit("Log", x)


def sqrt(x):
    return emit("Sqrt", x)


def reciprocal(x):
    return emit("Reciprocal", x)


def erf(x):
    return emit("Erf", x)


def identity(x):
    return emit("Identity", x)


def cast(x, dtype):
    return emit("Cast", x, to=as_dtype(dtype))


def where(c, a, b):
    return emit("Where", c, a, b)


def greater(a, b):
    return emit("Greater", a, b)


def greater_or_equal(a, b):
    return emit("GreaterOrEqual", a, b)


def less(a, b):
    return emit("Less", a, b)


def less_or_equal(a, b):
    return emit("LessOrEqual", a, b)


def equal(a, b):
    return emit("Equal", a, b)


def logical_not(x):
    return emit("Not", x)


def logical_and(a, b):
    return emit("And", a, b)


def isnan(x):
    return emit("IsNaN", x)


def zeros_like_scalar(x) -> np.ndarray:
    """A 0-d zero of ``x``'s dtype, to broadcast against ``x``."""
    return np.zeros((), dtype=x.dtype)
