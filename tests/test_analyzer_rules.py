"""Each rule of the analyzer on a small hand-built span set (see tests/builders.py)."""

from __future__ import annotations

import pytest

from analyzer import analyze, edge_detail, flow_for_trace, render
from choreoscope.store import Store
from tests.builders import SpanRef, SpanSet


def _edges(a):
    return {e["id"]: e for e in a.edges}


def _anoms(a, typ):
    return [x for x in a.anomalies if x["type"] == typ]


def _order_flow(b: SpanSet, t: float, *, via: str = "link", legacy: bool = False,
                mid: str | None = None, consumer_start: float = 30.0):
    """orders publishes order-placed (message id ``mid``); billing consumes it."""
    root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
    pub = b.producer("orders", "order-placed", parent=root, start_ms=t + 5, dur_ms=2,
                     message_id=mid, legacy=legacy)
    kw = {}
    if via == "link":
        kw["link"] = pub
    elif via == "parent":
        kw["parent"] = pub
    con = b.consumer("billing", "order-placed", start_ms=t + consumer_start, dur_ms=10,
                     message_id=mid, legacy=legacy, **kw)
    return root, pub, con


def test_empty_store_gives_empty_analysis():
    st = Store.open(":memory:")
    a = analyze(st)
    d = a.to_dict()
    assert d["nodes"] == [] and d["edges"] == [] and d["flows"] == []
    assert d["bottlenecks"] == [] and d["anomalies"] == []
    assert d["summary"]["span_count"] == 0 and d["summary"]["flow_count"] == 0
    assert flow_for_trace(st, "0" * 31 + "1") is None


@pytest.mark.parametrize("via", ["parent", "link"])
def test_publish_and_consume_edges_with_queue_time(via):
    b = SpanSet()
    for i in range(4):
        _order_flow(b, i * 1000, via=via, consumer_start=30 + i)
    a = analyze(b.store())
    e = _edges(a)
    pub, con = e["service:orders->topic:order-placed"], e["topic:order-placed->service:billing"]
    assert (pub["type"], pub["count"]) == ("publish", 4)
    assert (con["type"], con["count"]) == ("consume", 4)
    # queue time = consumer start - producer end = 30+i - 7
    assert con["queue_p50_ms"] == pytest.approx(24.5)
    assert con["broken_context_count"] == 0 and not _anoms(a, "broken_context")
    (flow,) = a.flows
    assert flow["count"] == 4 and flow["traces_per_flow"] == (1.0 if via == "parent" else 2.0)
    assert flow["e2e_p50_ms"] == pytest.approx(41.5)


def test_link_from_producer_to_consumer_joins_too():
    """A link in the other direction (the producer points at the consumer)."""
    b = SpanSet()
    root = b.span("orders", "POST /orders", kind="SERVER", dur_ms=20)
    con = b.consumer("billing", "order-placed", start_ms=30, dur_ms=10)
    b.producer("orders", "order-placed", parent=root, start_ms=5, dur_ms=2, links=[con])
    a = analyze(b.store())
    con_e = _edges(a)["topic:order-placed->service:billing"]
    assert con_e["queue_p50_ms"] == pytest.approx(23.0)
    assert con_e["joined_by"]["context"] == 1
    assert len(a.flows) == 1 and a.flows[0]["traces_per_flow"] == 2.0


def test_legacy_attribute_names():
    b = SpanSet()
    _order_flow(b, 0, via="parent", legacy=True, mid="m1")
    a = analyze(b.store())
    assert {"service:orders->topic:order-placed",
            "topic:order-placed->service:billing"} <= set(_edges(a))
    topic = a.node("topic:order-placed")
    assert topic["system"] == "kafka"


def test_nested_producers_count_once_and_consumer_joins_the_inner_span():
    b = SpanSet()
    root = b.span("orders", "POST /orders", kind="SERVER", dur_ms=20)
    outer = b.producer("orders", "order-placed", parent=root, start_ms=4, dur_ms=4)
    inner = b.producer("orders", "order-placed", parent=outer, start_ms=5, dur_ms=2)
    b.consumer("billing", "order-placed", link=inner, start_ms=30, dur_ms=10)
    a = analyze(b.store())
    e = _edges(a)
    assert e["service:orders->topic:order-placed"]["count"] == 1
    assert e["service:orders->topic:order-placed"]["p50_ms"] == pytest.approx(4.0)
    assert e["topic:order-placed->service:billing"]["queue_p50_ms"] == pytest.approx(23.0)
    assert not _anoms(a, "published_never_consumed")


def test_lost_context_is_stitched_by_message_id():
    b = SpanSet()
    for i in range(3):
        _order_flow(b, i * 1000, via=None, mid=f"m{i}")
    # one more delivery whose producer never reported a message id: unstitchable
    _order_flow(b, 5000, via=None, mid=None)
    a = analyze(b.store())
    con = _edges(a)["topic:order-placed->service:billing"]
    assert con["count"] == 4 and con["broken_context_count"] == 4
    assert con["stitched_count"] == 3
    (anom,) = _anoms(a, "broken_context")
    assert anom["where"] == con["id"] and anom["count"] == 4 and anom["share"] == 1.0
    assert anom["stitched"] == 3
    # (the edge is the finding's where; the detail does not say it again)
    assert anom["detail"] == ("4 of 4 deliveries carry no parent or link to their producer; "
                              "3 were joined by message id")
    # stitched deliveries join their producer's flow; the fourth stays apart
    by_traces = sorted(f["traces_per_flow"] for f in a.flows)
    assert sum(f["count"] for f in a.flows) == 5  # 3 stitched + 1 orphan order + 1 consumer
    assert 2.0 in by_traces
    assert con["queue_p50_ms"] == pytest.approx(23.0)


def test_consumer_without_any_producer():
    b = SpanSet()
    b.consumer("billing", "payments", start_ms=0, dur_ms=3)
    a = analyze(b.store())
    (x,) = _anoms(a, "consumer_without_producer")
    assert x["where"] == "topic:payments->service:billing" and x["count"] == 1
    assert not _anoms(a, "broken_context")


def test_batch_consumer_joins_every_producer_without_merging_flows():
    b = SpanSet()
    pubs = []
    for i in range(5):
        _, pub, _ = _order_flow(b, i * 100, via="link", mid=f"m{i}")
        pubs.append(pub)
    batch = b.consumer("analytics", "order-placed", link=pubs,
                       link_message_ids=[f"m{i}" for i in range(5)], start_ms=900, dur_ms=50,
                       attrs={"messaging.batch.message_count": 5})
    a = analyze(b.store())
    e = _edges(a)["topic:order-placed->service:analytics"]
    assert e["count"] == 1 and e["message_count"] == 5 and e["batch_deliveries"] == 1
    assert e["broken_context_count"] == 0
    # the five orders stay five flow instances; the batch is a flow of its own
    assert sorted(f["count"] for f in a.flows) == [1, 5]
    # the batch's waterfall shows it with the producers it batched
    fl = flow_for_trace(b.store(), batch.trace_id)
    assert {s["service_name"] for s in fl["spans"]} >= {"analytics", "orders"}
    # an order's waterfall includes the batch consumer but not the other orders
    fl = flow_for_trace(b.store(), pubs[0].trace_id)
    roots = [s for s in fl["spans"] if s["name"] == "POST /orders"]
    assert len(roots) == 1
    assert any(s["service_name"] == "analytics" for s in fl["spans"])


def test_redelivery_after_failure_is_a_retry_on_the_critical_path():
    b = SpanSet()
    root = b.span("orders", "POST /orders", kind="SERVER", dur_ms=10)
    pub = b.producer("orders", "order-placed", parent=root, start_ms=2, dur_ms=1,
                     message_id="m1")
    b.consumer("billing", "order-placed", parent=pub, start_ms=5, dur_ms=5, status="ERROR",
               message_id="m1")
    b.consumer("billing", "order-placed", parent=pub, start_ms=1010, dur_ms=5,
               message_id="m1")
    a = analyze(b.store())
    e = _edges(a)["topic:order-placed->service:billing"]
    assert e["count"] == 2 and e["error_count"] == 1 and e["error_rate"] == 0.5
    (red,) = _anoms(a, "redelivery")
    assert red["count"] == 1 and red["where"] == e["id"]
    (flow,) = a.flows
    kinds = {(c["hop"], c["kind"]): c for c in flow["critical_path"]}
    retry = kinds[(e["id"], "retry")]
    assert retry["mean_ms"] == pytest.approx(1000.0)  # 1010 - (5 + 5)
    assert kinds[(e["id"], "queue")]["mean_ms"] == pytest.approx(2.0)
    assert flow["bottleneck"] == {"hop": e["id"], "kind": "retry", "share": retry["share"]}


def test_redeliveries_keyed_by_message_id_else_by_producer():
    b = SpanSet()
    root = b.span("orders", "POST /orders", kind="SERVER", dur_ms=10)
    # m1 twice (one redelivery); m2 and m3 once each (none)
    for mid, times in (("m1", 2), ("m2", 1), ("m3", 1)):
        pub = b.producer("orders", "order-placed", parent=root, start_ms=2, dur_ms=1,
                         message_id=mid)
        for k in range(times):
            b.consumer("billing", "order-placed", link=pub, start_ms=20 + 10 * k,
                       dur_ms=5, message_id=mid)
    # no message id: the same producer's message delivered three times (two redeliveries)
    pub = b.producer("orders", "order-placed", parent=root, start_ms=3, dur_ms=1)
    for k in range(3):
        b.consumer("billing", "order-placed", link=pub, start_ms=50 + 10 * k, dur_ms=5)
    a = analyze(b.store())
    (red,) = _anoms(a, "redelivery")
    assert red["where"] == "topic:order-placed->service:billing"
    assert (red["messages"], red["count"]) == (2, 3)


def test_clock_skew_is_counted_and_clipped():
    b = SpanSet()
    root = b.span("orders", "POST /orders", kind="SERVER", start_ms=100, dur_ms=20)
    pub = b.producer("orders", "order-placed", parent=root, start_ms=105, dur_ms=2)
    # the consumer's host clock runs 50 ms behind: it "starts" before its producer
    b.consumer("billing", "order-placed", link=pub, start_ms=80, dur_ms=10)
    # and a server span (shorter than its client: it could fit) that ends after it
    client, _ = b.client_call("orders", "stock", parent=root, start_ms=101, dur_ms=4,
                              server_dur_ms=3, server_offset_ms=30)
    a = analyze(b.store())
    skew = {x["where"]: x for x in _anoms(a, "clock_skew")}
    assert skew["topic:order-placed->service:billing"]["count"] == 1
    assert skew["service:orders->service:stock"]["count"] == 1
    (flow,) = a.flows
    total = sum(c["share"] for c in flow["critical_path"])
    assert total == pytest.approx(1.0, abs=0.01)  # clipped: no negative or double time
    assert all(c["mean_ms"] >= 0 for c in flow["critical_path"])


def test_a_server_span_ending_after_its_client_is_no_clock_skew():
    """A server span that starts inside its client span and ends after it finished after
    it had answered (nameko's RPC entrypoint ends its span once the reply is sent, which
    may be most of a quick call's span): no clock skew. One starting once its client had
    ended, though no longer than it, is: the clocks disagree."""
    b = SpanSet()
    for i in range(3):
        t = i * 100
        root = b.span("gateway", "POST /orders", kind="SERVER", start_ms=t, dur_ms=60)
        # 24 ms call; the server from 2.4 ms to 1.4 ms past the client's end
        b.client_call("gateway", "orders", parent=root, start_ms=t + 1, dur_ms=24,
                      server_dur_ms=23, server_offset_ms=2.4)
        # 15.8 ms call; the server from 14.3 ms, 2 of its 3.5 ms past the client's end
        b.client_call("gateway", "payments", parent=root, start_ms=t + 26, dur_ms=15.8,
                      server_dur_ms=3.5, server_offset_ms=14.3)
        # 10 ms call; the server 2 ms after the client's end
        b.client_call("gateway", "stock", parent=root, start_ms=t + 45, dur_ms=10,
                      server_dur_ms=8, server_offset_ms=12)
    a = analyze(b.store())
    assert a.edge("service:gateway->service:orders")["clock_skew_count"] == 0
    assert a.edge("service:gateway->service:payments")["clock_skew_count"] == 0
    assert a.edge("service:gateway->service:stock")["clock_skew_count"] == 3
    assert [(x["where"], x["count"]) for x in _anoms(a, "clock_skew")] == [
        ("service:gateway->service:stock", 3)]


@pytest.mark.parametrize("order", ["asis", "reversed", "shuffled"])
def test_traces_arriving_in_any_order_give_the_same_analysis(order):
    b = SpanSet()
    for i in range(3):
        root, pub, con = _order_flow(b, i * 1000, via="link", mid=f"m{i}")
        b.client_call("billing", "ledger", parent=con, start_ms=i * 1000 + 32, dur_ms=5)
    ref = analyze(b.store("asis")).to_dict()
    got = analyze(b.store(order, batches=4)).to_dict()
    assert got["edges"] == ref["edges"]
    assert got["flows"] == ref["flows"]
    assert got["anomalies"] == ref["anomalies"]


def test_calls_to_services_and_externals():
    b = SpanSet()
    root = b.span("orders", "POST /orders", kind="SERVER", dur_ms=50)
    b.client_call("orders", "stock", parent=root, start_ms=1, dur_ms=10, server_status="ERROR",
                  status="ERROR")
    b.client_call("orders", None, parent=root, start_ms=12, dur_ms=3,
                  peer={"db.system": "postgresql", "server.address": "db1"})
    b.client_call("orders", None, parent=root, start_ms=16, dur_ms=3,
                  peer={"server.address": "api.stripe.com"})
    b.client_call("orders", None, parent=root, start_ms=20, dur_ms=3,
                  peer={"peer.service": "stock"})  # a known service without its server span
    b.client_call("orders", None, parent=root, start_ms=25, dur_ms=3)  # names no peer
    a = analyze(b.store())
    e = _edges(a)
    assert set(e) == {"service:orders->service:stock", "service:orders->external:postgresql",
                      "service:orders->external:api.stripe.com"}
    assert e["service:orders->service:stock"]["count"] == 2
    assert e["service:orders->service:stock"]["error_count"] == 1
    assert {n["id"]: n["type"] for n in a.nodes}["external:postgresql"] == "external"


def test_consumer_without_destination_and_spans_without_messaging():
    b = SpanSet()
    root = b.span("orders", "POST /orders", kind="SERVER", dur_ms=5)
    b.span("orders", "compute", parent=root, start_ms=1, dur_ms=2)
    b.span("cron", "tick", kind="INTERNAL", start_ms=10, dur_ms=1)
    b.consumer("billing", None, start_ms=20, dur_ms=2)  # messaging attrs, no destination
    a = analyze(b.store())
    assert "topic:unknown->service:billing" in _edges(a)
    assert {n["id"] for n in a.nodes} >= {"service:orders", "service:cron", "topic:unknown"}
    assert a.summary["span_count"] == 4


def test_consumer_without_destination_takes_its_producers():
    b = SpanSet()
    root = b.span("orders", "POST /orders", kind="SERVER", dur_ms=10)
    pub = b.producer("orders", "order-placed", parent=root, start_ms=1, dur_ms=1)
    b.consumer("billing", None, parent=pub, start_ms=5, dur_ms=2)
    a = analyze(b.store())
    assert "topic:order-placed->service:billing" in _edges(a)
    assert "topic:unknown" not in {n["id"] for n in a.nodes}


def test_receive_and_process_spans_count_one_delivery():
    b = SpanSet()
    root = b.span("orders", "POST /orders", kind="SERVER", dur_ms=10)
    pub = b.producer("orders", "order-placed", parent=root, start_ms=1, dur_ms=1)
    poll = b.consumer("billing", "order-placed", link=pub, kind="CLIENT", operation="receive",
                      start_ms=3, dur_ms=5)
    b.consumer("billing", "order-placed", parent=poll, start_ms=8, dur_ms=4)
    a = analyze(b.store())
    e = _edges(a)["topic:order-placed->service:billing"]
    assert e["count"] == 1 and e["p50_ms"] == pytest.approx(4.0)
    assert e["broken_context_count"] == 0


def test_unconsumed_topic_and_cycle():
    b = SpanSet()
    for i in range(2):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=5)
        b.producer("orders", "audit", parent=root, start_ms=t + 1, dur_ms=1)
        cmd = b.producer("orders", "pay-cmd", parent=root, start_ms=t + 2, dur_ms=1)
        pay = b.consumer("payments", "pay-cmd", parent=cmd, start_ms=t + 5, dur_ms=5)
        reply = b.producer("payments", "pay-reply", parent=pay, start_ms=t + 8, dur_ms=1)
        b.consumer("orders", "pay-reply", parent=reply, start_ms=t + 12, dur_ms=2)
    a = analyze(b.store())
    (never,) = _anoms(a, "published_never_consumed")
    assert never["where"] == "topic:audit" and never["count"] == 2
    assert not never["topic_has_consumers"]
    (cyc,) = _anoms(a, "cycle")
    assert set(cyc["nodes"]) == {"service:orders", "topic:pay-cmd", "service:payments",
                                 "topic:pay-reply"}
    assert cyc["count"] == 2
    assert cyc["loops"] == 0 and "a reply" in cyc["detail"]  # a reply, not a loop


def test_a_publish_too_recent_for_its_delivery_to_have_arrived_is_pending():
    """Orders are consumed 25 ms after their publish; two later publishes were not (yet?),
    one a minute before the other. Seen a second after the last, in a window running to the
    present, its delivery may still come (consumers export their spans seconds later):
    pending, not unconsumed; the one a minute older is overdue. A minute on, both are. A
    window that ended in the past holds all it will, but a delivery of its last publish may
    fall after its end: one within the longest wait seen (25 ms) is pending."""
    b = SpanSet()
    for i in range(3):
        _order_flow(b, i * 100, via="parent")
    b.producer("orders", "order-placed", start_ms=1_000, dur_ms=2)
    b.producer("orders", "order-placed", start_ms=61_000, dur_ms=2)
    st = b.store()
    end = b.ms(61_002)

    def never(**kw):
        a = analyze(st, **kw)
        return [(x["count"], x["pending"]) for x in _anoms(a, "published_never_consumed")]

    assert never(now_ns=end + 10**9) == [(1, 1)]
    assert never(now_ns=end + 60 * 10**9) == [(2, 0)]
    assert never(until_ns=end + 10 * 10**6, now_ns=end + 10**12) == [(1, 1)]
    assert never(until_ns=end + 100 * 10**6, now_ns=end + 10**12) == [(2, 0)]
    # (nothing pending, nothing reported: the anomaly is of what is overdue)
    b = SpanSet()
    _order_flow(b, 0, via="parent")
    b.producer("orders", "order-placed", start_ms=50, dur_ms=2)
    assert not _anoms(analyze(b.store(), now_ns=b.ms(1_000)), "published_never_consumed")


def test_reply_cycles_through_the_same_services_are_one_finding():
    """A request answered on one topic when it succeeds and another when it fails makes two
    cycles of the map between the same two services: one reply finding, both paths kept.
    A reply between other services stays a finding of its own."""
    b = SpanSet()
    for i in range(4):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=5)
        cmd = b.producer("orders", "pay-cmd", parent=root, start_ms=t + 2, dur_ms=1)
        pay = b.consumer("payments", "pay-cmd", parent=cmd, start_ms=t + 5, dur_ms=5)
        answer = "paid" if i % 2 else "pay-failed"
        reply = b.producer("payments", answer, parent=pay, start_ms=t + 8, dur_ms=1)
        b.consumer("orders", answer, parent=reply, start_ms=t + 12, dur_ms=2)
        ask = b.producer("orders", "stock-req", parent=root, start_ms=t + 3, dur_ms=1)
        got = b.consumer("stock", "stock-req", parent=ask, start_ms=t + 6, dur_ms=2)
        rep = b.producer("stock", "stock-rep", parent=got, start_ms=t + 7, dur_ms=1)
        b.consumer("orders", "stock-rep", parent=rep, start_ms=t + 9, dur_ms=1)
    a = analyze(b.store())
    pay, stock = _anoms(a, "cycle")
    assert pay["paths"] == [
        "service:orders -> topic:pay-cmd -> service:payments -> topic:paid -> service:orders",
        "service:orders -> topic:pay-cmd -> service:payments -> topic:pay-failed -> "
        "service:orders"]
    assert pay["where"] == pay["paths"][0] and pay["count"] == 2 and pay["loops"] == 0
    assert set(pay["nodes"]) == {"service:orders", "topic:pay-cmd", "service:payments",
                                 "topic:pay-failed", "topic:paid"}
    assert len(pay["edges"]) == 6 == len(set(pay["edges"]))
    assert "2 paths between orders and payments (replies)" in pay["detail"]
    assert "paths" not in stock and set(stock["nodes"]) == {
        "service:orders", "topic:stock-req", "service:stock", "topic:stock-rep"}
    # the text report gives the other path under the first
    text = render(a)
    assert ("topic:paid -> service:orders: 2: flows come back along 2 paths" in text
            and "\n      and service:orders -> topic:pay-cmd -> service:payments -> "
            "topic:pay-failed -> service:orders\n" in text)


def test_a_flow_that_feeds_itself_is_a_loop_not_a_reply():
    """Each pong makes another ping, three times per flow: the flows go around the cycle,
    and that cycle comes before a reply cycle in the list."""
    b = SpanSet()
    for i in range(4):
        t = i * 1000
        root = b.span("game", "POST /serve", kind="SERVER", start_ms=t, dur_ms=5)
        ping = b.producer("game", "ping", parent=root, start_ms=t + 1)
        for k in range(3):
            got = b.consumer("bouncer", "ping", parent=ping, start_ms=t + 10 + k * 40)
            pong = b.producer("bouncer", "pong", parent=got, start_ms=t + 12 + k * 40)
            back = b.consumer("game", "pong", parent=pong, start_ms=t + 20 + k * 40)
            if k < 2:
                ping = b.producer("game", "ping", parent=back, start_ms=t + 22 + k * 40)
        # and a plain request/reply on the side
        ask = b.producer("game", "score-req", parent=root, start_ms=t + 2)
        ans = b.consumer("scores", "score-req", parent=ask, start_ms=t + 5)
        rep = b.producer("scores", "score-rep", parent=ans, start_ms=t + 6)
        b.consumer("game", "score-rep", parent=rep, start_ms=t + 8)
    a = analyze(b.store())
    loop, reply = _anoms(a, "cycle")
    assert set(loop["nodes"]) == {"service:game", "topic:ping", "service:bouncer", "topic:pong"}
    assert loop["loops"] == 4 and "went around" in loop["detail"]
    assert "topic:score-req" in reply["nodes"] and reply["loops"] == 0


def _bus_order(b: SpanSet, t: float, *, reply: bool) -> None:
    """Every event through the one topic exchange "bus" (FastStream's and eShop's way):
    orders publishes an order, billing handles it and publishes an invoice, which mailer
    handles, or, with ``reply``, orders handles (a reply, round through the bus)."""
    root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=5)
    pub = b.producer("orders", "bus", parent=root, start_ms=t + 1, system="rabbitmq")
    got = b.consumer("billing", "bus", parent=pub, start_ms=t + 5, system="rabbitmq")
    inv = b.producer("billing", "bus", parent=got, start_ms=t + 7, system="rabbitmq")
    b.consumer("orders" if reply else "mailer", "bus", parent=inv, start_ms=t + 12,
               system="rabbitmq")


def test_a_service_publishing_to_the_exchange_it_consumes_from_is_no_cycle():
    """billing consumes the orders from "bus" and publishes its invoices there for mailer:
    the map has billing -> bus -> billing, but no message of billing's came back to it."""
    b = SpanSet()
    for i in range(3):
        _bus_order(b, i * 100, reply=False)
    a = analyze(b.store())
    assert "service:billing->topic:bus" in _edges(a) and "topic:bus->service:billing" in _edges(a)
    assert _anoms(a, "cycle") == []


def test_services_answering_each_other_over_one_exchange_are_a_cycle_through_it_twice():
    """orders' order goes to billing and billing's invoice back to orders, both through
    "bus": a reply cycle, told as the path through the exchange each time. Neither service
    feeds itself, so neither orders -> bus -> orders nor billing -> bus -> billing is one."""
    b = SpanSet()
    for i in range(3):
        _bus_order(b, i * 100, reply=True)
    (cyc,) = _anoms(analyze(b.store()), "cycle")
    assert cyc["nodes"] == ["service:billing", "topic:bus", "service:orders", "topic:bus"]
    assert cyc["where"] == ("service:billing -> topic:bus -> service:orders -> topic:bus"
                            " -> service:billing")
    assert cyc["edges"] == ["service:billing->topic:bus", "topic:bus->service:orders",
                            "service:orders->topic:bus", "topic:bus->service:billing"]
    assert cyc["loops"] == 0 and "a reply" in cyc["detail"]


def test_a_delivery_whose_routing_key_is_a_later_publishs_got_that_one():
    """FastStream sends a handler's returned message with the context of the message the
    handler took: over one exchange, the mailer's delivery of billing's invoice is the
    child of the orders API's publish. Its routing key ("invoices") is billing's publish's,
    not its parent's ("orders"): joined to billing's publish. The audit service, bound to
    "orders" too, got the order itself, and keeps its parent."""
    def rk(key: str) -> dict:
        return {"messaging.rabbitmq.destination.routing_key": key}

    b = SpanSet()
    for i in range(3):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=5)
        pub = b.producer("orders", "shop", parent=root, start_ms=t + 1, system="rabbitmq",
                         attrs=rk("orders"))
        got = b.consumer("billing", "shop", parent=pub, start_ms=t + 5, dur_ms=10,
                         system="rabbitmq", attrs=rk("orders"))
        b.producer("billing", "shop", parent=got, start_ms=t + 12, system="rabbitmq",
                   attrs=rk("invoices"))
        b.consumer("mailer", "shop", parent=pub, start_ms=t + 20, system="rabbitmq",
                   attrs=rk("invoices"))
        b.consumer("audit", "shop", parent=pub, start_ms=t + 21, system="rabbitmq",
                   attrs=rk("orders"))
    a = analyze(b.store())
    assert not a.anomalies  # (billing's invoices were consumed: by the mailer)
    e = _edges(a)
    # the mailer's wait is from billing's publish (12 ms, 1 ms long), not the order's
    assert e["topic:shop->service:mailer"]["queue_p50_ms"] == 7.0
    assert e["topic:shop->service:audit"]["queue_p50_ms"] == 19.0
    (flow,) = a.flows
    assert flow["count"] == 3


def test_time_window_and_service_filter():
    b = SpanSet()
    _order_flow(b, 0, via="link", mid="a")
    root = b.span("web", "GET /", kind="SERVER", start_ms=10_000, dur_ms=5)
    b.client_call("web", "search", parent=root, start_ms=10_001, dur_ms=2)
    st = b.store()
    everything = analyze(st)
    assert len(everything.flows) == 2
    only_web = analyze(st, service="search")
    assert {e["id"] for e in only_web.edges} == {"service:web->service:search"}
    assert only_web.summary["service"] == "search"
    late = analyze(st, since_ns=b.ms(5_000))
    assert {e["id"] for e in late.edges} == {"service:web->service:search"}
    early = analyze(st, until_ns=b.ms(5_000))
    assert "service:web->service:search" not in {e["id"] for e in early.edges}
    assert early.edges and all(e["rate_per_s"] > 0 for e in early.edges)
    assert analyze(st, service="nobody").to_dict()["edges"] == []


def test_conversation_id_joins_traces():
    b = SpanSet()
    r1 = b.span("orders", "POST /orders", kind="SERVER", dur_ms=5)
    conv = "6f1c2d0e-conv-0001"
    b.producer("orders", "order-placed", parent=r1, start_ms=1, dur_ms=1, conversation_id=conv)
    # a reply in a new trace that only shares the conversation id
    b.producer("billing", "invoice", start_ms=50, dur_ms=1, conversation_id=conv)
    a = analyze(b.store())
    assert sum(f["count"] for f in a.flows) == 1
    assert a.flows[0]["traces_per_flow"] == 2.0
    # an id of three characters or fewer is a label (boto3sqs puts a batch entry's id,
    # '0', '1', ..., where the conversation id goes): it joins nothing
    b = SpanSet()
    r1 = b.span("orders", "POST /orders", kind="SERVER", dur_ms=5)
    b.producer("orders", "order-placed", parent=r1, start_ms=1, dur_ms=1, conversation_id="0")
    b.producer("billing", "invoice", start_ms=50, dur_ms=1, conversation_id="0")
    a = analyze(b.store())
    assert sum(f["count"] for f in a.flows) == 2
    assert all(f["traces_per_flow"] == 1.0 for f in a.flows)


def test_spans_naming_themselves_as_parent_or_link_and_parent_cycles():
    """Broken instrumentation: a consumer span that is its own parent and links to itself
    (and to its producer) is still a delivery; spans that are each other's parent are
    analysed without looping."""
    b = SpanSet()
    for i in range(3):
        t = i * 100
        prod = b.producer("orders", "order.placed", start_ms=t, dur_ms=2)
        me = SpanRef(b.new_trace(), "%016x" % (0xD0 + i))
        b.consumer("billing", "order.placed", parent=me, link=[me, prod], start_ms=t + 10,
                   dur_ms=5)
        b.spans[-1].ref = me  # its own id: parent of itself, linked to itself
    a_id, c_id = SpanRef("ab" * 16, "a" * 16), SpanRef("ab" * 16, "c" * 16)
    b.span("web", "A", kind="SERVER", parent=c_id, span_id=a_id.span_id, start_ms=500)
    b.span("api", "C", kind="CLIENT", parent=a_id, span_id=c_id.span_id, start_ms=501)
    st = b.store()
    a = analyze(st)
    e = {x["id"]: x for x in a.edges}
    delivery = e["topic:order.placed->service:billing"]
    assert delivery["count"] == 3
    assert delivery["joined_by"] == {"context": 3, "message_id": 0, "none": 0, "outside": 0}
    assert edge_detail(st, delivery["id"])["count"] == 3
    assert flow_for_trace(st, "ab" * 16) is not None


def test_queries_run_statement_by_statement_hold_no_semicolon_in_a_comment():
    """Stager.run_each splits a named query on ';' to bind each statement's parameters: a ';'
    in one of its comments would cut a statement in two. Every query the analyzer runs so
    (found in its source) keeps its comments free of them."""
    import re
    from pathlib import Path

    from choreoscope.sql import named_queries

    root = Path(__file__).resolve().parent.parent / "analyzer"
    names = {m for f in root.glob("*.py")
             for m in re.findall(r'run_each\("([a-z_]+)"', f.read_text())}
    assert {"analyzer_pushed", "analyzer_relays", "analyzer_implied"} <= names
    q = named_queries()
    for name in sorted(names):
        bad = [line for line in q[name].splitlines()
               if "--" in line and ";" in line.split("--", 1)[1]]
        assert not bad, (name, bad)
