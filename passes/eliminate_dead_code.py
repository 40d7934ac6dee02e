"""EliminateDeadCode: removes nodes whose outputs reach no graph output.

Graph inputs are kept even when unused (they are the graph's signature).
"""
from __future__ import annotations

from graphc.ir import Graph

from .base import Pass, PassResult


class EliminateDeadCode(Pass):
    def run(self, graph: Graph) -> PassResult:
        live = graph.ancestors(graph.outputs)
        dead = [nid for nid in graph.nx.nodes if nid not in live and graph.node(nid).op != "Input"]
        graph.nx.remove_nodes_from(dead)
        return PassResult(graph, bool(dead), {"removed": len(dead)})
