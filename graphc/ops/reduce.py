"""Reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin. ``axes=None`` reduces every axis.

Lowering switches on opset: ReduceSum takes axes as an input from opset 13, the others from 18.
"""
from __future__ import annotations

import numpy as np

from .base import OpDef, emit, normalize_axis, register_op


def _axes(axes, rank):
    if axes is None:
        return tuple(range(rank))
    return tuple(sorted(normalize_axis(a, rank) for a in axes))


class _Reduce(OpDef):
    np_fn = None
    input_axes_from = 18

    def infer(self, x, axes=None, keepdims=1):
        ax = _axes(axes, x.rank)
        if keepdims:
            return x.with_shape(tuple(1 if i in ax else d for i, d in enumerate(x.shape)))
        return x.with_shape(tuple(d for i, d in enumerate(x.shape) if i not in ax))

    def ref(self, x, axes=None, keepdims=1):
        return type(self).np_fn(x, axis=_axes(axes, x.ndim), keepdims=bool(keepdims)).astype(x.dtype)

    def lower(self, ctx, node):
        axes = node.attrs.get("axes")
        keepdims = int(node.attrs.get("keepdims", 1))
        if axes is not None and len(axes) == 0:
            # empty axes reduce nothing here (as in NumPy); ONNX would reduce every axis
            ctx.emit("Identity", ctx.inputs, ctx.outputs)
            return
        if ctx.opset >= self.input_axes_from:
            ins = list(ctx.inputs)
            if axes is not None:
                ins.append(ctx.const(np.asarray(axes, np.int64), "axes"))
            ctx.emit(self.name, ins, ctx.outputs, keepdims=keepdims)
        elif axes is not None:
            ctx.emit(self.name, ctx.inputs, ctx.outputs, axes=list(axes), keepdims=keepdims)
        else:
            ctx.emit(self.name, ctx.inputs, ctx.outputs, keepdims=keepdims)

    def _dy_expanded(self, node, dy):
        """dY with the reduced axes restored as size 1 (keepdims form)."""
        x = node.inputs[0]
        if node.attrs.get("keepdims", 1):
            return dy
        from .shape import unsqueeze

        return unsqueeze(dy, _axes(node.attrs.get("axes"), x.type.rank))


@register_op
class ReduceSum(_Reduce):
    """dX = Expand(Unsqueeze(dY), Shape(X))."""

    np_fn = np.sum
    input_axes_from = 13

    def grad(self, node, dys):
        from .shape import expand_like

        return [expand_like(self._dy_expanded(node, dys[0]), node.inputs[0])]


@register_op
class ReduceMean(_Reduce):
    """dX = Expand(Unsqueeze(dY) / n, Shape(X)), n the number of reduced elements (divided before
    the Expand: on the small tensor, and the Expand can then vanish into a broadcasting consumer)."""

    np_fn = np.mean

    def grad(self, node, dys):
        from .elementwise import div
        from .shape import expand_like

        x = node.inputs[0]
        dy = div(self._dy_expanded(node, dys[0]), reduced_count(x, node.attrs.get("axes")))
        return [expand_like(dy, x)]


@register_op
class ReduceMax(_Reduce):
    """dX = Where(X == Y, dY, 0), broadcast; ties each get the full gradient."""

    np_fn = np.max

    def grad(self, node, dys):
        return [_select_grad(self, node, dys[0])]


@register_op
class ReduceMin(_Reduce):
    np_fn = np.min

    def grad(self, node, dys):
        return [_select_grad(self, node, dys[0])]


def _select_grad(op, node, dy):
    from .elementwise import equal, where, zeros_like_scalar

    x, y = node.inputs[0], node.outputs[0]
    if not node.attrs.get("keepdims", 1):
        from .shape import unsqueeze

        y = unsqueeze(y, _axes(node.attrs.get("axes"), x.type.rank))
    dy = op._dy_expanded(node, dy)
    return where(equal(x, y), dy, zeros_like_scalar(dy))


def reduced_count(x, axes):
    """The number of elements reduced over ``axes`` of ``x``, as a Value of x's dtype."""
    from .elementwise import cast, mul
    from .shape import gather, shape_of

    axes = _axes(axes, x.type.rank)
    static = int(np.prod([x.shape[a] for a in axes if isinstance(x.shape[a], int)]))
    dynamic = [a for a in axes if not isinstance(x.shape[a], int)]
    if not dynamic:
        return np.asarray(static, x.dtype)
    if len(dynamic) == 1:  # a scalar index gathers the one size straight away, no product needed
        n = gather(shape_of(x), np.asarray(dynamic[0], np.int64))
    else:
        n = reduce_prod_int(gather(shape_of(x), np.asarray(dynamic, np.int64)))
    n = cast(n, x.dtype)
    return n if static == 1 else mul(n, np.asarray(static, x.dtype))


@register_op
class ReduceProdInt(OpDef):
    """Product of an int64 vector (for element counts of symbolic shapes)."""

    differentiable = False

    def infer(self, x):
        if x.dtype not in ("int32", "int64") or x.rank != 1:
            raise TypeError(f"ReduceProdInt needs an int32/int64 vector, received {x}")
        return x.with_shape(())

    def ref(self, x):
        return np.asarray(np.prod(x), x.dtype)

    def lower(self, ctx, node):
        n = node.inputs[0].shape[0]
        if isinstance(n, int):
            # A static-length vector (the usual case: sizes of chosen axes) multiplies element by
            # element: integer Gather and Mul have kernels everywhere, whereas ReduceProd has no int64
            # CUDA kernel and no float64 CPU kernel before onnxruntime 1.20 (onnxruntime-training 1.19).
            if n == 0:
                ctx.emit("Identity", [ctx.const(np.asarray(1, node.outputs[0].dtype), "one")], ctx.outputs)
                return
            items = [ctx.emit("Gather", [ctx.inputs[0], ctx.const(np.asarray(i, np.int64), "index")],
                              ctx.outputs if n == 1 else 1, axis=0)[0] for i in range(n)]
            prod = items[0]
            for i, item in enumerate(items[1:], 2):
                prod = ctx.emit("Mul", [prod, item], ctx.outputs if i == n else 1)[0]
            return
        # In float64 (exact for counts below 2**53): onnxruntime's CUDA ReduceProd has no int64 kernel.
        # No axes: every opset reduces the whole vector (opset 18 moved axes to an optional input).
        as_float = ctx.emit("Cast", ctx.inputs, 1, to=ctx.onnx_dtype("float64"))
        prod = ctx.emit("ReduceProd", as_float, 1, keepdims=0)
        ctx.emit("Cast", prod, ctx.outputs, to=ctx.onnx_dtype(node.outputs[0].dtype))


def reduce_prod_int(x):
    return emit("ReduceProdInt", x)


def reduce_sum(x, axes=None, keepdims=True):
    return emit("ReduceSum", x, axes=None if axes is None else tuple(axes), keepdims=int(keepdims))


def reduce_mean(x, axes=None, keepdims=True):
    return emit("ReduceMean", x, axes=None if axes is None else tuple(axes), keepdims=int(keepdims))


def reduce_max(x, axes=None, keepdims=True):
    return emit("ReduceMax", x, axes=None if axes is None else tuple(axes), keepdims=int(keepdims))


def reduce_min(x, axes=None, keepdims=True):
    return emit("ReduceMin", x, axes=None if axes is None else tuple(axes), keepdims=int(keepdims))
