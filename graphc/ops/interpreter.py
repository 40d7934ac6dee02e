"""The NumPy interpreter: runs an IR graph with every op's ``ref`` (debug mode, folding, tests)."""
from __future__ import annotations

import numpy as np

from graphc.ir import Graph, param_value

from .base import get_op


def evaluate(graph: Graph, feeds: dict, params: dict | None = None, values: list | None = None) -> list:
    """Runs ``graph`` on ``feeds`` (input name -> array).

    Args:
        graph: the graph to run.
        feeds: one array per graph input, by input name.
        params: optional overrides for parameter values, by variable path.
        values: the Values to return; the graph outputs by default.

    Returns:
        One array per requested value.
    """
    env: dict = {}
    params = params or {}
    for node in graph.nodes:
        if node.op == "Input":
            name = node.attrs["name"]
            if name not in feeds:
                raise KeyError(f"no value fed for graph input {name!r}")
            out = [np.asarray(feeds[name])]
        elif node.op == "Param":
            out = [param_value(node, params.get(node.attrs["variable"].path))]
        elif node.op == "Constant":
            out = [node.attrs["value"]]
        else:
            args = [None if v is None else env[v] for v in node.inputs]
            while args and args[-1] is None:  # omitted trailing optional inputs take ref's defaults
                args.pop()
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                out = get_op(node.op).ref_node(args, node.attrs)
        for v, a in zip(node.outputs, out):
            env[v] = a
    wanted = graph.outputs if values is None else values
    return [env[v] for v in wanted]
