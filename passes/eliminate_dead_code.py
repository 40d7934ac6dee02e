"""EliminateDeadCode: removes nodes whose outputs reach no graph output.

Graph inputs are kept even when unused (they are the graph's signature).
"""
from __future__ import annotations

from graphc.ir import Graph

from .base import Pass, PassResult


class EliminateDeadCode(Pass):
    def run(self, graph: Graph) -> PassResult:
        live = graph.ancestors(graph.outputs)
        dead = [n for n in graph.nodes if n.id not in live and n.op != "Input"]
        for n in reversed(dead):
            graph.nx.remove_node(n.id)
        return PassResult(graph, bool(dead), {"removed": len(dead)})
