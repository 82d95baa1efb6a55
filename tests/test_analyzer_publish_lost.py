"""Lost context on the publishing side (``analyzer_publish_lost``): a service that handles
other services' messages publishes in a trace of its own, so the flow breaks there though
every delivery was joined. Seen for real with kafka-python's and aiokafka's receive spans,
which end before the handler runs (tests/test_real_broker.py); these shapes pin the rule's
edges: what counts as the root of a flow, and what is no handled message."""

from __future__ import annotations

from analyzer import analyze
from tests.builders import SpanSet

N = 3


def _lost(a) -> list[tuple[str, int, float]]:
    return [(x["where"], x["count"], x["share"]) for x in a.anomalies
            if x["type"] == "publish_without_context"]


def _order(b: SpanSet, t: float):  # type: ignore[no-untyped-def]
    """An order placed by a request: the API's publish to "orders"."""
    root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=10)
    return b.producer("api", "orders", parent=root, start_ms=t + 2)


def test_a_handler_outside_its_receive_span_publishes_at_the_root_of_a_new_trace():
    """kafka-python's shape: billing's receive span (the child of the publish) has ended
    when the handler runs; the handler's span is a root, its publish to "invoices" under it,
    and the mailer's delivery the child of that publish. Every delivery joins by context,
    yet the invoice is a flow of its own: reported at billing's publish, with what billing
    consumes, the example traces being the invoices'."""
    b = SpanSet()
    invoice_traces = set()
    for i in range(N):
        t = i * 100
        pub = _order(b, t)
        b.consumer("billing", "orders", parent=pub, start_ms=t + 5, dur_ms=0.1,
                   operation="receive")
        handler = b.span("billing", "handle order", start_ms=t + 5.2, dur_ms=6)
        invoice_traces.add(handler.trace_id)
        inv = b.producer("billing", "invoices", parent=handler, start_ms=t + 8)
        b.consumer("mailer", "invoices", parent=inv, start_ms=t + 12)
    a = analyze(b.store())
    assert _lost(a) == [("service:billing->topic:invoices", N, 1.0)]
    (x,) = [x for x in a.anomalies if x["type"] == "publish_without_context"]
    assert x["consumes"] == ["topic:orders"]
    assert set(x["example_trace_ids"]) == invoice_traces
    assert "billing handles messages from topic:orders" in x["detail"]
    # (the publishing and the consuming edges themselves are as the spans say; the map
    # draws the publish edge as a broken propagation)
    assert a.edge("topic:orders->service:billing")["joined_by"]["context"] == N
    assert a.edge("topic:invoices->service:mailer")["joined_by"]["context"] == N
    assert a.edge("service:billing->topic:invoices")["broken_context_count"] == N
    assert a.edge("topic:invoices->service:mailer")["broken_context_count"] == 0


def test_only_the_publishes_that_lost_it_count_beside_those_that_kept_it():
    """One of three handlers keeps its delivery's context (its publish is the child of the
    process span): two of three are reported, a share of 2/3."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        pub = _order(b, t)
        delivery = b.consumer("billing", "orders", parent=pub, start_ms=t + 5, dur_ms=8)
        parent = delivery if i == 0 else b.span("billing", "handle order", start_ms=t + 6)
        b.producer("billing", "invoices", parent=parent, start_ms=t + 8)
    a = analyze(b.store())
    assert _lost(a) == [("service:billing->topic:invoices", 2, 0.6667)]
    assert a.edge("service:billing->topic:invoices")["broken_context_count"] == 2


def test_a_request_served_by_a_consuming_service_starts_its_flow_rightly():
    """billing consumes orders and also serves a request that publishes a refund: the
    refund's flow starts at a SERVER span, where flows start. Nothing is lost."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        pub = _order(b, t)
        b.consumer("billing", "orders", parent=pub, start_ms=t + 5, dur_ms=8)
        req = b.span("billing", "POST /refunds", kind="SERVER", start_ms=t + 50, dur_ms=9)
        b.producer("billing", "refunds", parent=req, start_ms=t + 52)
    assert _lost(analyze(b.store())) == []


def test_a_handler_linked_to_its_delivery_carries_the_context_by_the_link():
    """The handler starts a new trace but links to the delivery it handles (a batch span, a
    "follows from" link): the flow goes on through the link, so its publish lost nothing."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        pub = _order(b, t)
        delivery = b.consumer("billing", "orders", parent=pub, start_ms=t + 5, dur_ms=0.1)
        handler = b.span("billing", "handle order", start_ms=t + 6, links=[delivery])
        b.producer("billing", "invoices", parent=handler, start_ms=t + 8)
    a = analyze(b.store())
    assert _lost(a) == []
    assert [f["count"] for f in a.flows] == [N]  # (one flow per order, across two traces)


def test_a_client_receiving_replies_is_no_consumer_of_what_it_sends():
    """A script sends requests from root spans and receives each reply on a temporary
    queue: the replies answer its own requests, so its requests lost nothing."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("client", "send requests", start_ms=t, dur_ms=30)
        req = b.producer("client", "prices", parent=root, start_ms=t + 1)
        b.consumer("pricer", "prices", parent=req, start_ms=t + 3, dur_ms=5)
        reply = b.producer("pricer", "amq.gen-Xa1", start_ms=t + 6,
                           attrs={"messaging.destination.temporary": True},
                           parent=None)
        b.consumer("client", "amq.gen-Xa1", parent=reply, start_ms=t + 9,
                   attrs={"messaging.destination.temporary": True})
    a = analyze(b.store())
    # (the pricer's reply, at the root of a trace of its own, did lose the request's
    # context: pricer handles the client's messages)
    assert _lost(a) == [("service:pricer->topic:(temporary:kafka)", N, 1.0)]


def test_a_service_feeding_only_itself_is_not_reported():
    """A worker re-publishing to its own queue from a scheduled root span consumes only its
    own messages: no other service's context could have been lost there."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        tick = b.span("worker", "cron tick", start_ms=t, dur_ms=5)
        pub = b.producer("worker", "jobs", parent=tick, start_ms=t + 1)
        b.consumer("worker", "jobs", parent=pub, start_ms=t + 3)
    assert _lost(analyze(b.store())) == []
