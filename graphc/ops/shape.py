"""Shape ops: Reshape, Flatten, Transpose, Concat, Split, Slice, Unsqueeze, Squeeze, Shape, Expand,
Gather, Pad. Shape-like arguments are IR attributes; lowering turns them into int64 constant inputs
where ONNX wants inputs."""
from __future__ import annotations

import numpy as np

from graphc.ir import TensorType
from graphc.ir.types import broadcast_shapes

from .base import OpDef, emit, normalize_axis, register_op


def _prod(dims):
    n = 1
    for d in dims:
        if not isinstance(d, int):
            return None
        n *= d
    return n


def _infer_minus_one(in_shape: tuple, others: list):
    """The dim a -1 stands for when some dims are symbolic: symbols shared by input and target
    cancel; what is left must be a static quotient or exactly one symbol. None when unknowable."""
    if any(d is None for d in in_shape) or any(d is None for d in others):
        return None
    left = [d for d in in_shape if isinstance(d, str)]
    for d in others:
        if isinstance(d, str):
            if d not in left:
                return None
            left.remove(d)
    rest_in = _prod([d for d in in_shape if isinstance(d, int)])
    rest_out = _prod([d for d in others if isinstance(d, int)])
    if not left:
        if rest_out == 0 or rest_in % rest_out:
            raise ValueError(f"cannot reshape {in_shape} into a shape with static part {rest_out}")
        return rest_in // rest_out
    if len(left) == 1 and rest_in == rest_out:
        return left[0]
    return None


def reshape_dims(in_shape: tuple, shape: tuple) -> tuple:
    """ONNX Reshape (allowzero=0) on possibly symbolic dims: 0 copies, -1 infers."""
    shape = tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise ValueError(f"Reshape target {shape} has more than one -1")
    out = []
    for i, s in enumerate(shape):
        if s == 0:
            if i >= len(in_shape):
                raise ValueError(f"Reshape target {shape} copies axis {i} of a rank-{len(in_shape)} input")
            out.append(in_shape[i])
        else:
            out.append(s)
    if -1 in out:
        total = _prod(in_shape)
        known = _prod([d for d in out if d != -1])
        k = out.index(-1)
        if total is not None and known is not None:
            if known == 0 or total % known:
                raise ValueError(f"cannot reshape {in_shape} into {shape}")
            out[k] = total // known
        else:
            out[k] = _infer_minus_one(in_shape, [d for i, d in enumerate(out) if i != k])
    else:
        total, known = _prod(in_shape), _prod(out)
        if total is not None and known is not None and total != known:
            raise ValueError(f"cannot reshape {in_shape} ({total} elements) into {tuple(out)} ({known} elements)")
    return tuple(out)


@register_op
class Reshape(OpDef):
    """Y = X reshaped to ``shape`` (0 copies the input dim, -1 infers). dX = Reshape(dY, Shape(X))."""

    def infer(self, x, shape):
        return x.with_shape(reshape_dims(x.shape, shape))

    def ref(self, x, shape):
        target = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
        return x.reshape(target)

    def lower(self, ctx, node):
        shape = ctx.const(np.asarray(node.attrs["shape"], np.int64), "shape")
        ctx.emit("Reshape", [ctx.inputs[0], shape], ctx.outputs)

    def grad(self, node, dys):
        return [reshape_like(dys[0], node.inputs[0])]


@register_op
class DynReshape(OpDef):
    """Y = Reshape(X, S) with the target shape S an int64 tensor computed in the graph."""

    nondiff_inputs = (1,)

    def infer(self, x, s, shape_hint=None):
        if s.dtype != "int64" or s.rank != 1:
            raise TypeError(f"shape input must be int64 of rank 1, received {s}")
        if shape_hint is not None:
            return x.with_shape(tuple(shape_hint))
        n = s.shape[0]
        return x.with_shape((None,) * n if isinstance(n, int) else ())

    def ref(self, x, s, shape_hint=None):
        return x.reshape([x.shape[i] if v == 0 else v for i, v in enumerate(s.tolist())])

    def lower(self, ctx, node):
        ctx.emit("Reshape", ctx.inputs, ctx.outputs)

    def grad(self, node, dys):
        return [reshape_like(dys[0], node.inputs[0]), None]


def _flatten_axis(axis: int, rank: int) -> int:
    """ONNX Flatten's axis lies in [-rank, rank]; a negative one counts from the end (-1 -> rank-1)."""
    if not -rank <= axis <= rank:
        raise ValueError(f"Flatten axis {axis} is out of range [{-rank}, {rank}] for rank {rank}")
    return axis + rank if axis < 0 else axis


@register_op
class Flatten(OpDef):
    """Y = X as 2-D: dims before ``axis`` multiplied, then the rest. dX = Reshape(dY, Shape(X))."""

    def infer(self, x, axis=1):
        axis = _flatten_axis(axis, x.rank)
        a, b = _prod(x.shape[:axis]), _prod(x.shape[axis:])
        if a is None and axis == 1:
            a = x.shape[0]
        return x.with_shape((a, b))

    def ref(self, x, axis=1):
        axis = _flatten_axis(axis, x.ndim)
        return x.reshape(int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:])))

    def grad(self, node, dys):
        return [reshape_like(dys[0], node.inputs[0])]


@register_op
class Transpose(OpDef):
    """Y = X with axes permuted by ``perm``. dX = Transpose(dY, inverse perm)."""

    def infer(self, x, perm=None):
        perm = tuple(perm) if perm is not None else tuple(reversed(range(x.rank)))
        if sorted(perm) != list(range(x.rank)):
            raise ValueError(f"perm {perm} is not a permutation of {x.rank} axes")
        return x.with_shape(tuple(x.shape[p] for p in perm))

    def ref(self, x, perm=None):
        return np.transpose(x, perm)

    def grad(self, node, dys):
        perm = node.attrs.get("perm") or tuple(reversed(range(node.inputs[0].type.rank)))
        return [transpose(dys[0], tuple(int(i) for i in np.argsort(perm)))]


@register_op
class Concat(OpDef):
    """Y = X1 ++ X2 ++ ... along ``axis``. dXi = Slice of dY."""

    def infer(self, *xs, axis):
        if not xs:
            raise ValueError("Concat needs at least one input")
        rank = xs[0].rank
        axis = normalize_axis(axis, rank)
        for x in xs:
            if x.rank != rank:
                raise ValueError(f"Concat inputs must have one rank, received shapes {[t.shape for t in xs]}")
            if x.dtype != xs[0].dtype:
                raise TypeError(f"Concat inputs must have one dtype, received {[t.dtype for t in xs]}")
        out = []
        for i in range(rank):
            if i == axis:
                sizes = [x.shape[i] for x in xs]
                out.append(sum(sizes) if all(isinstance(s, int) for s in sizes) else None)
            else:
                out.append(broadcast_shapes(*[(x.shape[i],) for x in xs])[0] if all(
                    x.shape[i] == xs[0].shape[i] or not isinstance(x.shape[i], int) or not isinstance(xs[0].shape[i], int)
                    for x in xs) else _concat_mismatch(xs, axis))
        return TensorType(xs[0].dtype, tuple(out))

    def ref(self, *xs, axis):
        return np.concatenate(xs, axis=axis)

    def grad(self, node, dys):
        axis = normalize_axis(node.attrs["axis"], node.outputs[0].type.rank)
        grads, start = [], 0
        for x in node.inputs:
            size = x.shape[axis]
            if not isinstance(size, int):
                raise NotImplementedError("Concat gradient along an axis of unknown size is not supported")
            grads.append(slice_(dys[0], starts=(start,), ends=(start + size,), axes=(axis,)))
            start += size
        return grads


def _concat_mismatch(xs, axis):
    raise ValueError(f"Concat along axis {axis}: other dims must match, received shapes "
                     + ", ".join(str(x.keras_shape()) for x in xs))


def slice_range(start: int, end: int, step: int, dim: int) -> range:
    """The indices ONNX Slice reads on an axis of size ``dim``.

    Negative starts/ends count from the end; then, for positive steps, both clamp to [0, dim]; for
    negative steps, start clamps to [0, dim - 1] and end to [-1, dim - 1]. This differs from
    Python's slicing for negative steps: x[-5::-1] on a length-2 axis is empty in Python, one
    element in ONNX.
    """
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return range(start, end, step)


@register_op
class Slice(OpDef):
    """Y = X[starts:ends:steps] on ``axes``. dX = Pad(dY) for step 1."""

    def infer(self, x, starts, ends, axes=None, steps=None):
        axes = tuple(axes) if axes is not None else tuple(range(len(starts)))
        steps = tuple(steps) if steps is not None else (1,) * len(starts)
        if not len(starts) == len(ends) == len(axes) == len(steps):
            raise ValueError(f"Slice: starts, ends, axes and steps must have one length, received "
                             f"{len(starts)}, {len(ends)}, {len(axes)}, {len(steps)}")
        if len({normalize_axis(a, x.rank) for a in axes}) != len(axes):
            raise ValueError(f"Slice: axes {axes} repeat an axis")
        out = list(x.shape)
        for s, e, a, st in zip(starts, ends, axes, steps):
            if st == 0:
                raise ValueError("Slice: steps must not be 0")
            a = normalize_axis(a, x.rank)
            d = x.shape[a]
            if isinstance(d, int):
                out[a] = len(slice_range(s, e, st, d))
            elif s == 0 and st == 1 and e >= 2**31:
                out[a] = d  # the whole axis: the symbol carries over
            else:
                out[a] = None  # [s:e] of an axis of unknown size may be shorter than e - s
        return x.with_shape(tuple(out))

    def ref(self, x, starts, ends, axes=None, steps=None):
        axes = tuple(axes) if axes is not None else tuple(range(len(starts)))
        steps = tuple(steps) if steps is not None else (1,) * len(starts)
        idx = [slice(None)] * x.ndim
        for s, e, a, st in zip(starts, ends, axes, steps):
            r = slice_range(s, e, st, x.shape[a])
            idx[a] = slice(r.start, r.stop if r.stop >= 0 else None, r.step)
        return x[tuple(idx)]

    def lower(self, ctx, node):
        a = node.attrs
        ins = [ctx.inputs[0], ctx.const(np.asarray(a["starts"], np.int64), "starts"),
               ctx.const(np.asarray(a["ends"], np.int64), "ends")]
        if a.get("axes") is not None or a.get("steps") is not None:
            axes = a.get("axes") if a.get("axes") is not None else tuple(range(len(a["starts"])))
            ins.append(ctx.const(np.asarray(axes, np.int64), "axes"))
        if a.get("steps") is not None:
            ins.append(ctx.const(np.asarray(a["steps"], np.int64), "steps"))
        ctx.emit("Slice", ins, ctx.outputs)

    def grad(self, node, dys):
        x = node.inputs[0]
        a = node.attrs
        r = x.type.rank
        axes = a.get("axes") if a.get("axes") is not None else tuple(range(len(a["starts"])))
        steps = a.get("steps") or (1,) * len(a["starts"])
        if any(s != 1 for s in steps):
            # strided or reversed: scatter dY back to the positions it was read from
            if not x.type.is_static:
                raise NotImplementedError("Slice gradient with steps other than 1 needs a static input shape")
            positions = np.indices(x.shape).transpose(tuple(range(1, r + 1)) + (0,))
            picked = self.ref(positions, **{**a, "axes": tuple(normalize_axis(ax, r) for ax in axes)})
            return [emit("ScatterNDAdd", emit("ConstantOfShapeLike", x), np.ascontiguousarray(picked, np.int64),
                         dys[0])]
        pads = [0] * (2 * r)
        for s, e, ax in zip(a["starts"], a["ends"], axes):
            ax = normalize_axis(ax, r)
            d = x.shape[ax]
            if not isinstance(d, int):
                raise NotImplementedError("Slice gradient on an axis of unknown size is not supported")
            rng = slice_range(s, e, 1, d)
            pads[ax] = rng.start
            pads[r + ax] = d - max(rng.stop, rng.start)
        return [pad(dys[0], tuple(pads))]


@register_op
class Pad(OpDef):
    """Padding as ONNX Pad: ``pads`` = [begin_0.., end_0..] (negative entries crop), ``mode``
    "constant" (with ``value``), "reflect" or "edge".

    dX = Slice(dY) for constant mode; for reflect and edge, dY is scatter-added back to the input
    positions each output element was copied from.
    """

    MODES = ("constant", "reflect", "edge")

    def infer(self, x, pads, value=0.0, mode="constant"):
        r = x.rank
        if len(pads) != 2 * r:
            raise ValueError(f"pads must have {2 * r} entries, received {len(pads)}")
        if mode not in self.MODES:
            raise ValueError(f"Pad mode must be one of {self.MODES}, received {mode!r}")
        out = []
        for i, d in enumerate(x.shape):
            if isinstance(d, int):
                n = d + pads[i] + pads[r + i]
                if n < 0:
                    raise ValueError(f"pads {tuple(pads)} crop axis {i} of size {d} below zero")
                out.append(n)
            else:
                out.append(d if pads[i] == 0 and pads[r + i] == 0 else None)
        return x.with_shape(tuple(out))

    def ref(self, x, pads, value=0.0, mode="constant"):
        r = x.ndim
        crop = tuple(slice(max(-pads[i], 0), x.shape[i] - max(-pads[r + i], 0)) for i in range(r))
        widths = [(max(pads[i], 0), max(pads[r + i], 0)) for i in range(r)]
        x = x[crop]
        if mode == "constant":
            return np.pad(x, widths, mode="constant", constant_values=np.asarray(value).astype(x.dtype))
        return np.pad(x, widths, mode=mode)

    def lower(self, ctx, node):
        mode = node.attrs.get("mode", "constant")
        ins = [ctx.inputs[0], ctx.const(np.asarray(node.attrs["pads"], np.int64), "pads")]
        if mode == "constant":
            ins.append(ctx.const(np.asarray(node.attrs.get("value", 0.0)).astype(ctx.dtype_of(0)), "pad_value"))
        ctx.emit("Pad", ins, ctx.outputs, mode=mode)

    def grad(self, node, dys):
        x = node.inputs[0]
        r = x.type.rank
        pads = tuple(node.attrs["pads"])
        mode = node.attrs.get("mode", "constant")
        if mode == "constant" and min(pads) >= 0:
            out_shape = node.outputs[0].shape
            starts = pads[:r]
            ends = tuple(out_shape[i] - pads[r + i] if isinstance(out_shape[i], int)
                         else (-pads[r + i] if pads[r + i] else 2**62) for i in range(r))
            return [slice_(dys[0], starts=starts, ends=ends, axes=tuple(range(r)))]
        if not x.type.is_static:
            raise NotImplementedError(f"Pad gradient for mode {mode!r} or negative pads needs a static input shape")
        # each output element's source position in X; constant-padded positions get none
        positions = np.indices(x.shape).transpose(tuple(range(1, r + 1)) + (0,))
        src = np.stack([self.ref(positions[..., k], pads, value=-1, mode=mode) for k in range(r)], axis=-1)
        keep = np.all(src >= 0, axis=-1)
        dy = dys[0]
        if not keep.all():
            dy = emit("GatherND", dy, np.argwhere(keep).astype(np.int64))
            src = src[keep]
        return [emit("ScatterNDAdd", emit("ConstantOfShapeLike", x), np.ascontiguousarray(src, np.int64), dy)]


@register_op
class Unsqueeze(OpDef):
    def infer(self, x, axes):
        r = x.rank + len(axes)
        axes = sorted(normalize_axis(a, r) for a in axes)
        out = list(x.shape)
        for a in axes:
            out.insert(a, 1)
        return x.with_shape(tuple(out))

    def ref(self, x, axes):
        r = x.ndim + len(axes)
        return np.expand_dims(x, tuple(sorted(a % r for a in axes)))

    def lower(self, ctx, node):
        ctx.emit("Unsqueeze", [ctx.inputs[0], ctx.const(np.asarray(node.attrs["axes"], np.int64), "axes")], ctx.outputs)

    def grad(self, node, dys):
        return [reshape_like(dys[0], node.inputs[0])]


@register_op
class Squeeze(OpDef):
    def infer(self, x, axes):
        axes = {normalize_axis(a, x.rank) for a in axes}
        for a in axes:
            if isinstance(x.shape[a], int) and x.shape[a] != 1:
                raise ValueError(f"cannot squeeze axis {a} of size {x.shape[a]}")
        return x.with_shape(tuple(d for i, d in enumerate(x.shape) if i not in axes))

    def ref(self, x, axes):
        return np.squeeze(x, tuple(a % x.ndim for a in axes))

    def lower(self, ctx, node):
        ctx.emit("Squeeze", [ctx.inputs[0], ctx.const(np.asarray(node.attrs["axes"], np.int64), "axes")], ctx.outputs)

    def grad(self, node, dys):
        return [reshape_like(dys[0], node.inputs[0])]


@register_op
class Shape(OpDef):
    differentiable = False

    def infer(self, x):
        return TensorType("int64", (x.rank,))

    def ref(self, x):
        return np.asarray(x.shape, np.int64)


@register_op
class Expand(OpDef):
    """Y = X broadcast to the shape held by the int64 tensor S. dX = un-broadcast of dY."""

    nondiff_inputs = (1,)

    def infer(self, x, s, shape_hint=None):
        if s.dtype != "int64":
            raise TypeError(f"Expand shape must be int64, received {s.dtype}")
        if shape_hint is not None:
            return x.with_shape(broadcast_shapes(x.shape, tuple(shape_hint)))
        n = s.shape[0] if s.rank == 1 and isinstance(s.shape[0], int) else x.rank
        return x.with_shape((None,) * max(n, x.rank))

    def ref(self, x, s, shape_hint=None):
        return np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(int(d) for d in s))).copy()

    def lower(self, ctx, node):
        ctx.emit("Expand", ctx.inputs, ctx.outputs)

    def grad(self, node, dys):
        return [dys[0], None]


@register_op
class Gather(OpDef):
    """Y = take(X, indices, axis). dX = ScatterND-add of dY (axis 0)."""

    nondiff_inputs = (1,)

    def infer(self, x, idx, axis=0):
        if idx.dtype not in ("int32", "int64"):
            raise TypeError(f"Gather indices must be int32 or int64, received {idx.dtype}")
        axis = normalize_axis(axis, x.rank)
        return x.with_shape(x.shape[:axis] + idx.shape + x.shape[axis + 1:])

    def ref(self, x, idx, axis=0):
        return np.take(x, idx, axis=axis)

    def grad(self, node, dys):
        x, idx = node.inputs
        r, q = x.type.rank, idx.type.rank
        axis = normalize_axis(node.attrs.get("axis", 0), r)
        dy = dys[0]
        ids = unsqueeze(cast_int64(idx), (-1,))
        if axis == 0:
            return [emit("ScatterNDAdd", emit("ConstantOfShapeLike", x), ids, dy), None]
        # move the gathered axis to the front: scatter rows of Transpose(dY) into Transpose(X)'s zeros
        x_perm = (axis,) + tuple(i for i in range(r) if i != axis)
        dy_perm = tuple(range(axis, axis + q)) + tuple(range(axis)) + tuple(range(axis + q, r + q - 1))
        zeros = emit("ConstantOfShapeLike", transpose(x, x_perm))
        dxt = emit("ScatterNDAdd", zeros, ids, transpose(dy, dy_perm))
        return [transpose(dxt, tuple(int(i) for i in np.argsort(x_perm))), None]


# -- functional API ---------------------------------------------------------------------------------

def reshape(x, shape):
    return emit("Reshape", x, shape=tuple(int(s) for s in shape))


def dyn_reshape(x, s, shape_hint=None):
    return emit("DynReshape", x, s, shape_hint=tuple(shape_hint) if shape_hint is not None else None)


def static_reshape_target(x_shape: tuple, out_shape: tuple):
    """A Reshape target (0 copies, -1 infers) turning ``x_shape`` into ``out_shape``, or None when
    none is certain: every dim must be a known int, a symbolic dim found at the same position of
    ``x_shape`` (copied with 0), or at most one other dim (-1)."""
    target, free = [], 0
    for i, d in enumerate(out_shape):
        if isinstance(d, int):
            if d == 0:
                return None  # a literal 0 would mean "copy"
            target.append(d)
        elif isinstance(d, str) and i < len(x_shape) and x_shape[i] == d:
            target.append(0)
        else:
            target.append(-1)
            free += 1
    return tuple(target) if free <= 1 else None


def reshape_like(x, like):
    """Reshapes ``x`` to ``like``'s shape: a static Reshape when its target can be written with
    0 / -1 (``static_reshape_target``), else through Shape(like)."""
    if x.shape == like.shape and all(d is not None for d in like.shape):
        return x  # (symbolic dims of the same name are the same size)
    if like.type.is_static:
        return reshape(x, like.shape)
    target = static_reshape_target(x.shape, like.shape)
    if target is not None:
        try:
            if reshape_dims(x.shape, target) == like.shape:
                return reshape(x, target)
        except ValueError:
            pass
    return dyn_reshape(x, shape_of(like), shape_hint=like.shape)


def flatten(x, axis=1):
    return emit("Flatten", x, axis=axis)


def transpose(x, perm):
    return emit("Transpose", x, perm=tuple(int(p) for p in perm))


def concat(xs, axis):
    return emit("Concat", *xs, axis=int(axis))


def slice_(x, starts, ends, axes=None, steps=None):
    return emit("Slice", x, starts=tuple(starts), ends=tuple(ends), axes=tuple(axes) if axes is not None else None,
                steps=tuple(steps) if steps is not None else None)


def pad(x, pads, value=0.0):
    return emit("Pad", x, pads=tuple(int(p) for p in pads), value=float(value))


def unsqueeze(x, axes):
    return emit("Unsqueeze", x, axes=tuple(axes))


def squeeze(x, axes):
    return emit("Squeeze", x, axes=tuple(axes))


def shape_of(x):
    return emit("Shape", x)


def expand(x, s, shape_hint=None):
    return emit("Expand", x, s, shape_hint=tuple(shape_hint) if shape_hint is not None else None)


def expand_like(x, like):
    return expand(x, shape_of(like), shape_hint=like.shape)


def gather(x, idx, axis=0):
    return emit("Gather", x, idx, axis=int(axis))


def cast_int64(x):
    return x if x.dtype == "int64" else emit("Cast", x, to="int64")
