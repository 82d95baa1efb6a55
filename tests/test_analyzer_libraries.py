"""Span shapes of instrumentation outside Python, each read from the library's source or its
own tests: the OpenTelemetry Java agent (2.x, default settings), .NET libraries and Go's
Kafka clients. Each test builds exactly the spans the library exports for a small scenario
and checks what the analyzer makes of them."""

from __future__ import annotations

from typing import Any

from analyzer import analyze, edge_detail, flow_for_trace
from tests.analysis_checks import analysed as _analysed
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanSet

N = 3


def test_java_agent_sns_publish_is_a_publish_routed_to_the_queue():
    """The Java agent's AWS SDK v2 instrumentation gives SNS Publish no messaging system and
    no operation: a CLIENT span "Sns.Publish" with rpc.method=Publish and the topic ARN as
    messaging.destination.name. The subscribed queue's consumer gets a "<queue> process"
    span whose parent is that publish (context carried through SNS to SQS)."""
    b = SpanSet()
    arn = "arn:aws:sns:eu-west-1:123456789012:order-events"
    aws = {"rpc.system": "aws-api", "aws.agent": "java-aws-sdk",
           "server.address": "sns.eu-west-1.amazonaws.com", "server.port": 443}
    for i in range(N):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=40)
        pub = b.span("orders", "Sns.Publish", kind="CLIENT", parent=root, start_ms=t + 5,
                     dur_ms=20, attrs={**aws, "rpc.service": "Sns", "rpc.method": "Publish",
                                       "messaging.destination.name": arn})
        b.span("billing", "billing-orders process", kind="CONSUMER", parent=pub,
               start_ms=t + 60, dur_ms=10,
               attrs={"rpc.system": "aws-api", "rpc.service": "Sqs",
                      "rpc.method": "ReceiveMessage", "messaging.system": "aws_sqs",
                      "messaging.destination.name": "billing-orders",
                      "messaging.operation": "process", "messaging.message.id": f"sqs-{i}"})
    _analysed(b.store(), {
        # (the topic by its name, which ends its ARN)
        "service:orders->topic:order-events": ("publish", N),
        "topic:order-events->topic:billing-orders": ("route", N),
        "topic:billing-orders->service:billing": ("consume", N),
    }, "topic:billing-orders->service:billing")


def test_go_kotel_consumer_names_its_topic_as_a_source():
    """franz-go's kotel (semantic conventions 1.18) names a consumer's topic
    messaging.source.name, not a destination: a record that arrived without its context is
    still a delivery from that topic, not from an unknown one."""
    b = SpanSet()
    kafka = {"messaging.system": "kafka", "messaging.kafka.client_id": "billing-1"}
    for i in range(N + 1):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
        pub = b.span("orders", "orders publish", kind="PRODUCER", parent=root, start_ms=t + 2,
                     attrs={**kafka, "messaging.destination.kind": "topic",
                            "messaging.destination.name": "orders",
                            "messaging.operation": "publish"})
        b.span("billing", "orders receive", kind="CONSUMER",
               parent=pub if i < N else None,  # the last one lost its context
               start_ms=t + 30, dur_ms=0.1,
               attrs={**kafka, "messaging.source.kind": "topic",
                      "messaging.source.name": "orders", "messaging.operation": "receive",
                      "messaging.kafka.source.partition": 0,
                      "messaging.kafka.message.offset": i,
                      "messaging.kafka.consumer_group": "billing"})
    a = analyze(b.store())
    assert _edges(a) == {
        "service:orders->topic:orders": ("publish", N + 1),
        "topic:orders->service:billing": ("consume", N + 1),
    }
    consume = next(e for e in a.edges if e["type"] == "consume")
    assert consume["joined_by"] == {"context": N, "message_id": 0, "none": 1, "outside": 0}


def test_nservicebus_message_ids_join_a_delivery_that_lost_its_context():
    """NServiceBus 8/9 tags its spans only with its own headers (nservicebus.message_id,
    nservicebus.conversation_id, ...): a "process message" span that did not get the
    sender's context is still found by the message id the "send message" span carries."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("sales", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
        nsb = {"nservicebus.message_id": f"7f3a-{i}", "nservicebus.conversation_id": f"c-{i}",
               "nservicebus.message_intent": "Send",
               "nservicebus.enclosed_message_types": "Sales.Messages.PlaceOrder, Sales.Messages,"
                                                      " Version=1.0.0.0, Culture=neutral"}
        send = b.span("sales", "send message", kind="PRODUCER", parent=root, start_ms=t + 2,
                      attrs=nsb)
        proc = b.span("billing", "process message", kind="CONSUMER",
                      parent=send if i else None,  # the first one lost its context
                      start_ms=t + 30, dur_ms=8,
                      attrs={**nsb, "nservicebus.native_message_id": f"native-{i}"})
        b.span("billing", "Billing.PlaceOrderHandler", parent=proc, start_ms=t + 31, dur_ms=5,
               attrs={"nservicebus.handler.handler_type": "Billing.PlaceOrderHandler"})
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        "service:sales->topic:unknown": ("publish", N),
        "topic:unknown->service:billing": ("consume", N),
    }
    consume = next(e for e in a.edges if e["type"] == "consume")
    assert consume["joined_by"] == {"context": N - 1, "message_id": 1, "none": 0, "outside": 0}
    # the stitched delivery joins its sender's trace into one flow, like the others
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == round(1 + 1 / N, 3)
    assert edge_detail(st, "topic:unknown->service:billing")["count"] == N


def _spring_rabbit(b: SpanSet, exchange: str, routing_key: str, queue: str) -> None:
    """What the Java agent (2.x up to 2.30) exports for a message a Spring AMQP listener
    (SimpleMessageListenerContainer, Spring Boot's default) receives: the rabbitmq-client
    instrumentation's "<queue> process" span, which only covers handing the delivery to
    Spring's internal queue and names the exchange as its destination, and spring-rabbit's
    "<queue> process" span around the @RabbitListener method, which names the routing key.
    Both are children of the publish."""
    net = {"network.type": "ipv4", "network.peer.address": "10.0.0.7",
           "network.peer.port": 5672}
    for i in range(N):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
        pub = b.span("orders", f"{exchange or '<default>'} publish", kind="PRODUCER",
                     parent=root, start_ms=t + 2, dur_ms=1,
                     attrs={**net, "messaging.system": "rabbitmq",
                            "messaging.destination.name": exchange or "<default>",
                            "messaging.operation": "publish",
                            "messaging.rabbitmq.destination.routing_key": routing_key,
                            "messaging.message.body.size": 120})
        b.span("billing", f"{queue} process", kind="CONSUMER", parent=pub, start_ms=t + 10,
               dur_ms=0.05,
               attrs={**net, "messaging.system": "rabbitmq",
                      "messaging.destination.name": exchange or "<default>",
                      "messaging.operation": "process",
                      "messaging.rabbitmq.destination.routing_key": routing_key,
                      "messaging.message.body.size": 120})
        listener = b.span("billing", f"{queue} process", kind="CONSUMER", parent=pub,
                          start_ms=t + 10.2, dur_ms=15,
                          attrs={"messaging.system": "rabbitmq",
                                 "messaging.destination.name": routing_key,
                                 "messaging.operation": "process",
                                 "messaging.message.body.size": 120})
        b.client_call("billing", None, parent=listener, start_ms=t + 11, dur_ms=5,
                      peer={"db.system": "postgresql"})


def test_java_agent_spring_rabbit_listener_is_one_delivery_per_message():
    b = SpanSet()
    _spring_rabbit(b, "orders", "order.created", "billing-orders")
    _spring_rabbit(b, "", "billing-refunds", "billing-refunds")  # the default exchange
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->topic:order.created": ("route", N),
        "topic:order.created->service:billing": ("consume", N),
        "service:orders->topic:amq.default": ("publish", N),
        "topic:amq.default->topic:billing-refunds": ("route", N),
        "topic:billing-refunds->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", 2 * N),
    }
    consume = {e["id"]: e for e in a.edges if e["type"] == "consume"}
    # the delivery is the listener's span: its duration, not the hand-off's
    assert consume["topic:order.created->service:billing"]["p50_ms"] >= 14
    assert not a.anomalies
    for edge in consume:
        assert edge_detail(st, edge)["count"] == N


def _masstransit(b: SpanSet, consumers: list[str]) -> None:
    """What MassTransit 8 exports (its ActivitySource, read from its source): a "<exchange>
    send" PRODUCER span, then in the receiving service a "<queue> receive" CONSUMER span
    (child of the send, naming the queue, no messaging.system) and under it a "<queue>
    process" CONSUMER span per consumer of the message, naming no destination."""
    ids = {"messaging.masstransit.source_address": "rabbitmq://mq/api",
           "messaging.masstransit.message_types": "urn:message:Sample.Contracts:SubmitOrder"}
    for i in range(N):
        t = i * 100
        conv = {"messaging.message.conversation_id": f"conv-{i}",
                "messaging.masstransit.message_id": f"mt-{i}", **ids}
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
        send = b.span("api", "Sample.Contracts:SubmitOrder send", kind="PRODUCER",
                      parent=root, start_ms=t + 2, dur_ms=2,
                      attrs={**conv, "messaging.system": "rabbitmq",
                             "messaging.operation": "send",
                             "messaging.destination.name": "Sample.Contracts:SubmitOrder"})
        recv = b.span("orders", "submit-order receive", kind="CONSUMER", parent=send,
                      start_ms=t + 10, dur_ms=12,
                      attrs={"messaging.operation": "receive",
                             "messaging.destination.name": "submit-order",
                             "messaging.masstransit.input_address": "rabbitmq://mq/submit-order",
                             "messaging.message.id": f"mt-{i}"})
        for k, consumer in enumerate(consumers):
            proc = b.span("orders", "submit-order process", kind="CONSUMER", parent=recv,
                          start_ms=t + 11 + k * 5, dur_ms=4,
                          attrs={**conv, "messaging.operation": "process",
                                 "messaging.masstransit.consumer_type": consumer,
                                 "peer.address": "SubmitOrder/Sample.Contracts"})
            b.client_call("orders", None, parent=proc, start_ms=t + 12 + k * 5, dur_ms=2,
                          peer={"db.system": "postgresql"})


def test_masstransit_consumer_span_belongs_to_the_queue_it_was_received_from():
    b = SpanSet()
    _masstransit(b, ["SubmitOrderConsumer"])
    _analysed(b.store(), {
        "service:api->topic:Sample.Contracts:SubmitOrder": ("publish", N),
        "topic:Sample.Contracts:SubmitOrder->topic:submit-order": ("route", N),
        "topic:submit-order->service:orders": ("consume", N),
        "service:orders->external:postgresql": ("call", N),
    }, "topic:submit-order->service:orders")


def test_masstransit_message_handled_by_two_consumers_is_one_delivery():
    """Two consumers of one message type on one endpoint: a process span each under the one
    receive. The message was delivered once (not redelivered): the receive is the delivery."""
    b = SpanSet()
    _masstransit(b, ["SubmitOrderConsumer", "AuditConsumer"])
    _analysed(b.store(), {
        "service:api->topic:Sample.Contracts:SubmitOrder": ("publish", N),
        "topic:Sample.Contracts:SubmitOrder->topic:submit-order": ("route", N),
        "topic:submit-order->service:orders": ("consume", N),
        "service:orders->external:postgresql": ("call", 2 * N),
    }, "topic:submit-order->service:orders", p50_ms=12)  # the receive, around both


def test_sqs_batch_receive_counts_its_messages():
    """@opentelemetry/instrumentation-aws-sdk (0.58+) gives an SQS ReceiveMessage call one
    CONSUMER "<queue> receive" span that links to each received message's producer (the link
    carries the message id) and no span per message. A receive is one delivery of several
    messages: the edge counts both."""
    b = SpanSet()
    sqs = {"rpc.system": "aws-api", "rpc.service": "SQS", "messaging.system": "aws.sqs",
           "messaging.destination": "orders", "messaging.destination_kind": "queue",
           "messaging.url": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"}
    sends = []
    for i in range(6):
        root = b.span("shop", "POST /checkout", kind="SERVER", start_ms=i * 10, dur_ms=8)
        sends.append(b.span("shop", "orders send", kind="PRODUCER", parent=root,
                            start_ms=i * 10 + 1, dur_ms=5,
                            attrs={**sqs, "rpc.method": "SendMessage",
                                   "messaging.message_id": f"sqs-{i}"}))
    for k in range(2):
        batch = sends[k * 3:(k + 1) * 3]
        b.span("billing", "orders receive", kind="CONSUMER", start_ms=100 + k * 50, dur_ms=20,
               links=[(p, {"messaging.message.id": f"sqs-{sends.index(p)}"}) for p in batch],
               attrs={**sqs, "rpc.method": "ReceiveMessage",
                      "messaging.operation.type": "receive",
                      "messaging.batch.message_count": len(batch)})
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {"service:shop->topic:orders": ("publish", 6),
                         "topic:orders->service:billing": ("consume", 2)}
    consume = next(e for e in a.edges if e["type"] == "consume")
    assert consume["message_count"] == 6 and consume["batch_deliveries"] == 2
    assert not a.anomalies  # every message was consumed
    detail = edge_detail(st, "topic:orders->service:billing")
    assert (detail["count"], detail["message_count"]) == (2, 6)


def test_azure_service_bus_processor_receive_and_process_are_one_delivery():
    """Azure.Messaging.ServiceBus with its ActivitySource on: the sender's per-message
    "Message" PRODUCER spans and a CLIENT send linking them; the processor's CLIENT
    "ServiceBusReceiver.Receive" (a root, ended at once, linking the message) beside its
    CONSUMER "ServiceBusProcessor.ProcessMessage" (child of the message span, linking it too)
    with the settle ("Complete") inside, and receives that came back empty (no link). One
    delivery per message, from the subscription the topic routed it to."""
    b = SpanSet()
    sb = {"messaging.system": "servicebus", "server.address": "shop.servicebus.windows.net",
          "az.namespace": "Microsoft.ServiceBus"}
    sub = "orders/Subscriptions/billing"
    for i in range(N):
        t = i * 100
        root = b.span("checkout", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=30)
        msg = b.span("checkout", "Message", kind="PRODUCER", parent=root, start_ms=t + 1,
                     dur_ms=0.1, attrs={**sb, "messaging.destination.name": "orders"})
        b.span("checkout", "ServiceBusSender.Send", kind="CLIENT", parent=root,
               start_ms=t + 2, dur_ms=8, links=[msg],
               attrs={**sb, "messaging.destination.name": "orders",
                      "messaging.operation": "publish"})
        b.span("billing", "ServiceBusReceiver.Receive", kind="CLIENT", start_ms=t + 40,
               dur_ms=0.5, links=[msg],
               attrs={**sb, "messaging.destination.name": sub, "messaging.operation": "receive"})
        proc = b.span("billing", "ServiceBusProcessor.ProcessMessage", kind="CONSUMER",
                      parent=msg, start_ms=t + 41, dur_ms=15, links=[msg],
                      attrs={**sb, "messaging.destination.name": sub,
                             "messaging.operation": "process"})
        b.span("billing", "ServiceBusReceiver.Complete", kind="CLIENT", parent=proc,
               start_ms=t + 54, dur_ms=1, links=[msg],
               attrs={**sb, "messaging.destination.name": sub, "messaging.operation": "settle"})
        # the processor's next receive came back empty (a receive span with no link)
        b.span("billing", "ServiceBusReceiver.Receive", kind="CLIENT", start_ms=t + 60,
               dur_ms=0.5,
               attrs={**sb, "messaging.destination.name": sub, "messaging.operation": "receive"})
    a = _analysed(b.store(), {
        "service:checkout->topic:orders": ("publish", N),
        f"topic:orders->topic:{sub}": ("route", N),
        f"topic:{sub}->service:billing": ("consume", N),
    }, f"topic:{sub}->service:billing", p50_ms=15)
    assert next(e for e in a.edges if e["type"] == "consume")["message_count"] == N


def test_ruby_bunny_deliveries_and_reader_loop_frames():
    """opentelemetry-instrumentation-bunny (Ruby): a "<exchange>.<routing key> publish"
    PRODUCER; in the consumer a CONSUMER span per frame the reader loop reads, renamed
    "<exchange>.<routing key> receive" (with the exchange and operation) when the frame is a
    delivery, and under it a "... process" CONSUMER span with no attributes at all that
    links to the publish. Frames that are not deliveries (heartbeats, broker replies, in
    every service using bunny) keep the name Bunny::ReaderLoop#run_once."""
    b = SpanSet()
    amqp = {"messaging.system": "rabbitmq", "messaging.protocol": "AMQP",
            "messaging.protocol_version": "0.9.1", "net.peer.name": "mq", "net.peer.port": 5672}
    frame = {**amqp, "messaging.destination": "", "messaging.destination_kind": "queue"}
    for i in range(N):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
        pub = b.span("orders", "orders.order.created publish", kind="PRODUCER", parent=root,
                     start_ms=t + 2, attrs={**amqp, "messaging.destination": "orders",
                                            "messaging.destination_kind": "topic",
                                            "messaging.rabbitmq.routing_key": "order.created"})
        recv = b.span("billing", "orders.order.created receive", kind="CONSUMER",
                      start_ms=t + 10, dur_ms=0.3,
                      attrs={**amqp, "messaging.destination": "orders",
                             "messaging.destination_kind": "topic",
                             "messaging.rabbitmq.routing_key": "order.created",
                             "messaging.operation": "receive"})
        proc = b.span("billing", "orders.order.created process", kind="CONSUMER",
                      parent=recv, start_ms=t + 11, dur_ms=6, links=[pub])
        b.client_call("billing", None, parent=proc, start_ms=t + 12, dur_ms=3,
                      peer={"db.system": "postgresql"})
        for service in ("orders", "billing"):  # a heartbeat and a broker reply each
            for k in range(2):
                b.span(service, "Bunny::ReaderLoop#run_once", kind="CONSUMER",
                       start_ms=t + 50 + k, dur_ms=0.1, attrs=frame)
    _analysed(b.store(), {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, "topic:orders->service:billing", p50_ms=6)  # the process span, around the handler


def _dapr(b: SpanSet, grpc: bool = False) -> None:
    """Dapr pub/sub (read from dapr/dapr): the app calls its sidecar's publish API; the
    sidecar's span for that call (CLIENT, named by the HTTP path or the gRPC method, with
    messaging.system 'pubsub' and the topic but no operation, service.name = the app id)
    carries the context into the CloudEvent; the subscriber's sidecar opens a CLIENT span
    "pubsub/<topic>" (child of the publish) around its call to the subscriber app."""
    for i in range(N):
        t = i * 100
        root = b.span("checkout", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=30)
        call = b.span("checkout", "POST", kind="CLIENT", parent=root, start_ms=t + 2,
                      dur_ms=10, attrs={"http.request.method": "POST",
                                        "server.address": "localhost", "server.port": 3500})
        api = ("/dapr.proto.runtime.v1.Dapr/PublishEvent" if grpc
               else "/v1.0/publish/pubsub/orders")
        pub = b.span("checkout", api, kind="CLIENT", parent=call, start_ms=t + 3, dur_ms=8,
                     attrs={"messaging.system": "pubsub", "messaging.destination.name": "orders",
                            "dapr.protocol": "grpc" if grpc else "http",
                            "dapr.api": api if grpc else f"POST {api}",
                            "dapr.status_code": "204"})
        deliver = b.span("order-processor", "pubsub/orders", kind="CLIENT", parent=pub,
                         start_ms=t + 40, dur_ms=12,
                         attrs={"messaging.system": "pubsub",
                                "messaging.destination.name": "orders"})
        b.span("order-processor", "POST /orders", kind="SERVER", parent=deliver,
               start_ms=t + 41, dur_ms=10)


def test_dapr_pubsub_is_a_topic_between_the_apps_not_calls():
    for grpc in (False, True):
        b = SpanSet()
        _dapr(b, grpc)
        a = _analysed(b.store(), {
            "service:checkout->topic:orders": ("publish", N),
            "topic:orders->service:order-processor": ("consume", N),
        }, "topic:orders->service:order-processor")
        consume = next(e for e in a.edges if e["type"] == "consume")
        assert consume["queue_p50_ms"] is not None
        (flow,) = a.flows
        assert flow["style"] == "choreography"


def test_laravel_queue_job_is_one_delivery_in_the_dispatching_trace():
    """opentelemetry-php-contrib's Laravel instrumentation: "create <queue>" PRODUCER when
    a job is pushed, and in the worker "receive <queue>" (a root, ended once the job is
    fetched) and "process <queue>" CONSUMER spans; none has an operation attribute (only
    the name says it) and the job carries the context that was current when its payload
    was built: the dispatching request's, not the create span's. Both sides carry the job's
    uuid as messaging.message.id."""
    b = SpanSet()
    q = {"messaging.system": "redis", "messaging.destination.name": "default"}
    for i in range(N):
        t = i * 100
        uuid = f"9b1c-{i}"
        job = {**q, "messaging.message.id": uuid, "messaging.message.job_name": "SendInvoice"}
        root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
        b.span("shop", "create default", kind="PRODUCER", parent=root, start_ms=t + 5,
               dur_ms=2, attrs={**job, "messaging.message.envelope.size": 812})
        b.span("shop-worker", "receive default", kind="CONSUMER", start_ms=t + 40, dur_ms=1,
               attrs=job)
        proc = b.span("shop-worker", "process default", kind="CONSUMER", parent=root,
                      start_ms=t + 42, dur_ms=9, attrs={**job, "messaging.message.attempts": 1})
        b.client_call("shop-worker", None, parent=proc, start_ms=t + 43, dur_ms=3,
                      peer={"db.system": "mysql"})
    # the context did reach the job (the dispatching trace), just not from the create span
    _analysed(b.store(), {
        "service:shop->topic:default": ("publish", N),
        "topic:default->service:shop-worker": ("consume", N),
        "service:shop-worker->external:mysql": ("call", N),
    }, "topic:default->service:shop-worker", p50_ms=9)


def test_google_pubsub_client_tracing():
    """The Pub/Sub client libraries' own tracing (Java, Python; read from their source):
    a "<topic> create" PRODUCER per message, the batch's "<topic> publish" CLIENT RPC span
    (no parent) linking them; a "<subscription> subscribe" CONSUMER span per message, child
    of its create span, naming the subscription and no operation; inside it a
    "<subscription> process" INTERNAL span (only messaging.system) linking the create, and
    an "<subscription> ack" CLIENT RPC span linking the subscribe spans it acknowledged.
    The process span, around the handling until the ack, is the delivery."""
    b = SpanSet()
    ps = {"messaging.system": "gcp_pubsub", "gcp.project_id": "shop-prod"}
    creates = []
    for i in range(N):
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=i * 10, dur_ms=8)
        creates.append(b.span("orders", "order-events create", kind="PRODUCER", parent=root,
                              start_ms=i * 10 + 1, dur_ms=30,
                              attrs={**ps, "messaging.destination.name": "order-events",
                                     "messaging.operation": "create",
                                     "messaging.message.id": f"m{i}"}))
    b.span("orders", "order-events publish", kind="CLIENT", start_ms=25, dur_ms=6,
           links=[(c, {"messaging.operation": "publish"}) for c in creates],
           attrs={**ps, "messaging.destination.name": "order-events",
                  "messaging.operation": "publish", "messaging.batch.message_count": N})
    subs = []
    for i, c in enumerate(creates):
        sub = b.span("billing", "billing-sub subscribe", kind="CONSUMER", parent=c,
                     start_ms=60 + i, dur_ms=12,
                     attrs={**ps, "messaging.destination.name": "billing-sub",
                            "messaging.message.id": f"m{i}",
                            "messaging.gcp_pubsub.message.ack_id": f"ack-{i}"})
        b.span("billing", "subscriber concurrency control", parent=sub, start_ms=60 + i,
               dur_ms=0.1)
        b.span("billing", "billing-sub process", parent=sub, start_ms=61 + i, dur_ms=8,
               links=[c], attrs={"messaging.system": "gcp_pubsub"})
        subs.append(sub)
    b.span("billing", "billing-sub ack", kind="CLIENT", start_ms=75, dur_ms=3,
           links=[(s, {"messaging.operation": "ack"}) for s in subs],
           attrs={**ps, "messaging.destination.name": "billing-sub",
                  "messaging.operation": "ack", "messaging.batch.message_count": N})
    _analysed(b.store(), {
        "service:orders->topic:order-events": ("publish", N),
        "topic:order-events->topic:billing-sub": ("route", N),
        "topic:billing-sub->service:billing": ("consume", N),
    }, "topic:billing-sub->service:billing", p50_ms=8)  # the process span


def test_camel_producer_span_naming_the_inbound_topic_is_not_a_publish():
    """A Camel route from Kafka topic 'in' to topic 'out' under the Java agent: camel-kafka
    leaves the consumed record's kafka.TOPIC header on the exchange, so Camel's PRODUCER
    span for the send names 'in' (no messaging.system, operation 'process'); the
    kafka-clients "out publish" span under it is the message that is consumed."""
    b = SpanSet()
    kafka = {"messaging.system": "kafka"}
    for i in range(N):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=10)
        up = b.span("orders", "in publish", kind="PRODUCER", parent=root, start_ms=t + 1,
                    attrs={**kafka, "messaging.destination.name": "in",
                           "messaging.operation": "publish"})
        proc = b.span("router", "in process", kind="CONSUMER", parent=up, start_ms=t + 20,
                      dur_ms=15, attrs={**kafka, "messaging.destination.name": "in",
                                        "messaging.operation": "process"})
        route = b.span("router", "in", parent=proc, start_ms=t + 21, dur_ms=12,
                       attrs={"messaging.destination.name": "in"})
        camel = b.span("router", "in", kind="PRODUCER", parent=route, start_ms=t + 22,
                       dur_ms=8, attrs={"messaging.destination.name": "in",
                                        "messaging.operation": "process"})
        out = b.span("router", "out publish", kind="PRODUCER", parent=camel, start_ms=t + 23,
                     dur_ms=6, attrs={**kafka, "messaging.destination.name": "out",
                                      "messaging.operation": "publish"})
        b.span("shipping", "out process", kind="CONSUMER", parent=out, start_ms=t + 50,
               dur_ms=5, attrs={**kafka, "messaging.destination.name": "out",
                                "messaging.operation": "process"})
    st = b.store()
    _analysed(st, {
        "service:orders->topic:in": ("publish", N),
        "topic:in->service:router": ("consume", N),
        "service:router->topic:out": ("publish", N),
        "topic:out->service:shipping": ("consume", N),
    }, "topic:out->service:shipping")
    assert edge_detail(st, "service:router->topic:out")["count"] == N


def _faststream(b: SpanSet, batch: bool) -> None:
    """FastStream's OpenTelemetry middleware (read from its source and tests): the
    publisher opens a zero-length "<topic> create" PRODUCER span (its context goes into the
    headers) and under it "<topic> publish" around the send. A consumer's "<topic> process"
    span is a child of that create span and names the topic only as
    messaging.destination_publish.name. A batch consumer starts a new trace: a zero-length
    CONSUMER "<topic> create" span linking the producers, the process span under it."""
    kafka = {"messaging.system": "kafka", "messaging.destination.name": "orders"}
    creates = []
    for i in range(N):
        t = i * 10
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=8)
        conv = {"messaging.message.conversation_id": f"corr-{i}"}
        create = b.span("api", "orders create", kind="PRODUCER", parent=root, start_ms=t + 1,
                        dur_ms=0, attrs={**kafka, **conv})
        b.span("api", "orders publish", kind="PRODUCER", parent=create, start_ms=t + 1,
               dur_ms=3, attrs={**kafka, **conv, "messaging.operation": "publish"})
        creates.append(create)
    proc = {"messaging.system": "kafka", "messaging.destination_publish.name": "orders",
            "messaging.operation": "process"}
    if batch:
        anchor = b.span("billing", "orders create", kind="CONSUMER", start_ms=50, dur_ms=0,
                        links=creates, attrs={"messaging.system": "kafka"})
        b.span("billing", "orders process", kind="CONSUMER", parent=anchor, start_ms=50,
               dur_ms=7, attrs={**proc, "messaging.batch.message_count": N})
    else:
        for i, create in enumerate(creates):
            b.span("billing", "orders process", kind="CONSUMER", parent=create,
                   start_ms=50 + i * 10, dur_ms=7,
                   attrs={**proc, "messaging.message.id": f"0-{i}",
                          "messaging.kafka.message.offset": i})


def test_faststream_publish_and_process_spans():
    b = SpanSet()
    _faststream(b, batch=False)
    _analysed(b.store(), {
        "service:api->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
    }, "topic:orders->service:billing", p50_ms=7)


def test_faststream_batch_consumer_is_one_delivery_of_its_messages():
    b = SpanSet()
    _faststream(b, batch=True)
    a = _analysed(b.store(), {
        "service:api->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", 1),
    }, "topic:orders->service:billing", p50_ms=7)  # the process span, not the anchor
    assert next(e for e in a.edges if e["type"] == "consume")["message_count"] == N


def test_bullmq_jobs_are_a_queue_between_the_api_and_the_worker():
    """BullMQ's built-in telemetry (bullmq-otel): "add <queue>.<job>" PRODUCER and the
    worker's "process <queue>" CONSUMER (child of the add span), with only bullmq.* keys:
    the queue is bullmq.queue.name."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        job = {"bullmq.queue.name": "emails", "bullmq.job.name": "welcome",
               "bullmq.job.id": str(i + 1)}
        root = b.span("api", "POST /signup", kind="SERVER", start_ms=t, dur_ms=10)
        add = b.span("api", "add emails.welcome", kind="PRODUCER", parent=root,
                     start_ms=t + 2, dur_ms=2, attrs={**job, "bullmq.queue.operation": "add"})
        proc = b.span("mailer", "process emails", kind="CONSUMER", parent=add,
                      start_ms=t + 30, dur_ms=20,
                      attrs={**job, "bullmq.queue.operation": "process",
                             "bullmq.worker.name": "mailer-1", "bullmq.job.attempts.made": 0})
        b.span("mailer", "complete emails", parent=proc, start_ms=t + 48, dur_ms=1,
               attrs={"bullmq.queue.name": "emails", "bullmq.queue.operation": "complete"})
    _analysed(b.store(), {
        "service:api->topic:emails": ("publish", N),
        "topic:emails->service:mailer": ("consume", N),
    }, "topic:emails->service:mailer", p50_ms=20)


def test_hangfire_job_is_the_worker_called_by_the_enqueuing_service():
    """OpenTelemetry.Instrumentation.Hangfire makes no span for the enqueue; the job's
    INTERNAL "JOB <Type>.<Method>" span in the worker is a child of the span that was
    current when the job was enqueued, in another service: the context crossed services,
    so the map shows the hop."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("api", "POST /reports", kind="SERVER", start_ms=t, dur_ms=10)
        b.span("report-worker", "JOB ReportJob.Execute", parent=root, start_ms=t + 200,
               dur_ms=50, attrs={"job.id": str(40 + i),
                                 "job.createdat": "2026-11-30T10:00:00.0000000Z"})
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {"service:api->service:report-worker": ("call", N)}
    assert edge_detail(st, "service:api->service:report-worker")["count"] == N


def test_dotnet_aws_sdk_sqs_send_is_a_publish_to_the_queue():
    """OpenTelemetry.Instrumentation.AWS (.NET, default conventions) makes SendMessage a
    CLIENT span "SQS.SendMessage" with rpc.* and aws.queue_url only (no messaging.*), and
    injects its context into the message attributes; a consumer that extracts it (here the
    Java agent's "<queue> process") is its child."""
    b = SpanSet()
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/invoices"
    for i in range(N):
        t = i * 100
        root = b.span("billing-api", "POST /invoices", kind="SERVER", start_ms=t, dur_ms=30)
        send = b.span("billing-api", "SQS.SendMessage", kind="CLIENT", parent=root,
                      start_ms=t + 5, dur_ms=20,
                      attrs={"rpc.system": "aws-api", "rpc.service": "SQS",
                             "rpc.method": "SendMessage", "aws.queue_url": url,
                             "aws.request_id": f"req-{i}"})
        b.span("mailer", "invoices process", kind="CONSUMER", parent=send, start_ms=t + 60,
               dur_ms=10, attrs={"messaging.system": "aws_sqs",
                                 "messaging.destination.name": "invoices",
                                 "messaging.operation": "process",
                                 "messaging.message.id": f"m-{i}"})
    _analysed(b.store(), {
        "service:billing-api->topic:invoices": ("publish", N),
        "topic:invoices->service:mailer": ("consume", N),
    }, "topic:invoices->service:mailer", p50_ms=10)


def test_java_lambda_sqs_trigger_links_its_batch_to_the_producers():
    """The Java agent on a Lambda triggered by SQS: the function's SERVER span, under it a
    CONSUMER "aws:sqs process" span for the batch (messaging.system AmazonSQS, no queue)
    linking each record's producer (from its AWSTraceHeader), and, with the library's
    message handler, a CONSUMER "aws:sqs process" span per record naming the event source
    'aws:sqs' as its destination: a kind of trigger, not a queue."""
    b = SpanSet()
    sends = []
    for i in range(N):
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=i * 10, dur_ms=8)
        sends.append(b.span("orders", "order-events publish", kind="PRODUCER", parent=root,
                            start_ms=i * 10 + 1, dur_ms=5,
                            attrs={"messaging.system": "aws_sqs",
                                   "messaging.destination.name": "order-events",
                                   "messaging.operation": "publish",
                                   "messaging.message.id": f"m{i}"}))
    fn = b.span("notify-fn", "notify-fn", kind="SERVER", start_ms=100, dur_ms=40,
                attrs={"faas.invocation_id": "inv-1", "cloud.account.id": "123456789012"})
    batch = b.span("notify-fn", "aws:sqs process", kind="CONSUMER", parent=fn, start_ms=101,
                   dur_ms=38, links=sends,
                   attrs={"messaging.system": "AmazonSQS", "messaging.operation": "process"})
    for i, send in enumerate(sends):
        b.span("notify-fn", "aws:sqs process", kind="CONSUMER", parent=batch,
               start_ms=102 + i * 10, dur_ms=9, links=[send],
               attrs={"messaging.system": "AmazonSQS", "messaging.operation": "process",
                      "messaging.destination.name": "aws:sqs", "messaging.message.id": f"m{i}"})
    _analysed(b.store(), {
        "service:orders->topic:order-events": ("publish", N),
        "topic:order-events->service:notify-fn": ("consume", N),
    }, "topic:order-events->service:notify-fn", p50_ms=9)


def test_old_http_client_span_calls_the_host_of_its_url():
    """HTTP client instrumentation of the older conventions (http.method, http.url,
    http.status_code; no net.peer.name) calling a payment provider that sends no spans:
    the call goes to the URL's host."""
    b = SpanSet()
    for i in range(N):
        root = b.span("payments", "charge", kind="CONSUMER", start_ms=i * 100, dur_ms=50,
                      attrs={"messaging.system": "kafka", "messaging.destination": "charges",
                             "messaging.operation": "process"})
        b.span("payments", "HTTP POST", kind="CLIENT", parent=root, start_ms=i * 100 + 5,
               dur_ms=30, attrs={"http.method": "POST", "http.status_code": 200,
                                 "http.url": "https://api.stripe.com/v1/charges"})
    a = analyze(b.store())
    assert _edges(a)["service:payments->external:api.stripe.com"] == ("call", N)


def test_pulsar_partitioned_topic_is_one_topic():
    """The Java agent names a partitioned Pulsar topic's spans after the partition
    (persistent://public/default/orders-partition-3): one topic node, not one per partition."""
    b = SpanSet()
    base = "persistent://public/default/orders"
    for i in range(2 * N):
        topic = f"{base}-partition-{i % 3}"
        attrs = {"messaging.system": "pulsar", "messaging.destination.name": topic}
        root = b.span("shop", "POST /orders", kind="SERVER", start_ms=i * 10, dur_ms=5)
        pub = b.span("shop", f"{topic} publish", kind="PRODUCER", parent=root,
                     start_ms=i * 10 + 1, attrs={**attrs, "messaging.operation": "publish",
                                                  "messaging.message.id": f"{i}:0:-1"})
        b.span("billing", f"{topic} process", kind="CONSUMER", parent=pub, start_ms=i * 10 + 4,
               attrs={**attrs, "messaging.operation": "process",
                      "messaging.message.id": f"{i}:0:-1"})
    _analysed(b.store(), {
        f"service:shop->topic:{base}": ("publish", 2 * N),
        f"topic:{base}->service:billing": ("consume", 2 * N),
    }, f"topic:{base}->service:billing")


def test_nservicebus_over_sqs_names_the_queue_its_transport_sent_to():
    """NServiceBus on the SQS transport with .NET's AWS instrumentation: the "send message"
    PRODUCER span (no messaging.* attribute) around the SDK's bare "SQS.SendMessage" CLIENT
    span naming the queue only by its URL; the receiver's "process message" span (no
    destination either) is the child of the send. One publish to the queue, and the
    delivery is from that queue too."""
    b = SpanSet()
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/Billing"
    for i in range(N):
        t = i * 100
        nsb = {"nservicebus.message_id": f"m-{i}", "nservicebus.message_intent": "Send"}
        root = b.span("sales", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30)
        send = b.span("sales", "send message", kind="PRODUCER", parent=root, start_ms=t + 2,
                      dur_ms=20, attrs=nsb)
        b.span("sales", "SQS.SendMessage", kind="CLIENT", parent=send, start_ms=t + 3,
               dur_ms=15, attrs={"rpc.system": "aws-api", "rpc.service": "SQS",
                                 "rpc.method": "SendMessage", "aws.queue_url": url})
        b.span("billing", "process message", kind="CONSUMER", parent=send, start_ms=t + 50,
               dur_ms=10, attrs={**nsb, "nservicebus.native_message_id": f"sqs-{i}"})
    _analysed(b.store(), {
        "service:sales->topic:Billing": ("publish", N),
        "topic:Billing->service:billing": ("consume", N),
    }, "topic:Billing->service:billing", p50_ms=10)


def test_opentracing_destinations_of_converted_or_camel_spans():
    """camel-opentelemetry (Camel 3/4) and traces converted from OpenTracing name the
    destination message_bus.destination; with span kinds PRODUCER / CONSUMER that is enough
    for a topic between the services."""
    b = SpanSet()
    for i in range(N):
        root = b.span("router", "from-http", kind="SERVER", start_ms=i * 100, dur_ms=20,
                      attrs={"component": "camel-http", "camel.uri": "http://0.0.0.0/orders"})
        pub = b.span("router", "orders", kind="PRODUCER", parent=root, start_ms=i * 100 + 2,
                     attrs={"component": "camel-kafka", "message_bus.destination": "orders",
                            "camel.uri": "kafka://orders"})
        b.span("billing", "orders", kind="CONSUMER", parent=pub, start_ms=i * 100 + 30,
               dur_ms=5, attrs={"component": "camel-kafka", "message_bus.destination": "orders",
                                "kafka.offset": i})
    _analysed(b.store(), {
        "service:router->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
    }, "topic:orders->service:billing")


def test_flow_view_reads_roles_and_topics_as_the_analysis_does():
    """The flow view's critical path attributes a publish span's time to the publish edge
    the map has: for Dapr's sidecar span (a publish by its name alone) and for a Pulsar
    partition (the topic without its partition)."""
    b = SpanSet()
    _dapr(b)
    st = b.store()
    a = analyze(st)
    flow = flow_for_trace(st, a.flows[0]["example_trace_ids"][0])
    hops = {g["hop"] for g in flow["critical_path_segments"] if g["kind"] == "call"}
    assert "service:checkout->topic:orders" in hops

    b = SpanSet()
    topic = "persistent://public/default/orders-partition-2"
    root = b.span("shop", "POST /orders", kind="SERVER", dur_ms=20)
    pub = b.span("shop", f"{topic} publish", kind="PRODUCER", parent=root, start_ms=1,
                 dur_ms=5, attrs={"messaging.system": "pulsar",
                                  "messaging.destination.name": topic,
                                  "messaging.operation": "publish"})
    b.span("billing", f"{topic} process", kind="CONSUMER", parent=pub, start_ms=30,
           attrs={"messaging.system": "pulsar", "messaging.destination.name": topic,
                  "messaging.operation": "process"})
    st = b.store()
    flow = flow_for_trace(st, root.trace_id)
    hops = {g["hop"] for g in flow["critical_path_segments"]}
    assert "service:shop->topic:persistent://public/default/orders" in hops
    assert "topic:persistent://public/default/orders->service:billing" in hops


def _brave(b: SpanSet, lib: str) -> None:
    """What Brave (5.x/6.x: Spring Cloud Sleuth, Micrometer Tracing's Brave bridge) reports
    through the OpenTelemetry Collector's zipkin receiver, read from Brave's source and the
    receiver's translator: no messaging.* attributes, the broker as peer.service, kinds kept,
    the consumer span a child of the producer's (Zipkin has no links), zero-length (Kafka's
    "poll") or 1 µs (RabbitMQ's "next-message", JMS's "receive") with the listener's work in
    an "on-message" child of no kind. Kafka tags the topic, JMS the queue; Spring Rabbit's
    publish tags nothing, its consumer the exchange, routing key and queue."""
    for i in range(N):
        t = i * 100
        root = b.span("api", "post /orders", kind="SERVER", start_ms=t, dur_ms=20)
        deliveries = []
        if lib == "kafka":
            send = b.span("api", "send", kind="PRODUCER", parent=root, start_ms=t + 2,
                          dur_ms=3, attrs={"kafka.topic": "orders", "kafka.key": f"o-{i}",
                                           "peer.service": "kafka"})
            deliveries.append(("worker", b.span(
                "worker", "poll", kind="CONSUMER", parent=send, start_ms=t + 10, dur_ms=0,
                attrs={"kafka.topic": "orders", "peer.service": "kafka"})))
        elif lib == "rabbit":
            # a topic exchange bound to two services' queues, then the default exchange
            send = b.span("api", "publish", kind="PRODUCER", parent=root, start_ms=t + 2,
                          dur_ms=0, attrs={"peer.service": "rabbitmq"})
            for svc in ("worker", "audit"):
                deliveries.append((svc, b.span(
                    svc, "next-message", kind="CONSUMER", parent=send, start_ms=t + 10,
                    dur_ms=0.001, attrs={"rabbit.exchange": "shop",
                                         "rabbit.routing_key": "order.created",
                                         "rabbit.queue": f"{svc}-orders",
                                         "peer.service": "rabbitmq"})))
            direct = b.span("api", "publish", kind="PRODUCER", parent=root, start_ms=t + 4,
                            dur_ms=0, attrs={"peer.service": "rabbitmq"})
            deliveries.append(("mailer", b.span(
                "mailer", "next-message", kind="CONSUMER", parent=direct, start_ms=t + 12,
                dur_ms=0.001, attrs={"rabbit.exchange": "", "rabbit.routing_key": "emails",
                                     "rabbit.queue": "emails", "peer.service": "rabbitmq"})))
        else:
            send = b.span("api", "send", kind="PRODUCER", parent=root, start_ms=t + 2,
                          dur_ms=1, attrs={"jms.queue": "orders", "peer.service": "jms"})
            deliveries.append(("worker", b.span(
                "worker", "receive", kind="CONSUMER", parent=send, start_ms=t + 10,
                dur_ms=0.001, attrs={"jms.queue": "orders", "peer.service": "jms"})))
        for svc, cons in deliveries:
            work = b.span(svc, "on-message", kind="UNSPECIFIED", parent=cons,
                          start_ms=t + 10, dur_ms=15)
            b.span(svc, "query", kind="CLIENT", parent=work, start_ms=t + 12, dur_ms=5,
                   attrs={"peer.service": "mysql"})


def test_brave_kafka_and_jms_through_the_zipkin_receiver():
    for lib in ("kafka", "jms"):
        b = SpanSet()
        _brave(b, lib)
        st = b.store()
        a = _analysed(st, {"service:api->topic:orders": ("publish", N),
                           "topic:orders->service:worker": ("consume", N),
                           "service:worker->external:mysql": ("call", N)},
                      "topic:orders->service:worker", p50_ms=15.0)
        assert _systems(a) == {"topic:orders": lib}
        # the delivery lasts until the end of its work (on-message), not its instant span;
        # the queue time is from the end of the send to the consumer span
        assert a.edge("topic:orders->service:worker")["queue_p50_ms"] == \
            (5.0 if lib == "kafka" else 7.0)


def test_brave_spring_rabbit_publish_goes_to_the_exchange_its_consumers_name():
    """The publish names nothing: it went to the exchange its deliveries came through, and
    through the default exchange to the queue."""
    b = SpanSet()
    _brave(b, "rabbit")
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        "service:api->topic:shop": ("publish", N),
        "topic:shop->service:worker": ("consume", N),
        "topic:shop->service:audit": ("consume", N),
        "service:api->topic:emails": ("publish", N),
        "topic:emails->service:mailer": ("consume", N),
        **{f"service:{s}->external:mysql": ("call", N) for s in ("worker", "audit", "mailer")},
    }
    assert not a.anomalies
    assert _systems(a) == {"topic:shop": "rabbitmq", "topic:emails": "rabbitmq"}
    assert [a.edge(f"topic:shop->service:{s}")["p50_ms"] for s in ("worker", "audit")] == \
        [15.0, 15.0]  # (next-message lasts 1 µs: until the end of on-message)
    for e in a.edges:
        d = edge_detail(st, e["id"])
        assert (d["count"], d["p50_ms"]) == (e["count"], e["p50_ms"]), e["id"]


def _brave_http(b: SpanSet) -> None:
    """Brave's HTTP server span under B3 propagation (its default, and Spring Cloud Sleuth's:
    supportsJoin) shares the client span's id and parent; through the zipkin receiver both
    arrive as OTLP spans, the server's children naming the shared id as their parent."""
    for i in range(N):
        t = i * 100
        root = b.span("web", "get /checkout", kind="SERVER", start_ms=t, dur_ms=40)
        client = b.span("web", "post", kind="CLIENT", parent=root, start_ms=t + 2, dur_ms=30,
                        attrs={"http.method": "POST", "peer.service": "orders"})
        b.span("orders", "post /orders", kind="SERVER", parent=root, start_ms=t + 4,
               dur_ms=26, span_id=client.span_id, status="ERROR" if i == 0 else "UNSET")
        b.span("orders", "query", kind="CLIENT", parent=client, start_ms=t + 6, dur_ms=5,
               attrs={"peer.service": "mysql"})
        send = b.span("orders", "send", kind="PRODUCER", parent=client, start_ms=t + 12,
                      dur_ms=2, attrs={"kafka.topic": "orders"})
        poll = b.span("billing", "poll", kind="CONSUMER", parent=send, start_ms=t + 20,
                      dur_ms=0, attrs={"kafka.topic": "orders"})
        b.span("billing", "on-message", kind="UNSPECIFIED", parent=poll, start_ms=t + 20,
               dur_ms=10)


def test_brave_server_span_sharing_its_clients_id_is_one_call():
    """Both spans are kept (they are not copies of one span: their start times differ),
    whether they arrive in one export or two, and are one call."""
    b = SpanSet()
    _brave_http(b)
    for st in (b.store(), b.store(batches=len(b.spans))):
        with st.cursor() as cur:
            assert cur.execute("SELECT count(*) FROM spans WHERE name = 'post /orders'"
                               ).fetchone()[0] == N
        a = analyze(st)
        assert _edges(a) == {
            "service:web->service:orders": ("call", N),
            "service:orders->external:mysql": ("call", N),
            "service:orders->topic:orders": ("publish", N),
            "topic:orders->service:billing": ("consume", N),
        }
        call = a.edge("service:web->service:orders")
        assert call["p50_ms"] == 30.0 and call["error_count"] == 1  # the client's time
        # on the critical path the client span calls its server span (the call is the
        # client's time outside it), whose publish reaches billing: its handler's work
        # ("on-message" under the instant "poll" span, same service) is on the path, not
        # clipped to the poll's end as if it were skewed
        (flow,) = a.flows
        assert {(h["hop"], h["kind"]): h["p50_ms"] for h in flow["critical_path"]} == {
            ("service:web", "processing"): 10.0,
            ("service:web->service:orders", "call"): 4.0,
            ("service:orders", "processing"): 3.0,
            ("service:orders->external:mysql", "call"): 5.0,
            ("service:orders->topic:orders", "call"): 2.0,
            ("topic:orders->service:billing", "queue"): 6.0,
            ("service:billing", "processing"): 10.0}
        for e in a.edges:
            assert edge_detail(st, e["id"])["count"] == e["count"], e["id"]


def test_brave_shared_id_is_two_spans_in_the_flow_view():
    """In the waterfall, the server span sharing its client's id is a span of its own
    ("<id>:server", as Jaeger re-keys it) under its client, with its service's children
    under it; the critical path goes through both; the span panel finds each."""
    from dashboard.data import span_detail

    b = SpanSet()
    _brave_http(b)
    st = b.store()
    client = next(s.ref for s in b.spans if s.name == "post")
    f = flow_for_trace(st, client.trace_id)
    by_name = {s["name"]: s for s in f["spans"]}
    assert len(f["spans"]) == 7
    server = by_name["post /orders"]
    assert server["span_id"] == client.span_id + ":server"
    assert server["parent_span_id"] == client.span_id == by_name["post"]["span_id"]
    assert by_name["query"]["parent_span_id"] == by_name["send"]["parent_span_id"] == \
        server["span_id"]
    assert (by_name["post"]["depth"], server["depth"], by_name["query"]["depth"]) == (1, 2, 3)
    assert f["critical_path"][:3] == [by_name["get /checkout"]["span_id"], client.span_id,
                                      server["span_id"]]
    assert {(x["from_span"], x["to_span"]) for x in f["links"]} >= {
        (client.span_id, server["span_id"]), (server["span_id"], by_name["query"]["span_id"])}
    shown = {sid: span_detail(st, client.trace_id, sid) for sid in (client.span_id,
                                                                   server["span_id"])}
    assert {sid: (d["kind"], d["service_name"], d["span_id"]) for sid, d in shown.items()} == {
        client.span_id: ("CLIENT", "web", client.span_id),
        server["span_id"]: ("SERVER", "orders", client.span_id)}


def test_spring_amqp_micrometer_observations_through_the_default_exchange():
    """Spring AMQP 3.2+ with Micrometer Tracing's OpenTelemetry bridge (read from its
    source): "<destination> send" PRODUCER and "<queue> receive" CONSUMER spans naming the
    exchange as messaging.destination.name ('' for the default one) and the routing key,
    no messaging.system. The default exchange is RabbitMQ's amq.default, not "no
    destination", and routes each message to the queue its routing key names, which a
    delivery from it is from; a named exchange is a topic between the services."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        for exchange, key in (("", "billing-invoices"), ("orders", "order.created")):
            root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
            attrs = {"messaging.destination.name": exchange,
                     "messaging.rabbitmq.destination.routing_key": key}
            send = b.span("shop", f"{exchange}/{key} send", kind="PRODUCER", parent=root,
                          start_ms=t + 2, dur_ms=1,
                          attrs={**attrs, "spring.rabbit.template.name": "rabbitTemplate"})
            b.span("billing", f"{key} receive", kind="CONSUMER", parent=send, start_ms=t + 8,
                   dur_ms=6, attrs={**attrs, "spring.rabbit.listener.id": "listener-1"})
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        "service:shop->topic:amq.default": ("publish", N),
        "topic:amq.default->topic:billing-invoices": ("route", N),
        "topic:billing-invoices->service:billing": ("consume", N),
        "service:shop->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
    }
    assert not a.anomalies
    assert _systems(a) == {"topic:amq.default": "rabbitmq", "topic:orders": "rabbitmq",
                           "topic:billing-invoices": "rabbitmq"}


def _otel_demo(b: SpanSet, batch: int) -> None:
    """The OpenTelemetry Demo's Kafka `orders` topic (read from its source): checkout (Go)
    publishes with a manual "orders publish" PRODUCER span (messaging.operation=publish, no
    message id) under its gRPC PlaceOrder span; accounting (.NET auto-instrumentation) wraps
    an "orders receive" CONSUMER span, linked to the publish and covering the blocking
    Consume() (so it starts before the publish), in its own "order-consumed" root opened
    before that wait, and writes to Postgres; fraud-detection (Java agent with receive telemetry on) opens
    an "orders receive" span per poll, in a new trace, and under it an "orders process" span
    per record, linked to that record's publish. ``batch`` orders arrive per poll."""
    kafka = {"messaging.system": "kafka", "messaging.destination.name": "orders"}
    sends = []
    for i in range(2 * N):
        t = i * 100
        root = b.span("frontend", "POST /api/checkout", kind="SERVER", start_ms=t, dur_ms=60)
        rpc = {"rpc.system": "grpc", "rpc.service": "oteldemo.CheckoutService",
               "rpc.method": "PlaceOrder"}
        client = b.span("frontend", "oteldemo.CheckoutService/PlaceOrder", kind="CLIENT",
                        parent=root, start_ms=t + 2, dur_ms=50,
                        attrs={**rpc, "server.address": "checkout"})
        server = b.span("checkout", "oteldemo.CheckoutService/PlaceOrder", kind="SERVER",
                        parent=client, start_ms=t + 3, dur_ms=48, attrs=rpc)
        send = b.span("checkout", "orders publish", kind="PRODUCER", parent=server,
                      start_ms=t + 40, dur_ms=2,
                      attrs={**kafka, "messaging.operation": "publish", "peer.service": "kafka",
                             "messaging.kafka.destination.partition": 0})
        sends.append((t, send))
        # (its root opens before the blocking Consume(), and the receive span covers that:
        # both began waiting long before the order was placed)
        consumed = b.span("accounting", "order-consumed", start_ms=t - 80, dur_ms=140)
        b.span("accounting", "orders receive", kind="CONSUMER", parent=consumed,
               start_ms=t - 79, dur_ms=124, links=[send],
               attrs={**kafka, "messaging.operation": "receive",
                      "messaging.kafka.consumer.group": "accounting"})
        b.span("accounting", "INSERT otel.order", kind="CLIENT", parent=consumed,
               start_ms=t + 50, dur_ms=3, attrs={"db.system": "postgresql"})
    for j in range(0, len(sends), batch):
        polled = sends[j:j + batch]
        t = polled[-1][0] + 46
        poll = b.span("fraud-detection", "orders receive", kind="CONSUMER", start_ms=t,
                      dur_ms=1, attrs={**kafka, "messaging.operation": "receive",
                                       "messaging.batch.message_count": len(polled)})
        for k, (_, send) in enumerate(polled):
            b.span("fraud-detection", "orders process", kind="CONSUMER", parent=poll,
                   start_ms=t + 1 + 3 * k, dur_ms=2, links=[send],
                   attrs={**kafka, "messaging.operation": "process",
                          "messaging.kafka.consumer.group": "fraud-detection"})


def test_opentelemetry_demo_orders_topic():
    """Every order is one flow of its traces; a poll that brought two orders is where their
    transactions meet, so its trace is a flow of its own instead of merging the two. A
    receive span that began waiting before the publish is no clock skew."""
    for batch in (1, 2):
        b = SpanSet()
        _otel_demo(b, batch)
        st = b.store()
        a = _analysed(st, {
            "service:frontend->service:checkout": ("call", 2 * N),
            "service:checkout->topic:orders": ("publish", 2 * N),
            "topic:orders->service:accounting": ("consume", 2 * N),
            "topic:orders->service:fraud-detection": ("consume", 2 * N),
            "service:accounting->external:postgresql": ("call", 2 * N),
        }, "topic:orders->service:fraud-detection")
        assert a.edge("topic:orders->service:accounting")["queue_p50_ms"] == 0.0
        flows = {f["entry_service"]: f for f in a.flows}
        order = flows["frontend"]
        assert order["count"] == 2 * N
        # from the checkout request to the end of the last consumer's work, not from when
        # accounting began waiting
        assert order["e2e_p50_ms"] == 60.0
        assert order["traces_per_flow"] == (3.0 if batch == 1 else 2.0)
        example = order["example_trace_ids"][0]
        view = flow_for_trace(st, example)
        assert view["duration_ms"] == 60.0  # the flow view agrees: from the request on
        services = {s["service_name"] for s in view["spans"]}
        assert {"frontend", "checkout", "accounting", "fraud-detection"} <= services
        if batch == 1:
            assert set(flows) == {"frontend"}
        else:  # the poll's trace is its own flow; the order's view shows it, not its other order
            assert flows["fraud-detection"]["count"] == N
            assert len({s["trace_id"] for s in view["spans"]}) == 3
            assert sum(s["name"] == "POST /api/checkout" for s in view["spans"]) == 1


def _eshop(b: SpanSet, client_library_spans: bool) -> None:
    """Microsoft's eShop (Aspire) event bus, read from its source: a "<event> publish" CLIENT
    span (messaging.operation=publish, the event type as destination and routing key) and,
    from RabbitMQ.Client 7's own ActivitySource (Aspire enables it), a "publish <event>"
    PRODUCER child naming the exchange eshop_event_bus; the library's "deliver <event>"
    CONSUMER span in a new trace, linked to it, and eShop's "<event> receive" CLIENT span,
    the handlers' parent, a child of the publish (the library's, when it is there)."""
    ev = {"stock": "OrderStatusChangedToStockConfirmedIntegrationEvent",
          "paid": "OrderPaymentSucceededIntegrationEvent"}

    def publish(svc: str, parent: Any, event: str, t: float) -> Any:
        span = b.span(svc, f"{event} publish", kind="CLIENT", parent=parent, start_ms=t,
                      dur_ms=4, attrs={"messaging.system": "rabbitmq",
                                       "messaging.destination_kind": "queue",
                                       "messaging.operation": "publish",
                                       "messaging.destination.name": event,
                                       "messaging.rabbitmq.routing_key": event})
        if client_library_spans:
            span = b.span(svc, f"publish {event}", kind="PRODUCER", parent=span,
                          start_ms=t + 1, dur_ms=2,
                          attrs={"messaging.system": "rabbitmq",
                                 "messaging.destination.name": "eshop_event_bus",
                                 "messaging.rabbitmq.destination.routing_key": event,
                                 "messaging.operation.type": "send"})
        return span

    def consume(svc: str, ctx: Any, event: str, t: float) -> Any:
        if client_library_spans:
            b.span(svc, f"deliver {event}", kind="CONSUMER", start_ms=t, dur_ms=12,
                   links=[ctx], attrs={"messaging.system": "rabbitmq",
                                       "messaging.destination.name": "eshop_event_bus",
                                       "messaging.rabbitmq.destination.routing_key": event,
                                       "messaging.operation.type": "process"})
        return b.span(svc, f"{event} receive", kind="CLIENT", parent=ctx, start_ms=t + 1,
                      dur_ms=10, attrs={"messaging.system": "rabbitmq",
                                        "messaging.destination_kind": "queue",
                                        "messaging.operation": "receive",
                                        "messaging.destination.name": event,
                                        "messaging.rabbitmq.routing_key": event})

    for i in range(N):
        t = i * 1000
        root = b.span("ordering-api", "PUT /api/orders/ship", kind="SERVER", start_ms=t,
                      dur_ms=50)
        handler = consume("payment-processor", publish("ordering-api", root, ev["stock"],
                                                        t + 10), ev["stock"], t + 20)
        consume("ordering-api", publish("payment-processor", handler, ev["paid"], t + 25),
                ev["paid"], t + 40)


def test_eshop_event_bus_with_and_without_rabbitmq_client_spans():
    """Without the client library's spans each event type is a topic between the services;
    with them the publish goes to the exchange and the broker routes it to the event's
    binding. Either way every message is delivered once, with its context (the library's
    delivery, naming the exchange, is a hand-off of eShop's receive, which is no poll)."""
    stock = "OrderStatusChangedToStockConfirmedIntegrationEvent"
    paid = "OrderPaymentSucceededIntegrationEvent"
    deliveries = {f"topic:{stock}->service:payment-processor": ("consume", N),
                  f"topic:{paid}->service:ordering-api": ("consume", N)}
    for library, publishes in (
            (False, {f"service:ordering-api->topic:{stock}": ("publish", N),
                     f"service:payment-processor->topic:{paid}": ("publish", N)}),
            (True, {"service:ordering-api->topic:eshop_event_bus": ("publish", N),
                    "service:payment-processor->topic:eshop_event_bus": ("publish", N),
                    f"topic:eshop_event_bus->topic:{stock}": ("route", N),
                    f"topic:eshop_event_bus->topic:{paid}": ("route", N)})):
        b = SpanSet()
        _eshop(b, client_library_spans=library)
        st = b.store()
        a = analyze(st)
        assert _edges(a) == {**publishes, **deliveries}
        for e in a.edges:
            assert edge_detail(st, e["id"])["count"] == e["count"], e["id"]
        for edge in deliveries:
            assert a.edge(edge)["joined_by"] == {"context": N, "message_id": 0, "none": 0,
                                                 "outside": 0}
        assert [f["count"] for f in a.flows] == [N]
        # the saga comes back to ordering-api: a cycle, which no flow goes around again
        assert {x["type"] for x in a.anomalies} == {"cycle"}
        assert not any(x["loops"] for x in a.anomalies)


def test_wolverine_handler_span_beside_its_receive_is_no_call():
    """Wolverine (its "Wolverine" ActivitySource, read from its source) starts "send"
    (PRODUCER), "receive" (CONSUMER) and the handler's span (INTERNAL, named by the message
    type) all as children of the span current when the message was published, tagged with
    the pre-1.17 conventions (messaging.destination as a URI, messaging.message_id). The
    delivery is joined by its message id inside the publisher's trace; the handler span, a
    child of another service's span, is not a call from the publisher to the handler."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
        tags = {"messaging.system": "rabbitmq", "messaging.destination": "rabbitmq://queue/orders",
                "messaging.message_id": f"env-{i}", "messaging.conversation_id": f"conv-{i}",
                "messaging.message_type": "OrderPlaced"}
        b.span("api", "send", kind="PRODUCER", parent=root, start_ms=t + 5, dur_ms=2,
               attrs=tags)
        b.span("worker", "receive", kind="CONSUMER", parent=root, start_ms=t + 30,
               dur_ms=0.2, attrs=tags)
        handler = b.span("worker", "OrderPlaced", parent=root, start_ms=t + 31, dur_ms=10,
                         attrs=tags)
        b.span("worker", "INSERT orders", kind="CLIENT", parent=handler, start_ms=t + 32,
               dur_ms=3, attrs={"db.system": "postgresql"})
    _analysed(b.store(), {
        "service:api->topic:rabbitmq://queue/orders": ("publish", N),
        "topic:rabbitmq://queue/orders->service:worker": ("consume", N),
        "service:worker->external:postgresql": ("call", N),
    }, "topic:rabbitmq://queue/orders->service:worker")


def test_rebus_diagnostics_point_to_point_and_publish():
    """Rebus.Diagnostics (read from its source): "<type> send" (PRODUCER when published,
    CLIENT when sent point to point) with pre-1.17 tags, the destination a JSON array, no
    messaging.system and the message's intent ('pub', 'p2p') as its conversation id;
    "<type> receive" (CONSUMER, or SERVER point to point) a child of the send, with
    messaging.operation=receive and nothing naming a destination; "<type> process" per
    handler under it. Each message is one delivery, each order its own flow."""
    b = SpanSet()
    kinds = {"pub": ("PRODUCER", "CONSUMER", "topic"), "p2p": ("CLIENT", "SERVER", "queue")}
    for i in range(N):
        for intent, dest in (("pub", "orders.placed"), ("p2p", "billing")):
            send_kind, receive_kind, dkind = kinds[intent]
            t = i * 100
            root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
            tags = {"messaging.destination_kind": dkind, "messaging.message_id": f"{intent}-{i}",
                    "messaging.conversation_id": intent,
                    "messaging.destination": f'["{dest}"]'}
            send = b.span("shop", "Shop.OrderPlaced, Shop send", kind=send_kind, parent=root,
                          start_ms=t + 2, dur_ms=2, attrs=tags)
            receive = b.span("billing", "Shop.OrderPlaced, Shop receive", kind=receive_kind,
                             parent=send, start_ms=t + 10, dur_ms=8,
                             attrs={**tags, "messaging.operation": "receive"})
            b.span("billing", "Shop.OrderPlaced, Shop process", parent=receive,
                   start_ms=t + 11, dur_ms=6,
                   attrs={**tags, "messaging.operation": "process",
                          "rebus.handler.type": "Billing.OrderPlacedHandler"})
    st = b.store()
    a = _analysed(st, {"service:shop->topic:orders.placed": ("publish", N),
                       "topic:orders.placed->service:billing": ("consume", N),
                       "service:shop->topic:billing": ("publish", N),
                       "topic:billing->service:billing": ("consume", N)},
                  "topic:billing->service:billing")
    assert sum(f["count"] for f in a.flows) == 2 * N  # 'pub' / 'p2p' join no traces
    assert len(flow_for_trace(st, a.flows[0]["example_trace_ids"][0])["trace_ids"]) == 1


def test_spring_kafka_micrometer_observations():
    """Spring for Apache Kafka 3.2+ with Micrometer Tracing's OpenTelemetry bridge (read
    from its source): "<topic> send" PRODUCER (messaging.operation=publish, the broker as
    peer.service) and, per record, "<topic> receive" CONSUMER naming its topic as
    messaging.source.name, a child of the send, around the listener (what the listener
    does is its child)."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
        send = b.span("orders", "orders send", kind="PRODUCER", parent=root, start_ms=t + 2,
                      dur_ms=3, attrs={"spring.kafka.template.name": "kafkaTemplate",
                                       "messaging.system": "kafka",
                                       "messaging.operation": "publish",
                                       "messaging.destination.kind": "topic",
                                       "messaging.destination.name": "orders",
                                       "peer.service": "Apache Kafka: lkc-1"})
        receive = b.span("billing", "orders receive", kind="CONSUMER", parent=send,
                         start_ms=t + 9, dur_ms=12,
                         attrs={"spring.kafka.listener.id": "billing-0",
                                "messaging.system": "kafka", "messaging.operation": "receive",
                                "messaging.source.name": "orders",
                                "messaging.source.kind": "topic",
                                "messaging.kafka.consumer.group": "billing",
                                "messaging.kafka.source.partition": "0",
                                "messaging.kafka.message.offset": str(i)})
        b.span("billing", "INSERT invoices", kind="CLIENT", parent=receive, start_ms=t + 15,
               dur_ms=2, attrs={"db.system": "postgresql"})
    a = _analysed(b.store(), {"service:orders->topic:orders": ("publish", N),
                              "topic:orders->service:billing": ("consume", N),
                              "service:billing->external:postgresql": ("call", N)},
                  "topic:orders->service:billing", p50_ms=12.0)
    assert a.edge("topic:orders->service:billing")["queue_p50_ms"] == 4.0
    assert [f["count"] for f in a.flows] == [N]
