"""Debug mode: instruments the PassManager runs around every pass.

* ``NumericsCheck`` runs the graph before and after each pass on the same random inputs with the
  NumPy interpreter and raises ``NumericsError`` naming the pass and the first node whose value
  differs (in topological order, among nodes the pass kept).
* ``OpCountDiff`` fills each record's ``changes`` with the op-count difference (``-2 Add +2 Gemm``).
* ``StageDumper`` writes the input and every stage a pass changed into a folder: IR text always,
  plus whatever writers upper layers registered in ``STAGE_WRITERS`` (``graphc.onnx`` registers
  ``.onnx``; a plotting module may register a picture). ``passes`` imports neither, keeping the
  layering arrows pointing down.
* ``format_table`` renders the records: pass, nodes before -> after, time, what changed.

IR invariants are checked by the PassManager itself (``verify_each``).
"""
from __future__ import annotations

import os
import re
import tempfile

import numpy as np

from graphc.ir import Graph
from graphc.ir.types import is_float
from graphc.ops.interpreter import evaluate

from .base import Instrument, PassRecord
from .rewrite import is_deterministic, topological_nodes

#: name -> callable(graph, path_without_extension) writing one artifact of a stage.
STAGE_WRITERS: dict = {}


def register_stage_writer(name: str, fn) -> None:
    """Registers a dump writer (e.g. ``.onnx`` or a picture) used by ``StageDumper``."""
    STAGE_WRITERS[name] = fn


def debug_enabled(debug: bool | None) -> bool:
    if debug is not None:
        return bool(debug)
    return os.environ.get("GRAPHC_DEBUG", "") not in ("", "0", "false", "False")


class NumericsError(AssertionError):
    """A pass changed what the graph computes."""


def random_feeds(graph: Graph, seed: int = 0) -> dict:
    """One random array per graph input; each symbolic dim gets one size for the whole graph."""
    rng = np.random.default_rng(seed)
    sizes: dict = {}
    feeds = {}
    for v in graph.inputs:
        shape = []
        for d in v.shape:
            if isinstance(d, int):
                shape.append(d)
            elif isinstance(d, str):
                shape.append(sizes.setdefault(d, 2 + len(sizes) % 2))
            else:
                shape.append(2)
        if is_float(v.dtype):
            a = rng.standard_normal(shape).astype(v.dtype)
        elif v.dtype == "bool":
            a = rng.random(shape) < 0.5
        else:
            a = rng.integers(0, 2, shape).astype(v.dtype)
        feeds[v.name] = a
    return feeds


def _all_values(graph: Graph, feeds: dict) -> dict:
    """(node id, output index) -> array for every value of the graph."""
    nodes = graph.nodes
    values = [v for n in nodes for v in n.outputs]
    arrays = evaluate(graph, feeds, values=values)
    return {(v.node.id, v.index): a for v, a in zip(values, arrays)}


def _close(a, b, rtol: float, atol: float) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        return bool(np.allclose(a.astype(np.float64), b.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True))
    return bool(np.array_equal(a, b))


class NumericsCheck(Instrument):
    """Compares the graph's outputs before and after every pass on random inputs."""

    def __init__(self, rtol: float = 1e-3, atol: float = 1e-4, seed: int = 0):
        self.rtol, self.atol, self.seed = rtol, atol, seed
        self.feeds: dict = {}
        self._state = None  # (all values, output keys) of the graph as the last pass left it
        self.skipped: str = ""

    def start(self, graph: Graph) -> None:
        self.feeds = random_feeds(graph, self.seed)
        self._state = self._evaluate(graph)

    def _evaluate(self, graph: Graph):
        random_ops = {n.op for n in topological_nodes(graph) if n.op != "Input" and not is_deterministic(n.op)}
        if random_ops - {"Dropout"}:
            self.skipped = f"graph has nondeterministic ops {sorted(random_ops)}"
            return None
        if random_ops:  # Dropout: one fixed seed for every draw, so before and after draw alike
            graph = graph.copy()
            for n in graph.nx._node.values():
                if n["node"].op == "Dropout" and n["node"].attrs.get("seed") is None:
                    n["node"].attrs["seed"] = 0
        try:
            values = _all_values(graph, self.feeds)
        except Exception as e:  # an op without a reference, or a value the interpreter cannot make
            self.skipped = f"interpreter failed: {type(e).__name__}: {e}"
            return None
        return values, [(v.node.id, v.index) for v in graph.outputs]

    def before(self, p, graph: Graph) -> None:
        if self._state is None:
            self._state = self._evaluate(graph)

    def after(self, p, graph: Graph, record: PassRecord) -> None:
        if not record.modified:
            return
        old, new = self._state, self._evaluate(graph)
        self._state = new
        if old is None or new is None:
            return
        (before, old_keys), (after, new_keys) = old, new
        bad = [name for name, ko, kn in zip(graph.output_names, old_keys, new_keys)
               if not _close(before[ko], after[kn], self.rtol, self.atol)]
        if bad:
            raise NumericsError(self._explain(record, graph, before, after, bad))

    def _explain(self, record, graph, before, after, bad) -> str:
        from graphc.ir import format_node

        first = None
        for node in topological_nodes(graph):
            for v in node.outputs:
                key = (node.id, v.index)
                if key in before and not _close(before[key], after[key], self.rtol, self.atol):
                    first = (node, v)
                    break
            if first:
                break
        msg = f"pass {record.qualified_name} changed the graph's numbers: outputs {bad} differ"
        if first is not None:
            node, v = first
            a, b = np.asarray(before[(node.id, v.index)]), np.asarray(after[(node.id, v.index)])
            msg += (f"; first differing node: {format_node(node)}"
                    f" (before {_summary(a)}, after {_summary(b)})")
            fresh = [u.node for u in node.inputs if u is not None and (u.node.id, u.index) not in before]
            if fresh:
                msg += "; it reads nodes the pass made: " + "; ".join(format_node(n) for n in fresh)
        return msg


def _summary(a: np.ndarray) -> str:
    flat = a.reshape(-1)
    head = ", ".join(f"{x:.4g}" if a.dtype.kind == "f" else str(x) for x in flat[:3])
    return f"{a.dtype.name}{list(a.shape)} [{head}{', ...' if flat.size > 3 else ''}]"


class OpCountDiff(Instrument):
    """Records what each pass changed as an op-count difference."""

    def before(self, p, graph: Graph) -> None:
        self._counts = graph.count_ops()

    def after(self, p, graph: Graph, record: PassRecord) -> None:
        if not record.modified:
            return
        new = graph.count_ops()
        parts = []
        for op in sorted(set(self._counts) | set(new)):
            d = new.get(op, 0) - self._counts.get(op, 0)
            if d:
                parts.append(f"{d:+d} {op}")
        record.changes = " ".join(parts)


def _first_stage_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


class StageDumper(Instrument):
    """Writes ``00_input.*`` and ``NN_<pass>.*`` for every pass that changed the graph."""

    def __init__(self, folder: str):
        self.folder = folder
        self.index = 0
        self.files: list = []
        os.makedirs(folder, exist_ok=True)

    def start(self, graph: Graph) -> None:
        self.dump(graph, "input")

    def after(self, p, graph: Graph, record: PassRecord) -> None:
        if record.modified:
            self.dump(graph, record.qualified_name.replace("/", "."))

    def dump(self, graph: Graph, stage: str) -> None:
        base = os.path.join(self.folder, f"{self.index:02d}_{_first_stage_name(stage)}")
        self.index += 1
        with open(base + ".txt", "w") as f:
            f.write(str(graph) + "\n")
        self.files.append(base + ".txt")
        for name, writer in STAGE_WRITERS.items():
            try:
                written = writer(graph, base)
                if written:
                    self.files.append(written)
            except Exception as e:  # a stage that cannot be written must not hide the others
                with open(f"{base}.{name}.error.txt", "w") as f:
                    f.write(f"{type(e).__name__}: {e}\n")


def default_dump_dir(graph: Graph) -> str:
    """A fresh folder under $GRAPHC_DUMP_DIR (or the system temp folder)."""
    root = os.environ.get("GRAPHC_DUMP_DIR") or tempfile.gettempdir()
    os.makedirs(root, exist_ok=True)
    return tempfile.mkdtemp(prefix=f"graphc-debug-{_first_stage_name(graph.name)}-", dir=root)


def format_table(records: list, title: str = "") -> str:
    """One row per pass run that changed the graph (``group.round/Pass`` inside fixed-point groups,
    rounds counted from 1), then one line summing the runs that changed nothing."""
    rows, idle, idle_time = [], 0, 0.0
    for r in records:
        if not r.modified and r.group:
            idle += 1
            idle_time += r.seconds
            continue
        name = f"{r.group}.{r.round + 1}/{r.name}" if r.group else r.name
        what = ", ".join(f"{k}={v}" for k, v in r.stats.items()
                         if isinstance(v, (int, float)) and not isinstance(v, bool) and v)
        if r.changes:
            what += ("; " if what else "") + r.changes
        rows.append((name, f"{r.nodes_before} -> {r.nodes_after}", f"{r.seconds * 1e3:.2f} ms",
                     what if r.modified else "-"))
    header = ("pass", "nodes", "time", "what changed")
    widths = [max([len(header[i])] + [len(row[i]) for row in rows]) for i in range(3)]

    def fmt(c):
        return f"{c[0]:<{widths[0]}}  {c[1]:>{widths[1]}}  {c[2]:>{widths[2]}}  {c[3]}"

    out = [title] if title else []
    out.append(fmt(header))
    out.append("-" * (sum(widths) + 6 + len(header[3])))
    out += [fmt(row) for row in rows]
    if idle:
        out.append(f"({idle} more pass runs changed nothing, {idle_time * 1e3:.2f} ms)")
    if records:
        total = sum(r.seconds for r in records)
        out.append(f"total: {records[0].nodes_before} -> {records[-1].nodes_after} nodes in {total * 1e3:.2f} ms")
    return "\n".join(out)
