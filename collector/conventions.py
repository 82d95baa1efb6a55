"""What the semantic conventions, old and new, and real instrumentation libraries mean:
the attribute keys folded into the normalised span columns, and the rules that fill those
columns when a span says less than the conventions ask.

Shared by both decoders (``collector.decode`` and the compiled ``collector._fastdecode``),
so what a span means is decided in one place. Pure functions over plain values.
"""

from __future__ import annotations

import re
from typing import Any, Callable
from urllib.parse import urlsplit

from collector.untagged import untagged_message

# attribute key -> (column, priority). Lower priority wins, so current semantic-convention
# names beat the legacy names that older instrumentation still emits.
NORMALISED_KEYS: dict[str, tuple[str, int]] = {
    "messaging.system": ("msg_system", 0),
    # (the name later conventions give it: OpenTelemetry.Instrumentation.ConfluentKafka 0.5)
    "messaging.system.name": ("msg_system", 1),
    # A template ("/customers/{id}") names one destination per entity as one node: the
    # conventions give it as the low-cardinality name, so it wins over the name itself.
    "messaging.destination.template": ("msg_destination", 0),
    "messaging.destination.name": ("msg_destination", 1),
    "messaging.destination": ("msg_destination", 2),  # legacy (< 1.20): the name itself
    # Conventions 1.17-1.20 named a consumer's destination its source (franz-go's kotel,
    # otelsarama and other libraries of that time still do).
    "messaging.source.name": ("msg_destination", 3),
    # Conventions 1.21-1.25: where a consumed message was first published (FastStream's
    # consumers give only this), and BullMQ's queue (it sets no messaging.* attribute).
    "messaging.destination_publish.name": ("msg_destination", 4),
    "bullmq.queue.name": ("msg_destination", 5),
    # OpenTracing's convention, still given by camel-opentelemetry, Azure SDKs' legacy
    # diagnostics and traces converted from OpenTracing instrumentation
    "message_bus.destination": ("msg_destination", 6),
    # Brave's tags (see BRAVE_DESTINATION_SYSTEMS). A consumer names the exchange its message
    # was published to (its publish names nothing; all of the message's consumers agree on
    # the exchange, not on their queues), or, from the default exchange (''), its queue.
    "kafka.topic": ("msg_destination", 7),
    "rabbit.exchange": ("msg_destination", 8),
    "rabbit.queue": ("msg_destination", 9),
    "jms.queue": ("msg_destination", 10),
    "jms.topic": ("msg_destination", 11),
    # An event store's stream is where an appended event goes and where subscriptions read
    # it from: EventStoreDB's and KurrentDB's .NET clients tag only db.* keys (see
    # DESTINATION_KEY_SYSTEMS), their event ids the message's
    "db.eventstoredb.stream": ("msg_destination", 12),
    "db.kurrentdb.stream": ("msg_destination", 13),
    # Hatchet's SDK instrumentation tags its PRODUCER and CONSUMER spans with its own keys
    # only: an event pushed goes to its key, a workflow run to the workflow, whose step runs
    # consume it (an event triggers workflows as an exchange feeds its queues)
    "hatchet.event_key": ("msg_destination", 14),
    "hatchet.workflow_name": ("msg_destination", 15),
    # Apache Qpid Proton's C++ OpenTelemetry tracing tags its AMQP 1.0 spans with only its
    # own keys: a sender's target address, a receiver's source address ('' for a sender
    # with no target: an anonymous relay, the message's to naming where it goes)
    "Destination_address": ("msg_destination", 16),
    "Source_address": ("msg_destination", 17),
    "messaging.destination_kind": ("msg_destination_kind", 0),
    # A temporary or anonymous destination (an RPC reply queue, a NATS inbox) has a new name
    # every time: true is stored as the kind 'temporary', which the analyzer groups by.
    "messaging.destination.temporary": ("msg_destination_kind", 1),
    "messaging.destination.anonymous": ("msg_destination_kind", 2),
    "messaging.source.temporary": ("msg_destination_kind", 3),
    "messaging.source.anonymous": ("msg_destination_kind", 4),
    "messaging.operation.type": ("msg_operation_type", 0),
    "messaging.operation": ("msg_operation_type", 1),  # legacy: receive|process|publish
    "messaging.operation.name": ("msg_operation_name", 0),
    "messaging.message.id": ("msg_message_id", 0),
    "messaging.message_id": ("msg_message_id", 1),
    # NServiceBus (8, 9) tags its spans with its own headers only, no messaging.* at all
    "nservicebus.message_id": ("msg_message_id", 2),
    "bullmq.job.id": ("msg_message_id", 3),
    "db.eventstoredb.event.id": ("msg_message_id", 4),
    "db.kurrentdb.event.id": ("msg_message_id", 5),
    "hatchet.step_run_id": ("msg_message_id", 6),  # (a retried step keeps it)
    # machinery's (Go) task spans, through OpenTracing: the task's id (no messaging.* keys)
    "signature.uuid": ("msg_message_id", 7),
    # MassTransit (before its 8.x conventions) tags the message id only with its own key
    "messaging.masstransit.message_id": ("msg_message_id", 8),
    # A CloudEvent's id (unique with its source): the conventions' key and the CloudEvents
    # Go SDK's own, on its send and process spans (which name no messaging.* key)
    "cloudevents.event_id": ("msg_message_id", 9),
    "cloudevents.id": ("msg_message_id", 10),
    "messaging.message.conversation_id": ("msg_conversation_id", 0),
    "messaging.conversation_id": ("msg_conversation_id", 1),
    "nservicebus.conversation_id": ("msg_conversation_id", 2),
    # Temporal's tracing interceptors tag every span of a workflow, and the client spans
    # that start or signal it, with the workflow id: the business transaction (the Go and
    # Python SDKs spell it temporalWorkflowID, TypeScript's temporalWorkflowId)
    "temporalWorkflowID": ("msg_conversation_id", 3),
    "temporalWorkflowId": ("msg_conversation_id", 4),
    "messaging.consumer.group.name": ("msg_consumer_group", 0),
    "messaging.kafka.consumer.group": ("msg_consumer_group", 1),
    "messaging.kafka.consumer_group": ("msg_consumer_group", 2),
    "messaging.eventhubs.consumer.group": ("msg_consumer_group", 3),
    "messaging.rocketmq.client_group": ("msg_consumer_group", 4),
    # A subscription (Service Bus, Pub/Sub) gets its own copy of every message, as a
    # consumer group does: one service holding two subscriptions of a topic receives each
    # message twice, and that is no redelivery.
    "messaging.destination.subscription.name": ("msg_consumer_group", 5),
    "messaging.servicebus.destination.subscription_name": ("msg_consumer_group", 6),
    "messaging.batch.message_count": ("msg_batch_count", 0),
    "peer.service": ("peer_service", 0),
    "server.address": ("server_address", 0),
    "net.peer.name": ("server_address", 1),
    "peer.hostname": ("server_address", 2),  # OpenTracing's
    "db.system": ("db_system", 0),
    "db.system.name": ("db_system", 1),
}
# Brave (Zipkin's Java instrumentation, under Spring Cloud Sleuth and Micrometer Tracing's
# Brave bridge too), reported through the collector's zipkin receiver, tags a messaging span
# with keys of its own and no messaging.system (only peer.service, which a user may
# rename): the key that names the destination says the system.
BRAVE_DESTINATION_SYSTEMS = {"kafka.topic": "kafka", "rabbit.queue": "rabbitmq",
                             "rabbit.exchange": "rabbitmq", "jms.queue": "jms",
                             "jms.topic": "jms"}
# Keys only one messaging system's spans carry: a span naming a destination with one of them
# and no messaging.system is of that system. Spring AMQP's Micrometer observations name the
# exchange and the routing key, not the system: its default exchange ('') would otherwise
# name no destination at all (RabbitMQ's is 'amq.default').
SYSTEM_BY_KEY = {"messaging.rabbitmq.destination.routing_key": "rabbitmq",
                 "messaging.rabbitmq.routing_key": "rabbitmq",
                 "rabbitmq.destination.routing_key": "rabbitmq",  # (the newest registry's)
                 # Kafka's own keys (Trendyol's otel-kafka-konsumer names no system)
                 "messaging.kafka.partition": "kafka",
                 "messaging.kafka.destination.partition": "kafka",
                 "messaging.kafka.source.partition": "kafka",
                 "messaging.kafka.message.key": "kafka", "messaging.kafka.message_key": "kafka",
                 "messaging.kafka.consumer.group": "kafka",
                 "messaging.kafka.message.offset": "kafka", "messaging.kafka.offset": "kafka"}
# The Azure SDKs' spans before they followed the messaging conventions (JavaScript's
# @azure/service-bus 7.0-7.6) say their system only by the Azure resource provider:
# az.namespace, beside OpenTracing's message_bus.destination.
AZURE_NAMESPACE_SYSTEMS = {"Microsoft.ServiceBus": "servicebus",
                           "Microsoft.EventHub": "eventhubs",
                           "Microsoft.EventGrid": "eventgrid"}
# The Vert.x Kafka client's tracer names the destination but no system: its spans say
# peer.service 'kafka' (vertx-kafka-client common/tracing/TraceTags.java), the broker.
PEER_SERVICE_SYSTEMS = {"kafka": "kafka"}
# Apache Camel's tracing (camel-opentelemetry2, camel-opentelemetry) names an endpoint's
# destination but its messaging system only by the endpoint's component ('component':
# 'camel-kafka', also the URI's scheme).
COMPONENT_SYSTEMS = {"camel-kafka": "kafka", "camel-rabbitmq": "rabbitmq",
                     "camel-spring-rabbitmq": "rabbitmq", "camel-jms": "jms",
                     "camel-activemq": "activemq", "camel-amqp": "amqp",
                     "camel-nats": "nats", "camel-pulsar": "pulsar",
                     "camel-google-pubsub": "gcp_pubsub", "camel-aws2-sqs": "aws_sqs",
                     "camel-paho": "mqtt", "camel-paho-mqtt5": "mqtt"}
# A destination's system named by another key's value, in this order (both decoders read
# this table: complete_normalised, _fastdecode's system_by_key)
SYSTEM_BY_VALUE: tuple[tuple[str, dict[str, str]], ...] = (
    ("az.namespace", AZURE_NAMESPACE_SYSTEMS), ("peer.service", PEER_SERVICE_SYSTEMS),
    ("component", COMPONENT_SYSTEMS))
# Azure Event Grid's SDKs tag no messaging attribute at all. Their client's scope span is the
# publish ("EventGridPublisherClient.SendEvents" in .NET, ".send" in Python, the namespace
# client's "EventGridSenderClient.Send"), and the HTTP request under it names the topic: a
# topic's endpoint https://<topic>.<region>.eventgrid.azure.net/api/events, a namespace's
# https://<namespace>...eventgrid.azure.net/topics/<topic>:publish (eventgrid_publish).
EVENTGRID_SCOPES = ("eventgridpublisherclient.send", "eventgridsenderclient.send")
EVENTGRID_HOST_SUFFIX = ".eventgrid.azure.net"
# Conventions 1.27+ name a RabbitMQ destination by composing its parts: a publish
# '{exchange}:{routing key}', a delivery '{exchange}:{routing key}:{queue}' (an empty part
# left out; '{exchange}:{routing key}' when the key is the queue's name). The analyzer's
# nodes are the exchange a message was published to and the queue it was delivered from
# (the broker's route between them is an edge): rabbitmq_destination() takes them apart.
RABBITMQ_ROUTING_KEYS = ("messaging.rabbitmq.destination.routing_key",
                         "rabbitmq.destination.routing_key", "messaging.rabbitmq.routing_key")
_CONSUMER_OPERATIONS = frozenset({"receive", "process", "deliver"})


def _is_delivery(kind: int, op: Any) -> bool:
    """Whether a RabbitMQ span delivers: a CONSUMER span (kind 5), or any span but a
    PRODUCER whose operation receives or processes."""
    return kind == 5 or (kind != 4 and op in _CONSUMER_OPERATIONS)


def rabbitmq_destination(dest: Any, routing_key: Any, kind: int, op: Any) -> str | None:
    """The exchange (a publish) or queue (a delivery) a RabbitMQ span's composed destination
    name means, given its routing key; None when the name is no such composition (then it
    is the destination itself: older conventions name the exchange). ``kind`` is the OTLP
    span kind number (5: CONSUMER), ``op`` the messaging operation as given."""
    if not (isinstance(dest, str) and isinstance(routing_key, str) and routing_key
            and ":" in dest and dest != routing_key):
        return None
    rk = routing_key
    if _is_delivery(kind, op):
        i = dest.find(f":{rk}:")
        if i > 0:                               # exchange:key:queue
            return dest[i + len(rk) + 2:] or None
        if dest.startswith(f"{rk}:"):           # key:queue (the default exchange)
            return dest[len(rk) + 1:] or None
        if dest.endswith(f":{rk}"):             # exchange:key, the key naming the queue
            return rk
        return None
    if dest.endswith(f":{rk}"):
        return dest[:-len(rk) - 1]              # exchange:key ('' the default exchange)
    return None


# RabbitMQ's default exchange routes a message to the queue its routing key names. So a
# delivery from it is from that queue, as the composed names above say (key:queue), and
# not from the exchange every such queue shares: a publish to it stays a publish to the
# exchange (the broker's route to the queue is an edge), unless its routing key names a
# queue the broker named for a requester (direct reply-to, Spring AMQP's and NestJS's
# default for request/reply; a server-named queue): that reply goes to that queue (a
# temporary one).
RABBITMQ_REPLY_PREFIXES = ("amq.rabbitmq.reply-to", "amq.gen-")
# (what clients call the default exchange: '', the Java agent '<default>', the conventions
# 'amq.default')
RABBITMQ_DEFAULT_EXCHANGE = ("", "<default>", "amq.default")


def rabbitmq_default_exchange_destination(dest: Any, routing_key: Any, kind: int,
                                          op: Any) -> str | None:
    """The queue a RabbitMQ span of the default exchange names only in its routing key: a
    delivery's, or a reply's (``RABBITMQ_REPLY_PREFIXES``); else None (the exchange).
    ``kind`` and ``op`` as for :func:`rabbitmq_destination`."""
    if dest not in RABBITMQ_DEFAULT_EXCHANGE or not isinstance(routing_key, str) \
            or not routing_key:
        return None
    if routing_key.startswith(RABBITMQ_REPLY_PREFIXES):
        return routing_key
    return routing_key if _is_delivery(kind, op) else None


# Kafka has no message id. Libraries that give one anyway give the record's offset
# (otelsarama, every version), which is unique only within the record's partition: two
# records at one offset in two partitions would be one message (a false redelivery, a lost
# context stitched to the wrong publish). kafka_message_id() qualifies it by the partition.
# A Kafka span that gives no message id at all but the record's offset (the Java agent's)
# names its record all the same: <partition>/<offset> is its id too (what joins a delivery
# whose context was lost, as with the agent's producer propagation turned off).
KAFKA_OFFSET_KEYS = ("messaging.kafka.message.offset", "messaging.kafka.offset")
_DOTTED_OFFSET = re.compile(r"(.+)\.([0-9]+)\.([0-9]+)", re.ASCII)
# (conventions 1.17-1.20 named a consumer's partition by its source, as Restate's Kafka
# ingress still does)
KAFKA_PARTITION_KEYS = ("messaging.destination.partition.id",
                        "messaging.kafka.destination.partition",
                        "messaging.kafka.source.partition", "messaging.kafka.partition",
                        "messaging.source.partition.id")


def kafka_message_id(message_id: Any, partition: Any) -> str | None:
    """``<partition>/<offset>`` for a Kafka span whose message id is a record offset (all
    digits) and that names its partition (``KAFKA_PARTITION_KEYS``), or whose id is
    ``<topic>.<partition>.<offset>`` (Python's confluent-kafka instrumentation; a partition
    it names must agree); else None (the id is kept as it is)."""
    if isinstance(message_id, str):
        m = _DOTTED_OFFSET.fullmatch(message_id)
        if m is not None and m.group(1) and (partition is None or str(partition) == m.group(2)):
            return f"{m.group(2)}/{m.group(3)}"
    if isinstance(partition, bool) or not isinstance(partition, (int, str)) \
            or partition == "":
        return None
    if isinstance(message_id, int) and not isinstance(message_id, bool):
        message_id = str(message_id)
    if not (isinstance(message_id, str) and message_id.isascii() and message_id.isdigit()):
        return None
    return f"{partition}/{message_id}"


# An empty value of these keys names nothing: Brave tags the default exchange as '', and
# Alibaba's Go auto-instrumentation sets an empty destination template and, for a message
# published without one, an empty message id. (An empty destination name is kept:
# RabbitMQ's clients name the default exchange so.)
EMPTY_IS_ABSENT = frozenset(BRAVE_DESTINATION_SYSTEMS) | {
    k for k, (col, _) in NORMALISED_KEYS.items()
    if col in ("msg_message_id", "msg_conversation_id", "msg_consumer_group")
} | {"messaging.destination.template", "Destination_address", "Source_address"}
# The system a destination key implies (a span with no messaging.system): Brave's, an
# event store's stream (its spans name the store only as db.system), Hatchet's keys, Qpid
# Proton's addresses (AMQP 1.0)
DESTINATION_KEY_SYSTEMS = {**BRAVE_DESTINATION_SYSTEMS,
                           "db.eventstoredb.stream": "eventstoredb",
                           "db.kurrentdb.stream": "kurrentdb",
                           "hatchet.event_key": "hatchet", "hatchet.workflow_name": "hatchet",
                           "Destination_address": "amqp", "Source_address": "amqp"}
# the same by the priority of the key the destination was read from (what the decoders keep)
SYSTEM_BY_DESTINATION_PRIORITY = {NORMALISED_KEYS[k][1]: v
                                  for k, v in DESTINATION_KEY_SYSTEMS.items()}
NORMALISED_COLUMNS = (
    "msg_system", "msg_destination", "msg_destination_kind", "msg_operation_type",
    "msg_operation_name", "msg_message_id", "msg_conversation_id", "msg_consumer_group",
    "msg_batch_count", "peer_service", "server_address", "db_system",
)
# Older conventions and some libraries use other words for the same operation.
# (Google Pub/Sub's Java client says "modack" for extending a message's ack deadline)
OPERATION_ALIASES = {"publish": "send", "deliver": "process", "ack": "settle", "nack": "settle",
                     "modack": "settle"}
# AWS SDK calls to messaging services are RPCs: botocore's instrumentation gives an SQS call
# messaging.system and the queue but no operation (a CLIENT span named SQS.SendMessage), and
# the Java agent's SNS Publish (a CLIENT span "Sns.Publish") names the topic ARN as its
# destination but no system and no operation: their rpc.method says whether they send or
# receive. Used only for a span that names a messaging system or destination, or an AWS
# SDK call to SQS or SNS, and no operation (a gRPC method called Publish elsewhere is not a
# send).
RPC_MESSAGING_OPERATIONS = {
    "SendMessage": "send", "SendMessageBatch": "send", "ReceiveMessage": "receive",
    "Publish": "send", "PublishBatch": "send", "PutRecord": "send", "PutRecords": "send",
    "GetRecords": "receive", "PutEvents": "send",
}

# An SDK that was not told its service's name reports "unknown_service" (or
# "unknown_service:<language>"): every such service would be one node. The workload a
# resource detector or the collector's k8sattributes processor names is the better name.
SERVICE_NAME_FALLBACKS = ("k8s.deployment.name", "k8s.statefulset.name",
                          "k8s.daemonset.name", "k8s.cronjob.name", "k8s.job.name",
                          "faas.name", "container.name")


def service_name(res_attrs: dict[str, Any]) -> str:
    """A resource's service: ``service.name``, unless the SDK did not know it (absent,
    empty or ``unknown_service*``) and the resource names its workload
    (``SERVICE_NAME_FALLBACKS``); else ``unknown_service``."""
    name = res_attrs.get("service.name")
    if isinstance(name, str) and name and not name.startswith("unknown_service"):
        return name
    for key in SERVICE_NAME_FALLBACKS:
        v = res_attrs.get(key)
        if isinstance(v, str) and v:
            return v
    return name if isinstance(name, str) and name else "unknown_service"


# Some instrumentations name the operation only in the span name: the conventions' span
# name is "{operation} {destination}" (older ones "{destination} {operation}"), and e.g.
# Laravel's queue spans ("receive default", "process default") carry no operation
# attribute. Read only for a span that names a messaging system or destination and no
# operation, and only these words (aliased as the attribute's values are).
NAME_OPERATIONS = {"create": "create", "send": "send", "publish": "send",
                   "receive": "receive", "process": "process", "deliver": "process",
                   "settle": "settle",
                   # (acknowledgements: Google Pub/Sub's Node client names its ack and
                   # modack RPC spans "<subscription> ack", 4.x as CONSUMER spans)
                   "ack": "settle", "nack": "settle", "modack": "settle",
                   # (an event store's append to a stream: EventStoreDB's "streams.append")
                   "append": "send"}


def operation_from_name(name: str, system: Any = None) -> str | None:
    """The messaging operation a span's name gives: its first word, else its last, else
    the last part of a dotted last word, if one is of ``NAME_OPERATIONS``
    (case-insensitive). Dapr's sidecar (messaging
    system 'pubsub') names its spans by the API it serves: ``pubsub/<topic>`` delivers a
    message to the app, the publish API (``/v1.0/publish/...``, ``.../PublishEvent``) sends."""
    if system == "pubsub":
        if name.startswith("pubsub/"):
            return "receive"
        if "/publish/" in name or "PublishEvent" in name:
            return "send"
    words = name.split()
    if not words:
        return None
    op = NAME_OPERATIONS.get(words[0].lower())
    if op is None:
        op = NAME_OPERATIONS.get(words[-1].lower())
    if op is None and "." in words[-1]:
        # (the last part of a dotted name: the Azure SDKs' "Azure.ServiceBus.send")
        op = NAME_OPERATIONS.get(words[-1].rsplit(".", 1)[1].lower())
    return op


# AWS SDK instrumentation that follows no messaging convention (.NET's, by default) makes an
# SQS or SNS call a plain RPC span: rpc.system aws-api, rpc.service SQS, rpc.method
# SendMessage, the queue only as a URL. Such a span that sends is a publish. One that
# receives is left an RPC: nothing in it says whether the poll brought a message at all
# (a long poll comes back empty every 20 s), and it names no message to join.
AWS_MESSAGING_SERVICES = {"sqs": "aws_sqs", "sns": "aws_sns", "kinesis": "aws_kinesis"}
# (a Kinesis stream: the Java agent's aws.stream.name, from 2.22 aws.kinesis.stream_name;
# Node's aws.kinesis.stream.name)
_AWS_DESTINATION_KEYS = ("aws.queue_url", "aws.sqs.queue.url", "aws.sns.topic.arn",
                         "aws.kinesis.stream_name", "aws.kinesis.stream.name",
                         "aws.stream.name")


def messaging_fallbacks(attrs: dict[str, Any], name: str, system: Any,
                        has_destination: bool) -> dict[str, str]:
    """Normalised columns (operation, and for a bare AWS SDK call system and destination;
    all of them for Event Grid's spans and those of the task and RPC libraries whose
    instrumentation names none: ``eventgrid_publish``, ``collector.untagged``) that a
    span without ``messaging.operation*`` gives only indirectly: the operation of an AWS
    SDK messaging call's ``rpc.method`` (``RPC_MESSAGING_OPERATIONS``; an X-Ray
    subsegment's ``aws.service`` / ``aws.operation`` alike), else, for a span naming a
    messaging system (``system``, None if not) or destination, the one its name gives.
    Empty if none."""
    has_system = system is not None
    if not (has_system or has_destination):
        grid = eventgrid_publish(attrs, name) or untagged_message(attrs, name)
        if grid:
            return grid
    svc = attrs.get("rpc.service")
    aws = (isinstance(svc, str) and svc.lower() in AWS_MESSAGING_SERVICES
           and attrs.get("rpc.system") == "aws-api")
    method = attrs.get("rpc.method")
    if not aws:
        # (an X-Ray SDK's subsegment converted by the Collector's awsxrayreceiver: the same
        # call as aws.service + aws.operation, nothing of rpc.* or messaging.*)
        svc = attrs.get("aws.service")
        aws = isinstance(svc, str) and svc.lower() in AWS_MESSAGING_SERVICES
        if aws:
            method = attrs.get("aws.operation")
    if not (has_system or has_destination or aws):
        return {}
    op = RPC_MESSAGING_OPERATIONS.get(method) if isinstance(method, str) else None
    if op is None and (has_system or has_destination):
        op = operation_from_name(name, system)
    if op is None or (aws and not (has_system or has_destination) and op != "send"):
        return {}  # (an AWS call that does not send: GetQueueUrl, a bare ReceiveMessage)
    out = {"msg_operation_type": op}
    if aws and not has_system:
        out["msg_system"] = AWS_MESSAGING_SERVICES[svc.lower()]
    if aws and not has_destination:
        for key in _AWS_DESTINATION_KEYS:
            v = attrs.get(key)
            if isinstance(v, str) and v:
                # a queue URL's last segment is the queue's name; a topic keeps its ARN,
                # as the other SDKs' instrumentation names it
                out["msg_destination"] = v.rstrip("/").rsplit("/", 1)[-1] \
                    if "/" in v else v
                break
    return out


def eventgrid_publish(attrs: dict[str, Any], name: str) -> dict[str, str]:
    """The normalised columns of an Azure Event Grid SDK's publish (``EVENTGRID_SCOPES``:
    system and operation) or of its HTTP request to a topic's publish endpoint (the topic
    too), else empty."""
    if name.lower().startswith(EVENTGRID_SCOPES):
        return {"msg_system": "eventgrid", "msg_operation_type": "send"}
    url = _first(attrs, ("url.full", "http.url"))
    if not (isinstance(url, str) and EVENTGRID_HOST_SUFFIX in url):  # (most spans: cheap)
        return {}
    host = host_of(url)
    if host is None or not host.endswith(EVENTGRID_HOST_SUFFIX):
        return {}
    path = urlsplit(url).path
    if path.rstrip("/") == "/api/events":
        topic = host.split(".", 1)[0]
    elif path.startswith("/topics/") and path.endswith(":publish"):
        topic = path[len("/topics/"):-len(":publish")]
    else:
        return {}
    return {"msg_system": "eventgrid", "msg_operation_type": "send", "msg_destination": topic}


# An HTTP client span of older instrumentation may name its server only in its URL
# (http.url, without net.peer.name): the host is the peer a call without spans went to.
# A messaging span may name its broker only by a URL too (Node's AWS SDK spans: the queue's
# url.full, earlier messaging.url): its host is the address the analyzer compares with a
# client span under it (the SDK's HTTP request to that broker is part of the publish).
URL_KEYS = ("url.full", "http.url", "messaging.url")         # a CLIENT span's
MESSAGING_URL_KEYS = ("url.full", "messaging.url")            # another messaging span's


def host_of(url: Any) -> str | None:
    """The host of a span's URL (``URL_KEYS``, ``MESSAGING_URL_KEYS``), lowercased, or
    None."""
    if not isinstance(url, str) or "//" not in url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:  # (a malformed IPv6 literal, a bad port)
        return None
    return host or None


def system_by_value(value_of: Callable[[str], Any]) -> str | None:
    """The system ``SYSTEM_BY_VALUE`` gives, ``value_of(key)`` reading an attribute's value
    (only a string names one: a list or a map names nothing there)."""
    for key, table in SYSTEM_BY_VALUE:
        value = value_of(key)
        if isinstance(value, str) and value in table:
            return table[value]
    return None


def _first(attrs: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """The value of the first of ``keys`` that ``attrs`` has, or None."""
    return next((attrs[k] for k in keys if k in attrs), None)


def complete_normalised(norm: dict[str, Any], prio: dict[str, int],
                        attrs: dict[str, Any], kind: int) -> None:
    """Fill in, in place, what a span's normalised columns (``norm``, read from ``attrs``
    with the ``prio`` of the key each came from) imply but do not say: the messaging system
    a destination key implies (Brave's tags, Spring AMQP's keys), the exchange or queue a
    RabbitMQ composed name means, a Kafka record's id from its partition and offset, and the
    server a CLIENT or messaging span names only in a URL. The reference decoder's; the compiled one decides
    the same in its own code, calling the functions above."""
    if "msg_system" not in norm and "msg_destination" in norm:
        system = SYSTEM_BY_DESTINATION_PRIORITY.get(prio.get("msg_destination")) or \
            next((v for k, v in SYSTEM_BY_KEY.items() if k in attrs), None) or \
            system_by_value(attrs.get)
        if system is not None:
            norm["msg_system"] = system
    system = str(norm.get("msg_system")).lower()
    dest = norm.get("msg_destination")
    if system == "rabbitmq" and isinstance(dest, str) and ":" in dest:
        dest = rabbitmq_destination(dest, _first(attrs, RABBITMQ_ROUTING_KEYS), kind,
                                    norm.get("msg_operation_type"))
        if dest is not None:
            norm["msg_destination"] = dest
    elif system == "rabbitmq" and dest in RABBITMQ_DEFAULT_EXCHANGE:
        dest = rabbitmq_default_exchange_destination(
            dest, _first(attrs, RABBITMQ_ROUTING_KEYS), kind, norm.get("msg_operation_type"))
        if dest is not None:
            norm["msg_destination"] = dest
    mid = norm.get("msg_message_id")
    if system == "kafka":
        mid = kafka_message_id(_first(attrs, KAFKA_OFFSET_KEYS) if mid is None else mid,
                               _first(attrs, KAFKA_PARTITION_KEYS))
        if mid is not None:
            norm["msg_message_id"] = mid
    if "server_address" not in norm and (
            kind == 3 or "msg_system" in norm or "msg_destination" in norm):
        host = host_of(_first(attrs, URL_KEYS if kind == 3 else MESSAGING_URL_KEYS))
        if host is not None:
            norm["server_address"] = host

