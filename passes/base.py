"""The pass contract and the PassManager.

A pass is ``run(graph) -> PassResult(graph, modified, stats)``. Passes may rewrite the graph they
are given; the PassManager gives them its own copy, so the caller's graph is never mutated.
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


@dataclass
class PassRecord:
    name: str
    nodes_before: int
    nodes_after: int
    seconds: float
    modified: bool
    stats: dict


class FixedPoint(Pass):
    """Runs a group of passes until none changes the graph, at most ``max_steps`` rounds."""

    def __init__(self, passes, max_steps: int = 10, name: str = "FixedPoint"):
        self.passes = list(passes)
        self.max_steps = max_steps
        self._name = name

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
                    for k, v in r.stats.items():
                        stats[f"{p.name}.{k}"] = stats.get(f"{p.name}.{k}", 0) + (v if isinstance(v, int) else 0)
            any_change |= changed
            if not changed:
                return PassResult(graph, any_change, stats)
        raise RuntimeError(f"{self.name}: still changing after {self.max_steps} rounds")


class PassManager:
    """Runs a pipeline of passes on a copy of the graph; ``records`` says what each one did."""

    def __init__(self, passes, verify_each: bool = False, instruments=()):
        self.passes = list(passes)
        self.verify_each = verify_each
        self.instruments = list(instruments)
        self.records: list[PassRecord] = []

    def run(self, graph: Graph) -> Graph:
        graph = graph.copy()
        for p in self.passes:
            before = len(graph)
            for inst in self.instruments:
                inst.before(p, graph)
            t0 = time.perf_counter()
            result = p.run(graph)
            dt = time.perf_counter() - t0
            prev, graph = graph, result.graph
            if self.verify_each:
                verify(graph, where=p.name)
            rec = PassRecord(p.name, before, len(graph), dt, result.modified, result.stats)
            self.records.append(rec)
            for inst in self.instruments:
                inst.after(p, graph, rec)
            log.debug("%s: %d -> %d nodes in %.2f ms %s", p.name, before, len(graph), dt * 1e3, result.stats)
            del prev
        return graph
