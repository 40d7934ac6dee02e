"""Readable text of a graph: one line per node with outputs, op, inputs, attributes, types, scope."""
from __future__ import annotations

import numpy as np


def format_attr(value) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= 4:
            return f"array({value.tolist()}, {value.dtype.name})"
        return f"array<{value.dtype.name}{list(value.shape)}>"
    if hasattr(value, "path") and hasattr(value, "trainable"):  # a Variable
        return f"@{value.path}"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def format_node(node) -> str:
    outs = ", ".join(f"{v.id}: {v.type}" for v in node.outputs)
    ins = ", ".join("_" if v is None else v.id for v in node.inputs)
    attrs = ", ".join(f"{k}={format_attr(v)}" for k, v in sorted(node.attrs.items()))
    text = f"{outs} = {node.op}({ins})"
    if attrs:
        text += f" {{{attrs}}}"
    if node.scope:
        text += f"  # {node.scope_name}"
    return text


def format_graph(graph) -> str:
    lines = [f"graph {graph.name} {{"]
    lines += ["  " + format_node(n) for n in graph.nodes]
    outs = ", ".join(f"{name}={v.id}" for name, v in zip(graph.output_names, graph.outputs))
    lines.append(f"  return {outs}")
    lines.append("}")
    return "\n".join(lines)
