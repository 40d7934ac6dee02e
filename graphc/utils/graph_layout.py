"""A layered (Sugiyama-style) layout of a DAG, in pure Python, for plot_model without Graphviz.

1. Ranks: longest path from the sources, so every edge points one or more ranks down.
2. Edges spanning several ranks get a chain of dummy points, one per rank they cross, so that a skip
   connection is routed beside the nodes it passes instead of through them.
3. Order within a rank: barycentric sweeps, down and up, keeping the order with the fewest crossings.
4. Coordinates along a rank: each node wants the mean position of its neighbours; the positions closest
   to those wishes that keep the nodes apart are found exactly by isotonic regression (pool adjacent
   violators), sweeping down and up a few times.
5. Edges leave and enter nodes at ports spread along the node's side, ordered by where the other end
   lies, so fan-in (concatenate, add) and fan-out stay apart.

Sizes and coordinates are in abstract units; ``rankdir`` "LR"/"RL"/"BT" transposes or flips the result.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Layout:
    """Node centres and sizes, edge polylines (source port, dummy points..., target port), total size."""

    centers: dict = field(default_factory=dict)
    sizes: dict = field(default_factory=dict)
    edges: list = field(default_factory=list)  # [(u, v, [(x, y), ...])]
    width: float = 0.0
    height: float = 0.0
    rankdir: str = "TB"


def _ranks(nodes: list, succ: dict, pred: dict) -> dict:
    """Longest-path ranks in a stable topological order (a cycle is broken at its earliest node)."""
    indeg = {n: len(pred[n]) for n in nodes}
    order, ready, done = [], [n for n in nodes if indeg[n] == 0], set()
    position = {n: i for i, n in enumerate(nodes)}
    while len(order) < len(nodes):
        if not ready:  # a cycle: take the earliest unfinished node
            ready = [min((n for n in nodes if n not in done), key=position.get)]
        ready.sort(key=position.get)
        n = ready.pop(0)
        if n in done:
            continue
        done.add(n)
        order.append(n)
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0 and m not in done:
                ready.append(m)
    rank = {}
    for n in order:
        rank[n] = max((rank[p] + 1 for p in pred[n] if p in rank), default=0)
    return rank


def _crossings(upper: list, lower: list, edges: list) -> int:
    """Crossings between two adjacent ranks joined by ``edges`` (all from ``upper`` to ``lower``)."""
    pos_u = {n: i for i, n in enumerate(upper)}
    pos_l = {n: i for i, n in enumerate(lower)}
    pairs = sorted((pos_u[a], pos_l[b]) for a, b in edges)
    count = 0
    for i in range(len(pairs)):
        for j in range(i + 1, len(pairs)):
            if pairs[i][0] < pairs[j][0] and pairs[i][1] > pairs[j][1]:
                count += 1
    return count


def is_dummy(n) -> bool:
    return isinstance(n, tuple) and len(n) == 4 and n[0] == "dummy"


def _isotonic(wishes: list[float], weights: list[float]) -> list[float]:
    """Non-decreasing values closest (weighted least squares) to ``wishes``: pool adjacent violators."""
    blocks: list = []  # [mean, weight, count]
    for w, k in zip(wishes, weights):
        blocks.append([w, k, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, k2, c2 = blocks.pop()
            m1, k1, c1 = blocks.pop()
            blocks.append([(m1 * k1 + m2 * k2) / (k1 + k2), k1 + k2, c1 + c2])
    out = []
    for mean, _, count in blocks:
        out += [mean] * count
    return out


def layered_layout(nodes: list, sizes: dict, edges: list, rankdir: str = "TB", node_sep: float = 24.0,
                   rank_sep: float = 40.0, sweeps: int = 12) -> Layout:
    """Lays out ``nodes`` (ids, in a preferred order) with ``sizes`` {id: (w, h)} and ``edges`` [(u, v)]."""
    rankdir = rankdir.upper()
    if rankdir not in ("TB", "BT", "LR", "RL"):
        raise ValueError(f"rankdir: expected 'TB', 'BT', 'LR' or 'RL', received {rankdir!r}")
    horizontal = rankdir in ("LR", "RL")
    # along = extent within a rank, across = extent between ranks
    extent = {n: ((sizes[n][1], sizes[n][0]) if horizontal else sizes[n]) for n in nodes}
    edges = [(u, v) for u, v in dict.fromkeys(edges) if u != v]
    succ = {n: [] for n in nodes}
    pred = {n: [] for n in nodes}
    for u, v in edges:
        succ[u].append(v)
        pred[v].append(u)
    rank = _ranks(nodes, succ, pred)
    # flip edges that point up (only after a broken cycle) so every edge goes down
    edges = [(u, v) if rank[u] < rank[v] else (v, u) for u, v in edges]

    # dummy chains for long edges
    dummy_size = node_sep / 2
    chains = {}  # (u, v) -> [u, d1, ..., v]
    links = []
    for u, v in edges:
        chain = [u]
        for r in range(rank[u] + 1, rank[v]):
            d = ("dummy", u, v, r)
            rank[d] = r
            extent[d] = (dummy_size, 0.0)
            chain.append(d)
        chain.append(v)
        chains[(u, v)] = chain
        links += list(zip(chain, chain[1:]))
    up = {n: [] for n in rank}
    down = {n: [] for n in rank}
    for a, b in links:
        down[a].append(b)
        up[b].append(a)

    n_ranks = max(rank.values(), default=-1) + 1
    layers = [[] for _ in range(n_ranks)]
    # initial order: depth-first from the sources, which keeps chains of layers together
    seen = set()

    def visit(n):
        if n in seen:
            return
        seen.add(n)
        layers[rank[n]].append(n)
        for m in down[n]:
            visit(m)

    for n in nodes:
        if not pred[n]:
            visit(n)
    for n in list(rank):
        visit(n)

    links_below = [[] for _ in range(n_ranks)]  # every link joins adjacent ranks
    for a, b in links:
        links_below[rank[a]].append((a, b))

    def total_crossings(ls):
        return sum(_crossings(ls[i], ls[i + 1], links_below[i]) for i in range(len(ls) - 1))

    best, best_count = [list(layer) for layer in layers], total_crossings(layers)
    for sweep in range(sweeps):
        if best_count == 0:
            break
        downward = sweep % 2 == 0
        indices = range(1, n_ranks) if downward else range(n_ranks - 2, -1, -1)
        for i in indices:
            ref = layers[i - 1] if downward else layers[i + 1]
            pos = {n: k for k, n in enumerate(ref)}
            neighbours = up if downward else down
            current = {n: k for k, n in enumerate(layers[i])}

            def key(n):
                ps = [pos[m] for m in neighbours[n] if m in pos]
                return (sum(ps) / len(ps) if ps else current[n], current[n])

            layers[i].sort(key=key)
        count = total_crossings(layers)
        if count < best_count:
            best, best_count = [list(layer) for layer in layers], count
    layers = best

    # coordinates along each rank
    x = {}
    for layer in layers:
        cursor = 0.0
        for n in layer:
            x[n] = cursor + extent[n][0] / 2
            cursor += extent[n][0] + node_sep

    def place(layer, neighbours):
        if not layer:
            return
        wishes, weights, offsets, offset = [], [], [], 0.0
        for k, n in enumerate(layer):
            if k:
                offset += (extent[layer[k - 1]][0] + extent[n][0]) / 2 + node_sep
            # a real node follows real neighbours: skip edges (dummies) pull only lightly, so a
            # residual block's main path stays a straight spine and the shortcut bends around it
            ns = [(x[m], 1.0 if is_dummy(n) or not is_dummy(m) else 0.1) for m in neighbours[n]]
            total = sum(w for _, w in ns)
            wish = sum(v * w for v, w in ns) / total if ns else x[n]
            wishes.append(wish - offset)
            weights.append(0.1 if is_dummy(n) else (1.0 if ns else 0.25))
            offsets.append(offset)
        for n, y, off in zip(layer, _isotonic(wishes, weights), offsets):
            x[n] = y + off

    both = {n: up[n] + down[n] for n in rank}
    for _ in range(4):
        for layer in layers[1:]:
            place(layer, up)
        for layer in reversed(layers[:-1]):
            place(layer, down)
    for layer in layers:
        place(layer, both)
    for layer in layers[1:]:
        place(layer, up)

    # coordinates across ranks
    y, cursor = {}, 0.0
    rank_top, rank_depth = [], []
    for layer in layers:
        depth = max((extent[n][1] for n in layer), default=0.0)
        rank_top.append(cursor)
        rank_depth.append(depth)
        for n in layer:
            y[n] = cursor + depth / 2
        cursor += depth + rank_sep
    lo = min((x[n] - extent[n][0] / 2 for n in rank), default=0.0)
    for n in rank:
        x[n] -= lo
    width = max((x[n] + extent[n][0] / 2 for n in rank), default=0.0)
    height = max(cursor - rank_sep, 0.0)

    # ports: spread the edges along a node's bottom (out) and top (in) sides
    def ports(n, others):
        others = sorted(others, key=lambda m: x[m])
        w = extent[n][0] * 0.6
        k = len(others)
        return {m: x[n] + (w * ((i + 1) / (k + 1) - 0.5) if k > 1 else 0.0) for i, m in enumerate(others)}

    out_ports = {n: ports(n, down[n]) for n in nodes}
    in_ports = {n: ports(n, up[n]) for n in nodes}
    polylines = []
    for (u, v), chain in chains.items():
        pts = [(out_ports[u][chain[1]], y[u] + extent[u][1] / 2)]
        for d in chain[1:-1]:
            pts.append((x[d], rank_top[rank[d]]))  # straight down through the rank, beside its nodes
            pts.append((x[d], rank_top[rank[d]] + rank_depth[rank[d]]))
        pts.append((in_ports[v][chain[-2]], y[v] - extent[v][1] / 2))
        polylines.append((u, v, pts))

    layout = Layout(rankdir=rankdir)
    layout.sizes = {n: sizes[n] for n in nodes}
    if horizontal:
        layout.centers = {n: (y[n], x[n]) for n in nodes}
        layout.edges = [(u, v, [(b, a) for a, b in pts]) for u, v, pts in polylines]
        layout.width, layout.height = height, width
    else:
        layout.centers = {n: (x[n], y[n]) for n in nodes}
        layout.edges = polylines
        layout.width, layout.height = width, height
    if rankdir == "BT":
        layout.centers = {n: (a, layout.height - b) for n, (a, b) in layout.centers.items()}
        layout.edges = [(u, v, [(a, layout.height - b) for a, b in pts]) for u, v, pts in layout.edges]
    elif rankdir == "RL":
        layout.centers = {n: (layout.width - a, b) for n, (a, b) in layout.centers.items()}
        layout.edges = [(u, v, [(layout.width - a, b) for a, b in pts]) for u, v, pts in layout.edges]
    return layout
