"""Span shapes of JVM messaging read from the libraries' own source: Quartz jobs under the
OpenTelemetry Java agent (quartz-2.0) publishing to Kafka and polling JMS; IBM MQ through the
agent's JMS instrumentation (queue URIs, dynamic reply queues); Alpakka / Pekko Connectors
Kafka through the kafka-clients instrumentation; Spring for Apache Kafka 4.0 batch listeners
with per-record Micrometer observations (micrometer-tracing-bridge-otel); and the Pulsar
Java client's built-in OpenTelemetry tracing (PIP-446, pulsar-client 4.2). Each test builds
exactly the spans the library exports for a small scenario and checks what the analyzer makes
of them."""

from __future__ import annotations

from typing import Any

from analyzer import analyze, edge_detail
from tests.analysis_checks import analysed as _analysed
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import flows_of as _flows
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3

_HTTP = {"http.request.method": "POST", "http.route": "/orders", "url.scheme": "http",
         "url.path": "/orders", "http.response.status_code": 202,
         "server.address": "shop", "server.port": 8080}
_PG = {"db.system": "postgresql", "db.name": "shop", "server.address": "shop-db",
       "server.port": 5432}


def _order(b: SpanSet, t: float, service: str = "shop", dur_ms: float = 20) -> SpanRef:
    return b.span(service, "POST /orders", kind="SERVER", start_ms=t, dur_ms=dur_ms,
                  attrs=_HTTP)


def _db(b: SpanSet, service: str, parent: SpanRef | None, t: float, op: str = "INSERT",
        table: str = "shop.invoices", dur_ms: float = 3) -> SpanRef:
    return b.span(service, f"{op} {table}", kind="CLIENT", parent=parent, start_ms=t,
                  dur_ms=dur_ms, attrs={**_PG, "db.operation": op})


def _kafka(topic: str, op: str, client: str, **extra: Any) -> dict[str, Any]:
    """The Java agent's kafka-clients attributes (old messaging conventions, its default)."""
    return {"messaging.system": "kafka", "messaging.destination.name": topic,
            "messaging.operation": op, "messaging.client_id": client, **extra}


def _kafka_publish(b: SpanSet, service: str, parent: SpanRef | None, topic: str, t: float,
                   partition: int, offset: int, key: str,
                   client: str = "producer-1") -> SpanRef:
    return b.span(service, f"{topic} publish", kind="PRODUCER", parent=parent,
                  start_ms=t, dur_ms=4,
                  attrs=_kafka(topic, "publish", client,
                               **{"messaging.destination.partition.id": str(partition),
                                  "messaging.kafka.message.offset": offset,
                                  "messaging.kafka.message.key": key}))


def _kafka_process(b: SpanSet, service: str, parent: SpanRef, topic: str, t: float,
                   group: str, partition: int, offset: int, key: str,
                   dur_ms: float = 10) -> SpanRef:
    return b.span(service, f"{topic} process", kind="CONSUMER", parent=parent, start_ms=t,
                  dur_ms=dur_ms,
                  attrs=_kafka(topic, "process", f"consumer-{group}-1",
                               **{"messaging.kafka.consumer.group": group,
                                  "messaging.destination.partition.id": str(partition),
                                  "messaging.kafka.message.offset": offset,
                                  "messaging.kafka.message.key": key,
                                  "messaging.message.body.size": 240}))


# ============================================================================ Quartz
# Read in open-telemetry/opentelemetry-java-instrumentation, instrumentation/quartz-2.0:
# library/.../TracingJobListener.java (a JobListener: jobToBeExecuted starts the span with
# the current context as parent -- none on a Quartz worker thread, so a root -- and makes it
# current for the job's execute(); jobWasExecuted ends it with the JobExecutionException),
# QuartzSpanNameExtractor.java ("<job group>.<job name>"), QuartzTelemetryBuilder.java (kind
# INTERNAL, the default SpanKindExtractor; code attributes from QuartzCodeAttributesGetter:
# the job class and "execute"; "job.system"="quartz" only with experimental attributes),
# testing/.../AbstractQuartzTest.java (successfulJob: "jobs.test" INTERNAL, no parent, the
# job's spans its children; failingJob: status error). The job's Kafka sends are the
# kafka-clients-0.11 "<topic> publish" PRODUCER spans, children of the job's span.

def _quartz_job(b: SpanSet, service: str, group: str, name: str, job_class: str, t: float,
                dur_ms: float, status: str = "UNSET") -> SpanRef:
    return b.span(service, f"{group}.{name}", start_ms=t, dur_ms=dur_ms, status=status,
                  attrs={"code.namespace": job_class, "code.function": "execute",
                         "thread.name": "quartzScheduler_Worker-3"})


def test_quartz_outbox_relay_job_publishes_each_row_to_kafka():
    """Every 10 s a Quartz job (Spring Boot's QuartzAutoConfiguration, job key
    outbox.relayOutbox) reads the shop's outbox table and sends each pending event to Kafka
    'orders' with KafkaTemplate, then marks the rows sent. The job's root INTERNAL span
    "outbox.relayOutbox" holds the SELECT, three "orders publish" PRODUCER spans and the
    UPDATE; billing handles each record under a "orders process" child of its publish. A
    job run is where the flow starts: the scheduler calls nobody, it publishes."""
    b = SpanSet()
    for k in range(N):
        t = k * 10_000
        job = _quartz_job(b, "shop-outbox", "outbox", "relayOutbox",
                          "com.acme.shop.outbox.RelayOutboxJob", t, dur_ms=40)
        _db(b, "shop-outbox", job, t + 1, op="SELECT", table="shop.outbox", dur_ms=4)
        for j in range(3):
            key = f"order-{3 * k + j}"
            pub = _kafka_publish(b, "shop-outbox", job, "orders", t + 6 + j * 8, partition=j,
                                 offset=9000 + k, key=key)
            proc = _kafka_process(b, "billing", pub, "orders", t + 60 + j * 8, "billing",
                                  partition=j, offset=9000 + k, key=key, dur_ms=12)
            _db(b, "billing", proc, t + 62 + j * 8)
        _db(b, "shop-outbox", job, t + 34, op="UPDATE", table="shop.outbox", dur_ms=4)
    a = _analysed(b.store(), {
        "service:shop-outbox->external:postgresql": ("call", 2 * N),
        "service:shop-outbox->topic:orders": ("publish", 3 * N),
        "topic:orders->service:billing": ("consume", 3 * N),
        "service:billing->external:postgresql": ("call", 3 * N),
    }, "topic:orders->service:billing", p50_ms=12)
    assert _systems(a) == {"topic:orders": "kafka"}
    assert _flows(a) == [("shop-outbox", N, 1.0)]


def _jms(dest: str, op: str, mid: str, **extra: Any) -> dict[str, Any]:
    """The agent's jms-1.1/jms-3.0 attributes (old messaging conventions)."""
    return {"messaging.system": "jms", "messaging.destination.name": dest,
            "messaging.operation": op, "messaging.message.id": mid, **extra}


def test_quartz_job_polling_jms_receives_in_the_senders_traces():
    """A Quartz job (reconcile.importPayments, every minute) drains the ActiveMQ Artemis
    queue 'payments' with MessageConsumer.receive(500) and inserts each payment. With
    receive telemetry off (the default) the jms-3.0 instrumentation gives each receive that
    returned a message a "payments receive" CONSUMER span whose parent is the context
    extracted from the message -- the gateway's publish, in the gateway's trace -- not the
    job's span (JmsReceiveSpanUtil); the last receive timed out and made no span. The job's
    inserts stay under "reconcile.importPayments" in a trace of their own. Each payment is
    one delivery joined by its parent; nothing was lost."""
    b = SpanSet()
    for k in range(N):
        t = k * 60_000
        pubs = []
        for j in range(2):
            root = b.span("gateway", "POST /payments", kind="SERVER", start_ms=t + j * 300,
                          dur_ms=25, attrs={**_HTTP, "http.route": "/payments"})
            mid = f"ID:5b0d35e1-7a5c-11ef-9f1c-0242ac12000{k}-{j}"
            pubs.append((mid, b.span("gateway", "payments publish", kind="PRODUCER",
                                     parent=root, start_ms=t + j * 300 + 8, dur_ms=5,
                                     attrs=_jms("payments", "publish", mid))))
        job = _quartz_job(b, "reconciler", "reconcile", "importPayments",
                          "com.acme.reconcile.ImportPaymentsJob", t + 20_000, dur_ms=530)
        for j, (mid, pub) in enumerate(pubs):
            b.span("reconciler", "payments receive", kind="CONSUMER", parent=pub,
                   start_ms=t + 20_001 + j * 10, dur_ms=1.5,
                   attrs=_jms("payments", "receive", mid))
            _db(b, "reconciler", job, t + 20_003 + j * 10, table="reconcile.payments",
                dur_ms=5)
    a = _analysed(b.store(), {
        "service:gateway->topic:payments": ("publish", 2 * N),
        "topic:payments->service:reconciler": ("consume", 2 * N),
        "service:reconciler->external:postgresql": ("call", 2 * N),
    }, "topic:payments->service:reconciler", p50_ms=1.5)
    # the payments waited for the job's next run, about 20 s
    assert a.edge("topic:payments->service:reconciler")["queue_p50_ms"] == 19843.0
    # each payment is the gateway's flow; each job run a flow of its own
    assert _flows(a) == [("gateway", 2 * N, 1.0), ("reconciler", N, 1.0)]


# ============================================================================ IBM MQ
# The Java agent's JMS instrumentation against IBM MQ classes for JMS (com.ibm.mq.allclient;
# the agent has no IBM MQ module of its own -- open-telemetry/opentelemetry-java-
# instrumentation#19979 asks for one -- so messaging.system is "jms"). Read in
# instrumentation/jms/jms-common-1.1/.../MessageWithDestination.java (the name is
# message.getJMSDestination()'s, the producer's destination only as a fallback, through
# Queue.getQueueName(); temporary only for an instanceof TemporaryQueue or a TIBCO "$TMP$"
# name), jms-1.1/.../JavaxDestinationAdapter.java, JmsMessageProducerInstrumentation.java
# (the span starts at send(), before the provider sets JMSDestination: the producer's
# destination names it), JmsMessageAttributesGetter.java (message id = JMSMessageID,
# conversation id = JMSCorrelationID), JmsReceiveSpanUtil.java, and spring-jms-2.0's
# listener instrumentation. IBM MQ's client is not open source; what its destinations are
# called comes from IBM's documentation and from DataDog/dd-trace-java#10909 ("IBM MQ's JMS
# implementation can return URI-format names (e.g. queue:///MY.QUEUE) from
# Queue.getQueueName() when destinations are created with URI syntax", seen in production
# data) and DataDog/dd-trace-dotnet#8080: a destination created with URI syntax
# (session.createQueue("queue:///DEV.QUEUE.1"), as IBM's mq-dev-patterns samples do) is named
# by its URI; one created by name (Spring's DynamicDestinationResolver) by the name; and a
# received message's JMSDestination is rebuilt from the MQRFH2 jms.Dst field, which IBM
# documents as the destination serialised as a URI ("Mapping JMS header fields at send()";
# "JMSDestination ... retrieved from jms.Dst"). "queue:///Q", "queue://Q" and "queue://QM1/Q"
# all name queue Q (IBM's "Queue uniform resource identifiers"). JMSMessageIDs are "ID:" and
# the 24-byte MQMD MsgId in hex ("AMQ " + the queue manager name padded to 12 + 8 bytes).
# Temporary queues are dynamic queues named from TEMPQPREFIX, "AMQ.*" by default (IBM's
# TEMPQPREFIX documentation); a reply destination rebuilt from JMSReplyTo (MQMD ReplyToQ /
# ReplyToQMgr and jms.Rto) is an MQQueue, not a TemporaryQueue, so neither the replier's
# publish nor the requester's receive (which names the reply's rebuilt JMSDestination) says
# it is temporary.

def _mq_id(n: int) -> str:
    """An IBM MQ JMSMessageID from queue manager QM1."""
    return "ID:414d5120514d3120202020202020202067a1b2c3" + "%08x" % (0x01230040 + n)


def test_ibm_mq_queue_named_by_uri_or_by_name_is_one_queue():
    """Two applications put orders on IBM MQ queue DEV.QUEUE.1: the Spring Boot API
    (mq-jms-spring-boot-starter, JmsTemplate.convertAndSend("DEV.QUEUE.1")) names it
    "DEV.QUEUE.1"; the nightly batch importer, written after IBM's samples
    (context.createQueue("queue:///DEV.QUEUE.1"), a JMS 2.0 JMSProducer), names it by its
    URI. Fulfilment's @JmsListener(destination = "DEV.QUEUE.1") process spans name the
    messages' JMSDestination, rebuilt from the RFH2 URI: "queue:///DEV.QUEUE.1". One queue,
    two publishers, one consumer, every delivery joined by its parent."""
    b = SpanSet()
    for i in range(N):
        t = i * 500
        root = b.span("orders-api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30,
                      attrs={**_HTTP, "server.address": "orders-api"})
        mid = _mq_id(2 * i)
        pub = b.span("orders-api", "DEV.QUEUE.1 publish", kind="PRODUCER", parent=root,
                     start_ms=t + 10, dur_ms=6, attrs=_jms("DEV.QUEUE.1", "publish", mid))
        b.span("fulfilment", "queue:///DEV.QUEUE.1 process", kind="CONSUMER", parent=pub,
               start_ms=t + 25, dur_ms=18,
               attrs=_jms("queue:///DEV.QUEUE.1", "process", mid))
        # the batch importer: a plain main() with the agent, its puts are roots
        mid = _mq_id(2 * i + 1)
        pub = b.span("legacy-import", "queue:///DEV.QUEUE.1 publish", kind="PRODUCER",
                     start_ms=t + 200, dur_ms=4,
                     attrs=_jms("queue:///DEV.QUEUE.1", "publish", mid))
        b.span("fulfilment", "queue:///DEV.QUEUE.1 process", kind="CONSUMER", parent=pub,
               start_ms=t + 215, dur_ms=18,
               attrs=_jms("queue:///DEV.QUEUE.1", "process", mid))
    a = _analysed(b.store(), {
        "service:orders-api->topic:DEV.QUEUE.1": ("publish", N),
        "service:legacy-import->topic:DEV.QUEUE.1": ("publish", N),
        "topic:DEV.QUEUE.1->service:fulfilment": ("consume", 2 * N),
    }, "topic:DEV.QUEUE.1->service:fulfilment", p50_ms=18)
    assert _systems(a) == {"topic:DEV.QUEUE.1": "jms"}


def test_ibm_mq_request_reply_through_dynamic_reply_queues_is_one_reply_node():
    """JmsTemplate.sendAndReceive("DEV.QUEUE.2") on IBM MQ: each call creates a temporary
    (dynamic) queue, "AMQ.<16 hex>" from the default TEMPQPREFIX, puts the request
    ("DEV.QUEUE.2 publish", named by the producer's destination) and waits on the temporary
    queue with receive(5000). The quote engine's @JmsListener handles the request
    ("queue:///DEV.QUEUE.2 process") and Spring sends the reply to JMSReplyTo inside it,
    with the request's id as JMSCorrelationID: a "queue://QM1/AMQ.<hex> publish" PRODUCER,
    not flagged temporary (JMSReplyTo comes back as an MQQueue). The requester's receive
    span names the reply's JMSDestination, the same URI, timed from the receive call, a
    child of the reply's publish. The replies go through one reply destination per call:
    together they are the reply node, not N queues of one message each."""
    b = SpanSet()
    for i in range(N):
        t = i * 400
        req_id, rep_id = _mq_id(100 + i), _mq_id(200 + i)
        reply_q = "queue://QM1/AMQ.67A1B2C3" + "%08X" % (0x2F7A0940 + 3 * i)
        root = b.span("pricing-api", "GET /quotes/{sku}", kind="SERVER", start_ms=t,
                      dur_ms=45, attrs={"http.request.method": "GET",
                                        "http.route": "/quotes/{sku}"})
        pub = b.span("pricing-api", "DEV.QUEUE.2 publish", kind="PRODUCER", parent=root,
                     start_ms=t + 4, dur_ms=3, attrs=_jms("DEV.QUEUE.2", "publish", req_id))
        proc = b.span("quote-engine", "queue:///DEV.QUEUE.2 process", kind="CONSUMER",
                      parent=pub, start_ms=t + 10, dur_ms=24,
                      attrs=_jms("queue:///DEV.QUEUE.2", "process", req_id))
        _db(b, "quote-engine", proc, t + 12, op="SELECT", table="pricing.tariffs",
            dur_ms=10)
        conv = {"messaging.message.conversation_id": req_id}
        reply = b.span("quote-engine", f"{reply_q} publish", kind="PRODUCER", parent=proc,
                       start_ms=t + 28, dur_ms=4, attrs=_jms(reply_q, "publish", rep_id, **conv))
        b.span("pricing-api", f"{reply_q} receive", kind="CONSUMER", parent=reply,
               start_ms=t + 7.5, dur_ms=26, attrs=_jms(reply_q, "receive", rep_id, **conv))
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        "service:pricing-api->topic:DEV.QUEUE.2": ("publish", N),
        "topic:DEV.QUEUE.2->service:quote-engine": ("consume", N),
        "service:quote-engine->external:postgresql": ("call", N),
        "service:quote-engine->topic:(temporary:jms)": ("publish", N),
        "topic:(temporary:jms)->service:pricing-api": ("consume", N),
    }
    for d in ("topic:DEV.QUEUE.2->service:quote-engine",
              "topic:(temporary:jms)->service:pricing-api"):
        assert a.edge(d)["joined_by"] == {"context": N, "message_id": 0, "none": 0,
                                          "outside": 0}, d
        assert edge_detail(st, d)["count"] == N
    # the round trip is a reply, not a loop
    assert [(x["type"], x["loops"]) for x in a.anomalies] == [("cycle", 0)]
    assert _flows(a) == [("pricing-api", N, 1.0)]


# ============================================================ Alpakka / Pekko Connectors Kafka
# No instrumentation of its own: the Java agent's kafka-clients-0.11 module sees the
# KafkaConsumer the connector drives. Read in apache/pekko-connectors-kafka (and
# akka/alpakka-kafka, the same code), core/.../internal/KafkaConsumerActor.scala: the consumer
# actor polls, then processResult builds each requesting stage's batch with
# `rawResult.records(tp).asScala` appended to a Vector builder (alpakka-kafka#978) before
# `stageActorRef ! Messages(...)`; the stream's own stages run later, on other threads.
# In open-telemetry/opentelemetry-java-instrumentation, kafka-clients-0.11/javaagent/
# .../ConsumerRecordsInstrumentation.java (records(TopicPartition) returns a TracingList),
# kafka-clients-common-0.11/library/.../TracingList.java / TracingIterator.java (iterating
# starts a "<topic> process" CONSUMER span per record at next() and ends it at the next
# hasNext()/next(): here, while the actor copies the batch, so each span lasts microseconds
# and the stream's work is outside it) and KafkaInstrumenterFactory (with receive telemetry
# off, the default, the span's parent is the record's producer context). The producer stage
# (Producer.flexiFlow) calls KafkaProducer.send with no current context: its
# "<topic> publish" PRODUCER spans are roots. Committer.sink's batched commitAsync makes no
# span in the released agent.

def test_alpakka_committable_relay_process_spans_are_instant_and_its_sends_start_traces():
    """A Pekko Streams relay: Consumer.committableSource('orders') -> mapAsync (price the
    order) -> Producer.flexiFlow(ProducerMessage.multi: an 'invoices' and a 'shipments'
    record per order) -> Committer.sink (batched offsets). Each order has a microsecond
    "orders process" span in the relay, the child of its publish; the relay's two sends per
    order are root PRODUCER spans, each its own trace; billing and warehouse consume them
    (children of those sends). Every delivery is joined by its parent; the relay's traces
    start where it publishes."""
    b = SpanSet()
    for k in range(N):
        t = k * 1000
        batch = []
        for j in range(2):
            i = 2 * k + j
            root = _order(b, t + j * 30)
            batch.append((i, _kafka_publish(b, "shop", root, "orders", t + j * 30 + 5,
                                            partition=j, offset=300 + k, key=f"order-{i}")))
        # one poll brought both: the consumer actor copies them, one span after the other
        for n, (i, pub) in enumerate(batch):
            _kafka_process(b, "relay", pub, "orders", t + 80 + n * 0.02, "relay",
                           partition=n, offset=300 + k, key=f"order-{i}", dur_ms=0.015)
        for n, (i, _) in enumerate(batch):
            for m, (topic, svc) in enumerate((("invoices", "billing"),
                                              ("shipments", "warehouse"))):
                at = t + 95 + n * 12 + m * 0.5
                pub = _kafka_publish(b, "relay", None, topic, at, partition=i % 2,
                                     offset=70 + i, key=f"order-{i}", client="producer-2")
                _kafka_process(b, svc, pub, topic, at + 20, svc, partition=i % 2,
                               offset=70 + i, key=f"order-{i}", dur_ms=6)
    a = _analysed_each(b.store(), {
        "service:shop->topic:orders": ("publish", 2 * N),
        "topic:orders->service:relay": ("consume", 2 * N),
        "service:relay->topic:invoices": ("publish", 2 * N),
        "topic:invoices->service:billing": ("consume", 2 * N),
        "service:relay->topic:shipments": ("publish", 2 * N),
        "topic:shipments->service:warehouse": ("consume", 2 * N),
    }, ["topic:orders->service:relay", "topic:invoices->service:billing",
        "topic:shipments->service:warehouse"],
        [("publish_without_context", "service:relay->topic:invoices", 2 * N),
         ("publish_without_context", "service:relay->topic:shipments", 2 * N)])
    assert a.edge("topic:orders->service:relay")["p50_ms"] == 0.015
    # the orders waited in Kafka (41 and 71 ms) for the relay's poll
    assert a.edge("topic:orders->service:relay")["queue_p50_ms"] == 56.01
    flows = _flows(a)
    assert [f for f in flows if f[0] == "shop"] == [("shop", 2 * N, 1.0)]
    assert sum(f[1] for f in flows if f[0] == "relay") == 4 * N


# ============================================================ Spring for Apache Kafka 4.0
# Read in spring-projects/spring-kafka: spring-kafka/.../listener/
# KafkaMessageListenerContainer.java (4.0: invokeBatchOnMessageWithRecordsOrList calls
# invokeBatchWithIndividualRecordObservation(recordList) before the batch listener: for each
# record an Observation of KafkaListenerObservation.LISTENER_OBSERVATION whose observe()
# only logs -- started and stopped at once, never in scope while the listener runs),
# support/micrometer/KafkaListenerObservation.java (name "spring.kafka.listener", contextual
# name "<topic> receive"; low cardinality spring.kafka.listener.id, messaging.system=kafka,
# messaging.operation=receive, messaging.source.name, messaging.source.kind=topic,
# messaging.kafka.consumer.group; high cardinality messaging.kafka.source.partition,
# messaging.kafka.message.offset, messaging.consumer.id "<group> - <client id>",
# messaging.kafka.client_id), KafkaRecordReceiverContext.java (a ReceiverContext: a CONSUMER
# span, the record's headers extracted as its parent by Micrometer Tracing's
# PropagatingReceiverTracingObservationHandler; remote service "Apache Kafka: <cluster id>"),
# KafkaTemplateObservation ("<topic> send" PRODUCER, messaging.destination.name) and the
# tests support/micrometer/BatchIndividualRecordObservationTests.java (recordObservationsInBatch
# = true: three records, three consumer spans, each carrying its producer's propagated
# values; false: no observation at all). Docs (kafka/micrometer.adoc): "Micrometer
# Observation does not support batch listener" before 4.0; the per-record observations "are
# not propagated to the listener method".

def _spring_kafka_receive(topic: str, listener: str, group: str, partition: int,
                          offset: int) -> dict[str, Any]:
    client = f"consumer-{group}-1"
    return {"spring.kafka.listener.id": listener, "messaging.system": "kafka",
            "messaging.operation": "receive", "messaging.source.name": topic,
            "messaging.source.kind": "topic", "messaging.kafka.consumer.group": group,
            "messaging.kafka.source.partition": str(partition),
            "messaging.kafka.message.offset": str(offset),
            "messaging.consumer.id": f"{group} - {client}",
            "messaging.kafka.client_id": client, "peer.service": "Apache Kafka: 4L6g3nShT"}


def _spring_kafka_send(topic: str) -> dict[str, Any]:
    return {"spring.kafka.template.name": "kafkaTemplate", "messaging.system": "kafka",
            "messaging.operation": "publish", "messaging.destination.kind": "topic",
            "messaging.destination.name": topic, "peer.service": "Apache Kafka: 4L6g3nShT"}


def _spring_kafka_4_batches(b: SpanSet, failing_batch: int | None = None) -> None:
    """Spring Boot 4 with micrometer-tracing-bridge-otel; billing's @KafkaListener
    (id = "billingBatch", batch) runs on a factory with observationEnabled and
    recordObservationsInBatch. N polls of three orders: three "orders receive" CONSUMER
    spans per listener call, each the child of its "orders send" and ended at once, before
    the listener runs; the listener aggregates the batch and sends one 'invoice-batches'
    record with its KafkaTemplate outside any observation -- a root "invoice-batches send"
    -- which ledger's record listener receives. ``failing_batch``: that batch's listener
    throws twice (a deadlock on insert) and DefaultErrorHandler(FixedBackOff(500, 3)) retries
    the whole batch in memory (ErrorHandlingUtils.retryBatch runs the same
    invokeBatchOnMessageWithRecordsOrList again): each attempt makes three new receive spans,
    all ended before the listener failed, so none is an error; the summary is sent once."""
    for k in range(N):
        t = k * 5000
        sends = []
        for j in range(3):
            root = b.span("orders", "http post /orders", kind="SERVER", start_ms=t + j * 40,
                          dur_ms=20, attrs={"method": "POST", "uri": "/orders",
                                            "status": "202", "outcome": "SUCCESS",
                                            "exception": "none", "http.url": "/orders"})
            sends.append(b.span("orders", "orders send", kind="PRODUCER", parent=root,
                                start_ms=t + j * 40 + 4, dur_ms=6,
                                attrs=_spring_kafka_send("orders")))
        attempts = 3 if k == failing_batch else 1
        for attempt in range(attempts):
            at = t + 300 + attempt * 520
            for j, send in enumerate(sends):
                b.span("billing", "orders receive", kind="CONSUMER", parent=send,
                       start_ms=at + j * 0.06, dur_ms=0.05,
                       attrs=_spring_kafka_receive("orders", "billingBatch-0", "billing", j,
                                                   5100 + k))
        done = t + 300 + (attempts - 1) * 520
        summary = b.span("billing", "invoice-batches send", kind="PRODUCER",
                         start_ms=done + 40, dur_ms=5,
                         attrs=_spring_kafka_send("invoice-batches"))
        b.span("ledger", "invoice-batches receive", kind="CONSUMER", parent=summary,
               start_ms=done + 52, dur_ms=9,
               attrs=_spring_kafka_receive("invoice-batches", "ledger-0", "ledger", 0,
                                           800 + k))


_SPRING_4_EDGES = {
    "service:orders->topic:orders": ("publish", 3 * N),
    "topic:orders->service:billing": ("consume", 3 * N),
    "service:billing->topic:invoice-batches": ("publish", N),
    "topic:invoice-batches->service:ledger": ("consume", N),
}


def test_spring_kafka_4_batch_listener_record_observations_are_instant_receives():
    """Every order is one delivery of its own (the receive spans are per record, not a
    batch), joined by its parent and lasting what the observation lasted; each batch's
    summary starts a flow of its own in billing."""
    b = SpanSet()
    _spring_kafka_4_batches(b)
    a = _analysed_each(b.store(), _SPRING_4_EDGES,
                       ["topic:orders->service:billing", "topic:invoice-batches->service:ledger"],
                       [("publish_without_context", "service:billing->topic:invoice-batches", N)])
    consume = a.edge("topic:orders->service:billing")
    assert (consume["message_count"], consume["batch_deliveries"]) == (3 * N, 0)
    assert consume["p50_ms"] == 0.05
    assert _systems(a) == {"topic:orders": "kafka", "topic:invoice-batches": "kafka"}
    assert _flows(a) == [("billing", N, 1.0), ("orders", 3 * N, 1.0)]


def test_spring_kafka_4_batch_retried_in_memory_is_a_redelivery_without_errors():
    """The second batch fails twice and succeeds on the second retry: its three records
    were each delivered three times (nine receive spans, every one OK, since the record
    observations end before the listener runs). N + 2 listener calls' worth of deliveries:
    3N + 6, no error among them, and the redelivery of three messages is the one anomaly
    beside the summaries' lost context (as without the retries)."""
    b = SpanSet()
    _spring_kafka_4_batches(b, failing_batch=1)
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {**_SPRING_4_EDGES,
                         "topic:orders->service:billing": ("consume", 3 * N + 6)}
    consume = a.edge("topic:orders->service:billing")
    assert consume["joined_by"] == {"context": 3 * N + 6, "message_id": 0, "none": 0, "outside": 0}
    assert consume["error_count"] == 0
    (red,) = [x for x in a.anomalies if x["type"] != "publish_without_context"]
    assert (red["type"], red["where"]) == ("redelivery", "topic:orders->service:billing")
    assert (red["messages"], red["count"]) == (3, 6)
    assert edge_detail(st, "topic:orders->service:billing")["count"] == 3 * N + 6


# ============================================================ Pulsar client, built-in tracing
# PIP-446 (apache/pulsar pip/pip-446.md; pulsar-client 4.2.0, ClientBuilder.enableTracing).
# Read in apache/pulsar, pulsar-client/src/main/java/org/apache/pulsar/client/impl/tracing/:
# TracingContext.java (producer: "send <topic>" PRODUCER, parent the current context,
# messaging.system=pulsar, messaging.destination.name, messaging.operation.name=send and no
# operation type; consumer: "process <topic>" CONSUMER, parent the context extracted from
# the message properties, plus messaging.destination.subscription.name and
# messaging.message.id = MessageId.toString(); endSpan sets status OK),
# OpenTelemetryProducerInterceptor.java (span started in beforeSend, ended in
# onSendAcknowledgement -- the broker's ack -- with messaging.message.id),
# OpenTelemetryConsumerInterceptor.java (span started in beforeConsume, when the
# application gets the message, never made current; ended by the acknowledgement:
# onAcknowledge "acknowledge", onAcknowledgeCumulative "cumulative_acknowledge" for every
# span of that partition up to the acked id, onNegativeAcksSend "negative_acknowledge" and
# onAckTimeoutSend "ack_timeout" -- status OK, "a new span will be created" for the
# redelivery -- in messaging.pulsar.acknowledgment.type) and pulsar-client/TRACING.md.

_PULSAR_ORDERS = "persistent://acme/shop/orders"


def _pulsar_send(b: SpanSet, parent: SpanRef, topic: str, t: float, mid: str,
                 dur_ms: float = 3) -> SpanRef:
    return b.span("shop", f"send {topic}", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=dur_ms, status="OK",
                  attrs={"messaging.system": "pulsar", "messaging.destination.name": topic,
                         "messaging.operation.name": "send", "messaging.message.id": mid})


def _pulsar_process(b: SpanSet, service: str, parent: SpanRef, topic: str, sub: str,
                    t: float, dur_ms: float, mid: str, ack: str) -> SpanRef:
    return b.span(service, f"process {topic}", kind="CONSUMER", parent=parent, start_ms=t,
                  dur_ms=dur_ms, status="OK",
                  attrs={"messaging.system": "pulsar", "messaging.destination.name": topic,
                         "messaging.destination.subscription.name": sub,
                         "messaging.operation.name": "process",
                         "messaging.message.id": mid,
                         "messaging.pulsar.acknowledgment.type": ack})


def test_pulsar_builtin_tracing_cumulative_ack_ends_the_spans_of_three_messages():
    """pulsar-client 4.2 with enableTracing(true): the shop sends each order (batching off)
    under its HTTP span ("send persistent://acme/shop/orders", until the broker's ack, with
    the message id "<ledger>:<entry>:-1"); fulfilment's Failover consumer takes them one by
    one with receive() and acknowledges cumulatively after every third. Each message's
    "process ..." span starts when receive() returns it and ends at that cumulative ack --
    three spans of different traces ending together, the first lasting longest. Three
    deliveries, not one: each joined by its parent, each as long as its message waited for
    the ack."""
    b = SpanSet()
    durations = []
    for k in range(N):
        t = k * 1000
        got = []
        for j in range(3):
            root = b.span("shop", "http post /orders", kind="SERVER", start_ms=t + j * 40,
                          dur_ms=12, attrs={"method": "POST", "uri": "/orders",
                                            "status": "202", "outcome": "SUCCESS"})
            mid = f"{4410 + k}:{j}:-1"
            send = _pulsar_send(b, root, _PULSAR_ORDERS, t + j * 40 + 3, mid)
            got.append((send, mid, t + j * 40 + 8))
        ack_at = got[-1][2] + 15   # after the third message was handled
        for send, mid, at in got:
            durations.append(ack_at - at)
            _pulsar_process(b, "fulfilment", send, _PULSAR_ORDERS, "fulfilment", at,
                            ack_at - at, mid, "cumulative_acknowledge")
    st = b.store()
    a = _analysed(st, {
        f"service:shop->topic:{_PULSAR_ORDERS}": ("publish", 3 * N),
        f"topic:{_PULSAR_ORDERS}->service:fulfilment": ("consume", 3 * N),
    }, f"topic:{_PULSAR_ORDERS}->service:fulfilment", p50_ms=55.0)
    assert sorted(set(durations)) == [15, 55, 95]
    assert _systems(a) == {f"topic:{_PULSAR_ORDERS}": "pulsar"}
    consume = a.edge(f"topic:{_PULSAR_ORDERS}->service:fulfilment")
    assert consume["queue_p50_ms"] == 2.0 and consume["error_count"] == 0
    assert _flows(a) == [("shop", 3 * N, 1.0)]


def test_pulsar_builtin_tracing_negative_ack_then_redelivery():
    """A Shared subscription with a MessageListener: the listener fails on the second
    order (a timeout from the tax service) and calls negativeAcknowledge; its span ends with
    status OK and acknowledgment type "negative_acknowledge". After the negative-ack
    redelivery delay (1 s) the message comes back, a new "process ..." span, again the child
    of the same send, and is acknowledged. N + 1 deliveries of N messages, none failed by
    their status; the only anomaly is the redelivery of one message."""
    b = SpanSet()
    for i in range(N):
        t = i * 3000
        root = b.span("shop", "http post /orders", kind="SERVER", start_ms=t, dur_ms=12,
                      attrs={"method": "POST", "uri": "/orders", "status": "202",
                             "outcome": "SUCCESS"})
        mid = f"5120:{i}:-1"
        send = _pulsar_send(b, root, _PULSAR_ORDERS, t + 3, mid)
        if i == 1:
            _pulsar_process(b, "invoicing", send, _PULSAR_ORDERS, "invoicing", t + 8, 30,
                            mid, "negative_acknowledge")
            _pulsar_process(b, "invoicing", send, _PULSAR_ORDERS, "invoicing", t + 1040, 12,
                            mid, "acknowledge")
        else:
            _pulsar_process(b, "invoicing", send, _PULSAR_ORDERS, "invoicing", t + 8, 12,
                            mid, "acknowledge")
    st = b.store()
    a = analyze(st)
    consume_id = f"topic:{_PULSAR_ORDERS}->service:invoicing"
    assert _edges(a) == {f"service:shop->topic:{_PULSAR_ORDERS}": ("publish", N),
                         consume_id: ("consume", N + 1)}
    consume = a.edge(consume_id)
    assert consume["joined_by"] == {"context": N + 1, "message_id": 0, "none": 0, "outside": 0}
    assert consume["error_count"] == 0
    (red,) = a.anomalies
    assert (red["type"], red["where"], red["messages"], red["count"]) == \
        ("redelivery", consume_id, 1, 1)
    assert edge_detail(st, consume_id)["count"] == N + 1
