"""``model.summary()``: the Keras 3 table of layers, output shapes and parameter counts.

The table is drawn the way Keras 3 draws it through rich (a ``HEAVY_HEAD`` box with a line between
rows), without depending on rich: column widths follow rich's rules for a fixed-width table, and a
cell too narrow for its text wraps at spaces; a single word longer than its cell is cut with ``…``
(rich's default ``overflow="ellipsis"``).

Shapes come from the IR, never from hand computation: a layer of a Functional (or built Sequential)
model shows the KerasTensors of its calls in that model; a layer that only ran inside a trace (a
subclassed model, an eager call) shows ``layer._last_output_shapes``; otherwise ``?``.
"""
from __future__ import annotations

import re
import shutil
import sys
from typing import Callable

import numpy as np


#: Bits per element, as Keras counts weight memory (bool counts as one bit).
_DTYPE_BITS = {"float16": 16, "float32": 32, "float64": 64, "int8": 8, "uint8": 8, "int32": 32,
               "int64": 64, "bool": 1}

_WORD = re.compile(r"\s*\S+\s*")


# -- model structure ----------------------------------------------------------------------------------
def graph_nodes(model) -> list | None:
    """The call nodes of a Functional model (InputLayer nodes first), or None for other models."""
    functional = getattr(model, "_functional", None) or model
    if not getattr(functional, "_is_graph_network", lambda: False)() or not hasattr(functional, "_nodes"):
        return None
    nodes = []
    for t in functional._flat_inputs:
        layer, index, _ = t._keras_history
        nodes.append(layer._inbound_nodes[index])
    return nodes + [n for n in functional._nodes if all(n is not m for m in nodes)]


def _functional_of(model):
    return getattr(model, "_functional", None) or model


def depth_map(model) -> tuple[list, dict, dict]:
    """Keras' ``map_graph`` over the call nodes: layers ordered by depth from the outputs (deepest
    first, ties in the order a depth-first walk from the outputs meets them), node depths, layer depths."""
    functional = _functional_of(model)
    input_ids = {id(t) for t in functional._flat_inputs}
    finished, in_progress, post_order, first_seen = set(), set(), [], {}

    def walk(tensor):
        layer, node_index, _ = tensor._keras_history
        node = layer._inbound_nodes[node_index]
        if id(node) in finished or id(node) in in_progress:
            return
        first_seen.setdefault(id(layer), (len(first_seen), layer))
        in_progress.add(id(node))
        if id(tensor) not in input_ids:
            for t in node.input_tensors:
                walk(t)
        finished.add(id(node))
        in_progress.discard(id(node))
        post_order.append(node)

    for t in functional._flat_outputs:
        walk(t)
    node_depth, layer_depth = {}, {}
    for node in reversed(post_order):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        node_depth[id(node)] = depth
        if id(node.output_tensors[0]) in input_ids or not node.input_tensors:
            continue
        for parent in node.parent_nodes:
            node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    for t in functional._flat_inputs:  # an input that no output needs still gets a row
        layer = t._keras_history[0]
        if id(layer) not in layer_depth:
            layer_depth[id(layer)] = 0
            first_seen[id(layer)] = (-1, layer)
    layers = sorted((layer for _, layer in first_seen.values()),
                    key=lambda layer: (-layer_depth[id(layer)], first_seen[id(layer)][0]))
    nodes_by_depth: dict = {}
    for node in post_order:
        nodes_by_depth.setdefault(node_depth[id(node)], []).append(node)
    return layers, nodes_by_depth, layer_depth


def summary_layers(model) -> list:
    """The rows of the summary: a Functional model's layers in Keras' depth order, otherwise ``layers``."""
    from graphc.models.sequential import Sequential

    if isinstance(model, Sequential) or graph_nodes(model) is None:
        return list(model.layers)
    return depth_map(model)[0]


def is_sequential_like(model) -> bool:
    """Keras' test: one call node per depth, each with at most one input, and no shared layer."""
    from graphc.models.sequential import Sequential

    if isinstance(model, Sequential) or graph_nodes(model) is None:
        return True
    _, nodes_by_depth, _ = depth_map(model)
    for group in nodes_by_depth.values():
        if len(group) > 1 or len(group[0].input_tensors) > 1:
            return False
    layers = [n.layer for group in nodes_by_depth.values() for n in group]
    return all(sum(layer is other for other in layers) == 1 for layer in layers)


def _format_shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _is_shape(x) -> bool:
    return isinstance(x, tuple) and all(d is None or isinstance(d, (int, np.integer)) for d in x)


def _flat_shapes(structure) -> list:
    """The shapes of a (nested) output structure, flattened in order."""
    if _is_shape(structure):
        return [structure]
    if isinstance(structure, dict):
        structure = list(structure.values())
    if isinstance(structure, (list, tuple)):
        return [s for item in structure for s in _flat_shapes(item)]
    return []


def _format_shapes(shapes: list) -> str:
    """One shape as ``(None, 64)``; several as Keras prints them: ``[(None, 1), (None, 4)]``."""
    if not shapes:
        return "?"
    if len(shapes) == 1:
        return _format_shape(shapes[0])
    return "[" + ", ".join(_format_shape(s) for s in shapes) + "]"


def output_shape_text(layer, nodes: list | None) -> str:
    """The layer's output shape(s) read from its last call in ``nodes``, else from its last trace."""
    mine = [n for n in (nodes or []) if n.layer is layer]
    if mine:
        return _format_shapes([t.shape for t in mine[-1].output_tensors])
    if layer._last_output_shapes is not None:
        return _format_shapes(_flat_shapes(layer._last_output_shapes))
    return "?"


def params_text(layer) -> str:
    if not layer.built:
        return "0 (unbuilt)"
    return f"{layer.count_params():,}"


def connections_text(layer, nodes: list) -> str:
    """``name[node_index][tensor_index]`` for every input of the layer's calls in ``nodes``."""
    parts = []
    for node in nodes:
        if node.layer is not layer:
            continue
        for t in node.input_tensors:
            inbound, node_index, tensor_index = t._keras_history
            parts.append(f"{inbound.name}[{node_index}][{tensor_index}]")
    return ", ".join(parts) or "-"


def weight_memory_size(weights) -> float:
    """Bytes taken by the distinct ``weights``."""
    seen, bits = set(), 0
    for w in weights:
        if id(w) in seen:
            continue
        seen.add(id(w))
        bits += int(np.prod(w.shape)) * _DTYPE_BITS.get(str(w.dtype), 32)
    return bits / 8


def readable_memory_size(size: float) -> str:
    """``215.04 KB``: 1024-based units with two decimals, as Keras prints them."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def count_params(weights) -> int:
    seen, n = set(), 0
    for w in weights:
        if id(w) not in seen:
            seen.add(id(w))
            n += int(np.prod(w.shape))
    return n


# -- table drawing (rich's layout rules for a fixed-width table) -------------------------------------
def _ratio_reduce(total: int, maximums: list[int], values: list[int]) -> list[int]:
    """Takes ``total`` cells away from ``values`` evenly (rich's ratio_reduce with equal ratios)."""
    ratios = [1 if m else 0 for m in maximums]
    total_ratio, remaining, out = sum(ratios), total, []
    for ratio, maximum, value in zip(ratios, maximums, values):
        if ratio and total_ratio > 0:
            distributed = min(maximum, round(ratio * remaining / total_ratio))
            out.append(value - distributed)
            remaining -= distributed
            total_ratio -= ratio
        else:
            out.append(value)
    return out


def _ratio_distribute(total: int, ratios: list[int]) -> list[int]:
    total_ratio, remaining, out = sum(ratios), total, []
    for ratio in ratios:
        share = -(-ratio * remaining // total_ratio) if total_ratio > 0 else remaining
        out.append(share)
        total_ratio -= ratio
        remaining -= share
    return out


def column_widths(line_length: int, positions: list[float]) -> list[int]:
    """Cell widths (text plus one space each side) of a table ``line_length`` characters wide."""
    requested, current = [], 0
    for pos in positions:
        end = int(pos * line_length) if pos <= 1 else int(pos)
        requested.append(max(end - current, 1))
        current += requested[-1]
    available = line_length - (len(positions) + 1)  # borders
    widths = [min(w + 2, available) for w in requested]
    if sum(widths) > available:
        widths = _ratio_reduce(sum(widths) - available, widths, widths)
    if sum(widths) < available:
        widths = [w + pad for w, pad in zip(widths, _ratio_distribute(available - sum(widths), widths))]
    return [max(w, 3) for w in widths]


def _wrap(text: str, width: int) -> list[str]:
    """Breaks ``text`` at spaces so lines fit ``width``; a word that cannot fit stays whole."""
    lines = []
    for para in text.split("\n"):
        breaks, offset = [], 0
        for m in _WORD.finditer(para):
            word = m.group(0)
            length = len(word.rstrip())
            if width - offset >= length:
                offset += len(word)
            elif length > width or offset:  # rich breaks only where a line already holds text
                if m.start():
                    breaks.append(m.start())
                offset = len(word)
        bounds = [0, *breaks, len(para)]
        for a, b in zip(bounds, bounds[1:]):
            line = para[a:b]
            if len(line) > width:  # trailing spaces past the edge go first
                excess = len(line) - width
                trailing = len(line) - len(line.rstrip())
                line = line[:len(line) - min(trailing, excess)]
            lines.append(line)
    return lines or [""]


def _fit(line: str, width: int, justify: str) -> str:
    if justify != "left":
        line = line.rstrip()
    if len(line) > width:
        line = line[:width - 1] + "…"
    if justify == "right":
        return line.rjust(width)
    if justify == "center":
        left = (width - len(line)) // 2
        return (" " * left + line).ljust(width)
    return line.ljust(width)


def render_table(header: list[str], rows: list[list[str]], widths: list[int], justify: list[str]) -> list[str]:
    """The lines of a rich ``HEAVY_HEAD`` table with ``show_lines=True``."""

    def render_row(cells, left, sep, right, bottom=False):
        wrapped = [_wrap(c, w - 2) for c, w in zip(cells, widths)]
        height = max(len(w) for w in wrapped)
        if bottom:  # header cells sit on the rule below them
            wrapped = [[""] * (height - len(w)) + w for w in wrapped]
        out = []
        for i in range(height):
            parts = [" " + _fit(lines[i] if i < len(lines) else "", w - 2, j) + " "
                     for lines, w, j in zip(wrapped, widths, justify)]
            out.append(left + sep.join(parts) + right)
        return out

    def rule(left, fill, sep, right):
        return left + sep.join(fill * w for w in widths) + right

    lines = [rule("┏", "━", "┳", "┓"), *render_row(header, "┃", "┃", "┃", bottom=True), rule("┡", "━", "╇", "┩")]
    for i, row in enumerate(rows):
        if i:
            lines.append(rule("├", "─", "┼", "┤"))
        lines += render_row(row, "│", "│", "│")
    lines.append(rule("└", "─", "┴", "┘"))
    return lines


# -- the summary ----------------------------------------------------------------------------------
def _layer_range_bounds(layers: list, layer_range) -> tuple[int, int]:
    if layer_range is None:
        return 0, len(layers)
    if len(layer_range) != 2 or not all(isinstance(p, str) for p in layer_range):
        raise ValueError(f"layer_range: expected a list of two layer-name patterns, received {layer_range!r}")
    lower = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    upper = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not lower or not upper:
        names = [layer.name for layer in layers]
        raise ValueError(f"layer_range: {layer_range} matches no layer among {names}")
    if min(lower) > max(upper):
        return min(upper), max(lower) + 1
    return min(lower), max(upper) + 1


def _optimizer_variables(model) -> list | None:
    """The optimizer's state once it exists (after the first training step), as Keras counts it."""
    optimizer = getattr(model, "optimizer", None)
    if not getattr(model, "compiled", False) or optimizer is None or isinstance(optimizer, str):
        return None
    built = getattr(optimizer, "built", None)
    if built is None:  # graphc optimizers: state exists once a step has run
        try:
            built = int(getattr(optimizer, "iterations", 0)) > 0
        except (TypeError, ValueError):
            built = False
    if not built:
        return None
    return [np.asarray(v) if not hasattr(v, "shape") else v for v in getattr(optimizer, "variables", [])]


def summary_text(model, line_length=None, positions=None, expand_nested=False, show_trainable=False,
                 layer_range=None, clamp_to_terminal=False) -> str:
    """The whole summary (title, table, footer) as text ending in a newline."""
    sequential_like = is_sequential_like(model)
    nodes = graph_nodes(model)
    if sequential_like:
        default_length, default_positions = 88, [0.45, 0.80, 1.0]
        header, justify = ["Layer (type)", "Output Shape", "Param #"], ["left", "left", "right"]
    else:
        default_length, default_positions = 108, [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        justify = ["left", "left", "right", "left"]
    positions = list(positions or default_positions)
    if show_trainable:
        default_length += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header.append("Trainable")
        justify.append("center")
    if len(positions) != len(header):
        raise ValueError(f"positions: expected {len(header)} column positions, received {len(positions)}")
    if clamp_to_terminal:
        default_length = min(default_length, shutil.get_terminal_size().columns - 4)
    line_length = line_length or default_length

    def fields(layer, prefix: str, context_nodes) -> list[str]:
        row = [f"{prefix}{layer.name} ({type(layer).__name__})", output_shape_text(layer, context_nodes),
               params_text(layer)]
        if not sequential_like:
            row.append(connections_text(layer, context_nodes) if context_nodes is not None else "-")
        if show_trainable:
            row.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        return row

    def layer_rows(layer, level: int, context_nodes) -> list[list[str]]:
        prefix = "   " * level + "└ " if level else ""
        rows = [fields(layer, prefix, context_nodes)]
        if expand_nested and getattr(layer, "layers", None) and hasattr(layer, "_trace_graph"):
            inner_nodes = graph_nodes(layer)
            for sub in summary_layers(layer):
                rows += layer_rows(sub, level + 1, inner_nodes)
        return rows

    layers = summary_layers(model)
    start, stop = _layer_range_bounds(layers, layer_range)
    rows = []
    for layer in layers[start:stop]:
        rows += layer_rows(layer, 0, nodes)

    trainable = model.trainable_weights
    non_trainable = model.non_trainable_weights
    counts = [("Total", None), ("Trainable", trainable), ("Non-trainable", non_trainable)]
    total_weights = list(trainable) + list(non_trainable)
    optimizer_vars = _optimizer_variables(model)
    if optimizer_vars is not None:
        total_weights += optimizer_vars
    counts[0] = ("Total", total_weights)
    if optimizer_vars is not None:
        counts.append(("Optimizer", optimizer_vars))

    widths = column_widths(line_length, positions)
    lines = [f'Model: "{model.name}"', *render_table(header, rows, widths, justify)]
    for label, weights in counts:
        lines.append(f" {label} params: {count_params(weights):,} ({readable_memory_size(weight_memory_size(weights))})")
    return "\n".join(lines) + "\n"


def print_summary(model, line_length: int | None = None, positions: list | None = None,
                  print_fn: Callable | None = None, expand_nested: bool = False, show_trainable: bool = False,
                  layer_range: list | None = None) -> None:
    """Prints the Keras 3 summary table of ``model``.

    Args:
        model: a Functional, Sequential or subclassed model.
        line_length: total width of the table (88 for sequential-like models, 108 otherwise, plus 12
            with ``show_trainable``). Only when printing to a terminal is the default narrowed to fit.
        positions: right edge of each column as a fraction of ``line_length``.
        print_fn: called once with the whole summary text (ending in a newline) instead of printing.
        expand_nested: also list the layers inside nested models, indented with ``└``.
        show_trainable: add a "Trainable" column (Y, N, or - for layers without weights).
        layer_range: two layer-name patterns (regular expressions) bounding the rows shown.
    """
    clamp = print_fn is None and sys.stdout.isatty()
    text = summary_text(model, line_length=line_length, positions=positions, expand_nested=expand_nested,
                        show_trainable=show_trainable, layer_range=layer_range, clamp_to_terminal=clamp)
    if print_fn is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        print_fn(text)
