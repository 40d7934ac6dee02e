"""Host-side input checks carried by the IR.

``IndexRangeCheck(ids; limit, where)`` passes ids through unchanged (an ONNX Identity once lowered)
and records that they must lie in ``[0, limit)``. ONNX Gather fails on ids >= limit with an
onnxruntime message that names neither the position nor the layer, and silently wraps negative ids
around; so the runtime checks the feeds on the host before running (``feed_checks``), and the NumPy
reference raises the same error in the interpreter.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from graphc.ir import Graph

from .base import OpDef, emit, register_op


def check_ids_in_range(ids, limit: int, where: str) -> None:
    """Raises ValueError naming the first id outside ``[0, limit)`` and its position."""
    a = np.asarray(ids)
    if a.size == 0:
        return
    if a.dtype.kind == "f":
        bad_kind = ~np.isfinite(a) | (a != np.round(a))
        if bad_kind.any():
            pos = tuple(int(i) for i in np.argwhere(bad_kind)[0])
            raise ValueError(f"{where}: id {a[pos]!r} at position {pos} is not an integer")
    bad = (a < 0) | (a >= limit)
    if bad.any():
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        value = a[pos].item()
        value = int(value) if float(value).is_integer() else value
        n = int(bad.sum())
        more = f" ({n} ids are out of range in all)" if n > 1 else ""
        raise ValueError(f"{where}: id {value} at position {pos} is out of range [0, {limit}){more}. "
                         f"Ids must be smaller than input_dim={limit}.")


@register_op
class IndexRangeCheck(OpDef):
    """Y = ids, which must lie in ``[0, limit)``; ``where`` names the layer in the error."""

    differentiable = False

    def infer(self, ids, limit, where=""):
        if ids.dtype not in ("int32", "int64", "int8", "uint8"):
            raise TypeError(f"IndexRangeCheck needs integer ids, received {ids.dtype}")
        return ids

    def ref(self, ids, limit, where=""):
        check_ids_in_range(ids, limit, where or "IndexRangeCheck")
        return ids.copy()

    def lower(self, ctx, node):
        ctx.emit("Identity", ctx.inputs, ctx.outputs)


def index_range_check(ids, limit: int, where: str):
    return emit("IndexRangeCheck", ids, limit=int(limit), where=where)


_PASS_THROUGH = ("Cast", "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose")


def feed_checks(graph: Graph) -> list[Callable[[dict], None]]:
    """Host checks for the graph's inputs: one callable per IndexRangeCheck fed (through Casts and
    reshapes, which keep values) by a graph input; each takes the feeds dict and raises on bad ids."""
    checks = []
    for node in graph.nodes:
        if node.op != "IndexRangeCheck":
            continue
        v = node.inputs[0]
        while v.node.op in _PASS_THROUGH:
            v = v.node.inputs[0]
        if v.node.op != "Input":
            continue
        name, limit, where = v.node.attrs["name"], node.attrs["limit"], node.attrs.get("where", "")

        def check(feeds, name=name, limit=limit, where=where):
            if name in feeds:
                check_ids_in_range(feeds[name], limit, f"{where} (input {name!r}; positions count within "
                                   f"the batch being run)" if where else name)

        checks.append(check)
    return checks
