"""The pass contract and the PassManager.

A pass is ``run(graph) -> PassResult(graph, modified, stats)``. Passes may rewrite the graph they
are given; the PassManager gives them its own copy, so the caller's graph is never mutated.

The PassManager runs plain passes and ``FixedPoint`` groups (itself, one inner pass at a time, so
instruments see every inner pass by name), and calls instruments around each pass: debug mode's
verifier, numerics check, timer and stage dumper are instruments (see ``passes.debug``).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from graphc.ir import Graph, verify

log = logging.getLogger("graphc.passes")


@dataclass
class PassResult:
    graph: Graph
    modified: bool
    stats: dict = field(default_factory=dict)


class Pass:
    """Base class: subclasses implement ``run``. ``name`` defaults to the class name."""

    @property
    def name(self) -> str:
        return type(self).__name__

    def run(self, graph: Graph) -> PassResult:
        raise NotImplementedError(self.name)

    def __call__(self, graph: Graph) -> PassResult:
        return self.run(graph)

    def __repr__(self) -> str:
        return self.name


@dataclass
class PassRecord:
    """What one pass run did. ``group`` names the FixedPoint group it ran in (or "")."""

    name: str
    nodes_before: int
    nodes_after: int
    seconds: float
    modified: bool
    stats: dict
    group: str = ""
    round: int = 0
    changes: str = ""  # op-count difference, filled in by debug instruments

    @property
    def qualified_name(self) -> str:
        return f"{self.group}/{self.name}" if self.group else self.name


class FixedPointError(RuntimeError):
    """A FixedPoint group was still changing the graph when it reached its step bound."""


class FixedPoint(Pass):
    """Runs a group of passes until none changes the graph, at most ``max_steps`` rounds.

    Reaching the bound while still changing raises ``FixedPointError`` when ``strict`` (debug
    mode); otherwise it is logged as a warning and the (valid) graph is returned as it is.
    """

    def __init__(self, passes, max_steps: int = 10, name: str = "FixedPoint", strict: bool = False):
        self.passes = list(passes)
        self.max_steps = max_steps
        self._name = name
        self.strict = strict

    @property
    def name(self) -> str:
        return self._name

    def run(self, graph: Graph) -> PassResult:
        any_change = False
        stats: dict = {}
        for _ in range(self.max_steps):
            changed = False
            for p in self.passes:
                r = p.run(graph)
                graph = r.graph
                if r.modified:
                    changed = True
                    _merge_stats(stats, r.stats, p.name)
            any_change |= changed
            if not changed:
                return PassResult(graph, any_change, stats)
        self.bound_reached(self.strict)
        return PassResult(graph, any_change, stats)

    def bound_reached(self, strict: bool) -> None:
        msg = (f"{self.name}: still changing after {self.max_steps} rounds of "
               f"{', '.join(p.name for p in self.passes)}")
        if strict:
            raise FixedPointError(msg)
        log.warning(msg)


def _merge_stats(into: dict, stats: dict, prefix: str) -> None:
    for k, v in stats.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            key = f"{prefix}.{k}"
            into[key] = into.get(key, 0) + v


class Instrument:
    """Called around every pass the PassManager runs (FixedPoint members included)."""

    def start(self, graph: Graph) -> None:
        pass

    def before(self, p: Pass, graph: Graph) -> None:
        pass

    def after(self, p: Pass, graph: Graph, record: PassRecord) -> None:
        pass

    def finish(self, graph: Graph, records: list) -> None:
        pass


class PassManager:
    """Runs a pipeline of passes on a copy of the graph; ``records`` says what each one did.

    Args:
        passes: passes and FixedPoint groups, run in order.
        verify_each: check IR invariants after every pass (the error names the pass).
        instruments: objects with ``before(pass, graph)`` / ``after(pass, graph, record)`` hooks
            (and optional ``start`` / ``finish``).
        strict: a FixedPoint group that reaches its bound is an error (debug mode) instead of a
            logged warning.
    """

    def __init__(self, passes, verify_each: bool = False, instruments=(), strict: bool = False):
        self.passes = list(passes)
        self.verify_each = verify_each
        self.instruments = list(instruments)
        self.strict = strict
        self.records: list[PassRecord] = []

    def run(self, graph: Graph) -> Graph:
        graph = graph.copy()
        for inst in self.instruments:
            if hasattr(inst, "start"):
                inst.start(graph)
        for p in self.passes:
            graph = self._run(p, graph)
        for inst in self.instruments:
            if hasattr(inst, "finish"):
                inst.finish(graph, self.records)
        return graph

    def _run(self, p: Pass, graph: Graph) -> Graph:
        if not isinstance(p, FixedPoint):
            return self._run_one(p, graph, "", 0)[0]
        for step in range(p.max_steps):
            changed = False
            for q in p.passes:
                graph, modified = self._run_one(q, graph, p.name, step)
                changed |= modified
            if not changed:
                return graph
        p.bound_reached(self.strict or p.strict)
        return graph

    def _run_one(self, p: Pass, graph: Graph, group: str, step: int):
        before = len(graph)
        for inst in self.instruments:
            inst.before(p, graph)
        t0 = time.perf_counter()
        result = p.run(graph)
        dt = time.perf_counter() - t0
        graph = result.graph
        if self.verify_each:
            verify(graph, where=f"{group}/{p.name}" if group else p.name)
        rec = PassRecord(p.name, before, len(graph), dt, result.modified, dict(result.stats), group, step)
        self.records.append(rec)
        for inst in self.instruments:
            inst.after(p, graph, rec)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: %d -> %d nodes in %.2f ms %s", rec.qualified_name, before, len(graph), dt * 1e3,
                      result.stats)
            for node_id, reason in sorted(getattr(p, "near_misses", {}).items())[:20]:
                log.debug("  %s did not fire at %%%d: %s", p.name, node_id, reason)
        return graph, result.modified
