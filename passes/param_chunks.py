"""StoreParamsInChunks: a large MatMul weight kept as row chunks, so its update runs chunk by chunk.

Rewrites, for a trainable rank-2 ``Param`` p of more than ``above`` elements whose only use is the
right operand of ``MatMul(x, p)``:

    MatMul(x, p)  ->  Add(... Add(MatMul(x_0, p_0), MatMul(x_1, p_1)) ..., MatMul(x_K-1, p_K-1))
                      with (x_0, ..., x_K-1) = Split(x, axis=-1) at p's chunk boundaries

where ``p_k`` is a ``Param`` of the same Variable with the attribute ``rows = (start, stop)``: the
rows ``start:stop`` of the parameter (in its device layout, if ``StoreParamsInDeviceLayout`` gave it
one; ``graphc.ir.param_value``). The backward pass then yields one gradient per chunk (``x_k^T @
dY``), the optimizer updates each chunk with its own slots, and the step's state holds the chunks.

Why: an optimizer update is a chain of elementwise passes (Adam: 10), each streaming the whole
parameter, its slots and its gradient through memory. For a parameter much larger than the cache
(W2's Dense kernel: 36864 x 128, 19 MB per tensor) every pass goes to DRAM. onnxruntime's
sequential executor runs one chunk's update ops back to back, so a chunk's intermediates stay in
cache; measured in W2's step, the whole step is ~10% faster at 1 thread (benchmarks/RESULTS.md,
round 4). A per-step Split / Concat of the whole state would add full passes, so the chunks must
be the stored state. The forward MatMuls accumulate through ``Add``, which ``FuseMatMulAdd`` turns
into Gemms reading the running sum as their C input.

Chunks hold ``chunk`` elements or fewer (their count is ``ceil(size / chunk)``, the rows spread
evenly): a chunk's working set in the Adam update (parameter, two slots, gradient, three outputs
and a few intermediates, about ten chunk-sized buffers, 5 MB) then stays well inside the shared L3 cache.
"""
from __future__ import annotations

import math

from graphc.ir import Graph, TensorType

from .base import Pass, PassResult

#: Parameters with more elements than this (2 MB of float32) are chunked. Adam's update alone, whole
#: vs chunks, 1 and 2 threads: 2 MB within noise (0.90-0.94), 3 MB 0.78-0.87, 4 MB 0.70-0.75, 18 MB
#: 0.55-0.73 (benchmarks/RESULTS.md, round 4); a smaller parameter and its slots stay in cache anyway.
CHUNK_ABOVE = 1 << 19
#: Elements per chunk at most (512 KB of float32). W2's whole step (``step_ab.py``) against 1 MB
#: chunks: 2 threads 0.911, 0.945, 0.975 (three runs), 1 thread 0.984; 256 KB chunks (72 of them,
#: 1,143 nodes) 1.14 against 512 KB: the per-node cost overtakes the cache gain.
CHUNK_ELEMENTS = 1 << 17


def chunk_rows(rows: int, cols: int, chunk: int = CHUNK_ELEMENTS) -> list[tuple[int, int]]:
    """``(start, stop)`` row ranges of at most ``chunk`` elements each (one row at least), sizes
    differing by one row at most."""
    if rows < 1 or cols < 1 or chunk < 1:
        raise ValueError(f"chunk_rows: expected positive sizes, received rows={rows}, cols={cols}, chunk={chunk}")
    k = min(rows, max(1, math.ceil(rows * cols / chunk)))
    base, extra = divmod(rows, k)
    out, start = [], 0
    for i in range(k):
        stop = start + base + (1 if i < extra else 0)
        out.append((start, stop))
        start = stop
    return out


class StoreParamsInChunks(Pass):
    """Rewrites the Params of ``variables`` into row chunks where the pattern above matches.

    Args:
        variables: the Variables that may be chunked (the trainable ones).
        builder: optional; its cached Param Value of a chunked Variable is dropped (there is no
            single Value any more: ``chunks`` lists them).
        above: chunk parameters with more elements than this.
        chunk: elements per chunk at most.

    After ``run``: ``chunks`` maps the uid of each chunked Variable to its ``[((start, stop),
    Param Value), ...]`` in row order; ``reasons`` says, per variable path, why a large enough
    parameter was left whole.
    """

    def __init__(self, variables, builder=None, above: int | None = None, chunk: int | None = None):
        self.uids = {v.uid for v in variables}
        self.builder = builder
        self.above = CHUNK_ABOVE if above is None else int(above)
        self.chunk = CHUNK_ELEMENTS if chunk is None else int(chunk)
        self.chunks: dict = {}
        self.reasons: dict[str, str] = {}

    def run(self, graph: Graph) -> PassResult:
        self.chunks = {}
        self.reasons = {}
        for node in graph.params():
            var = node.attrs["variable"]
            if var.uid not in self.uids or node.attrs.get("rows") is not None:
                continue
            p = node.output
            if p.type.rank != 2 or not all(isinstance(d, int) for d in p.shape):
                continue
            rows, cols = p.shape
            if rows * cols <= self.above:
                continue
            reason = _why_not(graph, node)
            if reason:
                self.reasons[var.path] = reason
                continue
            ranges = chunk_rows(rows, cols, self.chunk)
            if len(ranges) < 2:
                self.reasons[var.path] = "one chunk would hold it all"
                continue
            self.chunks[var.uid] = _rewrite(graph, node, ranges)
            if self.builder is not None:
                self.builder._params.pop(var.uid, None)
        return PassResult(graph, bool(self.chunks), {"params": len(self.chunks)})


def _why_not(graph: Graph, node) -> str:
    """Why ``node``'s Param cannot be chunked ('' if it can)."""
    p = node.output
    uses = graph.uses(p)
    if p in graph.outputs:
        return "it is a graph output"
    if len(uses) != 1:
        return f"it is read {len(uses)} times; only a single MatMul weight is chunked"
    mm, port = uses[0]
    if mm.op != "MatMul" or port != 1:
        return f"its reader is {mm.op} (input {port}), not the weight of a MatMul"
    x = mm.inputs[0]
    if x.type.rank < 2 or x.dtype != p.dtype:
        return "the MatMul's left operand is not a matrix (or batch of matrices) of the same dtype"
    return ""


def _rewrite(graph: Graph, node, ranges) -> list:
    var = node.attrs["variable"]
    p = node.output
    mm = graph.uses(p)[0][0]
    x = mm.inputs[0]
    cols = p.shape[1]
    parts = []
    for start, stop in ranges:
        attrs = {"variable": var, "rows": (start, stop)}
        if node.attrs.get("layout") is not None:
            attrs["layout"] = node.attrs["layout"]
        parts.append(((start, stop), graph.add_node("Param", [], [TensorType(p.dtype, (stop - start, cols))],
                                                    attrs, node.scope).output))
    sizes = tuple(stop - start for start, stop in ranges)
    x_types = [x.type.with_shape(x.shape[:-1] + (s,)) for s in sizes]
    split = graph.add_node("Split", [x], x_types, {"axis": x.type.rank - 1, "split": sizes}, mm.scope)
    acc = None
    for xk, (_, pk) in zip(split.outputs, parts):
        prod = graph.add_node("MatMul", [xk, pk], [mm.output.type], dict(mm.attrs), mm.scope).output
        acc = prod if acc is None else graph.add_node("Add", [acc, prod], [mm.output.type], {}, mm.scope).output
    graph.replace_all_uses(mm.output, acc)
    graph.remove_node(mm)
    graph.remove_node(node)
    return parts
