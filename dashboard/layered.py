"""A layered (Sugiyama-style) left-to-right layout for flow maps and flow DAGs (pure).

Force-directed layouts turn a workflow into a hairball and move every time a refresh adds an
edge. A workflow reads left to right (cause before effect), so nodes are put in columns by
their longest distance from a source; an edge spanning several columns gets a lane in each
column it crosses; nodes and lanes are ordered within columns by the barycentre of their
neighbours to reduce crossings, then placed as near their neighbours as the order allows,
so edges run straight where they can and round nodes, not through them. Each weakly
connected component gets its own band. Positions depend only on the graph, so a refresh
with the same graph draws the same picture.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Hashable, Iterable

import networkx as nx

Node = Hashable


def _acyclic(g: nx.DiGraph) -> nx.DiGraph:
    """A copy of ``g`` with the back edges of a deterministic DFS removed (cycles broken)."""
    dag = nx.DiGraph()
    dag.add_nodes_from(g.nodes)
    state: dict[Node, int] = {}  # 1 = on the DFS stack, 2 = done
    # Start from sources first so that the "forward" direction is the natural one.
    order = sorted(g.nodes, key=lambda n: (g.in_degree(n) > 0, str(n)))
    for root in order:
        if root in state:
            continue
        stack: list[tuple[Node, Iterable[Node]]] = [(root, iter(sorted(g.successors(root),
                                                                       key=str)))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                continue
            if state.get(nxt) == 1:
                continue  # back edge: dropping it breaks the cycle
            dag.add_edge(node, nxt)
            if nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(sorted(g.successors(nxt), key=str))))
    return dag


def layers(g: nx.DiGraph) -> dict[Node, int]:
    """Column of each node: the longest path from any source (cycles broken first)."""
    dag = _acyclic(g)
    col: dict[Node, int] = {}
    for n in nx.topological_sort(dag):
        preds = list(dag.predecessors(n))
        col[n] = max((col[p] + 1 for p in preds), default=0)
    return col


def _order_columns(g: nx.DiGraph, col: dict[Node, int], sweeps: int = 4) -> list[list[Node]]:
    ncols = max(col.values(), default=-1) + 1
    columns: list[list[Node]] = [[] for _ in range(ncols)]
    for n in sorted(col, key=str):
        columns[col[n]].append(n)
    und = g.to_undirected(as_view=True)
    for sweep in range(sweeps):
        rng = range(1, ncols) if sweep % 2 == 0 else range(ncols - 2, -1, -1)
        for c in rng:
            ref = c - 1 if sweep % 2 == 0 else c + 1
            pos = {n: i for i, n in enumerate(columns[ref])}
            here = {n: i for i, n in enumerate(columns[c])}

            def bary(n: Node, _pos: dict[Node, int] = pos,
                     _here: dict[Node, int] = here) -> tuple[float, str]:
                ns = [_pos[m] for m in und.neighbors(n) if m in _pos]
                return (sum(ns) / len(ns) if ns else float(_here[n]), str(n))

            columns[c].sort(key=bary)
    return columns


# A lane (where a long edge crosses a column) takes this share of a node's height.
LANE = 0.15
# Beyond this many lanes in one component, long edges are drawn straight: the ordering and
# placement grow with the lanes (4,000 take ~0.1 s, a random map of 1,000 edges needing
# 27,000 took 1.4 s), and a map that tangled is read from its tables anyway.
MAX_LANES = 4000


@dataclass(frozen=True)
class _Lane:
    """Where the long edge ``a -> b`` crosses column ``col`` (Sugiyama's dummy node)."""

    a: Node
    b: Node
    col: int

    def __str__(self) -> str:  # (sorts after every node's name in _order_columns)
        return f"~lane {self.a!s}->{self.b!s} @{self.col}"


@dataclass
class Layout:
    """Where nodes go, and the points each edge that spans more than one column passes
    (one per column it crosses, in the edge's direction), kept clear of the nodes there."""

    positions: dict[Node, tuple[float, float]]
    bends: dict[tuple[Node, Node], list[tuple[float, float]]]

    def edge_bends(self, src: Node, dst: Node) -> dict[str, list[float]]:
        """The edge's control points for Cytoscape (:func:`bend_style`); empty for a
        straight edge."""
        points = self.bends.get((src, dst))
        return bend_style(self.positions[src], self.positions[dst], points) if points else {}


def _isotonic(target: list[float], weight: list[float]) -> list[float]:
    """The non-decreasing sequence nearest ``target`` in weighted least squares (pool
    adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, weight, length]
    for t, w in zip(target, weight):
        blocks.append([t, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, n2 = blocks.pop()
            m1, w1, n1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    out: list[float] = []
    for m, _, n in blocks:
        out.extend([m] * int(n))
    return out


def _place(columns: list[list[Node]], und: nx.Graph, height: dict[Node, float],
           sweeps: int = 8) -> dict[Node, float]:
    """Vertical centres, in units of a node's height: each element as near the mean of its
    neighbours in the next columns as the order and spacing of its column allow (so an
    edge runs as straight as it can), solved per column exactly (``_isotonic``), columns
    swept back and forth."""
    y: dict[Node, float] = {}
    offsets: list[list[float]] = []
    for column in columns:
        off, acc = [], 0.0
        for i, n in enumerate(column):
            if i:
                acc += (height[column[i - 1]] + height[n]) / 2
            off.append(acc)
        offsets.append(off)
        for n, o in zip(column, off):
            y[n] = o - acc / 2  # (centred, before any pull)
    order = list(range(len(columns)))
    for sweep in range(sweeps):
        for c in (order if sweep % 2 == 0 else order[::-1]):
            column, off = columns[c], offsets[c]
            want, weight = [], []
            for n in column:
                ns = list(und.neighbors(n))
                if height[n] == 1.0:
                    # (a node follows the nodes it is joined to, not the lanes: a long edge
                    # bends round the nodes it passes rather than pulling them about)
                    ns = [m for m in ns if height[m] == 1.0] or ns
                want.append(sum(y[m] for m in ns) / len(ns) if ns else y[n])
                weight.append(len(ns) * (1.0 if height[n] == 1.0 else 0.02) or 0.01)
            z = _isotonic([w - o for w, o in zip(want, off)], weight)
            for n, zi, o in zip(column, z, off):
                y[n] = zi + o
    return y


def layered_layout(nodes: Iterable[Node], edges: Iterable[tuple[Node, Node]],
                   dx: float = 220.0, dy: float = 110.0) -> Layout:
    """A left-to-right layered drawing; weakly connected components stacked vertically.

    An edge spanning several columns gets a lane in each column it crosses (a dummy node
    in Sugiyama's method): the lanes are ordered with the nodes, so the edge neither runs
    through a node nor crosses more edges than it must, and its ``bends`` say where it
    passes. Self-loops and edges to unknown nodes are ignored; isolated nodes get their
    own band.
    """
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from((a, b) for a, b in edges if a != b and a in g and b in g)
    positions: dict[Node, tuple[float, float]] = {}
    bends: dict[tuple[Node, Node], list[tuple[float, float]]] = {}
    y0 = 0.0
    comps = sorted((sorted(c, key=str) for c in nx.weakly_connected_components(g)),
                   key=lambda c: (-len(c), str(c[0])))
    for comp in comps:
        sub = g.subgraph(comp)
        col = layers(sub)
        aug = nx.Graph()
        aug.add_nodes_from(sub.nodes)
        lanes: dict[tuple[Node, Node], list[Node]] = {}
        height: dict[Node, float] = {n: 1.0 for n in sub.nodes}
        wanted = sum(max(abs(col[a] - col[b]) - 1, 0) for a, b in sub.edges)
        for a, b in sorted(sub.edges, key=str):
            lo, hi = sorted((col[a], col[b]))
            if hi - lo <= 1 or wanted > MAX_LANES:
                aug.add_edge(a, b)
                continue
            chain: list[Node] = [_Lane(a, b, c) for c in range(lo + 1, hi)]
            for i, d in enumerate(chain):
                col[d] = lo + 1 + i
                height[d] = LANE
            ends = [a, *chain, b] if col[a] < col[b] else [b, *chain, a]
            nx.add_path(aug, ends)
            lanes[(a, b)] = chain if col[a] < col[b] else chain[::-1]
        columns = _order_columns(aug, col)
        y = _place(columns, aug, height)
        top = min(y[n] - height[n] / 2 for n in y)
        bottom = max(y[n] + height[n] / 2 for n in y)
        for n in sub.nodes:
            positions[n] = (col[n] * dx, round(y0 + (y[n] - top - 0.5) * dy, 1))
        for e, chain in lanes.items():
            bends[e] = [(col[d] * dx, round(y0 + (y[d] - top - 0.5) * dy, 1)) for d in chain]
        y0 += (bottom - top) * dy + dy * 0.5
    return Layout(positions, bends)


def widen(layout: Layout, aspect: float, node_w: float, node_h: float,
          most: float = 1.6) -> Layout:
    """``layout`` spread wider, up to ``most`` times, when it is taller for its width than a
    box of ``aspect`` (height / width) it will be fitted into: fitted by its height, it
    would leave the sides empty; wider, its edges slope less and their labels crowd less,
    at the same zoom. A layout already as wide as the box is returned as it is."""
    xs = [x for x, _ in layout.positions.values()]
    ys = [y for _, y in layout.positions.values()]
    if not xs or max(xs) == min(xs):
        return layout
    span_x, height = max(xs) - min(xs), max(ys) - min(ys) + node_h
    f = min(most, (height / aspect - node_w) / span_x)
    if f <= 1.0:
        return layout
    return Layout({n: (round(x * f, 1), y) for n, (x, y) in layout.positions.items()},
                  {e: [(round(x * f, 1), y) for x, y in pts]
                   for e, pts in layout.bends.items()})


def layered_positions(nodes: Iterable[Node], edges: Iterable[tuple[Node, Node]],
                      dx: float = 220.0, dy: float = 110.0) -> dict[Node, tuple[float, float]]:
    """``{node: (x, y)}`` of :func:`layered_layout`."""
    return layered_layout(nodes, edges, dx, dy).positions


def bend_style(src: tuple[float, float], dst: tuple[float, float],
               points: list[tuple[float, float]]) -> dict[str, list[float]]:
    """Cytoscape's ``control-point-distances`` and ``-weights`` (``cpd``, ``cpw``) that
    take an edge from ``src`` to ``dst`` through ``points``, measured as Cytoscape does with
    ``edge-distances: node-position``: weights along the line between the two centres,
    distances square to it (positive on the side of the direction turned a quarter
    clockwise on screen, y pointing down)."""
    (sx, sy), (tx, ty) = src, dst
    vx, vy = tx - sx, ty - sy
    length2 = vx * vx + vy * vy or 1.0
    length = length2 ** 0.5
    cpd, cpw = [], []
    for px, py in points:
        rx, ry = px - sx, py - sy
        cpw.append(round((rx * vx + ry * vy) / length2, 4))
        cpd.append(round((-rx * vy + ry * vx) / length, 2))
    return {"cpd": cpd, "cpw": cpw}


def crossings(pos: dict[Node, tuple[float, float]], edges: Iterable[tuple[Node, Node]]) -> int:
    """Number of pairwise crossings of straight edges between adjacent columns (tests)."""
    by_cols: dict[tuple[float, float], list[tuple[float, float]]] = defaultdict(list)
    for a, b in edges:
        (xa, ya), (xb, yb) = pos[a], pos[b]
        if xa > xb:
            (xa, ya), (xb, yb) = (xb, yb), (xa, ya)
        by_cols[(xa, xb)].append((ya, yb))
    total = 0
    for segs in by_cols.values():
        for i in range(len(segs)):
            for j in range(i + 1, len(segs)):
                (a1, b1), (a2, b2) = segs[i], segs[j]
                if (a1 - a2) * (b1 - b2) < 0:
                    total += 1
    return total
