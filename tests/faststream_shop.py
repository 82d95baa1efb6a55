"""Services written with FastStream, traced by its own OpenTelemetry middleware, on Kafka's
protocol or on RabbitMQ, for tests/test_real_broker.py: a framework's instrumentation of
its own (no contrib package), real brokers, real OTLP export, one process per service.

    python -m tests.faststream_shop produce BROKER SERVICE TOPIC N          # N orders
    python -m tests.faststream_shop work BROKER SERVICE TOPIC N [NEXT]      # handle N
                                                                           # messages;
                                                                           # NEXT: forward

BROKER is ``kafka`` (``KAFKA_PORT``) or ``rabbit`` (``AMQP_PORT``); ``OTLP_ENDPOINT``
(gRPC). A worker consumes in a group (Kafka) or a queue (RabbitMQ) named after TOPIC and
itself, and forwards from inside its handler with ``broker.publish``, or, with
``FORWARD_BY=return``, by returning the message to a ``@broker.publisher``.

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
    raise SystemExit(f"unknown broker {kind!r}; kafka or rabbit")


def _to(kind: str, topic: str) -> dict[str, Any]:
    """Where a message for ``topic`` goes: the Kafka topic, or on RabbitMQ the topic
    exchange "shop" with ``topic`` as the routing key (each worker's queue bound to it)."""
    if kind == "kafka":
        return {"topic": topic}
    from faststream.rabbit import ExchangeType, RabbitExchange
    return {"routing_key": topic, "exchange": RabbitExchange("shop", type=ExchangeType.TOPIC)}


async def produce(kind: str, topic: str, n: int) -> None:
    tracer = trace.get_tracer("tests.faststream_shop")
    broker = _broker(kind)
    async with broker:
        for i in range(n):
            with tracer.start_as_current_span("POST /orders", kind=trace.SpanKind.SERVER):
                await broker.publish({"order": i}, **_to(kind, topic))


async def work(kind: str, service: str, topic: str, n: int, forward: str | None) -> None:
    tracer = trace.get_tracer("tests.faststream_shop")
    broker = _broker(kind)
    done = asyncio.Event()
    handled = 0
    if kind == "kafka":
        sub = broker.subscriber(topic, group_id=service, auto_offset_reset="earliest")
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
        return body if by_return else None

    by_return = forward is not None and os.environ.get("FORWARD_BY") == "return"
    if by_return:
        handle = broker.publisher(**_to(kind, forward))(handle)
    sub(handle)

    async with broker:
        await broker.start()
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
