"""Drawing a plot graph (boxes with text lines, arrows, nested-model clusters) as SVG or as pixels.

The layout comes from ``graph_layout.layered_layout``; sizes are measured in font pixels of the
built-in bitmap font (6 x 11 per character cell), so the SVG (monospace text) and the raster picture
have the same geometry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from .graph_layout import Layout, layered_layout
from .render_png import ADVANCE, LINE_HEIGHT, Canvas

PAD_X, PAD_Y = 8, 5
MARGIN = 16
CLUSTER_PAD = 10

STYLES = {  # fill, border
    "input": ((255, 243, 224), (191, 120, 40)),
    "layer": ((232, 240, 254), (66, 103, 178)),
    "model": ((237, 231, 246), (103, 58, 183)),
    "op": ((240, 240, 240), (90, 90, 90)),
}
TEXT = (20, 20, 20)
EDGE = (70, 70, 70)
CLUSTER = (150, 150, 150)


@dataclass
class PlotNode:
    """One box: ``lines[0]`` is the title (layer name and type), the rest details (shapes, dtypes...)."""

    id: str
    lines: list
    kind: str = "layer"
    cluster: str | None = None


@dataclass
class PlotGraph:
    name: str
    nodes: list = field(default_factory=list)
    edges: list = field(default_factory=list)  # [(source id, target id)]
    clusters: dict = field(default_factory=dict)  # id -> (label, parent cluster id or None)


def node_size(node: PlotNode) -> tuple[int, int]:
    width = max(len(line) for line in node.lines) * ADVANCE + 2 * PAD_X
    height = len(node.lines) * LINE_HEIGHT + 2 * PAD_Y + (2 if len(node.lines) > 1 else 0)
    return width, height


def layout_graph(graph: PlotGraph, rankdir: str = "TB") -> Layout:
    ids = [n.id for n in graph.nodes]
    node_sep, rank_sep = 24.0, 40.0
    if graph.clusters:  # room for the dashed boxes and their titles between ranks and neighbours
        frame = CLUSTER_PAD * (_max_depth(graph) + 1)
        node_sep += 2 * frame
        rank_sep += 2 * frame + LINE_HEIGHT
    return layered_layout(ids, {n.id: node_size(n) for n in graph.nodes}, graph.edges, rankdir=rankdir,
                          node_sep=node_sep, rank_sep=rank_sep)


def _cluster_boxes(graph: PlotGraph, layout: Layout) -> list:
    """Bounding boxes of clusters, outermost first, each padded around its members and sub-clusters."""
    members: dict = {c: [] for c in graph.clusters}
    for n in graph.nodes:
        c = n.cluster
        while c is not None:
            members[c].append(n.id)
            c = graph.clusters[c][1]

    def depth(c):
        d = 0
        while graph.clusters[c][1] is not None:
            c, d = graph.clusters[c][1], d + 1
        return d

    boxes = []
    for c in sorted(graph.clusters, key=depth):
        ids = members[c]
        if not ids:
            continue
        pad = CLUSTER_PAD * (1 + max(0, _max_depth(graph) - depth(c)))
        x0 = min(layout.centers[i][0] - layout.sizes[i][0] / 2 for i in ids) - pad
        x1 = max(layout.centers[i][0] + layout.sizes[i][0] / 2 for i in ids) + pad
        y0 = min(layout.centers[i][1] - layout.sizes[i][1] / 2 for i in ids) - pad - LINE_HEIGHT
        y1 = max(layout.centers[i][1] + layout.sizes[i][1] / 2 for i in ids) + pad
        boxes.append((graph.clusters[c][0], x0, y0, x1, y1))
    return boxes


def _max_depth(graph: PlotGraph) -> int:
    best = 0
    for c in graph.clusters:
        d = 0
        while graph.clusters[c][1] is not None:
            c, d = graph.clusters[c][1], d + 1
        best = max(best, d)
    return best


def _bounds(graph: PlotGraph, layout: Layout):
    xs0, ys0, xs1, ys1 = [0.0], [0.0], [layout.width], [layout.height]
    for _, x0, y0, x1, y1 in _cluster_boxes(graph, layout):
        xs0.append(x0), ys0.append(y0), xs1.append(x1), ys1.append(y1)
    return min(xs0), min(ys0), max(xs1), max(ys1)


def edge_curve(points: list, horizontal: bool, steps: int = 12) -> list:
    """Samples the edge: cubic segments with tangents along the rank direction at every point."""
    out = [points[0]]
    for (ax, ay), (bx, by) in zip(points, points[1:]):
        if horizontal:
            mid = (bx - ax) / 2
            c1, c2 = (ax + mid, ay), (bx - mid, by)
        else:
            mid = (by - ay) / 2
            c1, c2 = (ax, ay + mid), (bx, by - mid)
        for k in range(1, steps + 1):
            t = k / steps
            u = 1 - t
            out.append((u ** 3 * ax + 3 * u * u * t * c1[0] + 3 * u * t * t * c2[0] + t ** 3 * bx,
                        u ** 3 * ay + 3 * u * u * t * c1[1] + 3 * u * t * t * c2[1] + t ** 3 * by))
    return out


def _arrow_head(points: list, size: float):
    (ax, ay), (bx, by) = points[-2], points[-1]
    dx, dy = bx - ax, by - ay
    norm = (dx * dx + dy * dy) ** 0.5 or 1.0
    dx, dy = dx / norm, dy / norm
    base = (bx - dx * size, by - dy * size)
    left = (base[0] - dy * size * 0.45, base[1] + dx * size * 0.45)
    right = (base[0] + dy * size * 0.45, base[1] - dx * size * 0.45)
    return (bx, by), left, right, base


def _hex(color) -> str:
    return "#%02x%02x%02x" % tuple(color)


def to_svg(graph: PlotGraph, layout: Layout, scale: float = 1.5) -> str:
    """An SVG document: monospace text, so it measures like the bitmap font."""
    bx0, by0, bx1, by1 = _bounds(graph, layout)
    ox, oy = MARGIN - bx0, MARGIN - by0
    width, height = (bx1 - bx0 + 2 * MARGIN) * scale, (by1 - by0 + 2 * MARGIN) * scale
    horizontal = layout.rankdir in ("LR", "RL")
    font_size = 10  # monospace at 10 units advances about 6 units per character, like the bitmap font
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width / scale:.1f} {height / scale:.1f}">',
           f"<title>{escape(graph.name)}</title>",
           '<rect x="0" y="0" width="100%" height="100%" fill="#ffffff"/>']
    for label, x0, y0, x1, y1 in _cluster_boxes(graph, layout):
        out.append(f'<g class="cluster"><rect x="{x0 + ox:.1f}" y="{y0 + oy:.1f}" width="{x1 - x0:.1f}" '
                   f'height="{y1 - y0:.1f}" rx="6" fill="none" stroke="{_hex(CLUSTER)}" stroke-dasharray="5,3"/>')
        out.append(f'<text x="{x0 + ox + 6:.1f}" y="{y0 + oy + LINE_HEIGHT:.1f}" font-family="monospace" '
                   f'font-size="{font_size}" fill="{_hex(CLUSTER)}">{escape(label)}</text></g>')
    for u, v, pts in layout.edges:
        curve = [(x + ox, y + oy) for x, y in edge_curve(pts, horizontal)]
        tip, left, right, base = _arrow_head(curve, 7)
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in curve[:-1] + [base])
        out.append(f'<g class="edge"><title>{escape(str(u))}-&gt;{escape(str(v))}</title>'
                   f'<polyline points="{path}" fill="none" stroke="{_hex(EDGE)}" stroke-width="1.2"/>'
                   f'<polygon points="{tip[0]:.1f},{tip[1]:.1f} {left[0]:.1f},{left[1]:.1f} '
                   f'{right[0]:.1f},{right[1]:.1f}" fill="{_hex(EDGE)}"/></g>')
    for node in graph.nodes:
        (cx, cy), (w, h) = layout.centers[node.id], layout.sizes[node.id]
        x0, y0 = cx - w / 2 + ox, cy - h / 2 + oy
        fill, border = STYLES.get(node.kind, STYLES["layer"])
        out.append(f'<g class="node" id="{escape(str(node.id))}"><rect x="{x0:.1f}" y="{y0:.1f}" width="{w:.1f}" '
                   f'height="{h:.1f}" rx="4" fill="{_hex(fill)}" stroke="{_hex(border)}" stroke-width="1.2"/>')
        for k, line in enumerate(node.lines):
            ty = y0 + PAD_Y + (k + 1) * LINE_HEIGHT - 2 + (2 if k else 0)
            weight = ' font-weight="bold"' if k == 0 else ""
            out.append(f'<text x="{cx + ox:.1f}" y="{ty:.1f}" text-anchor="middle" font-family="monospace" '
                       f'font-size="{font_size}"{weight} fill="{_hex(TEXT)}" xml:space="preserve">'
                       f"{escape(line)}</text>")
        if len(node.lines) > 1:
            ly = y0 + PAD_Y + LINE_HEIGHT + 1
            out.append(f'<line x1="{x0:.1f}" y1="{ly:.1f}" x2="{x0 + w:.1f}" y2="{ly:.1f}" '
                       f'stroke="{_hex(border)}" stroke-width="0.8"/>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def to_pixels(graph: PlotGraph, layout: Layout, scale: int = 2):
    """The picture as an (H, W, 3) uint8 array, drawn with the bitmap font at ``scale`` pixels per dot."""
    s = max(1, int(scale))
    bx0, by0, bx1, by1 = _bounds(graph, layout)
    ox, oy = MARGIN - bx0, MARGIN - by0
    canvas = Canvas((bx1 - bx0 + 2 * MARGIN) * s, (by1 - by0 + 2 * MARGIN) * s)
    horizontal = layout.rankdir in ("LR", "RL")

    def px(x, y):
        return (x + ox) * s, (y + oy) * s

    for label, x0, y0, x1, y1 in _cluster_boxes(graph, layout):
        a, b = px(x0, y0)
        c, d = px(x1, y1)
        canvas.rect(a, b, c, d, CLUSTER, thickness=max(1, s // 2))
        canvas.text(a + 6 * s, b + 2 * s, label, CLUSTER, s)
    for _, _, pts in layout.edges:
        curve = [px(x, y) for x, y in edge_curve(pts, horizontal)]
        tip, left, right, base = _arrow_head(curve, 7 * s)
        canvas.polyline(curve[:-1] + [base], EDGE, thickness=max(1, s))
        canvas.triangle(tip, left, right, EDGE)
    for node in graph.nodes:
        (cx, cy), (w, h) = layout.centers[node.id], layout.sizes[node.id]
        fill, border = STYLES.get(node.kind, STYLES["layer"])
        a, b = px(cx - w / 2, cy - h / 2)
        c, d = px(cx + w / 2, cy + h / 2)
        canvas.fill_rect(a, b, c, d, fill)
        canvas.rect(a, b, c, d, border, thickness=max(1, s))
        for k, line in enumerate(node.lines):
            tx = (cx + ox) * s - len(line) * ADVANCE * s / 2
            ty = b + (PAD_Y + k * LINE_HEIGHT + (2 if k else 0)) * s
            canvas.text(tx, ty, line, TEXT, s)
        if len(node.lines) > 1:
            ly = b + (PAD_Y + LINE_HEIGHT + 1) * s
            canvas.fill_rect(a, ly, c, ly + max(1, s // 2), border)
    return canvas.pixels
