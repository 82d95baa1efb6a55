"""Messages the broker routes to another destination (RabbitMQ exchange -> queue, SNS topic
-> SQS queue): the producer names one destination, its consumers another."""

from __future__ import annotations

import pytest

from analyzer import analyze, edge_detail, flow_for_trace
from analyzer.render import to_text
from tests.builders import SpanSet

EXCHANGE, EMAIL_Q, BILLING_Q = "orders-exchange", "email-queue", "billing-queue"


def _fanout(b: SpanSet, t: float, i: int, *, email_via: str = "parent",
            billing_via: str = "link") -> dict:
    """orders publishes to the exchange; email and billing consume from their own queues."""
    root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
    pub = b.producer("orders", EXCHANGE, parent=root, start_ms=t + 5, dur_ms=2,
                     message_id=f"m{i}", system="rabbitmq")
    out = {"root": root, "pub": pub}
    for svc, queue, via, delay in (("email", EMAIL_Q, email_via, 30),
                                   ("billing", BILLING_Q, billing_via, 40)):
        kw = {"parent": pub} if via == "parent" else {"link": pub} if via == "link" else {}
        out[svc] = b.consumer(svc, queue, start_ms=t + delay + i, dur_ms=5,
                              message_id=f"m{i}", system="rabbitmq", **kw)
    return out


def _edges(a):
    return {e["id"]: e for e in a.edges}


def test_routes_connect_the_exchange_to_its_queues_on_the_map():
    b = SpanSet()
    for i in range(4):
        _fanout(b, i * 1000, i)
    a = analyze(b.store())
    e = _edges(a)
    route = e[f"topic:{EXCHANGE}->topic:{EMAIL_Q}"]
    assert (route["type"], route["count"]) == ("route", 4)
    assert e[f"topic:{EXCHANGE}->topic:{BILLING_Q}"]["count"] == 4
    # publish end (t+7) to first delivery from the queue (t+30+i): 23..26 ms
    assert route["p50_ms"] == pytest.approx(24.5)
    assert e[f"topic:{EMAIL_Q}->service:email"]["queue_p50_ms"] == pytest.approx(24.5)
    # the exchange's messages are consumed (through its queues): no false alarm
    assert not [x for x in a.anomalies if x["type"] in (
        "published_never_consumed", "consumer_without_producer", "broken_context")]
    # one connected component: service -> exchange -> queue -> service
    import networkx as nx
    assert nx.number_weakly_connected_components(a.graph) == 1
    assert "route    topic:orders-exchange -> topic:email-queue: 4" in to_text(a)


def test_routed_fanout_is_choreography_and_one_flow():
    b = SpanSet()
    for i in range(3):
        _fanout(b, i * 1000, i)
    a = analyze(b.store())
    (flow,) = a.flows
    assert flow["count"] == 3 and flow["style"] == "choreography"
    assert flow["style_measure"]["event_driven"] == 2
    assert f"topic:{EXCHANGE}->topic:{BILLING_Q}" in flow["hops"]
    # the linked billing trace is part of the flow instance
    assert flow["traces_per_flow"] == 2.0


def test_lost_context_on_a_queue_is_stitched_through_a_known_route():
    """Deliveries that lost their context are joined by message id to the exchange's
    producer, because other deliveries showed that the exchange routes to that queue."""
    b = SpanSet()
    for i in range(4):
        _fanout(b, i * 1000, i, billing_via="parent" if i < 2 else "none")
    a = analyze(b.store())
    con = _edges(a)[f"topic:{BILLING_Q}->service:billing"]
    assert con["joined_by"] == {"context": 2, "message_id": 2, "none": 0, "outside": 0}
    # the queue has producers upstream: lost context is broken propagation, not a consumer
    # without any producer
    (broken,) = [x for x in a.anomalies if x["type"] == "broken_context"]
    assert broken["where"] == f"topic:{BILLING_Q}->service:billing" and broken["count"] == 2
    assert not [x for x in a.anomalies if x["type"] == "consumer_without_producer"]


def test_without_a_known_route_message_ids_do_not_join_across_destinations():
    """A message id alone is not evidence that two destinations are connected."""
    b = SpanSet()
    for i in range(2):
        _fanout(b, i * 1000, i, email_via="none", billing_via="none")
    a = analyze(b.store())
    assert not [e for e in a.edges if e["type"] == "route"]
    assert {x["type"] for x in a.anomalies} >= {"consumer_without_producer",
                                                 "published_never_consumed"}


def test_same_destination_makes_no_route():
    b = SpanSet()
    root = b.span("orders", "POST /orders", kind="SERVER", dur_ms=20)
    pub = b.producer("orders", "orders", parent=root, start_ms=5, message_id="m")
    b.consumer("email", "orders", parent=pub, start_ms=30, message_id="m")
    a = analyze(b.store())
    assert {e["type"] for e in a.edges} == {"publish", "consume"}


def test_route_edge_detail_and_flow_view():
    b = SpanSet()
    refs = [_fanout(b, i * 1000, i) for i in range(3)]
    st = b.store()
    d = edge_detail(st, f"topic:{EXCHANGE}->topic:{EMAIL_Q}")
    assert (d["type"], d["count"]) == ("route", 3)
    assert d["p50_ms"] == pytest.approx(24.0)
    # the waterfall of one flow: every span once, the producer not doubled by its routes
    f = flow_for_trace(st, refs[0]["root"].trace_id)
    ids = [s["span_id"] for s in f["spans"]]
    assert len(ids) == len(set(ids)) == 4


def _through_the_default_exchange(b: SpanSet, t: float,
                                  hops: list[tuple[str, str, str]]) -> None:
    """Each (sender, queue, receiver) in turn, each sent from the previous delivery: the
    sender publishes to RabbitMQ's default exchange with the queue as routing key, and the
    receiver consumes from that queue."""
    parent = b.span(hops[0][0], "POST /orders", kind="SERVER", start_ms=t, dur_ms=5)
    for k, (sender, queue, receiver) in enumerate(hops):
        pub = b.producer(sender, "", parent=parent, start_ms=t + 10 * k + 1, dur_ms=1,
                         system="rabbitmq",
                         attrs={"messaging.rabbitmq.destination.routing_key": queue})
        parent = b.consumer(receiver, queue, parent=pub, start_ms=t + 10 * k + 5, dur_ms=3,
                            system="rabbitmq")


def _cycles(a) -> list[tuple[str, int, int]]:
    return [(x["where"], x["count"], x["loops"]) for x in a.anomalies if x["type"] == "cycle"]


def test_a_chain_through_one_exchange_is_no_cycle():
    """A sends through the default exchange to B's queue, B to C's: on the map B both
    receives from the exchange (by its queue) and sends to it, a simple cycle B -> exchange
    -> B's queue -> B. But B's own messages went to C's queue: no message came round."""
    b = SpanSet()
    for i in range(3):
        _through_the_default_exchange(b, i * 100, [("a", "b-queue", "b"),
                                                   ("b", "c-queue", "c")])
    a = analyze(b.store())
    assert {"service:b->topic:amq.default", "topic:amq.default->topic:b-queue",
            "topic:b-queue->service:b"} <= set(_edges(a))
    assert _cycles(a) == []


def test_request_and_answer_through_the_default_exchange_is_one_reply_cycle():
    """A client's request through the default exchange to the server's queue, the answer
    through it to the client's queue: the one cycle passes the exchange twice. Neither
    "the client's requests back to the client" (client -> exchange -> client's queue) nor
    the server's answers back to the server are cycles: the exchange took each service's
    messages to the other's queue."""
    b = SpanSet()
    for i in range(3):
        _through_the_default_exchange(b, i * 100, [("client", "rpc-queue", "server"),
                                                   ("server", "reply-queue", "client")])
    assert _cycles(analyze(b.store())) == [
        ("service:client -> topic:amq.default -> topic:rpc-queue -> service:server"
         " -> topic:amq.default -> topic:reply-queue -> service:client", 3, 0)]
