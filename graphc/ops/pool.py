"""2-D pooling ops, NCHW as in ONNX: MaxPool, MaxPoolWithIndices, AveragePool, GlobalMaxPool,
GlobalAveragePool.

Attributes: ``kernel_shape``, ``strides`` (default 1), ``pads`` ``[h_begin, w_begin, h_end, w_end]``
(explicit, never ``auto_pad``), and for AveragePool ``count_include_pad``. Floor rounding
(``ceil_mode=0``) only. Padded positions never win a max.

Gradients (``ONNX_TRAINING_NOTES.md`` §1.2, §1.4), standard ONNX ops only:

* MaxPool: the inference graph keeps the cheap single-output MaxPool. Its gradient re-runs the pool
  as ``MaxPoolWithIndices`` (ONNX MaxPool with its second output, flat indices over the whole
  tensor) and puts dY at those indices. Exactly one input per window (the first maximum in
  row-major order, as onnxruntime picks it) receives the gradient, so ties do not duplicate it and
  padding is handled. When windows cannot overlap (strides >= kernel, e.g. Keras' default
  pool_size == strides) every index is distinct and ONNX ``MaxUnpool`` places dY in one pass over
  its output; overlapping windows scatter with ScatterND(reduction="add") into zeros so that they
  accumulate. The Equal/Resize mask recipe for kernel == stride gives every tied element the full
  gradient (common after a Relu: whole windows of zeros), so it is not used.

  Measured for W3's pool (3x3, stride 3, X 64x64x28x28; onnxruntime 1.31 CPU, one thread, min of
  interleaved runs): MaxPool with indices 16.8 ms alone; + MaxUnpool 17.1 ms; + ScatterND and its
  zeros 23.1 ms (ScatterElements 22.3 ms). Exact first-maximum recipes without indices were all
  slower on onnxruntime, because its broadcasting kernels are slow for window-shaped (k x 1)
  broadcasts and its SpaceToDepth/DepthToSpace/ArgMax are not faster: Equal(X, Y) with a
  first-maximum priority and a second MaxPool 165 ms; SpaceToDepth + ArgMax + Where +
  DepthToSpace 46 ms.
* AveragePool: dY divided by the window counts (k*k, or the precomputed count map when padding is
  excluded), spread back with a ConvTranspose of a constant ones kernel over (N*C, 1, OH, OW).
* GlobalMaxPool: Where(Equal(X, Y), dY, 0), ties each get the gradient.
* GlobalAveragePool: Expand(dY / (H*W), Shape(X)).
"""
from __future__ import annotations

import numpy as np

from graphc.ir import is_float

from .base import OpDef, emit, register_op
from .conv import SPATIAL, _patches, conv_out_dim


def pool_attrs(kernel_shape, strides=None, pads=None, ceil_mode=0) -> dict:
    if kernel_shape is None:
        raise ValueError("pooling needs kernel_shape")
    kernel = tuple(int(k) for k in kernel_shape)
    strides = tuple(int(s) for s in strides) if strides is not None else (1,) * SPATIAL
    pads = tuple(int(p) for p in pads) if pads is not None else (0,) * (2 * SPATIAL)
    if len(kernel) != SPATIAL or len(strides) != SPATIAL or len(pads) != 2 * SPATIAL:
        raise ValueError(f"pooling is 2-D: kernel_shape and strides need 2 entries, pads 4; received "
                         f"kernel_shape={kernel}, strides={strides}, pads={pads}")
    if any(k < 1 for k in kernel) or any(s < 1 for s in strides) or any(p < 0 for p in pads):
        raise ValueError(f"kernel_shape and strides must be >= 1 and pads >= 0, received {kernel}, {strides}, {pads}")
    if any(pads[i] >= kernel[i] or pads[SPATIAL + i] >= kernel[i] for i in range(SPATIAL)):
        raise ValueError(f"pads {pads} must be smaller than the kernel {kernel}")
    if ceil_mode:
        raise NotImplementedError("pooling with ceil_mode=1 is not supported; pad explicitly instead")
    return {"kernel_shape": kernel, "strides": strides, "pads": pads}


def _pool_type(op, x, a):
    if x.rank != 4:
        raise ValueError(f"{op} is 2-D: X must be (N, C, H, W), received rank {x.rank}")
    if not is_float(x.dtype):
        raise TypeError(f"{op} needs a float tensor, received {x.dtype}")
    p = a["pads"]
    out = [conv_out_dim(x.shape[2 + i], a["kernel_shape"][i], a["strides"][i], 1, p[i], p[SPATIAL + i])
           for i in range(SPATIAL)]
    return x.with_shape((x.shape[0], x.shape[1], *out))


def _windows(x, a, fill):
    """(padded-window array (N, C, OH, OW, KH, KW), (OH, OW)) with ``fill`` in padded positions."""
    p = a["pads"]
    out = tuple(conv_out_dim(x.shape[2 + i], a["kernel_shape"][i], a["strides"][i], 1, p[i], p[SPATIAL + i])
                for i in range(SPATIAL))
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[2]), (p[1], p[3])), constant_values=fill)
    return _patches(xp, a["kernel_shape"], a["strides"], (1, 1), out), out


def _lower_attrs(node):
    a = pool_attrs(**{k: v for k, v in node.attrs.items() if k in ("kernel_shape", "strides", "pads")})
    return {"kernel_shape": list(a["kernel_shape"]), "strides": list(a["strides"]), "pads": list(a["pads"])}


@register_op
class MaxPool(OpDef):
    """Y = max over each window; the inference form (one output)."""

    def infer(self, x, kernel_shape=None, strides=None, pads=None, ceil_mode=0):
        return _pool_type("MaxPool", x, pool_attrs(kernel_shape, strides, pads, ceil_mode))

    def ref(self, x, kernel_shape=None, strides=None, pads=None, ceil_mode=0):
        cols, _ = _windows(x, pool_attrs(kernel_shape, strides, pads, ceil_mode), -np.inf)
        return cols.max(axis=(4, 5)).astype(x.dtype)

    def lower(self, ctx, node):
        ctx.emit("MaxPool", ctx.inputs, ctx.outputs, **_lower_attrs(node))

    def grad(self, node, dys):
        _, indices = emit("MaxPoolWithIndices", node.inputs[0], **node.attrs)
        return [max_pool_grad(node.inputs[0], indices, dys[0], node.attrs)]


@register_op
class MaxPoolWithIndices(OpDef):
    """(Y, I) = MaxPool with indices: I (int64) is the flat position of each window's maximum in X,
    counting over the whole tensor (batch and channel offsets included), as ONNX MaxPool's second
    output with ``storage_order=0``. Only the training graph uses it: the indices cost ~8x the pool."""

    def infer(self, x, kernel_shape=None, strides=None, pads=None, ceil_mode=0):
        y = _pool_type("MaxPoolWithIndices", x, pool_attrs(kernel_shape, strides, pads, ceil_mode))
        return y, y.with_dtype("int64")

    def ref(self, x, kernel_shape=None, strides=None, pads=None, ceil_mode=0):
        a = pool_attrs(kernel_shape, strides, pads, ceil_mode)
        cols, (oh, ow) = _windows(x, a, -np.inf)
        n, c, h, w = x.shape
        kh, kw = a["kernel_shape"]
        flat = cols.reshape(n, c, oh, ow, kh * kw)
        arg = flat.argmax(axis=-1)  # first maximum in row-major window order
        y = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0].astype(x.dtype)
        rows = np.arange(oh)[:, None] * a["strides"][0] - a["pads"][0] + arg // kw
        cols_ = np.arange(ow)[None, :] * a["strides"][1] - a["pads"][1] + arg % kw
        base = (np.arange(n)[:, None, None, None] * c + np.arange(c)[None, :, None, None]) * (h * w)
        return y, (base + rows * w + cols_).astype(np.int64)

    def lower(self, ctx, node):
        ctx.emit("MaxPool", ctx.inputs, ctx.outputs, **_lower_attrs(node))

    def grad(self, node, dys):
        if dys[0] is None:
            return [None]
        return [max_pool_grad(node.inputs[0], node.outputs[1], dys[0], node.attrs)]


def has_disjoint_windows(attrs) -> bool:
    """True when no input element lies in two pooling windows (strides >= kernel on both axes)."""
    a = pool_attrs(**{k: v for k, v in attrs.items() if k in ("kernel_shape", "strides", "pads")})
    return all(s >= k for s, k in zip(a["strides"], a["kernel_shape"]))


def max_pool_grad(x, indices, dy, attrs):
    """dX of a max pool from its flat ``indices``: MaxUnpool when the windows are disjoint (float32
    and float16, the types onnxruntime's MaxUnpool has), else a ScatterND-add into zeros."""
    if has_disjoint_windows(attrs) and dy.dtype in ("float32", "float16"):
        pool = {k: attrs[k] for k in ("kernel_shape", "strides", "pads") if attrs.get(k) is not None}
        return emit("MaxUnpool", dy, indices, x, **pool)
    return scatter_pool_grad(x, indices, dy)


@register_op
class MaxUnpool(OpDef):
    """Y = zeros shaped like ``like`` with X[i] placed at the flat position I[i] (over the whole
    tensor, as MaxPoolWithIndices gives them): ONNX MaxUnpool with ``output_shape = Shape(like)``.

    The indices must be distinct (ONNX leaves duplicates undefined): ``max_pool_grad`` uses it only
    for disjoint windows. ``kernel_shape``/``strides``/``pads`` are the pool's, passed through to
    ONNX. dX = Gather(flat dY, flat I).
    """

    nondiff_inputs = (1, 2)

    def infer(self, x, idx, like, kernel_shape=None, strides=None, pads=None):
        if idx.dtype != "int64":
            raise TypeError(f"MaxUnpool indices must be int64, received {idx.dtype}")
        if x.rank != 4 or idx.rank != 4 or like.rank != 4:
            raise ValueError(f"MaxUnpool is 2-D: X, I and like must be (N, C, H, W), received ranks "
                             f"{x.rank}, {idx.rank}, {like.rank}")
        if any(isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(x.shape, idx.shape)):
            raise ValueError(f"MaxUnpool indices must have X's shape {x.shape}, received {idx.shape}")
        pool_attrs(kernel_shape, strides, pads)
        return like.with_dtype(x.dtype)

    def ref(self, x, idx, like, kernel_shape=None, strides=None, pads=None):
        y = np.zeros(like.shape, x.dtype)
        y.reshape(-1)[idx.reshape(-1)] = x.reshape(-1)
        return y

    def lower(self, ctx, node):
        shape = ctx.emit("Shape", [ctx.inputs[2]], 1)[0]
        ctx.emit("MaxUnpool", [ctx.inputs[0], ctx.inputs[1], shape], ctx.outputs, **_lower_attrs(node))

    def grad(self, node, dys):
        from .shape import gather, reshape, reshape_like

        x, idx = node.inputs[0], node.inputs[1]
        picked = gather(reshape(dys[0], (-1,)), reshape(idx, (-1,)), axis=0)
        return [reshape_like(picked, x), None, None]


def scatter_pool_grad(x, indices, dy):
    """dX: zeros shaped like X with dY added at the flat ``indices`` (ScatterND, reduction add)."""
    from .nn import zeros_like
    from .shape import reshape, reshape_like, unsqueeze

    flat_x = reshape(x, (-1,))
    idx = unsqueeze(reshape(indices, (-1,)), (-1,))
    scattered = emit("ScatterNDAdd", zeros_like(flat_x), idx, reshape(dy, (-1,)))
    return reshape_like(scattered, x)


@register_op
class AveragePool(OpDef):
    """Y = mean over each window; padded positions count iff ``count_include_pad``."""

    def infer(self, x, kernel_shape=None, strides=None, pads=None, count_include_pad=0, ceil_mode=0):
        return _pool_type("AveragePool", x, pool_attrs(kernel_shape, strides, pads, ceil_mode))

    def ref(self, x, kernel_shape=None, strides=None, pads=None, count_include_pad=0, ceil_mode=0):
        a = pool_attrs(kernel_shape, strides, pads, ceil_mode)
        cols, out = _windows(x, a, 0)
        total = cols.sum(axis=(4, 5))
        return (total / window_counts(x.shape[2:], a, count_include_pad).astype(x.dtype)).astype(x.dtype)

    def lower(self, ctx, node):
        ctx.emit("AveragePool", ctx.inputs, ctx.outputs, count_include_pad=int(node.attrs.get("count_include_pad", 0)),
                 **_lower_attrs(node))

    def grad(self, node, dys):
        from .conv import conv_transpose2d
        from .elementwise import div
        from .shape import reshape, reshape_like

        x, dy = node.inputs[0], dys[0]
        a = pool_attrs(**{k: v for k, v in node.attrs.items() if k in ("kernel_shape", "strides", "pads")})
        hw = x.shape[2:]
        out = dy.shape[2:]
        if not all(isinstance(d, int) for d in hw + out):
            raise NotImplementedError(f"AveragePool gradient needs static spatial sizes, received {x.type}")
        counts = window_counts(hw, a, node.attrs.get("count_include_pad", 0)).astype(x.dtype)
        uniform = bool(np.all(counts == counts.flat[0]))
        scaled = div(dy, np.asarray(counts.flat[0], x.dtype) if uniform else counts)
        p, s, k = a["pads"], a["strides"], a["kernel_shape"]
        out_pad = tuple(hw[i] - (s[i] * (out[i] - 1) + k[i] - p[i] - p[SPATIAL + i]) for i in range(SPATIAL))
        ones = np.ones((1, 1) + k, dtype=x.dtype)
        spread = conv_transpose2d(reshape(scaled, (-1, 1) + out), ones, strides=s, pads=p, output_padding=out_pad)
        return [reshape_like(spread, x)]


def window_counts(hw, a, count_include_pad) -> np.ndarray:
    """(OH, OW) array of the number of elements each window averages."""
    counts = []
    for i in range(SPATIAL):
        k, s, pb, pe = a["kernel_shape"][i], a["strides"][i], a["pads"][i], a["pads"][SPATIAL + i]
        n_out = conv_out_dim(hw[i], k, s, 1, pb, pe)
        start = np.arange(n_out) * s - pb
        if count_include_pad:
            counts.append(np.full(n_out, k))
        else:
            counts.append(np.minimum(start + k, hw[i]) - np.maximum(start, 0))
    return np.outer(counts[0], counts[1]).astype(np.float64)


class _GlobalPool(OpDef):
    def infer(self, x):
        if x.rank < 3:
            raise ValueError(f"{self.name} needs (N, C, spatial...), received rank {x.rank}")
        if not is_float(x.dtype):
            raise TypeError(f"{self.name} needs a float tensor, received {x.dtype}")
        return x.with_shape(x.shape[:2] + (1,) * (x.rank - 2))


@register_op
class GlobalMaxPool(_GlobalPool):
    """Y = max over the spatial axes, kept as size 1. dX = Where(X == Y, dY, 0)."""

    def ref(self, x):
        return x.max(axis=tuple(range(2, x.ndim)), keepdims=True)

    def grad(self, node, dys):
        from .elementwise import equal, where, zeros_like_scalar

        x, y = node.inputs[0], node.outputs[0]
        return [where(equal(x, y), dys[0], zeros_like_scalar(dys[0]))]


@register_op
class GlobalAveragePool(_GlobalPool):
    """Y = mean over the spatial axes, kept as size 1. dX = Expand(dY / (H*W), Shape(X))."""

    def ref(self, x):
        return x.mean(axis=tuple(range(2, x.ndim)), keepdims=True).astype(x.dtype)

    def grad(self, node, dys):
        from .elementwise import div
        from .reduce import reduced_count
        from .shape import expand_like

        x = node.inputs[0]
        return [expand_like(div(dys[0], reduced_count(x, tuple(range(2, x.type.rank)))), x)]


# -- functional API ------------------------------------------------------------------------------

def max_pool2d(x, kernel_shape, strides=None, pads=(0, 0, 0, 0)):
    return emit("MaxPool", x, kernel_shape=tuple(kernel_shape),
                strides=tuple(strides) if strides is not None else tuple(kernel_shape), pads=tuple(pads))


def average_pool2d(x, kernel_shape, strides=None, pads=(0, 0, 0, 0), count_include_pad=0):
    return emit("AveragePool", x, kernel_shape=tuple(kernel_shape),
                strides=tuple(strides) if strides is not None else tuple(kernel_shape), pads=tuple(pads),
                count_include_pad=int(count_include_pad))


def global_max_pool(x):
    return emit("GlobalMaxPool", x)


def global_average_pool(x):
    return emit("GlobalAveragePool", x)
