"""A client span with no server span under it, to an address where one service answers the
window's other calls, is a call to that service (analyzer_hops' learned): its server spans
are not in yet (each service exports on its own schedule), were lost or not sampled. It is
no external peer of its own, a node that would come and go on a live map; in a window
running to the present, its flow is still under way."""

from __future__ import annotations

from analyzer import analyze, edge_detail, flow_for_trace
from tests.analysis_checks import edges_of
from tests.builders import SpanSet

ADDRESS = "payments.shop.svc.cluster.local"


def _checkout(b: SpanSet, t: float, answered_by: str | None, address: str = ADDRESS) -> None:
    """order-service's request calling ``address``; ``answered_by`` the service whose server
    span is under the client span (None: not in yet)."""
    root = b.span("order-service", "POST /orders", kind="SERVER", start_ms=t, dur_ms=50)
    c = b.span("order-service", "POST", kind="CLIENT", parent=root, start_ms=t + 5, dur_ms=30,
               attrs={"server.address": address, "http.request.method": "POST"})
    if answered_by:
        b.span(answered_by, "POST /pay", kind="SERVER", parent=c, start_ms=t + 7, dur_ms=25)


def _details_agree(st, a) -> None:
    for e in a.edges:
        assert edge_detail(st, e["id"])["count"] == e["count"], e["id"]


def test_a_call_whose_server_spans_are_not_in_yet_is_a_call_to_the_service():
    b = SpanSet()
    for i in range(5):
        _checkout(b, i * 1000, "payment-service")
    _checkout(b, 5000, None)  # its server's spans come with payment-service's next export
    st = b.store()
    live = analyze(st, now_ns=b.ms(5100))
    assert edges_of(live) == {"service:order-service->service:payment-service": ("call", 6)}
    assert not any(n["type"] == "external" for n in live.nodes)
    _details_agree(st, live)
    # (the flow is under way, in no flow type, until the window's end has passed it)
    assert [f["count"] for f in live.flows] == [5]
    assert live.summary["flows_under_way"] == 1
    later = analyze(st, now_ns=b.ms(600_000))
    assert [f["count"] for f in later.flows] == [6]
    assert later.summary["flows_under_way"] == 0
    # (the flow view, staging that flow's trace alone, names the service the map does)
    view = flow_for_trace(st, b.spans[-1].ref.trace_id)
    assert [x["hop"] for x in view["critical_path_segments"] if x["kind"] == "call"] == \
        ["service:order-service->service:payment-service"]


def test_a_peer_several_services_answer_at_stays_external():
    """A gateway's address: the window's calls to it reached two services, so a call that
    reached none went to neither in particular."""
    b = SpanSet()
    for i in range(4):
        _checkout(b, i * 1000, "payment-service" if i % 2 else "refund-service")
    _checkout(b, 4000, None)
    st = b.store()
    a = analyze(st, now_ns=b.ms(600_000))
    assert edges_of(a) == {"service:order-service->service:payment-service": ("call", 2),
                           "service:order-service->service:refund-service": ("call", 2),
                           f"service:order-service->external:{ADDRESS}": ("call", 1)}
    _details_agree(st, a)


def test_a_loopback_address_is_learned_from_nothing():
    """localhost is where a sidecar answers for its app, or any local agent: that one
    service answered there does not make every call to it one to that service."""
    b = SpanSet()
    for i in range(3):
        _checkout(b, i * 1000, "payment-service", address="localhost")
    _checkout(b, 3000, None, address="localhost")
    st = b.store()
    a = analyze(st, now_ns=b.ms(600_000))
    assert edges_of(a) == {"service:order-service->service:payment-service": ("call", 3),
                           "service:order-service->external:localhost": ("call", 1)}
    _details_agree(st, a)


def test_a_service_filter_keeps_the_learned_call():
    """Learned over the window, before a service filter narrows it: the filtered map and
    the edge's detail count the call the same."""
    b = SpanSet()
    for i in range(3):
        _checkout(b, i * 1000, "payment-service")
    _checkout(b, 3000, None)
    st = b.store()
    a = analyze(st, service="order-service", now_ns=b.ms(600_000))
    assert edges_of(a) == {"service:order-service->service:payment-service": ("call", 4)}
    eid = "service:order-service->service:payment-service"
    assert edge_detail(st, eid, service="order-service")["count"] == 4
