"""The IR: a DAG of op applications stored in one ``networkx.MultiDiGraph``.

Nodes are op applications (graph inputs, parameters and constants included); an edge
``producer -> consumer`` carries ``src`` (the producer's output index) and has the consumer's input
index as its key, so several edges may join two nodes (``x * x``) and ports stay ordered.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import networkx as nx

from .types import TensorType

#: Ops that start the graph: they have no inputs and are not lowered to ONNX nodes.
SOURCE_OPS = ("Input", "Param", "Constant")


class Value:
    """One output of a node. Identity is the (node, index) pair; ``type`` is its TensorType."""

    __slots__ = ("node", "index", "type", "name")

    def __init__(self, node: "Node", index: int, type: TensorType, name: str | None = None):
        self.node = node
        self.index = index
        self.type = type
        self.name = name

    @property
    def shape(self) -> tuple:
        return self.type.shape

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def id(self) -> str:
        """A stable textual id: ``%<node id>`` or ``%<node id>.<index>``."""
        return f"%{self.node.id}" if self.index == 0 else f"%{self.node.id}.{self.index}"

    def __repr__(self) -> str:
        return f"Value({self.id}: {self.type})"


@dataclass(eq=False)
class Node:
    """An op application. ``scope`` is the path of model and layer calls that created it."""

    id: int
    op: str
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    attrs: dict = field(default_factory=dict)
    scope: tuple = ()

    @property
    def output(self) -> Value:
        return self.outputs[0]

    @property
    def scope_name(self) -> str:
        return "/".join(self.scope)

    def __repr__(self) -> str:
        return f"Node({self.id}, {self.op}, scope={self.scope_name!r})"


class Graph:
    """A program: nodes in a networkx MultiDiGraph, plus ordered graph inputs and outputs."""

    def __init__(self, name: str = "graph"):
        self.name = name
        self.nx = nx.MultiDiGraph()
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self.output_names: list[str] = []
        self._next_id = 0

    # -- construction -----------------------------------------------------------------------
    def add_node(
        self,
        op: str,
        inputs: Sequence[Value | None],
        output_types: Sequence[TensorType],
        attrs: dict | None = None,
        scope: tuple = (),
    ) -> Node:
        node = Node(self._next_id, op, list(inputs), [], dict(attrs or {}), tuple(scope))
        self._next_id += 1
        node.outputs = [Value(node, i, t) for i, t in enumerate(output_types)]
        self.nx.add_node(node.id, node=node)
        for port, v in enumerate(node.inputs):
            if v is not None:
                self._check_owned(v)
                self.nx.add_edge(v.node.id, node.id, key=port, src=v.index)
        if op == "Input":
            self.inputs.append(node.outputs[0])
            node.outputs[0].name = attrs["name"]
        return node

    def _check_owned(self, v: Value) -> None:
        if self.nx.nodes.get(v.node.id, {}).get("node") is not v.node:
            raise ValueError(f"{v!r} does not belong to graph {self.name!r}")

    def set_outputs(self, values: Iterable[Value], names: Iterable[str]) -> None:
        self.outputs = list(values)
        self.output_names = list(names)
        for v in self.outputs:
            self._check_owned(v)

    def set_input(self, node: Node, port: int, value: Value | None) -> None:
        old = node.inputs[port]
        if old is not None and self.nx.has_edge(old.node.id, node.id, key=port):
            self.nx.remove_edge(old.node.id, node.id, key=port)
        node.inputs[port] = value
        if value is not None:
            self._check_owned(value)
            self.nx.add_edge(value.node.id, node.id, key=port, src=value.index)

    def replace_all_uses(self, old: Value, new: Value) -> None:
        """Makes every consumer of ``old`` (graph outputs included) read ``new`` instead."""
        for consumer, port in self.uses(old):
            self.set_input(consumer, port, new)
        self.outputs = [new if v is old else v for v in self.outputs]

    def remove_node(self, node: Node) -> None:
        if any(self.uses(v) for v in node.outputs) or any(v in self.outputs for v in node.outputs):
            raise ValueError(f"cannot remove {node!r}: its outputs are still used")
        self.nx.remove_node(node.id)
        if node.op == "Input":
            self.inputs = [v for v in self.inputs if v.node is not node]

    # -- queries ------------------------------------------------------------------------------
    def node(self, node_id: int) -> Node:
        return self.nx.nodes[node_id]["node"]

    @property
    def nodes(self) -> list[Node]:
        """All nodes in a stable topological order (ties broken by node id)."""
        return [self.node(i) for i in nx.lexicographical_topological_sort(self.nx)]

    def __len__(self) -> int:
        return self.nx.number_of_nodes()

    def uses(self, value: Value) -> list[tuple[Node, int]]:
        """Consumers of ``value`` as (node, input port) pairs, ordered by node id then port."""
        out = []
        for _, dst, port, data in self.nx.out_edges(value.node.id, keys=True, data=True):
            if data["src"] == value.index:
                out.append((self.node(dst), port))
        return sorted(out, key=lambda t: (t[0].id, t[1]))

    def producers(self, node: Node) -> list[Node]:
        return [v.node for v in node.inputs if v is not None]

    def params(self) -> list[Node]:
        return [n for n in self.nodes if n.op == "Param"]

    def count_ops(self) -> dict:
        counts: dict = {}
        for n in self.nodes:
            if n.op not in SOURCE_OPS:
                counts[n.op] = counts.get(n.op, 0) + 1
        return counts

    def ancestors(self, values: Iterable[Value]) -> set[int]:
        """Ids of the nodes producing ``values`` and of everything they depend on (one walk for all)."""
        ids: set[int] = {v.node.id for v in values}
        stack = list(ids)
        pred = self.nx.pred
        while stack:
            for p in pred[stack.pop()]:
                if p not in ids:
                    ids.add(p)
                    stack.append(p)
        return ids

    # -- copying ------------------------------------------------------------------------------
    def copy(self) -> "Graph":
        """A structural copy: new Node and Value objects; attrs dicts copied, their values shared."""
        g = Graph(self.name)
        g._next_id = self._next_id
        vmap: dict[Value, Value] = {}
        for n in self.nodes:
            m = Node(n.id, n.op, [vmap[v] if v is not None else None for v in n.inputs], [], dict(n.attrs), n.scope)
            m.outputs = [Value(m, v.index, v.type, v.name) for v in n.outputs]
            for a, b in zip(n.outputs, m.outputs):
                vmap[a] = b
            g.nx.add_node(m.id, node=m)
            for port, v in enumerate(m.inputs):
                if v is not None:
                    g.nx.add_edge(v.node.id, m.id, key=port, src=v.index)
        g.inputs = [vmap[v] for v in self.inputs]
        g.outputs = [vmap[v] for v in self.outputs]
        g.output_names = list(self.output_names)
        return g

    def __str__(self) -> str:
        from .printer import format_graph

        return format_graph(self)
