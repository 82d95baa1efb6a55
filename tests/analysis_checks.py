"""Checks shared by the tests of real instrumentation shapes (tests/test_analyzer_*.py):
the analysis' edges and topic systems in a comparable form, and an analysis checked for
what every such test expects."""

from __future__ import annotations

from typing import Any, Iterable

from analyzer import analyze, edge_detail


def edges_of(a) -> dict[str, tuple[str, int]]:
    """Each edge's (type, count) by id."""
    return {e["id"]: (e["type"], e["count"]) for e in a.edges}


def systems_of(a) -> dict[str, str | None]:
    """Each topic node's messaging system."""
    return {n["id"]: n["system"] for n in a.nodes if n["type"] == "topic"}


def flows_of(a) -> list[tuple[str, int, float]]:
    """(entry service, count, traces per flow) of every flow, sorted."""
    return sorted((f["entry_service"], f["count"], f["traces_per_flow"]) for f in a.flows)


def analysed(st, edges: dict[str, tuple[str, int]], delivery: str,
             p50_ms: float | None = None) -> Any:
    """The analysis of ``st``, checked: exactly ``edges``; the ``delivery`` edge's
    deliveries all joined by context (and ``p50_ms`` long); no anomaly; the edge's detail
    counts what the analysis does."""
    a = analyze(st)
    assert edges_of(a) == edges
    consume = next(e for e in a.edges if e["id"] == delivery)
    assert consume["joined_by"] == {"context": edges[delivery][1], "message_id": 0, "none": 0}
    if p50_ms is not None:
        assert consume["p50_ms"] == p50_ms
    assert not a.anomalies
    assert edge_detail(st, delivery)["count"] == edges[delivery][1]
    return a


def analysed_each(st, edges: dict[str, tuple[str, int]], deliveries: Iterable[str],
                  anomalies: Iterable[tuple[str, str, int]] = ()) -> Any:
    """The analysis of ``st``, checked: exactly ``edges``; every ``deliveries`` edge's
    deliveries all joined by context; no anomaly but ``anomalies`` (type, where, count); each
    edge's detail counts what the analysis does."""
    a = analyze(st)
    assert edges_of(a) == edges
    for d in deliveries:
        consume = a.edge(d)
        assert consume["joined_by"] == {"context": edges[d][1], "message_id": 0, "none": 0}, d
    assert sorted((x["type"], x["where"], x["count"]) for x in a.anomalies) == \
        sorted(anomalies)
    for e in a.edges:
        assert edge_detail(st, e["id"])["count"] == e["count"], e["id"]
    return a
