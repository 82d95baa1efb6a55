"""Time windows and the service filter restrict every staged table the same way."""

from __future__ import annotations

import pytest

from analyzer import analyze, flow_for_trace
from analyzer.model import ids
from analyzer.render import to_text
from tests.builders import SpanSet


def _spans(rounds, base_ns: int = 1_700_000_000_000_000_000, report: bool = True) -> SpanSet:
    b = SpanSet(base_ns=base_ns)
    for i in rounds:
        t = i * 1000
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
        b.client_call("orders", "inventory", parent=root, start_ms=t + 1, dur_ms=3)
        b.client_call("orders", None, parent=root, start_ms=t + 2, dur_ms=2,
                      peer={"db.system": "postgresql"})
        pub = b.producer("orders", "order-placed", parent=root, start_ms=t + 5, dur_ms=2,
                         message_id=f"m{i}")
        con = b.consumer("billing", "order-placed", link=pub, start_ms=t + 30, dur_ms=10,
                         message_id=f"m{i}", status="ERROR" if i == 1 else "UNSET")
        b.client_call("billing", "ledger", parent=con, start_ms=t + 32, dur_ms=5)
    if report:  # a flow of its own that never touches billing
        b.span("reports", "GET /report", kind="SERVER", start_ms=5000, dur_ms=7)
    return b


def _now_and_later(st, b: SpanSet):
    """The analyses of ``st`` at the present just after its last round (80.1 s in) and a
    minute later, when every flow under way then has had its time."""
    now_ns = b.ms(80_100)
    return analyze(st, now_ns=now_ns), analyze(st, now_ns=now_ns + 60 * 10**9)


def _shape(a) -> dict:
    return {
        "edges": sorted((e["id"], e["type"], e["count"], e["error_count"], e["p50_ms"],
                         e["first_ns"], e["last_ns"]) for e in a.edges),
        "nodes": sorted((n["id"], n.get("span_count"), n.get("error_count"),
                         n.get("in_count"), n.get("out_count")) for n in a.nodes),
        "flows": sorted((f["signature"], f["count"], f["error_count"], f["e2e_p50_ms"],
                         tuple(f["services"])) for f in a.flows),
        "spans": a.summary["span_count"], "traces": a.summary["trace_count"],
        "anomalies": sorted((x["type"], x["where"], x.get("count")) for x in a.anomalies),
    }


@pytest.fixture(scope="module")
def stores():
    whole, middle = _spans(range(3)), _spans([1], report=False)
    a, b = whole.store(), middle.store()
    yield whole, a, b
    a.close()
    b.close()


def test_a_window_is_the_analysis_of_its_spans_alone(stores):
    whole, st, only_middle = stores
    w = analyze(st, since_ns=whole.ms(1000), until_ns=whole.ms(2000))
    assert _shape(w) == _shape(analyze(only_middle))
    assert w.summary["span_count"] == len(_spans([1], report=False).spans)
    assert w.summary["since_ns"] == whole.ms(1000)
    assert {e["id"]: e["count"] for e in w.edges}["service:orders->topic:order-placed"] == 1


def test_a_delivery_whose_publish_is_before_the_window_did_not_lose_its_context(stores):
    """A window starting between a publish and its delivery cuts that flow: the delivery
    links to a span the window does not hold. It carried its context: no lost context on
    the edge, no anomaly; a delivery that names no producer at all still lost it."""
    whole, st, _ = stores
    a = analyze(st, since_ns=whole.ms(1010), until_ns=whole.ms(3000))
    consume = next(e for e in a.edges if e["type"] == "consume")
    assert consume["count"] == 2 and consume["broken_context_count"] == 0
    assert consume["joined_by"] == {"context": 1, "message_id": 0, "none": 0, "outside": 1}
    assert a.anomalies == []

    b = _spans(range(3), report=False)
    b.consumer("billing", "order-placed", start_ms=2060, message_id="lost")  # a root
    a = analyze(b.store(), since_ns=b.ms(1010))
    consume = next(e for e in a.edges if e["type"] == "consume")
    assert consume["joined_by"] == {"context": 1, "message_id": 0, "none": 1, "outside": 1}
    assert [(x["type"], x["count"]) for x in a.anomalies] == [("broken_context", 1)]


def test_a_flow_under_way_when_the_window_began_is_no_flow_type_of_its_own(stores):
    """What a window starting between a publish and its delivery keeps of that flow, the
    delivery and what followed, is counted as a flow begun before the window, not as a flow
    type entering at billing. Joined by a link (a trace per service) or by the parent (one
    trace) alike; its hops stay on the map."""
    whole, st, _ = stores
    a = analyze(st, since_ns=whole.ms(1010), until_ns=whole.ms(3000))
    assert [(f["entry_service"], f["count"]) for f in a.flows] == [("orders", 1)]
    assert a.summary["flows_begun_before"] == 1 and a.summary["flow_instance_count"] == 1
    assert {e["id"]: e["count"] for e in a.edges}["service:billing->service:ledger"] == 2
    assert "1 flow instances of 1 types (and 1 began before the window: in no type)" \
        in to_text(a)
    assert analyze(st).summary["flows_begun_before"] == 0
    # (the window from the store's beginning: nothing began before it)
    assert analyze(st, until_ns=whole.ms(1010)).summary["flows_begun_before"] == 0

    b = SpanSet()
    for i in range(3):
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=i * 100, dur_ms=20)
        pub = b.producer("orders", "placed", parent=root, start_ms=i * 100 + 5, dur_ms=2)
        con = b.consumer("billing", "placed", parent=pub, start_ms=i * 100 + 40, dur_ms=10)
        b.client_call("billing", "ledger", parent=con, start_ms=i * 100 + 42, dur_ms=5)
    a = analyze(b.store(), since_ns=b.ms(120))  # (after the second publish, before its delivery)
    assert [(f["entry_service"], f["count"]) for f in a.flows] == [("orders", 1)]
    assert a.summary["flows_begun_before"] == 1
    billing = analyze(b.store(), since_ns=b.ms(120), service="billing")
    assert billing.summary["flows_begun_before"] == 1 and len(billing.flows) == 1


def test_a_flow_still_under_way_at_the_window_end_is_no_flow_type_of_its_own(stores):
    """A window ending between a publish and its delivery, or the present before the
    delivery's spans arrived: that flow is still under way, counted, in no flow type (it
    would be a type ending at the publish). Once the delivery could have arrived and did
    not, the flow ended there: a type of its own, and the publish unconsumed."""
    whole, st, _ = stores
    a = analyze(st, until_ns=whole.ms(1010))
    assert [(f["entry_service"], f["count"], len(f["hops"])) for f in a.flows] == [
        ("orders", 1, 5)]
    assert (a.summary["flows_under_way"], a.summary["flows_begun_before"]) == (1, 0)
    assert {e["id"]: e["count"] for e in a.edges}["service:orders->topic:order-placed"] == 2
    assert "1 under way at its end" in to_text(a)
    # ... or whose delivery was still running when the window ended (it could go on to
    # publish, or call, after it)
    a = analyze(st, until_ns=whole.ms(1035))
    assert [(f["count"], len(f["hops"])) for f in a.flows] == [(1, 5)]
    assert a.summary["flows_under_way"] == 1

    # (rounds 40 s apart: only the last is recent)
    b = _spans((0, 40, 80), report=False)
    # (round 2's delivery, a trace linked to its publish, is not here yet)
    last = next(x.ref for x in reversed(b.spans) if x.service == "billing")
    b.spans = [x for x in b.spans if x.ref.trace_id != last.trace_id]
    st2 = b.store()
    now, later = _now_and_later(st2, b)
    assert [(f["count"], len(f["hops"])) for f in now.flows] == [(2, 5)]
    assert now.summary["flows_under_way"] == 1
    assert [x["type"] for x in now.anomalies] == []
    assert sorted((f["count"], len(f["hops"])) for f in later.flows) == [(1, 3), (2, 5)]
    assert later.summary["flows_under_way"] == 0
    assert [x["type"] for x in later.anomalies] == ["published_never_consumed"]

    # A publish one subscriber of its topic has received and another not yet.
    b = _spans((0, 40, 80), report=False)
    for i, pub in enumerate(x.ref for x in b.spans if x.kind == "PRODUCER"):
        if i < 2:
            b.consumer("shipping", "order-placed", link=pub, start_ms=i * 40_000 + 50)
    st4 = b.store()
    now, later = _now_and_later(st4, b)
    assert [(f["count"], len(f["hops"])) for f in now.flows] == [(2, 6)]
    assert now.summary["flows_under_way"] == 1
    assert sorted((f["count"], len(f["hops"])) for f in later.flows) == [(1, 5), (2, 6)]

    # A delivery that failed, its retry not here yet (and once it is, the flow goes on).
    b = _spans((0, 40, 80), report=False)
    pub = [x.ref for x in b.spans if x.kind == "PRODUCER"][2]
    for x in b.spans:
        if x.kind == "CONSUMER" and x.start_ns == b.ms(80_030):
            x.status = "ERROR"
    now = analyze(b.store(), now_ns=b.ms(80_100))
    assert now.summary["flows_under_way"] == 1 and [f["count"] for f in now.flows] == [2]
    b.consumer("billing", "order-placed", link=pub, start_ms=80_500, dur_ms=10)
    now = analyze(b.store(), now_ns=b.ms(80_600))
    assert now.summary["flows_under_way"] == 0 and [f["count"] for f in now.flows] == [3]

    # A request still being served: its calls' spans are in, its own (the root) is still
    # open, as exported spans come when they end. Once its root is long overdue, the trace
    # enters where its spans begin.
    b = _spans((0, 40), report=False)
    root = b.span("orders", "POST /orders", kind="SERVER", start_ms=80_000, dur_ms=900)
    b.client_call("orders", "inventory", parent=root, start_ms=80_001, dur_ms=3)
    b.spans = [x for x in b.spans if x.ref != root]
    st3 = b.store()
    now, later = _now_and_later(st3, b)
    assert [(f["count"], len(f["hops"])) for f in now.flows] == [(2, 5)]
    assert now.summary["flows_under_way"] == 1
    assert sorted((f["count"], len(f["hops"])) for f in later.flows) == [(1, 1), (2, 5)]
    assert later.summary["flows_under_way"] == 0


def test_a_delivery_whose_producer_span_never_arrived_did_not_lose_its_context():
    """A delivery whose parent is the publish of a service whose spans never reached us
    (not exported, sampled out, left open) names that span: its context was carried."""
    b = SpanSet()
    for i in range(2):
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=i * 100, dur_ms=20)
        pub = b.producer("orders", "placed", parent=root, start_ms=i * 100 + 5,
                         message_id=f"m{i}")
        b.consumer("billing", "placed", parent=pub, start_ms=i * 100 + 30, message_id=f"m{i}")
    lost = b.spans[0].ref.trace_id
    b.spans = [s for s in b.spans if not (s.ref.trace_id == lost and s.service == "orders")]
    st = b.store()
    a = analyze(st)
    consume = next(e for e in a.edges if e["type"] == "consume")
    assert consume["joined_by"] == {"context": 1, "message_id": 0, "none": 0, "outside": 1}
    assert consume["broken_context_count"] == 0 and a.anomalies == []
    # The flow view says which span's parent never arrived.
    view = flow_for_trace(st, lost)
    assert [(x["name"], x["parent_missing"]) for x in view["spans"]] == [
        ("process placed", True)]
    kept = flow_for_trace(st, next(x.ref.trace_id for x in b.spans if x.service == "orders"))
    assert not any(x["parent_missing"] for x in kept["spans"])
    # A span the store never received cuts no flow, from a window or not: the flow began
    # where its spans say (at billing).
    for w in (a, analyze(st, since_ns=b.ms(1))):
        assert w.summary["flows_begun_before"] == 0
        assert "billing" in [f["entry_service"] for f in w.flows]


def test_an_empty_window_gives_an_empty_analysis(stores):
    whole, st, _ = stores
    a = analyze(st, since_ns=whole.ms(9000), until_ns=whole.ms(9001))
    assert (a.summary["span_count"], a.edges, a.flows, a.nodes) == (0, [], [], [])


def test_the_service_filter_keeps_whole_flows_that_involve_it(stores):
    _, st, _ = stores
    full = analyze(st)
    billing = analyze(st, service="billing")
    # the three order flows involve billing, the report does not
    assert billing.summary["trace_count"] == full.summary["trace_count"] - 1
    assert billing.summary["span_count"] == full.summary["span_count"] - 1
    assert "service:reports" in {n["id"] for n in full.nodes}
    assert "service:reports" not in {n["id"] for n in billing.nodes}
    assert sorted(e["id"] for e in billing.edges) == sorted(
        e["id"] for e in full.edges if "reports" not in e["id"])
    for e in billing.edges:   # every edge lost nothing but the report's
        assert e["count"] == next(x["count"] for x in full.edges if x["id"] == e["id"])
    reports = analyze(st, service="reports")
    assert reports.summary["span_count"] == 1 and reports.edges == []
    assert analyze(st, service="nobody").summary["span_count"] == 0


def test_ids_keeps_first_occurrence_order():
    assert ids(["b", None, "a", "b", "c", "a"]) == ["b", "a", "c"]
    assert ids(None) == [] and ids([]) == []
