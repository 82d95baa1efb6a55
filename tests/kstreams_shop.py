"""Services written with kstreams (a Kafka streams library on aiokafka), traced by
opentelemetry-instrumentation-kstreams, on Kafka's protocol (Tansu), for
tests/test_real_broker.py: one process per service.

    python -m tests.kstreams_shop produce SERVICE TOPIC N          # N orders
    python -m tests.kstreams_shop work SERVICE TOPIC N [NEXT]      # handle N; NEXT: forward

Environment: ``KAFKA_PORT`` (on 127.0.0.1), ``OTLP_ENDPOINT`` (gRPC). A worker's stream
reads TOPIC in a consumer group named after the service.

The instrumentation (opentelemetry_instrumentation_kstreams: wrappers.py, middlewares.py,
utils.py) writes the conventions of 2022: a "<topic> send" PRODUCER span around
``StreamEngine.send``, whose context goes in the record's headers, and a "<topic> receive"
CONSUMER span around the stream's handler, the child of that context. Both say
messaging.system "kafka", messaging.destination (the legacy key), messaging.destination_kind
"topic" and messaging.url as a JSON list of the bootstrap servers; the receive span adds
the record's partition and offset.

Every send passes its headers, if only ``{}``: with none, the instrumentation gives
kstreams a list of header pairs, which kstreams 0.3x no longer takes.
"""

# (no "from __future__ import annotations": kstreams reads the handler's annotations as
# types)
import asyncio
import os
import sys
import time

from opentelemetry import trace

from tests.shop_tracing import run_role


def _engine():  # -> kstreams.StreamEngine
    from kstreams import backends, create_engine

    return create_engine(title="shop", backend=backends.Kafka(
        bootstrap_servers=[f"127.0.0.1:{os.environ['KAFKA_PORT']}"]))


async def produce(topic: str, n: int) -> None:
    tracer = trace.get_tracer("tests.kstreams_shop")
    engine = _engine()
    await engine.start()
    try:
        for i in range(n):
            with tracer.start_as_current_span("POST /orders", kind=trace.SpanKind.SERVER):
                await engine.send(topic, value=f'{{"order": {i}}}'.encode(), headers={})
    finally:
        await engine.stop()


async def work(service: str, topic: str, n: int, forward: str | None) -> None:
    from kstreams import ConsumerRecord

    tracer = trace.get_tracer("tests.kstreams_shop")
    engine = _engine()
    done = asyncio.Event()
    handled = 0

    @engine.stream(topic, group_id=service, auto_offset_reset="earliest")
    async def handle(cr: ConsumerRecord) -> None:
        nonlocal handled
        with tracer.start_as_current_span(f"handle {service}"):
            time.sleep(0.005)
        if forward is not None:
            await engine.send(forward, value=cr.value, headers={})
        handled += 1
        if handled == n:
            done.set()

    await engine.start()
    try:
        await asyncio.wait_for(done.wait(), 60)
    finally:
        await engine.stop()


def main(argv: list[str]) -> None:
    from opentelemetry_instrumentation_kstreams import KStreamsInstrumentor

    role, service, topic, n = argv[0], argv[1], argv[2], int(argv[3])
    run_role(service, KStreamsInstrumentor().instrument, role, {
        "produce": lambda: asyncio.run(produce(topic, n)),
        "work": lambda: asyncio.run(work(service, topic, n,
                                         argv[4] if len(argv) > 4 else None))})


if __name__ == "__main__":
    main(sys.argv[1:])
