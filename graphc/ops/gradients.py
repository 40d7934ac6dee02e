"""Helpers shared by gradient rules and the autodiff driver."""
from __future__ import annotations

from graphc.ir import Value


def reduce_to_shape(dy: Value, like: Value) -> Value:
    """Sums ``dy`` over the axes that broadcasting added or stretched, so it has ``like``'s shape.

    Leading axes missing from ``like`` are summed away; axes where ``like`` has size 1 and ``dy``
    does not are summed with keepdims. When only leading axes are summed, one ReduceSum with
    keepdims=0 gives ``like``'s shape (a bias gradient: no Reshape after the sum). Symbolic dims are
    taken as equal when their names match.
    """
    from .reduce import reduce_sum
    from .shape import reshape, reshape_like

    if dy.shape == like.shape:
        return dy
    extra = dy.type.rank - like.type.rank
    if extra < 0:
        return reshape_like(dy, like)
    axes = list(range(extra))
    for i, d in enumerate(like.shape):
        e = dy.shape[extra + i]
        if d == 1 and e != 1:
            axes.append(extra + i)
    if axes and axes == list(range(extra)):
        # only added leading axes: keepdims=0 leaves like's shape, no Reshape after it
        out = reduce_sum(dy, axes, keepdims=False)
    else:
        out = reduce_sum(dy, axes, keepdims=True) if axes else dy
    if out.shape != like.shape:
        if like.type.is_static:
            out = reshape(out, like.shape)
        else:
            out = reshape_like(out, like)
    return out
