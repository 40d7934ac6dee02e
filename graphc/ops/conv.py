"""2-D convolution ops, NCHW / OIHW as in ONNX: Conv and ConvTranspose.

Attributes use ONNX names with explicit values (``kernel_shape``, ``strides``, ``pads`` as
``[h_begin, w_begin, h_end, w_end]``, ``dilations``, ``group``, ``output_padding``); ``auto_pad`` is
never used: layers translate Keras' ``padding="same"`` into explicit pads.

Gradients (``ONNX_TRAINING_NOTES.md`` §1.2), standard ONNX ops only:

* Conv dX = ConvTranspose(dY, W) with the forward strides/pads/dilations/group and the
  ``output_padding`` that restores the input size (rows the forward never read get zeros).
* Conv dW (ungrouped): the kernel taps gathered as rows of the NHWC input, contracted with dY per
  sample and tap, all at once as a patch matrix, or tap by tap channels-last (``conv_weight_grad``);
  inputs with few channels use im2col (Slices, Concat, a batched MatMul
  summed over the batch). Grouped convolutions "swap roles": a Conv of the input (batch and
  channels swapped, group-aware) with dY as the kernel, strides and dilations exchanged, sliced to
  the kernel size.
* dX stays ConvTranspose: a Conv of the padded dY with the flipped kernel measured 1.0-1.8x slower
  on the benchmark shapes (W3 conv2d_1 dX: ConvTranspose 24.6 ms, Conv 42.2 ms).
* ConvTranspose is the adjoint of Conv with the same weights: dX = Conv(dY, W); dW is the Conv
  weight gradient with input dY and output gradient X.
* Bias: dB = ReduceSum(dY, [0, 2, 3]).
"""
from __future__ import annotations

import numpy as np

from graphc.ir import TensorType, is_float

from .base import OpDef, emit, register_op

SPATIAL = 2  # these ops are 2-D: NCHW inputs, OIHW / IOHW weights


def _pair(value, name: str, default: int) -> tuple:
    if value is None:
        return (default, default)
    value = tuple(int(v) for v in value)
    if len(value) != SPATIAL:
        raise ValueError(f"{name} must have {SPATIAL} entries, received {value}")
    return value


def conv_attrs(w_shape, kernel_shape=None, strides=None, pads=None, dilations=None, group=1,
               output_padding=None) -> dict:
    """Normalizes the attributes with ONNX defaults; checks their values."""
    kernel = _pair(kernel_shape, "kernel_shape", 0) if kernel_shape is not None else tuple(w_shape[2:])
    strides = _pair(strides, "strides", 1)
    dilations = _pair(dilations, "dilations", 1)
    pads = tuple(int(p) for p in pads) if pads is not None else (0,) * (2 * SPATIAL)
    if len(pads) != 2 * SPATIAL:
        raise ValueError(f"pads must have {2 * SPATIAL} entries [h_begin, w_begin, h_end, w_end], received {pads}")
    output_padding = _pair(output_padding, "output_padding", 0)
    if any(s < 1 for s in strides) or any(d < 1 for d in dilations):
        raise ValueError(f"strides and dilations must be >= 1, received strides={strides}, dilations={dilations}")
    if any(p < 0 for p in pads) or any(p < 0 for p in output_padding):
        raise ValueError(f"pads and output_padding must be >= 0, received pads={pads}, "
                         f"output_padding={output_padding}")
    if int(group) < 1:
        raise ValueError(f"group must be >= 1, received {group}")
    return {"kernel_shape": kernel, "strides": strides, "pads": pads, "dilations": dilations,
            "group": int(group), "output_padding": output_padding}


def conv_out_dim(size, k, s, d, p_begin, p_end):
    """Output length of a convolution (or pooling, d=1) along one axis; None when unknown."""
    if not isinstance(size, int):
        return None
    out = (size + p_begin + p_end - d * (k - 1) - 1) // s + 1
    if out < 1:
        raise ValueError(f"input size {size} with pads ({p_begin}, {p_end}) is smaller than the effective kernel "
                         f"size {d * (k - 1) + 1}")
    return out


def conv_transpose_out_dim(size, k, s, d, p_begin, p_end, out_pad):
    if not isinstance(size, int):
        return None
    out = s * (size - 1) + out_pad + d * (k - 1) + 1 - p_begin - p_end
    if out < 1:
        raise ValueError(f"pads ({p_begin}, {p_end}) remove the whole output of length {out + p_begin + p_end}")
    return out


def _check_float(op, *types):
    for t in types:
        if t is not None and not is_float(t.dtype):
            raise TypeError(f"{op} needs float tensors, received {t.dtype}")
    dtypes = {t.dtype for t in types if t is not None}
    if len(dtypes) > 1:
        raise TypeError(f"{op} needs inputs of one dtype, received {sorted(dtypes)}")


def _known_mismatch(a, b) -> bool:
    return isinstance(a, int) and isinstance(b, int) and a != b


def _patches(xp: np.ndarray, kernel, strides, dilations, out_hw) -> np.ndarray:
    """Windows of a padded NCHW array as (N, C, OH, OW, KH, KW)."""
    n, c = xp.shape[:2]
    oh, ow = out_hw
    out = np.empty((n, c, oh, ow, kernel[0], kernel[1]), xp.dtype)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            h0, w0 = i * dilations[0], j * dilations[1]
            out[..., i, j] = xp[:, :, h0:h0 + strides[0] * (oh - 1) + 1:strides[0],
                                w0:w0 + strides[1] * (ow - 1) + 1:strides[1]]
    return out


@register_op
class Conv(OpDef):
    """Y = Conv(X, W) + B. X (N, C, H, W), W (M, C/group, KH, KW), B (M,) optional."""

    def infer(self, x, w, b=None, kernel_shape=None, strides=None, pads=None, dilations=None, group=1):
        _check_float("Conv", x, w, b)
        if x.rank != 4 or w.rank != 4:
            raise ValueError(f"Conv is 2-D: X must be (N, C, H, W) and W (M, C/group, KH, KW), received "
                             f"ranks {x.rank} and {w.rank}")
        a = conv_attrs(w.shape, kernel_shape, strides, pads, dilations, group)
        m, cg = w.shape[0], w.shape[1]
        if isinstance(cg, int) and isinstance(x.shape[1], int) and cg * a["group"] != x.shape[1]:
            raise ValueError(f"X has {x.shape[1]} channels but W expects {cg} per group x {a['group']} groups")
        if isinstance(m, int) and m % a["group"]:
            raise ValueError(f"W has {m} output channels, not divisible by group={a['group']}")
        if any(_known_mismatch(k, kw) for k, kw in zip(a["kernel_shape"], w.shape[2:])):
            raise ValueError(f"kernel_shape {a['kernel_shape']} does not match W's spatial shape {w.shape[2:]}")
        if b is not None and (b.rank != 1 or _known_mismatch(b.shape[0], m)):
            raise ValueError(f"B must be a vector of {m} biases, received shape {b.shape}")
        p = a["pads"]
        out = [conv_out_dim(x.shape[2 + i], a["kernel_shape"][i], a["strides"][i], a["dilations"][i], p[i],
                            p[SPATIAL + i]) for i in range(SPATIAL)]
        return TensorType(x.dtype, (x.shape[0], m, *out))

    def ref(self, x, w, b=None, kernel_shape=None, strides=None, pads=None, dilations=None, group=1):
        a = conv_attrs(w.shape, kernel_shape, strides, pads, dilations, group)
        return conv2d_nchw(x, w, b, a["strides"], a["pads"], a["dilations"], a["group"])

    def lower(self, ctx, node):
        a = conv_attrs(node.inputs[1].shape, **node.attrs)
        ctx.emit("Conv", ctx.inputs, ctx.outputs, kernel_shape=list(a["kernel_shape"]), strides=list(a["strides"]),
                 pads=list(a["pads"]), dilations=list(a["dilations"]), group=a["group"])

    def grad(self, node, dys):
        x, w = node.inputs[0], node.inputs[1]
        a = conv_attrs(w.shape, **node.attrs)
        dy = dys[0]
        out_pad = []
        for i in range(SPATIAL):
            size, osize = x.shape[2 + i], dy.shape[2 + i]
            if not isinstance(size, int) or not isinstance(osize, int):
                raise NotImplementedError("Conv gradient needs static spatial sizes; received input "
                                          f"{x.type} and output {dy.type}")
            used = a["strides"][i] * (osize - 1) + a["dilations"][i] * (a["kernel_shape"][i] - 1) + 1
            out_pad.append(size - (used - a["pads"][i] - a["pads"][SPATIAL + i]))
        dx = conv_transpose2d(dy, w, strides=a["strides"], pads=a["pads"], dilations=a["dilations"],
                            group=a["group"], output_padding=tuple(out_pad), kernel_shape=a["kernel_shape"])
        dw = conv_weight_grad(x, dy, w, a["strides"], a["pads"], a["dilations"], a["group"])
        grads = [dx, dw]
        if len(node.inputs) > 2 and node.inputs[2] is not None:
            grads.append(bias_grad(dy))
        return grads


@register_op
class ConvTranspose(OpDef):
    """Y = ConvTranspose(X, W) + B. X (N, C, H, W), W (C, M/group, KH, KW), B (M,) optional.

    Output size ``s * (H - 1) + output_padding + d * (K - 1) + 1 - pad_begin - pad_end``.
    """

    def infer(self, x, w, b=None, kernel_shape=None, strides=None, pads=None, dilations=None, group=1,
              output_padding=None):
        _check_float("ConvTranspose", x, w, b)
        if x.rank != 4 or w.rank != 4:
            raise ValueError(f"ConvTranspose is 2-D: X must be (N, C, H, W) and W (C, M/group, KH, KW), received "
                             f"ranks {x.rank} and {w.rank}")
        a = conv_attrs(w.shape, kernel_shape, strides, pads, dilations, group, output_padding)
        c, mg = w.shape[0], w.shape[1]
        if _known_mismatch(c, x.shape[1]):
            raise ValueError(f"X has {x.shape[1]} channels but W expects {c}")
        if isinstance(c, int) and c % a["group"]:
            raise ValueError(f"W has {c} input channels, not divisible by group={a['group']}")
        if any(_known_mismatch(k, kw) for k, kw in zip(a["kernel_shape"], w.shape[2:])):
            raise ValueError(f"kernel_shape {a['kernel_shape']} does not match W's spatial shape {w.shape[2:]}")
        for i in range(SPATIAL):
            if a["output_padding"][i] >= a["strides"][i]:
                raise ValueError(f"output_padding {a['output_padding']} must be smaller than the strides "
                                 f"{a['strides']}")
        m = mg * a["group"] if isinstance(mg, int) else None
        if b is not None and (b.rank != 1 or _known_mismatch(b.shape[0], m)):
            raise ValueError(f"B must be a vector of {m} biases, received shape {b.shape}")
        p = a["pads"]
        out = [conv_transpose_out_dim(x.shape[2 + i], a["kernel_shape"][i], a["strides"][i], a["dilations"][i],
                                      p[i], p[SPATIAL + i], a["output_padding"][i]) for i in range(SPATIAL)]
        return TensorType(x.dtype, (x.shape[0], m, *out))

    def ref(self, x, w, b=None, kernel_shape=None, strides=None, pads=None, dilations=None, group=1,
            output_padding=None):
        a = conv_attrs(w.shape, kernel_shape, strides, pads, dilations, group, output_padding)
        return conv_transpose2d_nchw(x, w, b, a["strides"], a["pads"], a["dilations"], a["group"],
                                     a["output_padding"])

    def lower(self, ctx, node):
        a = conv_attrs(node.inputs[1].shape, **node.attrs)
        ctx.emit("ConvTranspose", ctx.inputs, ctx.outputs, kernel_shape=list(a["kernel_shape"]),
                 strides=list(a["strides"]), pads=list(a["pads"]), dilations=list(a["dilations"]),
                 group=a["group"], output_padding=list(a["output_padding"]))

    def grad(self, node, dys):
        x, w = node.inputs[0], node.inputs[1]
        a = conv_attrs(w.shape, **node.attrs)
        dy = dys[0]
        dx = conv2d(dy, w, strides=a["strides"], pads=a["pads"], dilations=a["dilations"], group=a["group"],
                  kernel_shape=a["kernel_shape"])
        # ConvTranspose(X; W) is the adjoint of Conv(.; W), so its dW is Conv's dW with the roles of
        # input and output gradient exchanged.
        dw = conv_weight_grad(dy, x, w, a["strides"], a["pads"], a["dilations"], a["group"])
        grads = [dx, dw]
        if len(node.inputs) > 2 and node.inputs[2] is not None:
            grads.append(bias_grad(dy))
        return grads


# -- Keras "same" padding for sizes known only at run time ----------------------------------------

def same_pads_for(sizes, kernel_shape, strides, dilations) -> tuple:
    """Keras/TensorFlow "same" pads (h_begin, w_begin, h_end, w_end) for concrete spatial sizes."""
    begin, end = [], []
    for size, k, s, d in zip(sizes, kernel_shape, strides, dilations):
        total = max((-(-size // s) - 1) * s + d * (k - 1) + 1 - size, 0)
        begin.append(total // 2)
        end.append(total - total // 2)
    return tuple(begin + end)


def _same_attrs(kernel_shape, strides=None, dilations=None):
    return (_pair(kernel_shape, "kernel_shape", 1), _pair(strides, "strides", 1), _pair(dilations, "dilations", 1))


def _lower_same_pads(ctx, shape_source: str, kernel_shape, strides, dilations) -> tuple:
    """Emits the int64 arithmetic of ``same_pads_for`` on Shape(shape_source); returns (begin, end)
    ONNX names, each an int64 vector over (H, W)."""
    i64 = np.int64
    hw = ctx.emit("Slice", [ctx.emit("Shape", [shape_source], 1)[0], ctx.const(np.asarray([2], i64), "start"),
                            ctx.const(np.asarray([4], i64), "end")], 1)[0]
    s = ctx.const(np.asarray(strides, i64), "strides")
    k_eff = ctx.const(np.asarray([d * (k - 1) + 1 for k, d in zip(kernel_shape, dilations)], i64), "k_eff")
    ceil = ctx.emit("Div", [ctx.emit("Add", [hw, ctx.const(np.asarray(strides, i64) - 1, "s_minus_1")], 1)[0], s], 1)[0]
    used = ctx.emit("Mul", [ctx.emit("Sub", [ceil, ctx.const(np.ones(2, i64), "one")], 1)[0], s], 1)[0]
    total = ctx.emit("Sub", [ctx.emit("Add", [used, k_eff], 1)[0], hw], 1)[0]
    total = ctx.emit("Max", [total, ctx.const(np.zeros(2, i64), "zero")], 1)[0]
    begin = ctx.emit("Div", [total, ctx.const(np.full(2, 2, i64), "two")], 1)[0]
    end = ctx.emit("Sub", [total, begin], 1)[0]
    return begin, end, hw


@register_op
class SamePad(OpDef):
    """Y = X (N, C, H, W) padded with ``value`` by Keras' "same" rule for ``kernel_shape``/``strides``/
    ``dilations``, the pads computed from the spatial size of ``like`` (default X) at run time.

    Conv2D and MaxPooling2D use it when ``padding="same"`` meets strides > 1 and spatial sizes that
    are only known at run time (e.g. ``Input((None, None, 3))``), where explicit pads cannot be
    attributes. Lowered to Shape arithmetic and a Pad. dX = SameCrop(dY, X).
    """

    nondiff_inputs = (1,)

    def infer(self, x, like=None, kernel_shape=None, strides=None, dilations=None, value=0.0):
        if x.rank != 4:
            raise ValueError(f"SamePad is 2-D: X must be (N, C, H, W), received rank {x.rank}")
        src = like if like is not None else x
        k, s, d = _same_attrs(kernel_shape, strides, dilations)
        out = []
        for i in range(SPATIAL):
            size, size_src = x.shape[2 + i], src.shape[2 + i]
            if isinstance(size, int) and isinstance(size_src, int):
                p = same_pads_for((size_src,), (k[i],), (s[i],), (d[i],))
                out.append(size + p[0] + p[1])
            else:
                out.append(None)
        return x.with_shape(x.shape[:2] + tuple(out))

    def ref(self, x, like=None, kernel_shape=None, strides=None, dilations=None, value=0.0):
        src = like if like is not None else x
        p = same_pads_for(src.shape[2:], *_same_attrs(kernel_shape, strides, dilations))
        return np.pad(x, ((0, 0), (0, 0), (p[0], p[2]), (p[1], p[3])), constant_values=value)

    def lower(self, ctx, node):
        a = node.attrs
        src = ctx.inputs[1] if len(ctx.inputs) > 1 else ctx.inputs[0]
        begin, end, _ = _lower_same_pads(ctx, src, *_same_attrs(a.get("kernel_shape"), a.get("strides"),
                                                                  a.get("dilations")))
        zeros = ctx.const(np.zeros(2, np.int64), "zeros2")
        pads = ctx.emit("Concat", [zeros, begin, zeros, end], 1, axis=0)[0]
        value = ctx.const(np.asarray(a.get("value", 0.0), ctx.dtype_of(0)), "pad_value")
        ctx.emit("Pad", [ctx.inputs[0], pads, value], ctx.outputs, mode="constant")

    def grad(self, node, dys):
        like = node.inputs[1] if len(node.inputs) > 1 and node.inputs[1] is not None else node.inputs[0]
        attrs = {k: node.attrs.get(k) for k in ("kernel_shape", "strides", "dilations")}
        return [emit("SameCrop", dys[0], like, **attrs), None]


@register_op
class SameCrop(OpDef):
    """Y = X with the pads ``SamePad`` would add to ``like`` cut off again: Y has ``like``'s (H, W).
    The adjoint of SamePad. dX = SamePad(dY, like)."""

    nondiff_inputs = (1,)

    def infer(self, x, like, kernel_shape=None, strides=None, dilations=None):
        if x.rank != 4 or like.rank != 4:
            raise ValueError(f"SameCrop is 2-D: X and like must be (N, C, H, W), received ranks {x.rank}, {like.rank}")
        return x.with_shape(x.shape[:2] + like.shape[2:])

    def ref(self, x, like, kernel_shape=None, strides=None, dilations=None):
        p = same_pads_for(like.shape[2:], *_same_attrs(kernel_shape, strides, dilations))
        h, w = like.shape[2:]
        return x[:, :, p[0]:p[0] + h, p[1]:p[1] + w]

    def lower(self, ctx, node):
        a = node.attrs
        begin, _, hw = _lower_same_pads(ctx, ctx.inputs[1], *_same_attrs(a.get("kernel_shape"), a.get("strides"),
                                                                          a.get("dilations")))
        end = ctx.emit("Add", [begin, hw], 1)[0]
        ctx.emit("Slice", [ctx.inputs[0], begin, end, ctx.const(np.asarray([2, 3], np.int64), "axes")], ctx.outputs)

    def grad(self, node, dys):
        attrs = {k: node.attrs.get(k) for k in ("kernel_shape", "strides", "dilations")}
        return [emit("SamePad", dys[0], node.inputs[1], **attrs), None]


def same_pad(x, kernel_shape, strides, dilations=(1, 1), value=0.0):
    """Keras "same" padding of an NCHW tensor whose pads are computed at run time (see SamePad)."""
    return emit("SamePad", x, kernel_shape=tuple(kernel_shape), strides=tuple(strides), dilations=tuple(dilations),
                value=float(value))


# -- NumPy references ------------------------------------------------------------------------------

def conv2d_nchw(x, w, b, strides, pads, dilations, group):
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    oh = conv_out_dim(h, kh, strides[0], dilations[0], pads[0], pads[2])
    ow = conv_out_dim(wd, kw, strides[1], dilations[1], pads[1], pads[3])
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    cols = _patches(xp, (kh, kw), strides, dilations, (oh, ow)).reshape(n, group, cg, oh, ow, kh, kw)
    wg = w.reshape(group, m // group, cg, kh, kw)
    y = np.einsum("ngchwij,gmcij->ngmhw", cols, wg, optimize=True).reshape(n, m, oh, ow)
    if b is not None:
        y = y + b.reshape(1, m, 1, 1)
    return y.astype(x.dtype)


def conv_transpose2d_nchw(x, w, b, strides, pads, dilations, group, output_padding):
    n, c, h, wd = x.shape
    _, mg, kh, kw = w.shape
    m = mg * group
    full = (strides[0] * (h - 1) + output_padding[0] + dilations[0] * (kh - 1) + 1,
            strides[1] * (wd - 1) + output_padding[1] + dilations[1] * (kw - 1) + 1)
    y = np.zeros((n, m) + full, dtype=np.result_type(x.dtype, w.dtype))
    xg = x.reshape(n, group, c // group, h, wd)
    wg = w.reshape(group, c // group, mg, kh, kw)
    for i in range(kh):
        for j in range(kw):
            part = np.einsum("ngchw,gcm->ngmhw", xg, wg[..., i, j], optimize=True).reshape(n, m, h, wd)
            h0, w0 = i * dilations[0], j * dilations[1]
            y[:, :, h0:h0 + strides[0] * (h - 1) + 1:strides[0], w0:w0 + strides[1] * (wd - 1) + 1:strides[1]] += part
    y = y[:, :, pads[0]:full[0] - pads[2], pads[1]:full[1] - pads[3]]
    if b is not None:
        y = y + b.reshape(1, m, 1, 1)
    return y.astype(x.dtype)


# -- gradient helpers ------------------------------------------------------------------------------

def bias_grad(dy):
    from .reduce import reduce_sum

    return reduce_sum(dy, (0, 2, 3), keepdims=False)


def conv_weight_grad(x, dy, w, strides, pads, dilations, group):
    """dW of ``Y = Conv(X, W)`` for upstream ``dY``, W of shape (M, C/G, KH, KW).

    Grouped convolutions (or sizes known only at run time) swap roles (``conv_weight_grad_swap``).
    Inputs with fewer than 8 channels keep the batched im2col product of NCHW slices
    (``conv_weight_grad_im2col``). Otherwise the kernel taps are gathered as rows of the NHWC
    input (``conv_weight_grad_taps``) and contracted with dY in one of three layouts, by static
    shape (P = OH*OW output positions per sample):

    * ``per_sample`` (one product per sample and tap) from 64 positions, for kernels of at most
      8,192 = 128x64 output-by-input channels: its products are (N, M, C) blocks summed over the
      batch, which dominate for wider kernels;
    * else ``patches`` (all taps in one channels-last product) while one sample's patch rows
      (KH*KW*C*P values) stay within 2^18, bounding the patch matrix at 1 MB per sample;
    * else ``channels_last`` (one channels-last product per tap).

    Measured on onnxruntime 1.31 CPU, 2 threads, ms for dW alone (median of 15 interleaved runs of
    equivalent hand-built graphs, intra-op spinning off, 2-core machine, 3x3 kernels; N x C x H x W
    of the padded input, M output channels):

    ===================================  =============  ==========  =======
    X (padded), M                        channels_last  per_sample  patches
    ===================================  =============  ==========  =======
    64x64x11x11, 64 (W3 same convs)               7.8         5.2      6.2
    64x64x9x9, 64 (W3 conv2d_6)                   5.0         3.6      3.8
    64x64x14x14, 64                              12.7         7.9     10.3
    64x64x18x18, 64                              23.2        13.1     18.1
    64x32x30x30, 64 (W3 conv2d_1)                49.7        23.5     29.3
    32x32x26x26, 64 (W2 conv2d_1)                16.0         8.0     10.8
    64x128x9x9, 128                              13.7        11.4     12.4
    64x128x10x10, 128                            18.7        16.4     15.8
    32x128x12x12, 128                            14.4        16.9     12.5
    32x256x11x11, 256                            40.6        54.1     35.9
    32x256x14x14, 256                            71.3        74.6     65.7
    16x512x10x10, 512                            58.8        82.8     59.0
    32x128x9x9, 128                               6.2         9.7      5.4
    32x64x9x9, 64                                 2.8         3.0      2.2
    32x256x6x6, 256                               8.3        25.8      7.5
    ===================================  =============  ==========  =======

    The swap-roles Conv measured 1.5-9x slower than im2col on these shapes (its OHxOW kernel is a
    poor fit for the Conv kernel's own im2col), so it is kept for grouped convolutions only.
    """
    static = all(isinstance(d, int) for d in (*w.shape, *x.shape[1:], *dy.shape[1:]))
    if group != 1 or not static:
        return conv_weight_grad_swap(x, dy, w, strides, pads, dilations, group)
    m, c, kh, kw = w.shape
    if c < _TAPS_MIN_CHANNELS:
        return conv_weight_grad_im2col(x, dy, w, strides, pads, dilations)
    positions = dy.shape[2] * dy.shape[3]
    if positions >= _PER_SAMPLE_MIN_POSITIONS and m * c <= _PER_SAMPLE_MAX_CHANNEL_PRODUCT:
        layout = "per_sample"
    elif kh * kw * c * positions <= _PATCHES_MAX_PER_SAMPLE:
        layout = "patches"
    else:
        layout = "channels_last"
    return conv_weight_grad_taps(x, dy, w, strides, pads, dilations, layout)


#: Below this many input channels dW keeps the batched im2col product: per-tap products with C
#: columns are too thin (W3 conv2d, C=3: 4.7 ms im2col vs 10.2 ms or more by taps).
_TAPS_MIN_CHANNELS = 8
#: Per-sample products from this many output positions per sample (OH*OW) ...
_PER_SAMPLE_MIN_POSITIONS = 64
#: ... for kernels with at most this many output x input channels (table above).
_PER_SAMPLE_MAX_CHANNEL_PRODUCT = 128 * 64
#: One patch product while one sample's patch matrix has at most this many values (1 MB).
_PATCHES_MAX_PER_SAMPLE = 1 << 18


def conv_weight_grad_taps(x, dy, w, strides, pads, dilations, layout: str):
    """dW for an ungrouped Conv from the kernel taps, each gathered as (N, OH*OW) rows of the
    (N, H*W, C) view of the (padded) NHWC input: onnxruntime's Gather copies C-float rows on every
    thread, its Slice runs on one (a 64x11x11x64 tap 0.14 -> 0.08 ms at 2 threads).

    * ``per_sample``: dY read as is; per sample n and tap t, dY_n (M, OH*OW) @ tap_n (OH*OW, C) (a
      batched MatMul), summed over the batch tap by tap, so one (N, M, C) product is alive at a time.
    * ``channels_last``: dY transposed to NHWC and viewed as (K, M), K = N*OH*OW; per tap
      dY^T (M, K) @ tap (K, C).
    * ``patches``: all taps in one Gather, (N, OH*OW, KH*KW, C), viewed as the patch matrix P
      (K, KH*KW*C); dY as for ``channels_last``; one product P^T dY = (KH*KW*C, M), i.e. HWIO.

    onnxruntime folds the transposed operand into the product (Gemm / FusedMatMul). Per-tap products
    are stacked tap-major, (KH*KW, M, C), and transposed to OIHW. The final transposes are 2-D or
    batched 2-D on merged axes: onnxruntime's generic 4-D Transpose takes ~0.5 ms for a 3x3x64x64
    kernel, a 2-D one ~0.03 ms.
    """
    from .linalg import matmul
    from .reduce import reduce_sum
    from .base import current_builder
    from .shape import concat, gather, pad, reshape, transpose, unsqueeze

    m, c, kh, kw = w.shape
    oh, ow = dy.shape[2], dy.shape[3]
    if layout not in ("channels_last", "per_sample", "patches"):
        raise ValueError(f"unknown layout {layout!r}")
    xt = transpose(x, (0, 2, 3, 1))                                      # (N, H, W, C)
    if any(pads):
        xt = pad(xt, (0, pads[0], pads[1], 0, 0, pads[2], pads[3], 0))
    hp, wp = xt.shape[1], xt.shape[2]
    rows = reshape(xt, (-1, hp * wp, c))
    taps = [np.add.outer(np.arange(i * dilations[0], i * dilations[0] + strides[0] * oh, strides[0]) * wp,
                         np.arange(j * dilations[1], j * dilations[1] + strides[1] * ow, strides[1])).reshape(-1)
            .astype(np.int64) for i in range(kh) for j in range(kw)]    # row numbers of each tap
    const = current_builder().constant
    if layout == "per_sample":
        dy_t = reshape(dy, (-1, m, oh * ow))                             # (N, M, OH*OW)
        products = [reduce_sum(matmul(dy_t, gather(rows, const(at), axis=1)), (0,), keepdims=True)
                    for at in taps]                                      # each (1, M, C)
    else:
        dy_t = reshape(transpose(dy, (0, 2, 3, 1)), (-1, m))             # (K, M)
        if layout == "patches":
            at = np.stack(taps, 1)                                       # (OH*OW, KH*KW)
            patches = reshape(gather(rows, const(at), axis=1), (-1, kh * kw * c))
            dw = transpose(matmul(transpose(patches, (1, 0)), dy_t), (1, 0))  # (M, KH*KW*C)
            return reshape(transpose(reshape(dw, (m, kh * kw, c)), (0, 2, 1)), (m, c, kh, kw))
        dy_t = transpose(dy_t, (1, 0))                                   # (M, K)
        products = [unsqueeze(matmul(dy_t, reshape(gather(rows, const(at), axis=1), (-1, c))), (0,))
                    for at in taps]                                      # each (1, M, C)
    dw = concat(products, 0) if len(products) > 1 else products[0]
    return transpose(reshape(dw, (kh, kw, m, c)), (2, 3, 0, 1))


def conv_weight_grad_im2col(x, dy, w, strides, pads, dilations):
    """dW by im2col for an ungrouped Conv: one strided Slice of the (padded) input per kernel tap,
    concatenated to patches P (N, KH*KW*C, OH*OW); per sample dW_n = dY_n P_n^T (a batched MatMul
    whose transposed operand onnxruntime folds into the product), summed over the batch.
    """
    from .linalg import matmul
    from .reduce import reduce_sum
    from .shape import concat, pad, reshape, slice_, transpose

    m, c, kh, kw = w.shape
    oh, ow = dy.shape[2], dy.shape[3]
    xp = pad(x, (0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3])) if any(pads) else x
    taps = []
    for i in range(kh):
        for j in range(kw):
            h0, w0 = i * dilations[0], j * dilations[1]
            taps.append(slice_(xp, starts=(h0, w0), ends=(h0 + strides[0] * (oh - 1) + 1, w0 + strides[1] * (ow - 1) + 1),
                               axes=(2, 3), steps=(strides[0], strides[1])))
    patches = concat(taps, 1) if len(taps) > 1 else taps[0]        # (N, KH*KW*C, OH, OW), tap-major
    patches = reshape(patches, (-1, kh * kw * c, oh * ow))
    dy3 = reshape(dy, (-1, m, oh * ow))
    dw = reduce_sum(matmul(dy3, transpose(patches, (0, 2, 1))), (0,), keepdims=False)  # (M, KH*KW*C)
    return transpose(reshape(dw, (m, kh, kw, c)), (0, 3, 1, 2))


def conv_weight_grad_swap(x, dy, w, strides, pads, dilations, group):
    """dW by swapping roles: with batch and channels exchanged (group-aware), X becomes the input
    and dY the kernel of a Conv whose strides are the forward dilations and whose dilations are the
    forward strides; its output (C/G, M, KH', KW') is cut to the kernel size and transposed.
    """
    from .shape import reshape, slice_, transpose

    m, cg, kh, kw = w.shape
    if not all(isinstance(d, int) for d in (m, cg, kh, kw)):
        raise NotImplementedError(f"Conv weight gradient needs a static weight shape, received {w.type}")
    g = group
    mg = m // g
    h, wd = x.shape[2], x.shape[3]
    oh, ow = dy.shape[2], dy.shape[3]
    if not all(isinstance(d, int) for d in (h, wd, oh, ow)):
        raise NotImplementedError(f"Conv weight gradient needs static spatial sizes, received {x.type} and {dy.type}")
    xt = reshape(x, (-1, g, cg, h, wd))                      # (N, G, C/G, H, W)
    xt = reshape(transpose(xt, (2, 1, 0, 3, 4)), (cg, -1, h, wd))  # (C/G, G*N, H, W)
    dyt = reshape(dy, (-1, g, mg, oh, ow))                   # (N, G, M/G, OH, OW)
    dyt = reshape(transpose(dyt, (1, 2, 0, 3, 4)), (m, -1, oh, ow))  # (M, N, OH, OW)
    dw = conv2d(xt, dyt, strides=dilations, pads=pads, dilations=strides, group=g, kernel_shape=(oh, ow))
    if dw.shape[2:] != (kh, kw):
        dw = slice_(dw, starts=(0, 0), ends=(kh, kw), axes=(2, 3))
    return transpose(dw, (1, 0, 2, 3))


# -- functional API ------------------------------------------------------------------------------

def conv2d(x, w, b=None, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), group=1, kernel_shape=None):
    """2-D convolution, NCHW; attributes as in ONNX (explicit pads)."""
    kernel_shape = tuple(kernel_shape) if kernel_shape is not None else tuple(w.shape[2:])
    attrs = dict(kernel_shape=kernel_shape, strides=tuple(strides), pads=tuple(pads), dilations=tuple(dilations),
                 group=int(group))
    return emit("Conv", x, w, b, **attrs) if b is not None else emit("Conv", x, w, **attrs)


def conv_transpose2d(x, w, b=None, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), group=1,
                   output_padding=(0, 0), kernel_shape=None):
    """2-D transposed convolution, NCHW; W is (C, M/group, KH, KW) as in ONNX."""
    kernel_shape = tuple(kernel_shape) if kernel_shape is not None else tuple(w.shape[2:])
    attrs = dict(kernel_shape=kernel_shape, strides=tuple(strides), pads=tuple(pads), dilations=tuple(dilations),
                 group=int(group), output_padding=tuple(int(p) for p in output_padding))
    return emit("ConvTranspose", x, w, b, **attrs) if b is not None else emit("ConvTranspose", x, w, **attrs)
