"""A layered (Sugiyama-style) left-to-right layout for flow maps and flow DAGs (pure).

Force-directed layouts turn a workflow into a hairball and move every time a refresh adds an
edge. A workflow reads left to right (cause before effect), so nodes are put in columns by
their longest distance from a source, ordered within columns by the barycentre of their
neighbours to reduce crossings, and each weakly connected component gets its own band.
Positions depend only on the graph, so a refresh with the same graph draws the same picture.
"""

from __future__ import annotations

from collections import defaultdict
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


def layered_positions(nodes: Iterable[Node], edges: Iterable[tuple[Node, Node]],
                      dx: float = 220.0, dy: float = 110.0) -> dict[Node, tuple[float, float]]:
    """``{node: (x, y)}`` for a left-to-right layered drawing; components stacked vertically.

    Self-loops and edges to unknown nodes are ignored; isolated nodes get their own band.
    """
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from((a, b) for a, b in edges if a != b and a in g and b in g)
    out: dict[Node, tuple[float, float]] = {}
    y0 = 0.0
    comps = sorted((sorted(c, key=str) for c in nx.weakly_connected_components(g)),
                   key=lambda c: (-len(c), str(c[0])))
    for comp in comps:
        sub = g.subgraph(comp)
        col = layers(sub)
        columns = _order_columns(sub, col)
        height = max(len(c) for c in columns)
        for ci, column in enumerate(columns):
            # Centre short columns against the tallest one so the band reads as a whole.
            offset = (height - len(column)) / 2.0
            for ri, n in enumerate(column):
                out[n] = (ci * dx, y0 + (ri + offset) * dy)
        y0 += height * dy + dy * 0.5
    return out


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
