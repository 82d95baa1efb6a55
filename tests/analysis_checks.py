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
    assert edges_of(a) == edges, edges_of(a)
    consume = next(e for e in a.edges if e["id"] == delivery)
    assert consume["joined_by"] == {"context": edges[delivery][1], "message_id": 0, "none": 0,
                                    "outside": 0}
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
    assert edges_of(a) == edges, edges_of(a)
    for d in deliveries:
        consume = a.edge(d)
        assert consume["joined_by"] == {"context": edges[d][1], "message_id": 0, "none": 0,
                                        "outside": 0}, d
    assert sorted((x["type"], x["where"], x["count"]) for x in a.anomalies) == \
        sorted(anomalies), [(x["type"], x["where"], x["count"]) for x in a.anomalies]
    for e in a.edges:
        assert edge_detail(st, e["id"])["count"] == e["count"], e["id"]
    return a


def all_joined(st, edges: dict[str, tuple[str, int]]) -> Any:
    """The analysis of a real run (tests/test_real_*.py), checked: exactly ``edges``; every
    delivery joined by the context its message carried (as its parent or a link), with a
    queue time; each edge's detail counting what the analysis does."""
    a = analyze(st)
    assert edges_of(a) == edges, edges_of(a)
    for e in a.edges:
        if e["type"] == "consume":
            assert e["joined_by"] == {"context": e["count"], "message_id": 0, "none": 0,
                                      "outside": 0}, \
                e["id"]
            assert e["broken_context_count"] == 0, e["id"]
            # (published before it was delivered: a broker's wait is ~0 to a few ms)
            assert e["queue_p50_ms"] is not None and e["queue_p50_ms"] >= 0, e["id"]
        assert edge_detail(st, e["id"])["count"] == e["count"], e["id"]
    return a


def all_joined_by_message_id(st, edges: dict[str, tuple[str, int]]) -> Any:
    """The analysis of a real run whose context never crossed the broker, checked: exactly
    ``edges``; every delivery joined to its publish by the message id alone and counted as
    having lost its context; no anomaly but each delivery edge's lost context."""
    a = analyze(st)
    assert edges_of(a) == edges, edges_of(a)
    deliveries = [e for e in a.edges if e["type"] == "consume"]
    for e in deliveries:
        n = e["count"]
        assert e["joined_by"] == {"context": 0, "message_id": n, "none": 0, "outside": 0}, e["id"]
        assert e["broken_context_count"] == n, e["id"]
    assert sorted((x["type"], x["where"], x["count"]) for x in a.anomalies) == sorted(
        ("broken_context", e["id"], e["count"]) for e in deliveries)
    return a


def one_choreographed_flow(st, edges: dict[str, tuple[str, int]], entry: str,
                           traces_per_flow: float = 1.0) -> Any:
    """The analysis of a real shop's run (tests/test_real_*.py), checked as by
    ``all_joined``, each edge of N instances; no anomaly; one choreographed flow per order
    entering at ``entry``, each made of ``traces_per_flow`` traces."""
    n = {count for _, count in edges.values()}
    assert len(n) == 1, "every edge of a shop's run is taken once per order"
    (n,) = n
    a = all_joined(st, edges)
    assert not a.anomalies
    (flow,) = a.flows
    assert flow["count"] == n and flow["style"] == "choreography"
    assert flow["entry_service"] == entry and flow["traces_per_flow"] == traces_per_flow
    return a
