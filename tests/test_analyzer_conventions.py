"""Shapes real instrumentation gives messaging spans that the basic rules did not cover:
batch sends with a create span per message, destination templates, RabbitMQ's default
exchange, and consumers (or producers) that are INTERNAL or SERVER spans."""

from __future__ import annotations


import pytest

from analyzer import analyze, edge_detail, flow_for_trace
from tests.builders import SpanSet


def _edges(a):
    return {e["id"]: e for e in a.edges}


def _batch_orders(b: SpanSet, n_sends: int = 3, per_send: int = 3) -> list:
    """checkout sends batches of ``per_send`` messages: a send span with a create span per
    message under it (semantic conventions 1.26+); billing consumes each, linked to its
    create span."""
    consumers = []
    for i in range(n_sends):
        t = i * 1000
        root = b.span("shop", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=30)
        send = b.producer("shop", "orders", parent=root, start_ms=t + 5, dur_ms=5,
                          attrs={"messaging.batch.message_count": per_send})
        for k in range(per_send):
            c = b.producer("shop", "orders", parent=send, start_ms=t + 6 + k * 0.1,
                           dur_ms=0.05, attrs={"messaging.operation.type": "create"})
            consumers.append(b.consumer("billing", "orders", link=c, start_ms=t + 40 + k,
                                        dur_ms=5))
    return consumers


def test_each_created_message_of_a_batch_send_is_one_publish():
    b = SpanSet()
    consumers = _batch_orders(b)
    st = b.store()
    a = analyze(st)
    e = _edges(a)
    pub, con = e["service:shop->topic:orders"], e["topic:orders->service:billing"]
    assert pub["count"] == con["count"] == 9  # nine messages, not three sends
    assert not [x for x in a.anomalies if x["type"] == "published_never_consumed"]
    # The detail panel counts as the analysis does.
    assert edge_detail(st, "service:shop->topic:orders")["count"] == 9
    # The flow view joins the consumer's trace to the batch's trace through its create span.
    flow = flow_for_trace(st, consumers[0].trace_id)
    assert len(flow["trace_ids"]) >= 2
    assert any(ln["type"] == "link" and ln["cross_trace"] for ln in flow["links"])


def test_a_send_with_no_create_spans_is_still_one_publish():
    b = SpanSet()
    for i in range(2):
        root = b.span("shop", "POST /checkout", kind="SERVER", start_ms=i * 100, dur_ms=20)
        outer = b.producer("shop", "orders", parent=root, start_ms=i * 100 + 2, dur_ms=5)
        inner = b.producer("shop", "orders", parent=outer, start_ms=i * 100 + 3, dur_ms=3)
        b.consumer("billing", "orders", link=inner, start_ms=i * 100 + 30)
    e = _edges(analyze(b.store()))
    assert e["service:shop->topic:orders"]["count"] == 2  # nested: framework + client


def test_destination_template_is_the_topic():
    b = SpanSet()
    tmpl = {"messaging.destination.template": "customers/{id}/orders"}
    for i in range(3):
        p = b.producer("shop", f"customers/{i}/orders", start_ms=i * 100, attrs=tmpl)
        b.consumer("billing", f"customers/{i}/orders", link=p, start_ms=i * 100 + 20,
                   attrs=tmpl)
    a = analyze(b.store())
    topics = sorted(n["id"] for n in a.nodes if n["id"].startswith("topic:"))
    assert topics == ["topic:customers/{id}/orders"]
    assert _edges(a)["topic:customers/{id}/orders->service:billing"]["count"] == 3


@pytest.mark.parametrize("default", ["", "<default>"])  # clients, and the Java agent
def test_rabbitmq_default_exchange_routes_to_its_queue(default):
    b = SpanSet()
    for i in range(2):
        p = b.producer("shop", default, start_ms=i * 100, system="rabbitmq",
                       attrs={"messaging.rabbitmq.destination.routing_key": "orders"})
        b.consumer("billing", "orders", parent=p, start_ms=i * 100 + 20, system="rabbitmq")
    st = b.store()
    e = _edges(analyze(st))
    assert e["service:shop->topic:amq.default"]["count"] == 2
    assert e["topic:amq.default->topic:orders"]["type"] == "route"
    assert e["topic:orders->service:billing"]["count"] == 2
    assert not any(k.endswith("topic:") or "topic:->" in k for k in e)
    assert edge_detail(st, "topic:amq.default->topic:orders")["count"] == 2


@pytest.mark.parametrize("kind", ["INTERNAL", "SERVER", "UNSPECIFIED"])
def test_internal_or_server_spans_of_a_messaging_system_consume(kind):
    b = SpanSet()
    for i in range(2):
        p = b.producer("shop", "orders", start_ms=i * 100)
        # e.g. a push delivery (Pub/Sub push, Dapr) arrives as an HTTP SERVER span
        b.span("billing", "orders process", kind=kind, parent=p, start_ms=i * 100 + 20,
               attrs={"messaging.system": "gcp_pubsub", "messaging.destination.name": "orders",
                      "messaging.operation.type": "process"})
    st = b.store()
    a = analyze(st)
    e = _edges(a)
    assert e["topic:orders->service:billing"]["count"] == 2
    assert "service:shop->service:billing" not in e  # a delivery, not a call
    assert not [x for x in a.anomalies if x["type"] == "published_never_consumed"]
    assert edge_detail(st, "topic:orders->service:billing")["count"] == 2


def test_internal_span_without_a_messaging_system_has_no_role_of_its_own():
    """An INTERNAL span saying "process" with no messaging system is no consumer by its
    shape: inside billing's delivery it is the handler's step, not a second delivery. Its
    parent decides only where nothing else consumed the publish: directly under shop's
    publish, it is the pushed message's delivery (analyzer_pushed)."""
    b = SpanSet()
    p = b.producer("shop", "orders")
    c = b.consumer("billing", "orders", parent=p, start_ms=20)
    b.span("billing", "process", kind="INTERNAL", parent=c, start_ms=21,
           attrs={"messaging.operation.type": "process"})
    st = b.store()
    e = _edges(analyze(st))
    assert e["topic:orders->service:billing"]["count"] == 1
    assert edge_detail(st, "topic:orders->service:billing")["count"] == 1

    b = SpanSet()
    p = b.producer("shop", "orders")
    b.span("billing", "process", kind="INTERNAL", parent=p, start_ms=20,
           attrs={"messaging.operation.type": "process"})
    st = b.store()
    e = _edges(analyze(st))
    assert e["topic:orders->service:billing"]["count"] == 1
    assert e["topic:orders->service:billing"]["joined_by"]["context"] == 1
    assert edge_detail(st, "topic:orders->service:billing")["count"] == 1


def test_temporary_reply_queues_are_one_node_not_one_per_name():
    b = SpanSet()
    temp = {"messaging.destination.temporary": True}
    for i in range(4):
        # the server answers each request on the reply queue the client declared
        p = b.producer("pricing", f"amq.gen-{i:04d}xyz", start_ms=i * 100, system="rabbitmq",
                       attrs=temp)
        b.consumer("checkout", f"amq.gen-{i:04d}xyz", parent=p, start_ms=i * 100 + 20,
                   system="rabbitmq", attrs={"messaging.destination.anonymous": True})
    st = b.store()
    # the kind is stored, and one name (collector/reply_names.py): the real ones stay in
    # the attributes
    with st.cursor() as cur:
        kinds = cur.execute("SELECT DISTINCT msg_destination_kind FROM spans "
                            "WHERE msg_system = 'rabbitmq'").fetchall()
        names = cur.execute("SELECT DISTINCT msg_destination FROM spans").fetchall()
        real = cur.execute("SELECT count(DISTINCT json_extract_string(attributes, "
                           "'$.\"messaging.destination.name\"')) FROM spans").fetchone()
    assert kinds == [("temporary",)] and names == [("(temporary)",)] and real == (4,)
    a = analyze(st)
    topics = sorted(n["id"] for n in a.nodes if n["id"].startswith("topic:"))
    assert topics == ["topic:(temporary:rabbitmq)"]
    e = _edges(a)
    assert e["topic:(temporary:rabbitmq)->service:checkout"]["count"] == 4
    assert edge_detail(st, "topic:(temporary:rabbitmq)->service:checkout")["count"] == 4


def test_service_and_destination_names_with_spaces_do_not_break_the_analysis():
    b = SpanSet()
    for i in range(2):
        root = b.span("Order Service", "POST /orders", kind="SERVER", start_ms=i * 100,
                      dur_ms=30)
        p = b.producer("Order Service", "order events", parent=root, start_ms=i * 100 + 5,
                       system="rabbitmq")
        c = b.consumer("Billing Service", "order events", parent=p, start_ms=i * 100 + 40,
                       system="rabbitmq")
        b.client_call("Billing Service", "Ledger (EU)", parent=c, start_ms=i * 100 + 42,
                      dur_ms=3)
    st = b.store()
    a = analyze(st)
    (flow,) = a.flows
    assert flow["hops"] == sorted([
        "service:Order Service->topic:order events",
        "topic:order events->service:Billing Service",
        "service:Billing Service->service:Ledger (EU)"])
    assert flow["style"] == "choreography"
    assert edge_detail(st, "topic:order events->service:Billing Service")["count"] == 2
    assert len(flow_for_trace(st, p.trace_id)["spans"]) == 5  # with the SERVER span in Ledger


def test_aio_pika_and_pika_publishes_name_their_exchange():
    """What opentelemetry-instrumentation-aio-pika and -pika (0.66) put on a span, read from
    their source: aio-pika names a publish 'exchange,routing key' and its delivery by the
    exchange; both mark every publish messaging.temp_destination (not a reply queue: the
    legacy attribute is not read)."""
    b = SpanSet()
    common = {"messaging.system": "rabbitmq", "net.peer.name": "rabbit", "net.peer.port": 5672}
    # (publish destination, delivery destination, consumer): aio-pika to a topic exchange
    # and to the default exchange straight to a queue; pika to an exchange
    pairs = [("events,order.created", "events", "billing"), (",audit", "audit", "auditor"),
             ("payments", "payments", "payer")]
    for i in range(3):
        t = i * 100
        root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30)
        for k, (pub_dest, con_dest, consumer) in enumerate(pairs):
            p = b.span("shop", f"{pub_dest} send", kind="PRODUCER", parent=root,
                       start_ms=t + 1 + k, attrs={**common, "messaging.destination": pub_dest,
                                                  "messaging.temp_destination": True})
            b.span(consumer, f"{con_dest} receive", kind="CONSUMER", parent=p,
                   start_ms=t + 10 + k, attrs={**common, "messaging.destination": con_dest,
                                               "messaging.operation": "receive"})
    st = b.store()
    a = analyze(st)
    e = {k: (v["type"], v["count"]) for k, v in _edges(a).items()}
    assert e == {
        "service:shop->topic:events": ("publish", 3),
        "topic:events->service:billing": ("consume", 3),
        "service:shop->topic:amq.default": ("publish", 3),
        "topic:amq.default->topic:audit": ("route", 3),
        "topic:audit->service:auditor": ("consume", 3),
        "service:shop->topic:payments": ("publish", 3),
        "topic:payments->service:payer": ("consume", 3),
    }
    assert not a.anomalies
    assert edge_detail(st, "service:shop->topic:events")["count"] == 3
    assert edge_detail(st, "topic:amq.default->topic:audit")["count"] == 3


def test_confluent_kafka_poll_wrapper_and_its_process_span_are_one_delivery():
    """What opentelemetry-instrumentation-confluent-kafka (0.66) exports for a poll(), read
    from its source: a bare CONSUMER span named "recv" (no attribute at all) around a
    CONSUMER "<topic> process" span that links to the producer and carries the topic; the
    process span stays open while the application handles the record."""
    b = SpanSet()
    broker = {"server.address": "kafka-1", "server.port": 9092}
    n = 3
    for i in range(n):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
        p = b.span("orders", "orders send", kind="PRODUCER", parent=root, start_ms=t + 2,
                   attrs={**broker, "messaging.system": "kafka",
                          "messaging.destination": "orders",
                          "messaging.destination_kind": "queue",
                          "messaging.operation": "publish"})
        recv = b.span("billing", "recv", kind="CONSUMER", start_ms=t + 30, dur_ms=0.2)
        proc = b.span("billing", "orders process", kind="CONSUMER", parent=recv,
                      start_ms=t + 30.1, dur_ms=15, links=[p],
                      attrs={**broker, "messaging.system": "kafka",
                             "messaging.destination": "orders",
                             "messaging.kafka.partition": 0,
                             "messaging.destination_kind": "queue",
                             "messaging.operation": "process",
                             "messaging.message.id": f"orders.0.{i}"})
        b.client_call("billing", None, parent=proc, start_ms=t + 31, dur_ms=5,
                      peer={"db.system": "postgresql"})
    st = b.store()
    a = analyze(st)
    e = {k: (v["type"], v["count"]) for k, v in _edges(a).items()}
    assert e == {
        "service:orders->topic:orders": ("publish", n),
        "topic:orders->service:billing": ("consume", n),
        "service:billing->external:postgresql": ("call", n),
    }
    consume = _edges(a)["topic:orders->service:billing"]
    assert consume["joined_by"] == {"context": n, "message_id": 0, "none": 0, "outside": 0}
    assert consume["queue_p50_ms"] is not None and consume["queue_p50_ms"] > 0
    assert not a.anomalies
    (flow,) = a.flows
    assert flow["count"] == n and flow["traces_per_flow"] == 2.0
    assert edge_detail(st, "topic:orders->service:billing")["count"] == n


def test_aiokafka_getmany_poll_and_topic_spans_are_not_deliveries():
    """What opentelemetry-instrumentation-aiokafka (0.66) exports for getmany(), read from
    its source: a CONSUMER poll span naming no topic, under it a CONSUMER span per topic that
    links to the record spans, and per record a CONSUMER span whose parent is the producer
    (in the producer's trace). The records are the deliveries; the poll and topic spans
    wrap them."""
    b = SpanSet()
    kafka = {"messaging.system": "kafka", "server.address": '["kafka-1:9092"]',
             "messaging.client.id": "billing-1"}
    recv = {"messaging.operation.name": "receive", "messaging.operation.type": "receive"}
    producers = []
    for i in range(4):
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=i * 10, dur_ms=5)
        producers.append(b.span("orders", "orders send", kind="PRODUCER", parent=root,
                                start_ms=i * 10 + 1,
                                attrs={**kafka, "messaging.destination.name": "orders",
                                       "messaging.operation.name": "send",
                                       "messaging.operation.type": "publish"}))
    for batch in (producers[:2], producers[2:]):
        t = 100 if batch is producers[:2] else 200
        poll = b.span("billing", "orders receive", kind="CONSUMER", start_ms=t, dur_ms=3,
                      attrs={**kafka, **recv, "messaging.consumer.group.name": "billing",
                             "messaging.batch.message_count": len(batch)})
        records = [b.span("billing", "orders receive", kind="CONSUMER", parent=p,
                          start_ms=t + 1, dur_ms=0.1,
                          attrs={**kafka, **recv, "messaging.destination.name": "orders",
                                 "messaging.destination.partition.id": "0",
                                 "messaging.consumer.group.name": "billing",
                                 "messaging.message.id": f"orders.0.{producers.index(p)}"})
                   for p in batch]
        b.span("billing", "orders receive", kind="CONSUMER", parent=poll, start_ms=t + 0.5,
               dur_ms=2, links=records,
               attrs={**kafka, **recv, "messaging.destination.name": "orders",
                      "messaging.destination.partition.id": "0",
                      "messaging.consumer.group.name": "billing",
                      "messaging.batch.message_count": len(batch)})
    st = b.store()
    a = analyze(st)
    e = {k: (v["type"], v["count"]) for k, v in _edges(a).items()}
    assert e == {
        "service:orders->topic:orders": ("publish", 4),
        "topic:orders->service:billing": ("consume", 4),
    }
    assert _edges(a)["topic:orders->service:billing"]["joined_by"] == {
        "context": 4, "message_id": 0, "none": 0, "outside": 0}
    assert not a.anomalies
    assert edge_detail(st, "topic:orders->service:billing")["count"] == 4


def test_broker_generated_reply_names_are_temporary_without_the_attribute():
    """NATS request/reply answers on _INBOX.<random>, RabbitMQ RPC on amq.gen-* queues or
    amq.rabbitmq.reply-to: one node per system, not one per request, even when the
    instrumentation does not mark the destination temporary."""
    b = SpanSet()
    for i in range(5):
        t = i * 100
        req = b.producer("checkout", "prices.get", start_ms=t, system="nats")
        srv = b.consumer("pricing", "prices.get", parent=req, start_ms=t + 2, system="nats")
        rep = b.producer("pricing", f"_INBOX.k{i}Zq.{i}", parent=srv, start_ms=t + 5,
                         system="nats")
        b.consumer("checkout", f"_INBOX.k{i}Zq.{i}", parent=rep, start_ms=t + 8,
                   system="nats")
        q = b.producer("pricing", f"amq.gen-{i}xQ", start_ms=t + 20, system="rabbitmq")
        b.consumer("checkout", f"amq.gen-{i}xQ", parent=q, start_ms=t + 22, system="rabbitmq")
    st = b.store()
    a = analyze(st)
    topics = sorted(n["id"] for n in a.nodes if n["id"].startswith("topic:"))
    assert topics == ["topic:(temporary:nats)", "topic:(temporary:rabbitmq)",
                      "topic:prices.get"]
    e = _edges(a)
    assert e["topic:(temporary:nats)->service:checkout"]["count"] == 5
    assert e["service:pricing->topic:(temporary:rabbitmq)"]["count"] == 5
    assert edge_detail(st, "topic:(temporary:nats)->service:checkout")["count"] == 5


@pytest.mark.parametrize("message_op", ["create", "publish"])
def test_a_send_linking_to_the_messages_it_carries_is_an_envelope(message_op):
    """Current conventions: messages created before the send (their own 'create' spans)
    are linked from the 'send' span instead of nested under it; consumers link to the
    creates. Azure's Service Bus SDK does the same with per-message PRODUCER spans that
    say 'publish' (read from its source). The send is the envelope, not a fourth message
    that nobody consumed."""
    b = SpanSet()
    create = {"messaging.operation.type": message_op}
    root = b.span("shop", "POST /checkout", kind="SERVER", start_ms=0, dur_ms=50)
    creates = [b.producer("shop", "orders", parent=root, start_ms=1 + k, dur_ms=0.1,
                          attrs=create) for k in range(3)]
    b.producer("shop", "orders", kind="CLIENT", parent=root, start_ms=10, dur_ms=5,
               links=creates, attrs={"messaging.batch.message_count": 3})
    for k, c in enumerate(creates):
        b.consumer("billing", "orders", link=c, start_ms=40 + k, dur_ms=5)
    st = b.store()
    a = analyze(st)
    e = _edges(a)
    assert e["service:shop->topic:orders"]["count"] == 3
    assert e["topic:orders->service:billing"]["count"] == 3
    assert not [x for x in a.anomalies if x["type"] == "published_never_consumed"]
    assert edge_detail(st, "service:shop->topic:orders")["count"] == 3


@pytest.mark.parametrize("key", ["messaging.destination.subscription.name",
                                 "messaging.servicebus.destination.subscription_name"])
def test_one_service_on_two_subscriptions_of_a_topic_is_no_redelivery(key):
    """Azure Service Bus topics (and Pub/Sub, SNS) give each subscription its own copy of
    every message: a service holding two subscriptions of one topic (filtered `email` and
    `sms` rules) receives each message twice, with the same message id, once per
    subscription. The conventions name the subscription with
    messaging.destination.subscription.name (1.24+; `..._subscription_name` in the
    Service Bus-specific names before): like a consumer group, it is who the copy was for.
    Two deliveries of one subscription are still a redelivery."""
    b = SpanSet()
    for i in range(3):
        t = i * 1000
        root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
        p = b.producer("shop", "orders", parent=root, start_ms=t + 2, dur_ms=3,
                       system="servicebus", message_id=f"m{i}")
        for k, sub in enumerate(("email", "sms")):
            b.consumer("notify", "orders", parent=p, start_ms=t + 30 + k, dur_ms=5,
                       system="servicebus", message_id=f"m{i}", attrs={key: sub})
    # the first message is delivered a second time to its `email` subscription
    b.consumer("notify", "orders", start_ms=60, dur_ms=5, system="servicebus",
               message_id="m0", attrs={key: "email"})
    a = analyze(b.store())
    assert _edges(a)["topic:orders->service:notify"]["count"] == 7
    redelivered = [x for x in a.anomalies if x["type"] == "redelivery"]
    assert len(redelivered) == 1 and redelivered[0]["count"] == 1, redelivered
