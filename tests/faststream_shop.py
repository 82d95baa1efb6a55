"""Services written with FastStream, traced by its own OpenTelemetry middleware, on Kafka's
protocol, RabbitMQ, NATS (core or JetStream) or Redis (streams or a Pub/Sub channel), for
tests/test_real_broker.py: a framework's instrumentation of its own (no contrib package),
real brokers, real OTLP export, one process per service.

    python -m tests.faststream_shop produce BROKER SERVICE TOPIC N          # N orders
    python -m tests.faststream_shop work BROKER SERVICE TOPIC N [NEXT]      # handle N
                                                                           # messages;
                                                                           # NEXT: forward

BROKER is ``kafka`` (``KAFKA_PORT``), ``rabbit`` (``AMQP_PORT``), ``nats`` or
``jetstream`` (``NATS_PORT``) or ``redis`` / ``redis-pubsub`` (``REDIS_PORT``: a stream, or
a Pub/Sub channel); ``OTLP_ENDPOINT`` (gRPC). A worker consumes in a group (Kafka, a
Redis stream's consumer group), from a Redis channel, from a queue (RabbitMQ, named after
TOPIC and itself), in a queue group (core NATS) or by a durable consumer (JetStream, a
stream "shop" over every subject) named after itself, and forwards from inside its
handler with ``broker.publish``, or, with ``FORWARD_BY=return``, by returning the message
to a ``@broker.publisher``. With ``ASK=TOPIC`` the producer first asks TOPIC for each
order (``broker.request``, over a reply destination) and waits for the answer; a worker
with ``REPLY=1`` answers (its handler's return value).

FastStream's middleware (faststream/opentelemetry/middleware.py) makes, for a publish
outside a handler, a "<destination> create" PRODUCER span, ended at once, whose context the
message carries, and a "<destination> publish" PRODUCER span under it; a handler runs in a
"<destination> process" CONSUMER span, the child of that context. A publish from inside a
handler is the child of the handler's process span, but the message carries the context
the handled message came with.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from opentelemetry import trace

from tests.shop_tracing import run_role


def _broker(kind: str) -> Any:
    if kind == "kafka":
        from faststream.kafka import KafkaBroker
        from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
        return KafkaBroker(f"127.0.0.1:{os.environ['KAFKA_PORT']}",
                           middlewares=[KafkaTelemetryMiddleware()])
    if kind == "rabbit":
        from faststream.rabbit import RabbitBroker
        from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware
        return RabbitBroker(f"amqp://guest:guest@127.0.0.1:{os.environ['AMQP_PORT']}/",
                            middlewares=[RabbitTelemetryMiddleware()])
    if kind in ("nats", "jetstream"):
        from faststream.nats import NatsBroker
        from faststream.nats.opentelemetry import NatsTelemetryMiddleware
        return NatsBroker(f"nats://127.0.0.1:{os.environ['NATS_PORT']}",
                          middlewares=[NatsTelemetryMiddleware()])
    if kind in ("redis", "redis-pubsub"):
        from faststream.redis import RedisBroker
        from faststream.redis.opentelemetry import RedisTelemetryMiddleware
        return RedisBroker(f"redis://127.0.0.1:{os.environ['REDIS_PORT']}",
                           middlewares=[RedisTelemetryMiddleware()])
    raise SystemExit(f"unknown broker {kind!r}; kafka, rabbit, nats, jetstream or redis")


def _to(kind: str, topic: str) -> dict[str, Any]:
    """Where a message for ``topic`` goes: the Kafka topic, or on RabbitMQ the topic
    exchange "shop" with ``topic`` as the routing key (each worker's queue bound to it)."""
    if kind == "kafka":
        return {"topic": topic}
    if kind in ("nats", "jetstream"):
        return {"subject": topic}
    if kind == "redis":
        return {"stream": topic}
    if kind == "redis-pubsub":
        return {"channel": topic}
    from faststream.rabbit import ExchangeType, RabbitExchange
    return {"routing_key": topic, "exchange": RabbitExchange("shop", type=ExchangeType.TOPIC)}


async def produce(kind: str, topic: str, n: int) -> None:
    tracer = trace.get_tracer("tests.faststream_shop")
    broker = _broker(kind)
    async with broker:
        for i in range(n):
            with tracer.start_as_current_span("POST /orders", kind=trace.SpanKind.SERVER):
                if os.environ.get("ASK"):  # (a request, answered before the order goes out)
                    await broker.request({"order": i}, timeout=10,
                                         **_to(kind, os.environ["ASK"]))
                await broker.publish({"order": i}, **_to(kind, topic))


async def work(kind: str, service: str, topic: str, n: int, forward: str | None) -> None:
    tracer = trace.get_tracer("tests.faststream_shop")
    broker = _broker(kind)
    done = asyncio.Event()
    handled = 0
    if kind == "kafka":
        sub = broker.subscriber(topic, group_id=service, auto_offset_reset="earliest")
    elif kind == "nats":
        sub = broker.subscriber(topic, queue=service)
    elif kind == "jetstream":
        from faststream.nats import JStream
        sub = broker.subscriber(topic, stream=JStream("shop", subjects=["orders", "payments"]),
                                durable=f"{topic}-{service}")
    elif kind == "redis":
        from faststream.redis import StreamSub
        # (last_id "0": a group made after the first orders still reads them)
        sub = broker.subscriber(stream=StreamSub(topic, group=service, consumer=service,
                                                 last_id="0"))
    elif kind == "redis-pubsub":
        sub = broker.subscriber(channel=topic)
    else:
        from faststream.rabbit import RabbitQueue
        sub = broker.subscriber(RabbitQueue(f"{topic}.{service}", routing_key=topic),
                                _to(kind, topic)["exchange"])

    async def handle(body: dict) -> dict | None:
        nonlocal handled
        with tracer.start_as_current_span(f"handle {service}"):
            time.sleep(0.005)
        handled += 1
        if handled == n:
            asyncio.get_running_loop().call_later(0.5, done.set)  # (after its forward)
        if forward is not None and not by_return:
            await broker.publish(body, **_to(kind, forward))
        # (a request's answer is what its handler returns)
        return body if by_return or os.environ.get("REPLY") else None

    by_return = forward is not None and os.environ.get("FORWARD_BY") == "return"
    if by_return:
        handle = broker.publisher(**_to(kind, forward))(handle)
    sub(handle)

    async with broker:
        await broker.start()
        # (subscribed: a core NATS subject or a Redis channel drops what comes before)
        print("ready", flush=True)
        await asyncio.wait_for(done.wait(), 60)


def main(argv: list[str]) -> None:
    # (FastStream's middleware is given to each broker: nothing to instrument globally)
    role, kind, service = argv[0], argv[1], argv[2]
    run_role(service, lambda: None, role, {
        "produce": lambda: asyncio.run(produce(kind, argv[3], int(argv[4]))),
        "work": lambda: asyncio.run(work(kind, service, argv[3], int(argv[4]),
                                         argv[5] if len(argv) > 5 else None))})


if __name__ == "__main__":
    main(sys.argv[1:])
