"""The result of an analysis and small helpers to make values JSON-able."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx


@dataclass
class Analysis:
    """Everything :func:`analyzer.analyze` found in one window.

    ``to_dict()`` is the stable JSON of ``choreoscope analyze --format json`` and
    ``GET /api/analysis``; ``graph`` is the flow map as a networkx ``DiGraph`` (nodes by id
    with their fields as attributes, edges with their statistics).
    """

    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    flows: list[dict[str, Any]] = field(default_factory=list)
    bottlenecks: list[dict[str, Any]] = field(default_factory=list)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    graph: nx.DiGraph = field(default_factory=nx.DiGraph)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The analysis as plain JSON-serialisable data."""
        return {"summary": self.summary, "nodes": self.nodes, "edges": self.edges,
                "flows": self.flows, "bottlenecks": self.bottlenecks,
                "anomalies": self.anomalies}

    def edge(self, edge_id: str) -> dict[str, Any] | None:
        """The edge with this id (``<source>-><target>``), or None."""
        for e in self.edges:
            if e["id"] == edge_id:
                return e
        return None

    def node(self, node_id: str) -> dict[str, Any] | None:
        """The node with this id, or None."""
        for n in self.nodes:
            if n["id"] == node_id:
                return n
        return None


def across_services_first(flows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flow types that take any hop (a publish, a delivery, a call) before those that stay
    inside their entry service, each in the analysis' order (most frequent first). A
    worker's housekeeping (BullMQ's stalled-job check, a scheduler's tick) or a health
    check is a trace of its own every few seconds: by count alone it would head a list
    about what happens between services."""
    return sorted(flows, key=lambda x: not x.get("hops"))


def ms(ns: float | int | None) -> float | None:
    """Nanoseconds to milliseconds, rounded for display and JSON (None stays None)."""
    if ns is None:
        return None
    return round(float(ns) / 1e6, 3)


def quantiles_ms(q: list[float] | None, prefix: str = "") -> dict[str, float | None]:
    """``[p50, p95, p99]`` in ns -> ``{prefix}p50_ms, ...``."""
    q = list(q or [None, None, None])
    return {f"{prefix}p50_ms": ms(q[0]), f"{prefix}p95_ms": ms(q[1]),
            f"{prefix}p99_ms": ms(q[2])}


def ids(v: list[str] | None) -> list[str]:
    """A DuckDB list of trace ids (possibly NULL) as a unique, ordered Python list."""
    out: list[str] = []
    seen: set[str] = set()
    for x in v or ():
        if x is not None and x not in seen:
            seen.add(x)
            out.append(x)
    return out


def percentile(values: list[float], p: float) -> float | None:
    """Linear-interpolated percentile (as DuckDB's quantile_cont) of a small list."""
    if not values:
        return None
    s = sorted(values)
    if len(s) == 1:
        return float(s[0])
    pos = (len(s) - 1) * p
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def node_type(node_id: str) -> str:
    """``service``, ``topic`` or ``external`` from a node id."""
    return node_id.split(":", 1)[0]


def node_name(node_id: str) -> str:
    return node_id.split(":", 1)[1] if ":" in node_id else node_id


def element_title(element_id: str) -> str:
    """A map element's id as people read it: ``service:a->topic:t`` is ``a → t``,
    ``topic:t`` is ``t``, a cycle ``a -> b -> a`` is ``a → b → a``; an edge whose two ends
    have one name (a service publishing to its namesake topic) says which is which."""
    if " -> " in element_id:  # (a cycle, as the findings give it)
        return " → ".join(node_name(p) for p in element_id.split(" -> "))
    parts = [p.split(":", 1) for p in element_id.split("->", 1)]
    if len(parts) == 2 and parts[0][-1] == parts[1][-1] and parts[0][0] != parts[1][0]:
        return " → ".join(f"{p[-1]} ({p[0]})" for p in parts)
    return " → ".join(p[-1] for p in parts)
