"""IR invariants, checked after every pass in debug mode."""
from __future__ import annotations

import networkx as nx

from .graph import SOURCE_OPS, Graph


class IRError(AssertionError):
    """An IR invariant does not hold; the message names the node and prints the graph near it."""


def verify(graph: Graph, where: str = "") -> None:
    """Checks: acyclic; edges match node inputs; source ops have no inputs; outputs belong here."""
    prefix = f"after {where}: " if where else ""
    if not nx.is_directed_acyclic_graph(graph.nx):
        raise IRError(f"{prefix}graph {graph.name!r} has a cycle")
    for nid, data in graph.nx.nodes(data=True):
        node = data["node"]
        if node.id != nid:
            raise IRError(f"{prefix}node key {nid} holds {node!r}")
        if node.op in SOURCE_OPS and node.inputs:
            raise IRError(f"{prefix}{node!r} is a {node.op} but has inputs")
        expected = {(v.node.id, port, v.index) for port, v in enumerate(node.inputs) if v is not None}
        actual = {(u, k, d["src"]) for u, _, k, d in graph.nx.in_edges(nid, keys=True, data=True)}
        if expected != actual:
            raise IRError(f"{prefix}edges into {node!r} {sorted(actual)} do not match its inputs {sorted(expected)}")
        for v in node.inputs:
            if v is not None and graph.nx.nodes[v.node.id]["node"] is not v.node:
                raise IRError(f"{prefix}{node!r} reads a value of a node outside the graph")
        for i, v in enumerate(node.outputs):
            if v.node is not node or v.index != i:
                raise IRError(f"{prefix}{node!r} output {i} is misattributed")
    for v in graph.outputs:
        if v.node.id not in graph.nx or graph.node(v.node.id) is not v.node:
            raise IRError(f"{prefix}graph output {v!r} is not produced in the graph")
    if len(graph.outputs) != len(graph.output_names):
        raise IRError(f"{prefix}{len(graph.outputs)} outputs but {len(graph.output_names)} output names")
