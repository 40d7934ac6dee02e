"""plot_model and model_to_dot: a picture of a model, with or without Graphviz.

The picture is read from what graphc recorded, never recomputed: a Functional (or built Sequential)
model is drawn from its call nodes, one box per layer, an arrow per tensor; a subclassed model from
its traced IR, grouping ops by the layer scope that emitted them; ``level="ops"`` draws the IR
itself, one box per op. With the Graphviz ``dot`` program on PATH the DOT text goes through it;
without it, graphc lays the graph out itself (``graph_layout``) and writes SVG directly, PNG with
Pillow when installed or its own PNG writer otherwise, and PDF with Pillow or its own minimal writer.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import warnings
import zlib

from .render import PlotGraph, PlotNode, layout_graph, to_pixels, to_svg
from .render_png import encode_png

FORMATS = ("dot", "svg", "png", "pdf")


# -- labels ---------------------------------------------------------------------------------------------
def _shape_text(shapes: list) -> str:
    def one(s):
        return "(" + ", ".join("None" if d is None else str(d) for d in s) + ")"

    if not shapes:
        return "?"
    return one(shapes[0]) if len(shapes) == 1 else "[" + ", ".join(one(s) for s in shapes) + "]"


def _dtype_text(dtypes: list) -> str:
    if not dtypes:
        return "?"
    return dtypes[0] if len(set(dtypes)) == 1 else "[" + ", ".join(dtypes) + "]"


def _merge(texts: list) -> str:
    """One text for the calls of a shared layer: their common value, or "multiple"."""
    texts = [t for t in texts if t is not None]
    if not texts:
        return "?"
    return texts[0] if all(t == texts[0] for t in texts) else "multiple"


class _Options:
    def __init__(self, show_shapes, show_dtype, show_layer_names, expand_nested, show_layer_activations,
                 show_trainable):
        self.show_shapes = show_shapes
        self.show_dtype = show_dtype
        self.show_layer_names = show_layer_names
        self.expand_nested = expand_nested
        self.show_layer_activations = show_layer_activations
        self.show_trainable = show_trainable


def _layer_lines(layer, calls: list, opts: _Options, traced=None) -> list[str]:
    """Title and details of one layer box. ``calls``: its CallNodes in the model drawn; ``traced``:
    (input types, output types) from the IR when the layer ran only inside a trace."""
    from graphc.layers.input_layer import InputLayer

    kind = type(layer).__name__
    lines = [f"{layer.name} ({kind})" if opts.show_layer_names else kind]
    if opts.show_layer_activations and getattr(layer, "activation", None) is not None:
        from graphc import activations

        try:
            lines.append(f"Activation: {activations.serialize(layer.activation)}")
        except Exception:  # a custom callable without a registered name
            lines.append(f"Activation: {getattr(layer.activation, '__name__', 'custom')}")
    is_input = isinstance(layer, InputLayer)
    if calls:
        ins = [[t.type for t in c.input_tensors] for c in calls]
        outs = [[t.type for t in c.output_tensors] for c in calls]
    elif traced is not None:
        ins, outs = [traced[0]], [traced[1]]
    else:
        ins = outs = []
    if opts.show_shapes:
        if not is_input:
            lines.append("Input shape: " + _merge([_shape_text([t.keras_shape() for t in ts]) for ts in ins]))
        lines.append("Output shape: " + _merge([_shape_text([t.keras_shape() for t in ts]) for ts in outs]))
    if opts.show_dtype:
        if not is_input:
            lines.append("Input dtype: " + _merge([_dtype_text([t.dtype for t in ts]) for ts in ins]))
        lines.append("Output dtype: " + _merge([_dtype_text([t.dtype for t in ts]) for ts in outs]))
    if opts.show_trainable:
        lines.append(f"Trainable: {bool(layer.trainable)}")
    return lines


def _kind_of(layer) -> str:
    from graphc.layers.input_layer import InputLayer
    from graphc.models.model import Model

    if isinstance(layer, InputLayer):
        return "input"
    return "model" if isinstance(layer, Model) else "layer"


# -- building the plot graph --------------------------------------------------------------------------
class _GraphBuilder:
    def __init__(self, name: str, opts: _Options):
        self.graph = PlotGraph(name)
        self.opts = opts

    def new_node(self, lines, kind, cluster) -> str:
        node_id = f"n{len(self.graph.nodes)}"
        self.graph.nodes.append(PlotNode(node_id, lines, kind, cluster))
        return node_id

    def new_cluster(self, label, parent) -> str:
        cid = f"c{len(self.graph.clusters)}"
        self.graph.clusters[cid] = (label, parent)
        return cid

    def add_model(self, model, cluster=None):
        """Adds ``model``'s layers; returns the plot ids its inputs enter and its outputs leave from."""
        from graphc.summary import graph_nodes

        nodes = graph_nodes(model)
        if nodes is not None:
            return self._add_functional(model, nodes, cluster)
        if getattr(model, "_stack", None) is not None and getattr(model, "_functional", None) is None:
            return self._add_unbuilt_sequential(model, cluster)
        return self._add_traced(model, cluster)

    def _expandable(self, layer) -> bool:
        from graphc.models.model import Model

        return self.opts.expand_nested and isinstance(layer, Model)

    def _add_functional(self, model, nodes, cluster):
        functional = getattr(model, "_functional", None) or model
        plot_ids, expanded, order = {}, {}, []
        for node in nodes:
            if all(node.layer is not layer for layer in order):
                order.append(node.layer)
        for layer in order:
            calls = [n for n in nodes if n.layer is layer]
            if self._expandable(layer):
                sub = self.new_cluster(f"{layer.name} ({type(layer).__name__})", cluster)
                expanded[id(layer)] = self.add_model(layer, sub)
            else:
                plot_ids[id(layer)] = self.new_node(_layer_lines(layer, calls, self.opts), _kind_of(layer), cluster)

        def source(t):
            layer, _, index = t._keras_history
            if id(layer) in expanded:
                outs = expanded[id(layer)][1]
                return outs[index] if index < len(outs) else None
            return plot_ids.get(id(layer))

        for node in nodes:
            for position, t in enumerate(node.input_tensors):
                src = source(t)
                if id(node.layer) in expanded:
                    ins = expanded[id(node.layer)][0]
                    dst = ins[position] if position < len(ins) else None
                else:
                    dst = plot_ids.get(id(node.layer))
                if src is not None and dst is not None:
                    self.graph.edges.append((src, dst))
        ins = [plot_ids.get(id(t._keras_history[0])) for t in functional._flat_inputs]
        outs = [source(t) for t in functional._flat_outputs]
        return ins, outs

    def _add_unbuilt_sequential(self, model, cluster):
        previous, first = None, None
        for layer in model.layers:
            if self._expandable(layer):
                sub = self.new_cluster(f"{layer.name} ({type(layer).__name__})", cluster)
                ins, outs = self.add_model(layer, sub)
                entry, leave = (ins[0] if ins else None), (outs[0] if outs else None)
            else:
                entry = leave = self.new_node(_layer_lines(layer, [], self.opts), _kind_of(layer), cluster)
            if previous is not None and entry is not None:
                self.graph.edges.append((previous, entry))
            first = first or entry
            previous = leave
        return [first], [previous]

    def _add_traced(self, model, cluster):
        """Subclassed models: the traced IR, its ops grouped by the layer scope that emitted them."""
        if getattr(model, "_input_types", None) is None:
            raise ValueError(f'plot_model: model "{model.name}" has not been built yet, so its layers are not '
                             "connected. Call it on data or call build(input_shape) first.")
        graph = model._trace_graph(False)
        by_name = {layer.name: layer for layer in model.layers}
        group_of, group_ids, groups = {}, {}, []
        for n in graph.nodes:
            if n.op in ("Param", "Constant"):
                continue
            if n.op == "Input":
                key = ("input", n.attrs.get("name", n.outputs[0].name))
            else:
                inner = n.scope[1:] if n.scope and n.scope[0] == model.name else n.scope
                key = ("layer", inner[0].split(":")[0]) if inner else ("call", model.name)
            group_of[n.id] = key
            if key not in groups:
                groups.append(key)
        ins_of = {k: [] for k in groups}
        outs_of = {k: [] for k in groups}
        edges = []
        graph_outputs = {id(v) for v in graph.outputs}
        for n in graph.nodes:
            if n.id not in group_of:
                continue
            for v in n.inputs:
                if v is None or v.node.id not in group_of:
                    continue
                a, b = group_of[v.node.id], group_of[n.id]
                if a != b:
                    edges.append((a, b))
                    if all(v is not w for w in ins_of[b]):
                        ins_of[b].append(v)
                    if all(v is not w for w in outs_of[a]):
                        outs_of[a].append(v)
            for v in n.outputs:
                if id(v) in graph_outputs and all(v is not w for w in outs_of[group_of[n.id]]):
                    outs_of[group_of[n.id]].append(v)
        entries = []
        for key in groups:
            kind, name = key
            traced = ([v.type for v in ins_of[key]], [v.type for v in outs_of[key]])
            if kind == "input":
                lines = [f"{name} (InputLayer)" if self.opts.show_layer_names else "InputLayer"]
                if self.opts.show_shapes:
                    lines.append("Output shape: " + _shape_text([t.keras_shape() for t in traced[1]]))
                if self.opts.show_dtype:
                    lines.append("Output dtype: " + _dtype_text([t.dtype for t in traced[1]]))
                group_ids[key] = self.new_node(lines, "input", cluster)
                entries.append(group_ids[key])
            elif name in by_name and kind == "layer":
                layer = by_name[name]
                group_ids[key] = self.new_node(_layer_lines(layer, [], self.opts, traced), _kind_of(layer), cluster)
            else:
                lines = [f"{name} (ops in call)"]
                if self.opts.show_shapes:
                    lines.append("Output shape: " + _shape_text([t.keras_shape() for t in traced[1]]))
                group_ids[key] = self.new_node(lines, "op", cluster)
        for a, b in dict.fromkeys(edges):
            self.graph.edges.append((group_ids[a], group_ids[b]))
        outs = [group_ids[group_of[v.node.id]] for v in graph.outputs if v.node.id in group_of]
        return entries, outs


def _op_graph(model, opts: _Options) -> PlotGraph:
    """One box per IR op of the model's forward trace; with expand_nested, boxed by layer scope."""
    if getattr(model, "_input_types", None) is None and not model._is_graph_network():
        raise ValueError(f'plot_model: model "{model.name}" has not been built yet; call it on data or build() it')
    return _ir_plot_graph(model._trace_graph(False), opts)


#: Debug-mode stage pictures are drawn for graphs up to this many nodes (layout time grows quickly).
STAGE_PICTURE_MAX_NODES = 400


def write_stage_picture(graph, base: str) -> str | None:
    """Debug mode's picture of one pass stage: the op-level IR as SVG (``base + ".svg"``).

    Graphs larger than ``STAGE_PICTURE_MAX_NODES`` are skipped (None): their text and .onnx dumps
    are written anyway, and the .onnx opens in Netron.
    """
    if len(graph) > STAGE_PICTURE_MAX_NODES:
        return None
    opts = _Options(True, False, True, False, False, False)
    path = base + ".svg"
    _write_pure_python(_ir_plot_graph(graph, opts), "svg", path, "TB", 96)
    return path


def _ir_plot_graph(graph, opts: _Options) -> PlotGraph:
    out = PlotGraph(graph.name)
    ids, clusters = {}, {}

    def cluster_for(scope):
        if not opts.expand_nested or len(scope) < 2:
            return None
        parent = None
        for k in range(2, len(scope) + 1):
            key = scope[:k]
            if key not in clusters:
                clusters[key] = f"c{len(out.clusters)}"
                out.clusters[clusters[key]] = (key[-1], parent)
            parent = clusters[key]
        return parent

    for n in graph.nodes:
        if n.op in ("Param", "Constant"):
            continue
        if n.op == "Input":
            lines = [f"{n.attrs.get('name', 'input')} (Input)"]
            kind = "input"
        else:
            lines = [n.op]
            if opts.show_layer_names and n.scope:
                lines[0] = f"{n.op} ({'/'.join(n.scope[1:]) or n.scope[0]})"
            kind = "op"
        if opts.show_shapes:
            lines.append("Output shape: " + _shape_text([v.type.keras_shape() for v in n.outputs]))
        if opts.show_dtype:
            lines.append("Output dtype: " + _dtype_text([v.dtype for v in n.outputs]))
        node_id = f"n{len(out.nodes)}"
        ids[n.id] = node_id
        out.nodes.append(PlotNode(node_id, lines, kind, cluster_for(n.scope) if kind == "op" else None))
    for n in graph.nodes:
        if n.id not in ids:
            continue
        for v in n.inputs:
            if v is not None and v.node.id in ids:
                out.edges.append((ids[v.node.id], ids[n.id]))
    return out


def build_plot_graph(model, show_shapes=False, show_dtype=False, show_layer_names=True, expand_nested=False,
                     show_layer_activations=False, show_trainable=False, level="layers") -> PlotGraph:
    """The boxes and arrows of a model picture, before layout."""
    opts = _Options(show_shapes, show_dtype, show_layer_names, expand_nested, show_layer_activations,
                    show_trainable)
    if level == "ops":
        return _op_graph(model, opts)
    if level != "layers":
        raise ValueError(f"level: expected 'layers' or 'ops', received {level!r}")
    builder = _GraphBuilder(model.name, opts)
    builder.add_model(model)
    builder.graph.edges = list(dict.fromkeys(builder.graph.edges))
    return builder.graph


# -- DOT --------------------------------------------------------------------------------------------------
def _quote(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


_DOT_COLORS = {"input": ("#fff3e0", "#bf7828"), "layer": ("#e8f0fe", "#4267b2"),
               "model": ("#ede7f6", "#673ab7"), "op": ("#f0f0f0", "#5a5a5a")}


def graph_to_dot(graph: PlotGraph, rankdir: str = "TB", dpi: int = 96) -> str:
    lines = [f"digraph {_quote(graph.name)} {{",
             f"  graph [rankdir={_quote(rankdir)}, dpi={int(dpi)}, nodesep=0.3, ranksep=0.4];",
             '  node [shape="box", style="rounded,filled", fontname="Helvetica", fontsize=11];',
             '  edge [color="#464646", arrowsize=0.7];']
    children: dict = {}
    for cid, (_, parent) in graph.clusters.items():
        children.setdefault(parent, []).append(cid)
    members: dict = {}
    for node in graph.nodes:
        members.setdefault(node.cluster, []).append(node)

    def emit(cluster, indent):
        pad = "  " * indent
        for node in members.get(cluster, []):
            fill, border = _DOT_COLORS.get(node.kind, _DOT_COLORS["layer"])
            label = "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in node.lines)
            lines.append(f'{pad}{node.id} [label="{label}", fillcolor="{fill}", color="{border}"];')
        for cid in children.get(cluster, []):
            lines.append(f"{pad}subgraph {_quote('cluster_' + cid)} {{")
            lines.append(f"{pad}  label={_quote(graph.clusters[cid][0])}; style=\"dashed\"; color=\"#969696\";")
            emit(cid, indent + 1)
            lines.append(f"{pad}}}")

    emit(None, 1)
    for u, v in graph.edges:
        lines.append(f"  {u} -> {v};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def model_to_dot(model, show_shapes: bool = False, show_dtype: bool = False, show_layer_names: bool = True,
                 rankdir: str = "TB", expand_nested: bool = False, dpi: int = 96, subgraph: bool = False,
                 show_layer_activations: bool = False, show_trainable: bool = False, level: str = "layers") -> str:
    """The model as Graphviz DOT text (see ``plot_model`` for the arguments)."""
    graph = build_plot_graph(model, show_shapes, show_dtype, show_layer_names, expand_nested,
                             show_layer_activations, show_trainable, level)
    return graph_to_dot(graph, rankdir=rankdir, dpi=dpi)


# -- files ------------------------------------------------------------------------------------------------
def encode_pdf(pixels, dpi: int = 96) -> bytes:
    """A one-page PDF showing the RGB image ``pixels`` (H, W, 3) at ``dpi``."""
    height, width = pixels.shape[:2]
    w_pt, h_pt = width * 72.0 / dpi, height * 72.0 / dpi
    image = zlib.compress(pixels.astype("uint8").tobytes(), 9)
    content = f"q {w_pt:.2f} 0 0 {h_pt:.2f} 0 0 cm /Im0 Do Q".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w_pt:.2f} {h_pt:.2f}] "
         f"/Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>").encode(),
        (f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /DeviceRGB "
         f"/BitsPerComponent 8 /Filter /FlateDecode /Length {len(image)} >>\nstream\n").encode()
        + image + b"\nendstream",
        f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"\nendstream",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"), []
    for k, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{k} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _write_with_graphviz(dot_exe: str, dot_text: str, fmt: str, to_file: str) -> bool:
    try:
        subprocess.run([dot_exe, f"-T{fmt}", "-o", to_file], input=dot_text.encode(), check=True,
                       capture_output=True, timeout=120)
        return True
    except (OSError, subprocess.SubprocessError) as e:
        detail = getattr(e, "stderr", b"") or b""
        warnings.warn(f"plot_model: Graphviz 'dot' failed ({e}; {detail.decode(errors='replace').strip()}); "
                      "drawing with graphc's own renderer instead.", stacklevel=3)
        return False


def _write_pure_python(graph: PlotGraph, fmt: str, to_file: str, rankdir: str, dpi: int) -> None:
    layout = layout_graph(graph, rankdir=rankdir)
    if fmt == "svg":
        with open(to_file, "w", encoding="utf-8") as f:
            f.write(to_svg(graph, layout, scale=dpi / 64))
        return
    pixels = to_pixels(graph, layout, scale=max(1, round(dpi / 48)))
    try:
        from PIL import Image
    except ImportError:
        Image = None
    if Image is not None:
        image = Image.fromarray(pixels, "RGB")
        if fmt == "png":
            image.save(to_file, format="PNG", dpi=(dpi, dpi))
        else:
            image.save(to_file, format="PDF", resolution=float(dpi))
        return
    data = encode_png(pixels, dpi=dpi) if fmt == "png" else encode_pdf(pixels, dpi=dpi)
    with open(to_file, "wb") as f:
        f.write(data)


def plot_model(model, to_file: str = "model.png", show_shapes: bool = False, show_dtype: bool = False,
               show_layer_names: bool = True, rankdir: str = "TB", expand_nested: bool = False, dpi: int = 96,
               subgraph: bool = False, show_layer_activations: bool = False, show_trainable: bool = False,
               level: str = "layers", **kwargs) -> str:
    """Draws ``model`` to ``to_file``; the format follows the extension: .png, .svg, .pdf or .dot.

    Args:
        model: a Functional, Sequential or (built) subclassed model.
        to_file: output path.
        show_shapes: add each layer's input and output shapes.
        show_dtype: add each layer's input and output dtypes.
        show_layer_names: title boxes ``name (Type)`` rather than ``Type``.
        rankdir: "TB" (top to bottom), "LR", "BT" or "RL".
        expand_nested: draw the layers inside nested models, in a dashed box per model (with
            ``level="ops"``: box the ops by the layer that emitted them).
        dpi: resolution of PNG and PDF output.
        show_layer_activations: add the activation of layers that have one.
        show_trainable: add whether each layer is trainable.
        level: "layers" (one box per layer) or "ops" (one box per IR op).
        subgraph: accepted for Keras compatibility and not used (nested models become dashed
            clusters with ``expand_nested``).

    Returns:
        ``to_file``. Graphviz's ``dot`` is used when it is on PATH; otherwise graphc's own layout
        and renderers draw the picture, so no system package is needed.
    """
    if kwargs:
        raise TypeError(f"plot_model: unexpected keyword argument(s) {sorted(kwargs)}")
    fmt = os.path.splitext(str(to_file))[1].lower().lstrip(".")
    fmt = "dot" if fmt == "gv" else fmt
    if fmt not in FORMATS:
        raise ValueError(f"plot_model: cannot tell the format of {to_file!r}; use a file name ending in "
                         ".png, .svg, .pdf or .dot")
    graph = build_plot_graph(model, show_shapes, show_dtype, show_layer_names, expand_nested,
                             show_layer_activations, show_trainable, level)
    dot_text = graph_to_dot(graph, rankdir=rankdir, dpi=dpi)
    folder = os.path.dirname(os.path.abspath(str(to_file)))
    os.makedirs(folder, exist_ok=True)
    if fmt == "dot":
        with open(to_file, "w", encoding="utf-8") as f:
            f.write(dot_text)
        return str(to_file)
    dot_exe = shutil.which("dot")
    if dot_exe is None or not _write_with_graphviz(dot_exe, dot_text, fmt, str(to_file)):
        _write_pure_python(graph, fmt, str(to_file), rankdir, dpi)
    return str(to_file)


__all__ = ["build_plot_graph", "model_to_dot", "plot_model"]
