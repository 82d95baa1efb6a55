"""A delivery edge's detail by partition and by consumer instance: the hot partition and
the slow pod come first, read from the spans and from a kept staging alike."""

from __future__ import annotations

from typing import Any

import pytest

from analyzer import StagedWindow, edge_detail
from choreoscope.store import Store
from collector.decode import decode_request
from dashboard.pages.flow_map import detail_panel
from tests.builders import SpanSet

EDGE = "topic:orders->service:billing"
ALL = {"window": "all", "from": None, "to": None, "service": None}


@pytest.fixture(scope="module")
def store() -> Any:
    """40 orders through one topic; partition 3 waits 500 ms, the others 5 ms; billing runs
    as two pods, billing-b taking 3x as long. Half the spans name their partition by the
    conventions' current key, half by the Java agent's older one (an int)."""
    ss = SpanSet()
    pods: dict[str, str] = {}
    for i in range(40):
        part = i % 4
        t = i * 1000.0
        prod = ss.producer("shop", "orders", start_ms=t, dur_ms=2)
        wait = 500.0 if part == 3 else 5.0
        key = {"messaging.destination.partition.id": str(part)} if i % 2 else \
            {"messaging.kafka.partition": part}
        pod = "billing-b" if i % 5 == 0 else "billing-a"
        cons = ss.consumer("billing", "orders", parent=prod, start_ms=t + 2 + wait,
                           dur_ms=30.0 if pod == "billing-b" else 10.0,
                           status="ERROR" if i == 7 else "UNSET", attrs=key)
        pods[cons.span_id] = pod
    req = ss.request()
    for rs in req.resource_spans:  # (the builder names only the service)
        pod = pods.get(rs.scope_spans[0].spans[0].span_id.hex())
        if pod:
            kv = rs.resource.attributes.add()
            kv.key, kv.value.string_value = "k8s.pod.name", pod
    st = Store.open(":memory:")
    st.write(decode_request(req))
    yield st
    st.close()


def test_deliveries_by_partition_and_by_pod(store: Store):
    d = edge_detail(store, EDGE)
    parts = d["by_partition"]
    assert [p["key"] for p in parts][0] == "3" and d["by_partition_total"] == 4
    assert sorted(p["key"] for p in parts) == ["0", "1", "2", "3"]
    assert sum(p["count"] for p in parts) == d["count"] == 40
    assert parts[0]["queue_p95_ms"] == pytest.approx(500, abs=1)
    assert all(p["queue_p95_ms"] == pytest.approx(5, abs=1) for p in parts[1:])
    assert {p["key"]: p["error_count"] for p in parts}["3"] == 1  # (order 7)
    pods = {p["key"]: p for p in d["by_instance"]}
    assert set(pods) == {"billing-a", "billing-b"} and d["by_instance_total"] == 2
    assert (pods["billing-a"]["count"], pods["billing-b"]["count"]) == (32, 8)
    assert pods["billing-b"]["p95_ms"] == pytest.approx(30, abs=1)
    # the map's own numbers, from its kept staging, say the same
    window = StagedWindow(store)
    try:
        staged = window.detail(EDGE)
    finally:
        window.close()
    for k in ("by_partition", "by_partition_total", "by_instance", "by_instance_total"):
        assert staged[k] == d[k], k
    # a publish edge has neither; nor has a delivery edge of one partition and one pod
    assert "by_partition" not in edge_detail(store, "service:shop->topic:orders")


def test_one_partition_one_pod_shows_no_breakdown():
    ss = SpanSet()
    for i in range(5):
        prod = ss.producer("shop", "orders", start_ms=i * 100.0)
        ss.consumer("billing", "orders", parent=prod, start_ms=i * 100.0 + 5,
                    attrs={"messaging.destination.partition.id": "0"})
    st = ss.store()
    try:
        d = edge_detail(st, EDGE)
    finally:
        st.close()
    assert d["count"] == 5 and not any(k.startswith("by_") for k in d)


def test_the_panel_lists_the_longest_queues_first(store: Store):
    from tests.test_dashboard_app import find_all, text_of
    panel = detail_panel(EDGE, edge_detail(store, EDGE), ALL)
    tables = {t.id: t for t in find_all(panel, "Markdown")}
    parts = tables["map-by-partition"].children.splitlines()
    assert parts[0].startswith("| partition | deliveries | queue p95 |")
    assert "| 3 | 10 | 500 ms |" in parts[2]  # (the first row: the hot partition)
    assert "billing&#45;b" in tables["map-by-instance"].children
    text = text_of(panel)
    assert "By partition" in text and "By consumer instance" in text
    assert "by partition total" not in text  # (the count goes in the heading when cut)


def test_a_services_work_by_instance(store: Store):
    """A click on a service: its units of work by pod, the slowest first; no partitions."""
    from tests.test_dashboard_app import find_all
    d = edge_detail(store, "service:billing")
    assert "by_partition" not in d
    assert [(r["key"], r["count"]) for r in d["by_instance"]] == [("billing-b", 8),
                                                                  ("billing-a", 32)]
    assert d["by_instance"][0]["p95_ms"] == pytest.approx(30, abs=1)
    assert d["by_instance"][0]["queue_p95_ms"] is None
    table = next(t for t in find_all(detail_panel("service:billing", d, ALL), "Markdown")
                 if t.id == "map-by-instance")
    assert table.children.splitlines()[0] == "| instance | spans | p95 | errors |"
    assert "by_instance" not in edge_detail(store, "service:shop")  # (one, unnamed)
