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


# -- onnxruntime's NCHWc convolutions (domain com.microsoft.nchwc, CPU provider) ------------------
#
# onnxruntime's CPU kernels for a channel-blocked layout: a tensor of logical shape (N, C, H, W)
# is stored as [N][C/B][H][W][B] with B the machine's block size (8 with AVX2, 16 with AVX-512),
# channels padded to a multiple of B. onnxruntime's own NchwcTransformer makes these ops only for
# constant weights; its kernels read the weights as ordinary inputs, so a training step can feed
# them weights it permutes each step (``nchwc_filter_index``). In the IR a blocked tensor has the
# logical shape (N, Cp, H, W) and the blocked memory order, and the nodes carry ``block`` for the
# NumPy reference (the lowering drops it: onnxruntime uses the machine's).

NCHWC_DOMAIN = "com.microsoft.nchwc"


def _padded(c: int, block: int) -> int:
    return -(-c // block) * block


def nchwc_block(x: np.ndarray, block: int) -> np.ndarray:
    """(N, C, H, W) -> (N, Cp, H, W) holding the [N][Cp/B][H][W][B] memory order."""
    n, c, hh, ww = x.shape
    cp = _padded(c, block)
    if cp != c:
        x = np.concatenate([x, np.zeros((n, cp - c, hh, ww), x.dtype)], axis=1)
    blocked = x.reshape(n, cp // block, block, hh, ww).transpose(0, 1, 3, 4, 2)
    return np.ascontiguousarray(blocked).reshape(n, cp, hh, ww)


def nchwc_unblock(x: np.ndarray, block: int, channels: int | None = None) -> np.ndarray:
    n, cp, hh, ww = x.shape
    y = x.reshape(n, cp // block, hh, ww, block).transpose(0, 1, 4, 2, 3).reshape(n, cp, hh, ww)
    return np.ascontiguousarray(y[:, :channels] if channels is not None else y)


def nchwc_filter_index(w_shape, block: int, transpose: bool = False, group: int = 1) -> np.ndarray:
    """Flat indices into an OIHW weight of shape ``w_shape`` that gather onnxruntime's NCHWc filter:
    [O/B][I/B][KH][KW][Bi][Bo] when I >= B (the input is blocked), [O/B][I][KH][KW][Bo] when I < B
    (the input stays NCHW, or a depthwise filter, I = 1). ``transpose``: the filter of the
    ConvTranspose with weight ``w_shape`` (I, O/group, KH, KW) done as a Conv, i.e. each group's
    kernel swapped to (O, I) and flipped in both spatial axes (a depthwise kernel is only flipped).
    O must be a multiple of B."""
    idx = np.arange(int(np.prod(w_shape)), dtype=np.int64).reshape(w_shape)
    if transpose:
        c_in, c_out_g, kh, kw = idx.shape
        c_in_g = c_in // group
        idx = idx.reshape(group, c_in_g, c_out_g, kh, kw).transpose(0, 2, 1, 3, 4)
        idx = idx.reshape(group * c_out_g, c_in_g, kh, kw)[:, :, ::-1, ::-1]
    o, i, kh, kw = idx.shape
    if o % block:
        raise ValueError(f"NCHWc filters need output channels in multiples of {block}, received {o}")
    if i >= block:
        if i % block:
            raise ValueError(f"NCHWc filters need input channels below or in multiples of {block}, received {i}")
        idx = idx.reshape(o // block, block, i // block, block, kh, kw).transpose(0, 2, 4, 5, 3, 1)
    else:
        idx = idx.reshape(o // block, block, i, kh, kw).transpose(0, 2, 3, 4, 1)
    return np.ascontiguousarray(idx).reshape(-1)


def nchwc_filter_rows(w_shape, block: int, transpose: bool = False, group: int = 1) -> tuple:
    """The NCHWc filter of an OIHW (or, with ``transpose``, ConvTranspose IOHW) weight as a gather of
    ``block``-float rows: returns ``(view, perm, rows)`` such that the filter is
    ``Transpose(Reshape(W, view), perm)`` reshaped to (-1, block), then ``Gather(rows, axis=0)``.

    onnxruntime's Gather moves one element at a time (0.64 ms for a 3x3x64x64 weight on the
    benchmark machine) and its Transpose of a 4-D or larger tensor is a generic element loop
    (0.23 ms), while a 2-D transpose, a transpose of the last two axes and a gather of 64-byte rows
    take 20-40 us. The filter's innermost axis runs along one channel axis of the weight, so one of
    those cheap transposes brings it innermost and the rest is a row gather."""
    idx = nchwc_filter_index(w_shape, block, transpose, group)
    a, b, kh, kw = (int(d) for d in w_shape)
    for view, perm in (((a, b * kh * kw), (1, 0)), ((a, b, kh * kw), (0, 2, 1))):
        # where each element of W lands in Transpose(Reshape(W, view), perm)
        pos = np.arange(idx.size, dtype=np.int64).reshape(view).transpose(perm).reshape(-1)
        where = np.empty_like(pos)
        where[pos] = np.arange(pos.size, dtype=np.int64)
        rows = where[idx].reshape(-1, block)
        if np.all(rows[:, 0] % block == 0) and np.all(rows - rows[:, :1] == np.arange(block)):
            return view, perm, rows[:, 0] // block
    raise AssertionError(f"no row gather makes the NCHWc filter of {tuple(w_shape)} (block {block})")


def _nchwc_filter_unblock(w: np.ndarray, block: int) -> np.ndarray:
    idx = nchwc_filter_index(w.shape, block)
    out = np.empty(w.size, w.dtype)
    out[idx] = w.reshape(-1)
    return out.reshape(w.shape)


def _check_block(block) -> int:
    if not isinstance(block, (int, np.integer)) or block < 4 or block & (block - 1):
        raise ValueError(f"block must be a power of two >= 4 (onnxruntime's NCHWc block size), received {block!r}")
    return int(block)


@register_op
class NchwcReorderInput(OpDef):
    """com.microsoft.nchwc ReorderInput: an NCHW float32 tensor into the blocked layout (channels a
    multiple of 4, padded to a multiple of ``block``)."""

    differentiable = False

    def infer(self, x, block=16):
        block = _check_block(block)
        if x.rank != 4 or x.dtype != "float32" or not isinstance(x.shape[1], int) or x.shape[1] % 4:
            raise ValueError(f"ReorderInput takes a float32 (N, C, H, W) tensor with C a multiple of 4, received {x}")
        return x.with_shape((x.shape[0], _padded(x.shape[1], block)) + tuple(x.shape[2:]))

    def ref(self, x, block=16):
        return nchwc_block(x, _check_block(block))

    def lower(self, ctx, node):
        ctx.emit("ReorderInput", ctx.inputs, ctx.outputs, domain=NCHWC_DOMAIN)


@register_op
class NchwcReorderOutput(OpDef):
    """com.microsoft.nchwc ReorderOutput: a blocked tensor back to NCHW with ``channels`` channels."""

    differentiable = False

    def infer(self, x, channels, block=16):
        block = _check_block(block)
        if x.rank != 4 or x.dtype != "float32" or not isinstance(x.shape[1], int) or x.shape[1] % block:
            raise ValueError(f"ReorderOutput takes a blocked float32 tensor of {block}-channel blocks, received {x}")
        if not 0 < channels <= x.shape[1] or x.shape[1] - channels >= block:
            raise ValueError(f"ReorderOutput: channels={channels} does not match the {x.shape[1]} blocked channels")
        return x.with_shape((x.shape[0], int(channels)) + tuple(x.shape[2:]))

    def ref(self, x, channels, block=16):
        return nchwc_unblock(x, _check_block(block), int(channels))

    def lower(self, ctx, node):
        ctx.emit("ReorderOutput", ctx.inputs, ctx.outputs, domain=NCHWC_DOMAIN, channels=int(node.attrs["channels"]))


@register_op
class NchwcConv(OpDef):
    """com.microsoft.nchwc Conv: a 2-D convolution in the blocked layout. X is blocked (its channels
    a multiple of ``block``) or, with fewer than ``block`` channels, plain NCHW; W is the NCHWc
    filter (``nchwc_filter_index``) of the OIHW weight, O a multiple of ``block``; Y is blocked.
    ``activation`` (optional) is applied to the result; ``Sum`` (optional, blocked, Y's shape) is
    added before it."""

    differentiable = False

    def infer(self, x, w, b=None, z=None, block=16, activation=None, activation_params=(), **conv_attrs):
        block = _check_block(block)
        c = x.shape[1]
        if x.dtype != "float32" or not isinstance(c, int) or (c >= block and c % block) or w.shape[0] % block:
            raise ValueError(f"NchwcConv takes float32 X with fewer than {block} channels or a multiple of "
                             f"{block}, and a filter with output channels in multiples of {block}; received "
                             f"X {x}, W {w}")
        y = get_op("Conv").infer(x, w, b, **conv_attrs)
        if z is not None and (z.shape != y.shape or z.dtype != y.dtype):
            raise ValueError(f"NchwcConv's Sum must be of the Conv's type {y}, received {z}")
        return y

    def ref(self, x, w, b=None, z=None, block=16, activation=None, activation_params=(), **conv_attrs):
        block = _check_block(block)
        plain = x if x.shape[1] < block else nchwc_unblock(x, block)
        y = get_op("Conv").ref(plain, _nchwc_filter_unblock(w, block), b, **conv_attrs)
        if z is not None:
            y = y + nchwc_unblock(z, block)
        if activation:
            y = _activate(y, activation, activation_params[0] if activation_params else 0.01)
        return nchwc_block(y.astype(x.dtype), block)

    def lower(self, ctx, node):
        from .conv import conv_attrs

        attrs = {k: v for k, v in node.attrs.items() if k not in ("block", "activation", "activation_params")}
        a = conv_attrs(node.inputs[1].shape, **attrs)
        act = node.attrs.get("activation")
        params = node.attrs.get("activation_params")
        ctx.emit("Conv", ctx.inputs, ctx.outputs, domain=NCHWC_DOMAIN, kernel_shape=list(a["kernel_shape"]),
                 strides=list(a["strides"]), pads=list(a["pads"]), dilations=list(a["dilations"]), group=a["group"],
                 activation=act or None, activation_params=[float(p) for p in params] if params else None)
