"""Services on a real RabbitMQ broker through pika, instrumented by
opentelemetry-instrumentation-pika, for tests/test_real_broker.py: real instrumentation, a
real broker, real OTLP export, one process per service.

    python -m tests.pika_shop setup                        # exchange, queues, bindings
    python -m tests.pika_shop produce SERVICE N            # N orders to exchange "orders"
    python -m tests.pika_shop work SERVICE QUEUE [NEXT]    # basic_consume until terminated
                                                           # (or STOP_AFTER messages);
                                                           # NEXT: forward each message there
    python -m tests.pika_shop drain SERVICE QUEUE N        # the consume() generator, N messages

Environment: ``AMQP_PORT`` (the broker on 127.0.0.1), ``OTLP_ENDPOINT`` (gRPC),
``STOP_AFTER``.

The two consumer paths pika's instrumentation wraps differ: a ``basic_consume`` callback
runs inside its CONSUMER span; the ``BlockingChannel.consume()`` generator's CONSUMER span
ends before the handler runs, the handler's spans being its children all the same.
"""

from __future__ import annotations

import os
import sys
import time

import pika
from opentelemetry import trace
from opentelemetry.instrumentation.pika import PikaInstrumentor

from tests.shop_tracing import run_role

EXCHANGE = "orders"
# queue -> routing key it is bound with on the topic exchange (None: default exchange only)
QUEUES = {"billing": "order.*", "shipping": "order.placed", "emails": None}


def _connect() -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.ConnectionParameters(
        host="127.0.0.1", port=int(os.environ["AMQP_PORT"]), connection_attempts=20,
        retry_delay=0.25))


def setup() -> None:
    """Declare the topology once, before any service starts (no tracing)."""
    conn = _connect()
    ch = conn.channel()
    ch.exchange_declare(EXCHANGE, exchange_type="topic")
    for queue, key in QUEUES.items():
        ch.queue_declare(queue)
        if key is not None:
            ch.queue_bind(queue, EXCHANGE, routing_key=key)
    conn.close()


def produce(n: int) -> None:
    tracer = trace.get_tracer("tests.pika_shop")
    conn = _connect()
    ch = conn.channel()
    for i in range(n):
        with tracer.start_as_current_span("POST /orders", kind=trace.SpanKind.SERVER):
            ch.basic_publish(EXCHANGE, "order.placed", f'{{"order": {i}}}'.encode(),
                             pika.BasicProperties(message_id=f"order-{i}",
                                                  correlation_id=f"req-{i}"))
    conn.close()


def work(queue: str, forward: str | None) -> None:
    tracer = trace.get_tracer("tests.pika_shop")
    conn = _connect()
    ch = conn.channel()
    stop_after = int(os.environ.get("STOP_AFTER", "0"))
    done = 0

    def handle(channel, method, properties, body) -> None:  # type: ignore[no-untyped-def]
        nonlocal done
        with tracer.start_as_current_span(f"handle {queue}"):
            time.sleep(0.005)
        if forward is not None:
            # To the default exchange, straight to the queue of that name.
            channel.basic_publish("", forward, body, pika.BasicProperties(
                message_id=f"{properties.message_id}-{forward}",
                correlation_id=properties.correlation_id))
        channel.basic_ack(method.delivery_tag)
        done += 1
        if done == stop_after:
            channel.stop_consuming()

    ch.basic_consume(queue, handle)
    ch.start_consuming()
    conn.close()


def drain(queue: str, n: int) -> None:
    tracer = trace.get_tracer("tests.pika_shop")
    conn = _connect()
    ch = conn.channel()
    done = 0
    for method, _properties, _body in ch.consume(queue, inactivity_timeout=30):
        if method is None:
            raise SystemExit(f"only {done} of {n} messages arrived on {queue}")
        with tracer.start_as_current_span("send email"):
            time.sleep(0.002)
        ch.basic_ack(method.delivery_tag)
        done += 1
        if done == n:
            break
    ch.cancel()
    conn.close()


def main(argv: list[str]) -> None:
    if argv[0] == "setup":
        setup()
        return
    run_role(argv[1], PikaInstrumentor().instrument, argv[0], {
        "produce": lambda: produce(int(argv[2])),
        "work": lambda: work(argv[2], argv[3] if len(argv) > 3 else None),
        "drain": lambda: drain(argv[2], int(argv[3]))})


if __name__ == "__main__":
    main(sys.argv[1:])
