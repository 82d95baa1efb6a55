"""Span shapes of three more instrumentation libraries, each read from the library's source
and its own tests: Python's opentelemetry-instrumentation-boto3sqs (a separate
instrumentation from botocore's, alone and beside it), Node's
@opentelemetry/instrumentation-socket.io, and the OpenTelemetry Java agent's Spring JMS
listener and JMS client instrumentation (ActiveMQ classic and Artemis). Each test builds
exactly the spans the library exports for a small scenario and checks what the analyzer
makes of them."""

from __future__ import annotations

import uuid
from typing import Any

from analyzer import analyze, edge_detail
from tests.analysis_checks import analysed as _analysed
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanSet

N = 3


def _flows(a) -> list[tuple[str, int, float]]:
    """(entry service, count, traces per flow) of every flow with a hop, sorted. (A trace
    with no edge, such as botocore's root "SQS.DeleteMessage" span, is a flow of its own
    with no hop: not looked at here.)"""
    return sorted((f["entry_service"], f["count"], f["traces_per_flow"]) for f in a.flows
                  if f["hops"])


# ------------------------------------------------------------------------------ boto3sqs
# Read in open-telemetry/opentelemetry-python-contrib,
# instrumentation/opentelemetry-instrumentation-boto3sqs/src/opentelemetry/instrumentation/
# boto3sqs/__init__.py and its tests/test_boto3sqs_instrumentation.py. The instrumentor wraps
# the boto3 SQS client class's methods (not botocore's _make_api_call):
# - send_message: a "<queue> send" PRODUCER span, current around the call (a child of the
#   caller's span), its context injected into the message's MessageAttributes. Attributes
#   (semantic conventions 1.11: legacy names): messaging.system aws.sqs,
#   messaging.destination (the queue's name, the URL's last segment),
#   messaging.destination_kind queue, messaging.url, and messaging.message_id from the
#   response. No messaging.operation.
# - send_message_batch: one "<queue> send" PRODUCER span per entry (started with start_span:
#   siblings under the caller's span), each injected into its own entry, all ended when the
#   call returns; messaging.conversation_id is the entry's Id (the request-local id of the
#   entry, "0", "1", ... in boto3's own examples); messaging.message_id from "Successful".
# - receive_message: a "<queue> receive" CONSUMER span around the call (messaging.operation
#   receive, no message id, no link), exported whether or not messages came back; for each
#   message, inside it, a "<queue> process" CONSUMER span started with start_span (so its
#   parent is the receive span) linking the context extracted from the message's attributes
#   (messaging.operation process, messaging.message_id). The process span stays open: the
#   returned list makes it current while the app iterates to that message, and
#   delete_message (by receipt handle) ends it, or the next receive of the same handle.
# botocore's own instrumentation (extensions/sqs.py, extensions/types.py, __init__.py), when
# on as well, wraps BaseClient._make_api_call, under the boto3sqs wrapper: a CLIENT span
# "SQS.<Operation>" (rpc.system aws-api, rpc.service SQS, rpc.method, aws.region,
# aws.queue_url, messaging.system aws.sqs, messaging.url, messaging.destination,
# messaging.message_id of SendMessage, of the first message of SendMessageBatch and
# ReceiveMessage; aws.request_id, retry_attempts, http.status_code) inside the boto3sqs span.

_QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/"


def _sqs_attrs(queue: str, **extra: Any) -> dict[str, Any]:
    return {"messaging.system": "aws.sqs", "messaging.destination": queue,
            "messaging.destination_kind": "queue", "messaging.url": _QUEUE_URL + queue,
            **extra}


def _botocore_attrs(queue: str, method: str, **extra: Any) -> dict[str, Any]:
    return {"rpc.system": "aws-api", "rpc.service": "SQS", "rpc.method": method,
            "aws.region": "eu-west-1", "aws.queue_url": _QUEUE_URL + queue,
            "messaging.system": "aws.sqs", "messaging.url": _QUEUE_URL + queue,
            "messaging.destination": queue, "aws.request_id": str(uuid.uuid4()),
            "retry_attempts": 0, "http.status_code": 200, **extra}


def _sqs_id(i: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sqs-message-{i}"))


def _boto3sqs_orders(b: SpanSet, empty_polls: bool = False, botocore: bool = False) -> None:
    """N orders: the web service sends each as one message; the fulfilment worker's poll
    loop receives it (one message per receive), handles it under its process span (a
    database write) and deletes it, which ends the process span. ``empty_polls``: the loop
    also long-polls (WaitTimeSeconds=20) an empty queue between orders, as a worker does.
    ``botocore``: opentelemetry-instrumentation-botocore is on too."""
    q = "orders-queue"
    for i in range(N):
        t = i * 30_000
        mid = _sqs_id(i)
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=40)
        send = b.span("orders", f"{q} send", kind="PRODUCER", parent=root, start_ms=t + 5,
                      dur_ms=25, attrs=_sqs_attrs(q, **{"messaging.message_id": mid}))
        if botocore:
            b.span("orders", "SQS.SendMessage", kind="CLIENT", parent=send, start_ms=t + 5.2,
                   dur_ms=24.5,
                   attrs=_botocore_attrs(q, "SendMessage", **{"messaging.message_id": mid}))
        # the poll was waiting when the message arrived; it returns 15 ms after the send
        recv = b.span("fulfilment", f"{q} receive", kind="CONSUMER", start_ms=t + 2,
                      dur_ms=43, attrs=_sqs_attrs(q, **{"messaging.operation": "receive"}))
        if botocore:
            b.span("fulfilment", "SQS.ReceiveMessage", kind="CLIENT", parent=recv,
                   start_ms=t + 2.1, dur_ms=42.7,
                   attrs=_botocore_attrs(q, "ReceiveMessage",
                                         **{"messaging.message_id": mid}))
        proc = b.span("fulfilment", f"{q} process", kind="CONSUMER", parent=recv,
                      links=[send], start_ms=t + 44.9, dur_ms=36,
                      attrs=_sqs_attrs(q, **{"messaging.operation": "process",
                                             "messaging.message_id": mid}))
        b.client_call("fulfilment", None, parent=proc, start_ms=t + 46, dur_ms=12,
                      peer={"db.system": "postgresql", "server.address": "orders-db"})
        if botocore:
            # delete_message ends the process span (and detaches its context) before the
            # call: botocore's span is a root of its own
            b.span("fulfilment", "SQS.DeleteMessage", kind="CLIENT", start_ms=t + 81,
                   dur_ms=14, attrs=_botocore_attrs(q, "DeleteMessage"))
        if empty_polls:
            b.span("fulfilment", f"{q} receive", kind="CONSUMER", start_ms=t + 96,
                   dur_ms=20_000,
                   attrs=_sqs_attrs(q, **{"messaging.operation": "receive"}))


_BOTO3SQS_EDGES = {
    "service:orders->topic:orders-queue": ("publish", N),
    "topic:orders-queue->service:fulfilment": ("consume", N),
    "service:fulfilment->external:postgresql": ("call", N),
}


def test_boto3sqs_process_span_under_its_receive_is_the_delivery():
    """send_message's PRODUCER span, and in the worker a "<queue> receive" CONSUMER span per
    ReceiveMessage call with a "<queue> process" CONSUMER child per message, linking the
    send: one delivery per message, joined by the link, lasting the process span (open
    until delete_message), in a flow of two traces (the send's and the poll's)."""
    b = SpanSet()
    _boto3sqs_orders(b)
    a = _analysed(b.store(), _BOTO3SQS_EDGES, "topic:orders-queue->service:fulfilment",
                  p50_ms=36)
    assert _systems(a) == {"topic:orders-queue": "aws.sqs"}
    consume = a.edge("topic:orders-queue->service:fulfilment")
    assert consume["queue_p50_ms"] == 14.9   # the send's end to the process span's start
    assert _flows(a) == [("orders", N, 2.0)]


def test_boto3sqs_empty_long_polls_are_no_deliveries():
    """boto3sqs exports a "<queue> receive" CONSUMER span for every ReceiveMessage call,
    also a long poll that came back empty (no process child, no link, no message id; a
    worker's loop makes one every 20 s while the queue is idle). They deliver nothing: the
    deliveries are still the process spans, none lost its context, and no flow starts at
    an empty poll."""
    b = SpanSet()
    _boto3sqs_orders(b, empty_polls=True)
    a = _analysed(b.store(), _BOTO3SQS_EDGES, "topic:orders-queue->service:fulfilment",
                  p50_ms=36)
    assert _flows(a) == [("orders", N, 2.0)]


def test_boto3sqs_send_batch_is_a_publish_per_entry_and_its_entry_ids_join_nothing():
    """send_message_batch: a "<queue> send" PRODUCER span per entry, siblings under the
    request's span, messaging.conversation_id set to the entry's Id ("0", "1", "2" in every
    batch). The worker receives a whole batch at once (MaxNumberOfMessages=10): one receive
    span, a process child per message linking its own entry's send. One delivery per
    message; the entry ids are ids within a request, not conversations: the N bulk orders
    stay N flow instances, not one."""
    b = SpanSet()
    q = "orders-queue"
    for i in range(N):
        t = i * 1_000
        root = b.span("orders", "POST /orders/bulk", kind="SERVER", start_ms=t, dur_ms=45)
        sends = []
        for k in range(3):
            sends.append(b.span("orders", f"{q} send", kind="PRODUCER", parent=root,
                                start_ms=t + 5 + k * 0.05, dur_ms=30 - k * 0.05,
                                attrs=_sqs_attrs(q, **{
                                    "messaging.conversation_id": str(k),
                                    "messaging.message_id": _sqs_id(3 * i + k)})))
        recv = b.span("fulfilment", f"{q} receive", kind="CONSUMER", start_ms=t + 20,
                      dur_ms=30, attrs=_sqs_attrs(q, **{"messaging.operation": "receive"}))
        for k, send in enumerate(sends):
            # all started as the receive returns; each ended by its delete_message, after
            # the loop handled the messages before it
            proc = b.span("fulfilment", f"{q} process", kind="CONSUMER", parent=recv,
                          links=[send], start_ms=t + 49.9 + k * 0.01,
                          dur_ms=20 * (k + 1) - k * 0.01,
                          attrs=_sqs_attrs(q, **{"messaging.operation": "process",
                                                 "messaging.message_id": _sqs_id(3 * i + k)}))
            b.client_call("fulfilment", None, parent=proc, start_ms=t + 51 + 20 * k,
                          dur_ms=12, peer={"db.system": "postgresql",
                                           "server.address": "orders-db"})
    st = b.store()
    a = _analysed_each(st, {
        "service:orders->topic:orders-queue": ("publish", 3 * N),
        "topic:orders-queue->service:fulfilment": ("consume", 3 * N),
        "service:fulfilment->external:postgresql": ("call", 3 * N),
    }, ["topic:orders-queue->service:fulfilment"])
    assert a.edge("topic:orders-queue->service:fulfilment")["message_count"] == 3 * N
    assert _flows(a) == [("orders", N, 2.0)]


def test_boto3sqs_beside_botocore_is_one_publish_and_one_delivery_per_message():
    """Both instrumentations on: botocore's "SQS.SendMessage" CLIENT span (it sends, by its
    rpc.method, and names the message id) inside boto3sqs's "<queue> send", its
    "SQS.ReceiveMessage" CLIENT span (naming the first message's id) inside boto3sqs's
    receive, beside the process span, and "SQS.DeleteMessage", a root CLIENT span naming
    the queue but no operation, once the process span has ended. Still one publish and one
    delivery per message, joined by context; the acknowledgement is neither, and no other
    service or external is called."""
    b = SpanSet()
    _boto3sqs_orders(b, botocore=True)
    a = _analysed(b.store(), _BOTO3SQS_EDGES, "topic:orders-queue->service:fulfilment",
                  p50_ms=36)
    assert _flows(a) == [("orders", N, 2.0)]


# ----------------------------------------------------------------------------- socket.io
# Read in open-telemetry/opentelemetry-js-contrib, packages/instrumentation-socket.io
# (formerly plugins/node/instrumentation-socket.io): src/socket.io.ts, src/utils.ts,
# src/AttributeNames.ts, src/semconv*.ts and test/socket.io.test.ts. It patches the server
# package 'socket.io' only (2.x-4.x; not socket.io-client):
# - emit on a Socket, a BroadcastOperator (io.to(room).emit, 4.x) or a Namespace (<4): a
#   "send <namespace>" PRODUCER span, current around the emit, ended when it returns;
#   messaging.system socket.io, messaging.destination_kind topic, messaging.destination and
#   messaging.socket.io.namespace the namespace ('/', '/chat'),
#   messaging.socket.io.event_name, messaging.socket.io.rooms (a string array: the target
#   rooms; a Socket's own rooms, its id among them). Nothing is injected: socket.io packets
#   carry no headers.
# - a listener registered with on/addListener (not the reserved connect, disconnect, ...;
#   'connection' is not reserved): a "receive <namespace>" CONSUMER span around it, started
#   in whatever context is active (none over a websocket), with no link; messaging.system
#   socket.io, messaging.destination the namespace, messaging.operation receive,
#   messaging.socket.io.event_name.


def test_socketio_server_receives_from_and_broadcasts_to_uninstrumented_clients():
    """A chat server (socket.io 4, websocket transport): each browser connects to '/chat'
    (a "receive /chat" span for the 'connection' listener, a "send /chat" welcome emit to
    that socket inside it) and posts a message (a "receive /chat" span for the
    'chat:message' listener, a root: no context crosses socket.io; inside it a database
    write and the broadcast to the room, a "send /chat" PRODUCER span naming the room in
    messaging.socket.io.rooms). The namespace is the one destination, rooms are no nodes;
    the server publishes to it and receives from it, and no delivery is joined to a
    producer: the clients' emits have no spans, and the server's own broadcast (a child of
    the receive) is not what it received. Each message is a flow instance of one trace."""
    b = SpanSet()
    io = {"messaging.system": "socket.io", "messaging.destination": "/chat"}
    for i in range(N):
        t = i * 5_000
        sid = f"Xk2{i}pQ9wLmN_aAAA{i}"
        conn = b.span("chat", "receive /chat", kind="CONSUMER", start_ms=t, dur_ms=1.5,
                      attrs={**io, "messaging.operation": "receive",
                             "messaging.socket.io.event_name": "connection"})
        b.span("chat", "send /chat", kind="PRODUCER", parent=conn, start_ms=t + 0.6,
               dur_ms=0.2,
               attrs={**io, "messaging.destination_kind": "topic",
                      "messaging.socket.io.event_name": "welcome",
                      "messaging.socket.io.rooms": [sid],
                      "messaging.socket.io.namespace": "/chat"})
        recv = b.span("chat", "receive /chat", kind="CONSUMER", start_ms=t + 2_000,
                      dur_ms=9,
                      attrs={**io, "messaging.operation": "receive",
                             "messaging.socket.io.event_name": "chat:message"})
        b.client_call("chat", None, parent=recv, start_ms=t + 2_000.5, dur_ms=6,
                      peer={"db.system": "mongodb", "server.address": "chat-db"})
        b.span("chat", "send /chat", kind="PRODUCER", parent=recv, start_ms=t + 2_007,
               dur_ms=0.4,
               attrs={**io, "messaging.destination_kind": "topic",
                      "messaging.socket.io.event_name": "chat:message",
                      "messaging.socket.io.rooms": ["room-42"],
                      "messaging.socket.io.namespace": "/chat"})
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        "service:chat->topic:/chat": ("publish", 2 * N),
        "topic:/chat->service:chat": ("consume", 2 * N),
        "service:chat->external:mongodb": ("call", N),
    }
    assert _systems(a) == {"topic:/chat": "socket.io"}
    consume = a.edge("topic:/chat->service:chat")
    assert consume["joined_by"] == {"context": 0, "message_id": 0, "none": 2 * N, "outside": 0}
    assert consume["message_count"] == 0 and consume["queue_p50_ms"] is None
    assert edge_detail(st, "topic:/chat->service:chat")["count"] == 2 * N
    # one trace per flow instance: nothing joins a client's message to another trace
    assert all(f["traces_per_flow"] == 1.0 for f in a.flows)
    assert sum(f["count"] for f in a.flows) == 2 * N
    # socket.io carries no context at all and its other side is the browsers: its
    # deliveries are no broken context, its broadcasts no messages nobody consumed, and the
    # server publishing to the namespace it receives from no cycle (none of its own came back)
    assert a.anomalies == []
    assert consume["broken_context_count"] == 0  # (nor drawn as a broken propagation)


# ------------------------------------------------------------------- Java agent: Spring JMS
# Read in open-telemetry/opentelemetry-java-instrumentation: instrumentation/spring/spring-jms/
# spring-jms-2.0 (and -6.0 for jakarta): SpringJmsMessageListenerInstrumentation (a
# "<destination> process" CONSUMER span around SessionAwareMessageListener.onMessage(message,
# session), which a @JmsListener's MessagingMessageListenerAdapter is; its parent is the
# receive span of the same poll when receive telemetry is on, else the context extracted
# from the message), AbstractPollingMessageListenerContainerInstrumentation (receiveAndExecute
# only opens a receive-context holder, with receive telemetry on), SpringJmsSingletons, and
# the tests SpringListenerSuppressReceiveSpansTest (the default: publish -> process -> the
# listener's work, one trace, no link), SpringListenerTest / SpringJmsListenerTest (receive
# telemetry on: a root "<destination> receive" CONSUMER span linking the publish, and the
# process span its child, linking it too); instrumentation/jms/jms-1.1, jms-3.0 and
# jms-common: JmsMessageConsumerInstrumentation (MessageConsumer.receive*: a "<destination>
# receive" CONSUMER span, timed from the call to its return, none when no message came),
# JmsReceiveSpanUtil (receive telemetry off: its parent is the context extracted from the
# message), JmsInstrumenterFactory, JmsMessageAttributesGetter (messaging.system jms,
# messaging.message.id the JMSMessageID, messaging.conversation_id the JMSCorrelationID),
# MessageWithDestination (the queue's or topic's getQueueName()/getTopicName(): ActiveMQ
# classic's "orders", never its toString() "queue://orders"; a temporary destination is
# "(temporary)" with messaging.destination.temporary true) and the tests AbstractJms1Test
# (ActiveMQ classic), AbstractJms3Test / Jms3SuppressReceiveSpansTest (Artemis: "artemis
# consumers don't know whether the destination is temporary": a consumer of a temporary
# queue names its generated name, without messaging.destination.temporary). Default
# settings: old messaging conventions (messaging.operation publish/receive/process,
# messaging.destination.name), receive telemetry off.

def _jms(dest: str, op: str, mid: str, **extra: Any) -> dict[str, Any]:
    return {"messaging.system": "jms", "messaging.destination.name": dest,
            "messaging.operation": op, "messaging.message.id": mid, **extra}


def _jms_id(host: str, i: int) -> str:
    """An ActiveMQ classic JMSMessageID: ID:<host>-<port>-<start>-<conn>:<session>:..."""
    return f"ID:{host}-41235-1717171717171-1:1:1:1:{i + 1}"


def _spring_jms_orders(b: SpanSet, receive_telemetry: bool) -> None:
    """N orders: the shop's REST controller sends each with JmsTemplate.convertAndSend to
    queue 'orders' (ActiveMQ classic); billing's @JmsListener (DefaultMessageListenerContainer,
    Spring Boot's default) handles it and writes to its database."""
    for i in range(N):
        t = i * 200
        mid = _jms_id("shop-7d9f", i)
        root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=25,
                      attrs={"http.request.method": "POST", "http.route": "/orders"})
        pub = b.span("shop", "orders publish", kind="PRODUCER", parent=root, start_ms=t + 8,
                     dur_ms=6, attrs=_jms("orders", "publish", mid))
        if receive_telemetry:
            # the container's consumer.receive(1000) was waiting when the message came
            recv = b.span("billing", "orders receive", kind="CONSUMER", start_ms=t - 300,
                          dur_ms=318, links=[pub], attrs=_jms("orders", "receive", mid))
            proc = b.span("billing", "orders process", kind="CONSUMER", parent=recv,
                          links=[pub], start_ms=t + 18.2, dur_ms=20,
                          attrs=_jms("orders", "process", mid))
        else:
            proc = b.span("billing", "orders process", kind="CONSUMER", parent=pub,
                          start_ms=t + 18.2, dur_ms=20, attrs=_jms("orders", "process", mid))
        b.client_call("billing", None, parent=proc, start_ms=t + 20, dur_ms=15,
                      peer={"db.system": "postgresql", "server.address": "billing-db"})


_SPRING_JMS_EDGES = {
    "service:shop->topic:orders": ("publish", N),
    "topic:orders->service:billing": ("consume", N),
    "service:billing->external:postgresql": ("call", N),
}


def test_spring_jms_listener_default_is_one_delivery_in_the_senders_trace():
    """The agent's defaults: JmsTemplate's "orders publish" PRODUCER, and spring-jms's
    "orders process" CONSUMER around the @JmsListener method as its child (the JMS client's
    receive inside the container makes no span of its own then), the listener's work under
    it. One delivery per message, from 'orders' (the queue's name, not ActiveMQ's
    "queue://orders"), one trace per order."""
    b = SpanSet()
    _spring_jms_orders(b, receive_telemetry=False)
    a = _analysed(b.store(), _SPRING_JMS_EDGES, "topic:orders->service:billing", p50_ms=20)
    assert _systems(a) == {"topic:orders": "jms"}
    assert a.edge("topic:orders->service:billing")["queue_p50_ms"] == 4.2
    assert _flows(a) == [("shop", N, 1.0)]


def test_spring_jms_listener_with_receive_telemetry_is_still_one_delivery():
    """otel.instrumentation.messaging.experimental.receive-telemetry.enabled=true: the
    container's poll gets a root "orders receive" CONSUMER span (timed from the receive
    call, so it started before the publish, to the message's arrival) linking the publish,
    and the listener's "orders process" span is its child, linking the publish too. Two
    consumer spans, one delivery: the process span's, joined by context; each order's flow
    spans the sender's trace and the poll's."""
    b = SpanSet()
    _spring_jms_orders(b, receive_telemetry=True)
    a = _analysed(b.store(), _SPRING_JMS_EDGES, "topic:orders->service:billing", p50_ms=20)
    assert _flows(a) == [("shop", N, 2.0)]


def _jms_request_reply(b: SpanSet, artemis: bool) -> None:
    """N quotes: the shop calls JmsTemplate.sendAndReceive("quotes") (a temporary reply
    queue per call: "quotes publish", then consumer.receive(5000) on the temporary queue:
    a "<reply queue> receive" CONSUMER span timed from the call, its parent the reply's
    publish); pricing's @JmsListener returns the quote, which Spring sends to JMSReplyTo
    inside the listener's process span: a "(temporary) publish" PRODUCER."""
    for i in range(N):
        t = i * 200
        if artemis:   # (Artemis message ids are "ID:" and a UUID)
            req_id = "ID:" + str(uuid.uuid5(uuid.NAMESPACE_OID, f"req-{i}"))
            rep_id = "ID:" + str(uuid.uuid5(uuid.NAMESPACE_OID, f"rep-{i}"))
        else:
            req_id, rep_id = _jms_id("shop-7d9f", i), _jms_id("pricing-5c44", i)
        root = b.span("shop", "GET /quotes/{sku}", kind="SERVER", start_ms=t, dur_ms=40,
                      attrs={"http.request.method": "GET", "http.route": "/quotes/{sku}"})
        pub = b.span("shop", "quotes publish", kind="PRODUCER", parent=root, start_ms=t + 4,
                     dur_ms=3, attrs=_jms("quotes", "publish", req_id))
        proc = b.span("pricing", "quotes process", kind="CONSUMER", parent=pub,
                      start_ms=t + 9, dur_ms=22, attrs=_jms("quotes", "process", req_id))
        b.client_call("pricing", None, parent=proc, start_ms=t + 10, dur_ms=12,
                      peer={"db.system": "postgresql", "server.address": "pricing-db"})
        reply = b.span("pricing", "(temporary) publish", kind="PRODUCER", parent=proc,
                       start_ms=t + 26, dur_ms=3,
                       attrs=_jms("(temporary)", "publish", rep_id,
                                  **{"messaging.destination.temporary": True}))
        if artemis:
            # Artemis names its temporary queues with a fresh UUID; the consumer's span
            # names it and does not know it is temporary
            temp = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"temp-queue-{i}"))
            b.span("shop", f"{temp} receive", kind="CONSUMER", parent=reply, start_ms=t + 7.2,
                   dur_ms=23, attrs=_jms(temp, "receive", rep_id))
        else:
            b.span("shop", "(temporary) receive", kind="CONSUMER", parent=reply,
                   start_ms=t + 7.2, dur_ms=23,
                   attrs=_jms("(temporary)", "receive", rep_id,
                              **{"messaging.destination.temporary": True}))


_REPLY_EDGES = {
    "service:shop->topic:quotes": ("publish", N),
    "topic:quotes->service:pricing": ("consume", N),
    "service:pricing->external:postgresql": ("call", N),
    "service:pricing->topic:(temporary:jms)": ("publish", N),
    "topic:(temporary:jms)->service:shop": ("consume", N),
}


def _check_request_reply(b: SpanSet) -> None:
    st = b.store()
    a = analyze(st)
    assert _edges(a) == _REPLY_EDGES
    for d in ("topic:quotes->service:pricing", "topic:(temporary:jms)->service:shop"):
        assert a.edge(d)["joined_by"] == {"context": N, "message_id": 0, "none": 0,
                                          "outside": 0}, d
        assert edge_detail(st, d)["count"] == N
    # the reply queues are one node, and the round trip is a reply, not a loop
    assert _systems(a) == {"topic:quotes": "jms", "topic:(temporary:jms)": "jms"}
    assert [(x["type"], x["loops"]) for x in a.anomalies] == [("cycle", 0)]
    assert _flows(a) == [("shop", N, 1.0)]


def test_jms_request_reply_over_activemq_temporary_queues():
    """ActiveMQ classic: the reply's publish and the requester's receive both name the
    temporary queue "(temporary)" with messaging.destination.temporary: one reply node."""
    b = SpanSet()
    _jms_request_reply(b, artemis=False)
    _check_request_reply(b)


def test_jms_request_reply_over_artemis_temporary_queues_is_one_reply_node():
    """Artemis: the reply's publish names "(temporary)" (temporary), but the requester's
    receive span names the queue Artemis generated for that one call (a UUID) and says
    nothing of it being temporary. The replies still go through one reply destination,
    not N topics of one message each routed from "(temporary)"."""
    b = SpanSet()
    _jms_request_reply(b, artemis=True)
    _check_request_reply(b)
