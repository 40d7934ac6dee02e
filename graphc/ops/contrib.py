"""onnxruntime contrib ops (domain ``com.microsoft``), made only by the level-3 pipeline when the
user allows them: FusedConv, FusedGemm (an activation applied to the op's result) and FusedMatMul
(MatMul with transposed operands and a scale). None is differentiated: the fusions run after
autodiff.
"""
from __future__ import annotations

import numpy as np

from .base import OpDef, get_op, register_op


#: activations FusedConv / FusedGemm accept, with the attribute holding their parameter.
CONTRIB_ACTIVATIONS = ("Relu", "Sigmoid", "Tanh", "LeakyRelu")


def _activate(y, activation, alpha):
    if activation == "LeakyRelu":
        return get_op("LeakyRelu").ref(y, alpha=alpha)
    return get_op(activation).ref(y)


@register_op
class FusedConv(OpDef):
    """com.microsoft FusedConv: ``activation(Conv(X, W, B) + Z)`` (Z optional, e.g. a residual);
    ``activation_params`` = [alpha]."""

    differentiable = False

    def infer(self, x, w, b=None, z=None, activation="Relu", activation_params=(), **conv_attrs):
        y = get_op("Conv").infer(x, w, b, **conv_attrs)
        if z is not None and (z.shape != y.shape or z.dtype != y.dtype):
            raise ValueError(f"FusedConv's Z must be of the Conv's type {y}, received {z}")
        return y

    def ref(self, x, w, b=None, z=None, activation="Relu", activation_params=(), **conv_attrs):
        y = get_op("Conv").ref(x, w, b, **conv_attrs)
        if z is not None:
            y = y + z
        return _activate(y, activation, activation_params[0] if activation_params else 0.01)

    def lower(self, ctx, node):
        from .conv import conv_attrs

        attrs = {k: v for k, v in node.attrs.items() if k not in ("activation", "activation_params")}
        a = conv_attrs(node.inputs[1].shape, **attrs)
        params = node.attrs.get("activation_params")
        ctx.emit("FusedConv", ctx.inputs, ctx.outputs, domain="com.microsoft", activation=node.attrs["activation"],
                 activation_params=[float(p) for p in params] if params else None,
                 kernel_shape=list(a["kernel_shape"]), strides=list(a["strides"]), pads=list(a["pads"]),
                 dilations=list(a["dilations"]), group=a["group"])


@register_op
class FusedGemm(OpDef):
    """com.microsoft FusedGemm: ``activation(Gemm(A, B, C))`` with ``activation_alpha``."""

    differentiable = False

    def infer(self, a, b, c=None, activation="Relu", activation_alpha=0.01, **gemm_attrs):
        return get_op("Gemm").infer(a, b, c, **gemm_attrs)

    def ref(self, a, b, c=None, activation="Relu", activation_alpha=0.01, **gemm_attrs):
        return _activate(get_op("Gemm").ref(a, b, c, **gemm_attrs), activation, activation_alpha)

    def lower(self, ctx, node):
        ctx.emit("FusedGemm", ctx.inputs, ctx.outputs, domain="com.microsoft", **node.attrs)


@register_op
class FusedMatMul(OpDef):
    """com.microsoft FusedMatMul: ``alpha * (A' @ B')``, A' = A with its last two axes swapped if
    ``transA`` (B' likewise)."""

    differentiable = False

    @staticmethod
    def _swap(t):
        return t.with_shape(t.shape[:-2] + (t.shape[-1], t.shape[-2]))

    def infer(self, a, b, alpha=1.0, transA=0, transB=0):
        if (transA and a.rank < 2) or (transB and b.rank < 2):
            raise ValueError("FusedMatMul transposes need rank >= 2 operands")
        return get_op("MatMul").infer(self._swap(a) if transA else a, self._swap(b) if transB else b)

    def ref(self, a, b, alpha=1.0, transA=0, transB=0):
        a = np.swapaxes(a, -1, -2) if transA else a
        b = np.swapaxes(b, -1, -2) if transB else b
        return (np.matmul(a, b) * np.asarray(alpha, a.dtype)).astype(a.dtype)

    def lower(self, ctx, node):
        ctx.emit("FusedMatMul", ctx.inputs, ctx.outputs, domain="com.microsoft", **node.attrs)
