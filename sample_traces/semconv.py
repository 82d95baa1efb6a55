"""Span helpers that emit what real instrumentation libraries emit.

Each helper drives the real OpenTelemetry SDK tracer of the simulated service with explicit,
simulated start/end timestamps.  Context crosses process boundaries only through carriers
(HTTP/gRPC headers or message headers) with the W3C TraceContext propagator, so parent/child
relations and links are produced by the SDK exactly as in production.

Attribute sets follow the instrumentation that would produce them:
current messaging conventions (``messaging.operation.type`` ...) for the Kafka client,
the pre-1.20 names (``messaging.destination``, ``messaging.message_id`` ...) for ``pika``,
current HTTP names for the current Flask/requests instrumentations and the legacy HTTP names
(``http.method``, ``http.status_code``) for an old Flask instrumentation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .sim import MS, Broker, Message, Service, lognormal_ns, new_uuid

PROPAGATOR = TraceContextTextMapPropagator()
ROOT = Context()


@dataclass(frozen=True)
class ErrorSpec:
    """An exception as the instrumentation records it (type, message, Python stack trace)."""

    type: str
    message: str
    where: str  # "module.function" the exception was raised in, for the stack trace

    def stacktrace(self) -> str:
        """A realistic Python traceback text for this exception."""
        module, func = self.where.rsplit(".", 1)
        path = "/app/" + module.replace(".", "/") + ".py"
        return (
            "Traceback (most recent call last):\n"
            f'  File "/app/.venv/lib/python3.12/site-packages/opentelemetry/trace/__init__.py", '
            "line 589, in use_span\n    yield span\n"
            f'  File "{path}", line 87, in {func}\n    raise {self.type.rsplit(".", 1)[-1]}(msg)\n'
            f"{self.type}: {self.message}\n"
        )


def context_of(span: trace.Span) -> Context:
    """A context whose current span is ``span`` (used as an explicit parent)."""
    return trace.set_span_in_context(span, ROOT)


def record_error(span: trace.Span, t_ns: int, error: ErrorSpec, escaped: bool = True) -> None:
    """Mark the span failed the way instrumentations do: exception event + ERROR status."""
    exc = RuntimeError(error.message)
    span.record_exception(
        exc,
        attributes={"exception.type": error.type, "exception.stacktrace": error.stacktrace()},
        timestamp=t_ns,
        escaped=escaped,
    )
    span.set_status(Status(StatusCode.ERROR, f"{error.type.rsplit('.', 1)[-1]}: {error.message}"))


def internal(svc: Service, parent: Context, t_ns: int, name: str, dur_ns: int,
             attributes: dict | None = None) -> int:
    """An application INTERNAL span; returns its end time."""
    span = svc.tracer("app").start_span(name, context=parent, kind=SpanKind.INTERNAL,
                                        attributes=attributes, start_time=t_ns)
    span.end(end_time=t_ns + dur_ns)
    return t_ns + dur_ns


def db_query(svc: Service, parent: Context, t_ns: int, rng: random.Random, operation: str,
             table: str, statement: str, median_ms: float = 3.0, db_host: str = "shop-db.shop.internal") -> int:
    """A PostgreSQL CLIENT span (psycopg instrumentation); no server side exists for it."""
    dur = lognormal_ns(rng, median_ms)
    span = svc.tracer("psycopg").start_span(
        f"{operation} {table}", context=parent, kind=SpanKind.CLIENT, start_time=t_ns,
        attributes={
            "db.system": "postgresql",
            "db.namespace": "shop",
            "db.operation.name": operation,
            "db.collection.name": table,
            "db.query.text": statement,
            "server.address": db_host,
            "server.port": 5432,
            "network.peer.address": "10.42.7.15",
        },
    )
    span.end(end_time=t_ns + dur)
    return t_ns + dur


# --------------------------------------------------------------------------- messaging


def publish(svc: Service, broker: Broker, topic: str, key: str, parent: Context, t_ns: int,
            rng: random.Random, *, style: str = "current", payload: dict | None = None,
            routing_key: str | None = None) -> tuple[int, Message]:
    """Publish one message; returns (end time, message).

    ``style``: ``current`` -- one ``publish <topic>`` PRODUCER span (Kafka client);
    ``nested`` -- an event-bus wrapper ``publish <topic>`` PRODUCER span around the Kafka client's
    own ``send <topic>`` PRODUCER span for the same message (the inner one is injected);
    ``legacy`` -- pika's ``<exchange> send`` PRODUCER span with pre-1.20 attribute names.
    """
    message_id = new_uuid(rng)
    partition, offset = broker.assign(topic, key)
    body_size = rng.randint(300, 1400)
    msg = Message(topic, message_id, key, {}, broker.system, body_size, partition, offset,
                  payload=dict(payload or {}))
    if style == "legacy":
        attrs = {
            "messaging.system": broker.system,
            "messaging.destination": topic,
            "messaging.destination_kind": "topic",
            "messaging.message_id": message_id,
            "messaging.protocol": "AMQP",
            "messaging.protocol_version": "0.9.1",
            "messaging.rabbitmq.routing_key": routing_key or topic,
            "net.peer.name": broker.host,
            "net.peer.port": broker.port,
        }
        tracer, name = svc.tracer("pika"), f"{topic} send"
    else:
        attrs = {
            "messaging.system": broker.system,
            "messaging.operation.type": "send",
            "messaging.operation.name": "publish",
            "messaging.destination.name": topic,
            "messaging.destination.partition.id": str(partition),
            "messaging.message.id": message_id,
            "messaging.kafka.message.key": key,
            "messaging.message.body.size": body_size,
            "messaging.client.id": f"{svc.name}-producer",
            "server.address": broker.host,
            "server.port": broker.port,
        }
        tracer, name = svc.tracer("kafka"), f"publish {topic}"
    dur = lognormal_ns(rng, 1.8)
    if style == "nested":
        # The company's event-bus library opens its own PRODUCER span and calls the Kafka
        # client, whose instrumentation opens a second PRODUCER span for the same message.
        outer = svc.tracer("eventbus").start_span(name, context=parent, kind=SpanKind.PRODUCER,
                                                  attributes=attrs, start_time=t_ns)
        t_in = t_ns + int(0.15 * MS)
        inner_attrs = dict(attrs, **{"messaging.operation.name": "send"})
        inner = svc.tracer("kafka").start_span(f"send {topic}", context=context_of(outer),
                                               kind=SpanKind.PRODUCER, attributes=inner_attrs,
                                               start_time=t_in)
        PROPAGATOR.inject(msg.headers, context=context_of(inner))
        inner.end(end_time=t_in + dur)
        end = t_in + dur + int(0.2 * MS)
        outer.end(end_time=end)
    else:
        span = tracer.start_span(name, context=parent, kind=SpanKind.PRODUCER, attributes=attrs,
                                 start_time=t_ns)
        PROPAGATOR.inject(msg.headers, context=context_of(span))
        end = t_ns + dur
        span.end(end_time=end)
    broker.publish(msg, end)
    return end, msg


def creation_link(msg: Message) -> Link:
    """A span link to the message's creation context, carrying per-message attributes."""
    ctx = trace.get_current_span(PROPAGATOR.extract(msg.headers)).get_span_context()
    attrs: dict = {"messaging.message.id": msg.message_id}
    if msg.system == "kafka":
        attrs["messaging.destination.partition.id"] = str(msg.partition)
        attrs["messaging.kafka.offset"] = msg.offset
    return Link(ctx, attrs)


def start_process(svc: Service, broker: Broker, msg: Message, group: str, t_ns: int, *,
                  mode: str = "parent", style: str = "current") -> trace.Span:
    """Open the CONSUMER span for processing one delivered message.

    ``mode``: ``parent`` (creation context is the parent -- most instrumentation),
    ``parent+link`` (parent and a link), ``link`` (new trace with a link -- what the current
    conventions recommend), ``lost`` (the handler never extracts the headers: new trace, no
    parent, no link -- the context is lost although the message id is still there).
    """
    if mode in ("parent", "parent+link"):
        parent = PROPAGATOR.extract(msg.headers)
    else:
        parent = ROOT
    links = [creation_link(msg)] if mode in ("parent+link", "link") else []
    if style == "legacy":
        attrs = {
            "messaging.system": broker.system,
            "messaging.destination": msg.topic,
            "messaging.destination_kind": "topic",
            "messaging.operation": "receive",
            "messaging.message_id": msg.message_id,
            "messaging.protocol": "AMQP",
            "messaging.protocol_version": "0.9.1",
            "messaging.rabbitmq.routing_key": msg.payload.get("routing_key", msg.topic),
            "net.peer.name": broker.host,
            "net.peer.port": broker.port,
        }
        tracer, name = svc.tracer("pika"), f"{msg.topic} receive"
    else:
        attrs = {
            "messaging.system": broker.system,
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": msg.topic,
            "messaging.consumer.group.name": group,
            "messaging.message.id": msg.message_id,
            "messaging.destination.partition.id": str(msg.partition),
            "messaging.kafka.offset": msg.offset,
            "messaging.kafka.message.key": msg.key,
            "messaging.message.body.size": msg.body_size,
            "messaging.client.id": f"{svc.name}-consumer",
            "server.address": broker.host,
            "server.port": broker.port,
        }
        tracer, name = svc.tracer("kafka"), f"process {msg.topic}"
    return tracer.start_span(name, context=parent, kind=SpanKind.CONSUMER, attributes=attrs,
                             links=links, start_time=t_ns)


def start_batch_process(svc: Service, broker: Broker, msgs: list[Message], group: str,
                        t_ns: int) -> trace.Span:
    """One ``process`` CONSUMER span for a polled batch: a new trace linked to every producer."""
    topic = msgs[0].topic
    attrs = {
        "messaging.system": broker.system,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": topic,
        "messaging.consumer.group.name": group,
        "messaging.batch.message_count": len(msgs),
        "messaging.client.id": f"{svc.name}-consumer",
        "server.address": broker.host,
        "server.port": broker.port,
    }
    return svc.tracer("kafka").start_span(f"process {topic}", context=ROOT, kind=SpanKind.CONSUMER,
                                          attributes=attrs, links=[creation_link(m) for m in msgs],
                                          start_time=t_ns)


# --------------------------------------------------------------------------- HTTP and gRPC

#: server handler(server context, start ns) -> (end ns, status code, error or None)
ServerHandler = Callable[[Context, int], tuple[int, int, "ErrorSpec | None"]]


def http_call(caller: Service, callee: Service, parent: Context, t_ns: int, rng: random.Random, *,
              method: str, route: str, path: str, handler: ServerHandler, port: int = 8080,
              legacy_server: bool = False) -> tuple[int, int]:
    """A ``requests`` CLIENT span and the callee's Flask SERVER span; returns (end, status)."""
    url = f"http://{callee.name}:{port}{path}"
    client = caller.tracer("requests").start_span(
        method, context=parent, kind=SpanKind.CLIENT, start_time=t_ns,
        attributes={
            "http.request.method": method,
            "url.full": url,
            "server.address": callee.name,
            "server.port": port,
            "peer.service": callee.name,
            "network.protocol.version": "1.1",
        },
    )
    headers: dict[str, str] = {}
    PROPAGATOR.inject(headers, context=context_of(client))
    t_srv = t_ns + lognormal_ns(rng, 0.6)
    if legacy_server:
        attrs = {
            "http.method": method,
            "http.scheme": "http",
            "http.target": path,
            "http.host": f"{callee.name}:{port}",
            "http.flavor": "1.1",
            "http.route": route,
            "http.server_name": callee.name,
            "http.user_agent": "python-requests/2.32.3",
            "net.host.name": callee.name,
            "net.host.port": port,
            "net.peer.ip": "10.42.3.17",
        }
        server_tracer = callee.tracer("flask-legacy")
    else:
        attrs = {
            "http.request.method": method,
            "http.route": route,
            "url.path": path.split("?")[0],
            "url.scheme": "http",
            "server.address": callee.name,
            "server.port": port,
            "network.protocol.version": "1.1",
            "user_agent.original": "python-requests/2.32.3",
            "client.address": "10.42.3.17",
        }
        server_tracer = callee.tracer("flask")
    server = server_tracer.start_span(f"{method} {route}", context=PROPAGATOR.extract(headers),
                                      kind=SpanKind.SERVER, attributes=attrs, start_time=t_srv)
    end_srv, status, error = handler(context_of(server), t_srv + lognormal_ns(rng, 0.2))
    server.set_attribute("http.status_code" if legacy_server else "http.response.status_code", status)
    if error is not None:
        record_error(server, end_srv - int(0.1 * MS), error)
    elif status >= 500:
        server.set_status(Status(StatusCode.ERROR))
    server.end(end_time=end_srv)
    end = end_srv + lognormal_ns(rng, 0.6)
    client.set_attribute("http.response.status_code", status)
    if status >= 400:
        client.set_attribute("error.type", str(status))
        client.set_status(Status(StatusCode.ERROR))
    client.end(end_time=end)
    return end, status


def grpc_call(caller: Service, callee: Service, parent: Context, t_ns: int, rng: random.Random, *,
              service: str, method: str, handler: ServerHandler, port: int = 50051) -> tuple[int, int]:
    """A gRPC CLIENT span and the callee's SERVER span; returns (end, grpc status code)."""
    name = f"{service}/{method}"
    base = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}
    client = caller.tracer("grpc").start_span(
        name, context=parent, kind=SpanKind.CLIENT, start_time=t_ns,
        attributes=dict(base, **{"server.address": callee.name, "server.port": port,
                                 "peer.service": callee.name}),
    )
    metadata: dict[str, str] = {}
    PROPAGATOR.inject(metadata, context=context_of(client))
    t_srv = t_ns + lognormal_ns(rng, 0.4)
    server = callee.tracer("grpc").start_span(
        name, context=PROPAGATOR.extract(metadata), kind=SpanKind.SERVER, start_time=t_srv,
        attributes=dict(base, **{"server.address": callee.name, "server.port": port,
                                 "client.address": "10.42.3.17"}),
    )
    end_srv, code, error = handler(context_of(server), t_srv + lognormal_ns(rng, 0.1))
    server.set_attribute("rpc.grpc.status_code", code)
    if error is not None:
        record_error(server, end_srv - int(0.1 * MS), error)
    server.end(end_time=end_srv)
    end = end_srv + lognormal_ns(rng, 0.4)
    client.set_attribute("rpc.grpc.status_code", code)
    if code != 0:
        client.set_status(Status(StatusCode.ERROR))
    client.end(end_time=end)
    return end, code
