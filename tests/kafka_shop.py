"""Services on a real Kafka-protocol broker through the three Python Kafka clients, each
instrumented by its own OpenTelemetry instrumentation, for tests/test_real_broker.py: real
instrumentation, real broker protocol, real OTLP export, one process per service.

    python -m tests.kafka_shop setup TOPIC...                    # create the topics
    python -m tests.kafka_shop produce LIB SERVICE TOPIC N       # N orders, each under a
                                                                 # SERVER span
    python -m tests.kafka_shop work LIB SERVICE TOPIC N [NEXT]   # consume N messages in
                                                                 # group SERVICE; NEXT:
                                                                 # forward each there

LIB is ``confluent`` (confluent-kafka), ``kafka-python`` or ``aiokafka``. Environment:
``KAFKA_PORT`` (the broker on 127.0.0.1), ``OTLP_ENDPOINT`` (gRPC).

How the three consume differs, which is the point: confluent-kafka's instrumentation makes,
for a ``poll()`` that returned a message, a ``recv`` root span around the start of a
``process`` span, which is linked to the publish and stays current until the next poll (or
``close()``) ends it, so the handler runs inside it; kafka-python's makes a ``receive``
span per record, the publish's child, ended before the iterator returns the record;
aiokafka's a ``receive`` span per ``getone()``, ended the same way. Under the latter two
the handler runs with no current span.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Callable

from opentelemetry import trace

from tests.shop_tracing import run_role

LIBS = ("confluent", "kafka-python", "aiokafka")
# Short group timings: the broker waits up to the rebalance timeout for members to join.
GROUP = {"session_ms": 6000, "heartbeat_ms": 500, "poll_ms": 7000}


def _bootstrap() -> str:
    return f"127.0.0.1:{os.environ['KAFKA_PORT']}"


def setup(topics: list[str]) -> None:
    """Create the topics, one partition each, before any service starts (no tracing)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": _bootstrap()})
    for f in admin.create_topics([NewTopic(t, 1, 1) for t in topics]).values():
        f.result(30)


def _instrument(lib: str) -> Callable[[], None]:
    if lib == "confluent":
        from opentelemetry.instrumentation.confluent_kafka import ConfluentKafkaInstrumentor
        return ConfluentKafkaInstrumentor().instrument
    if lib == "kafka-python":
        from opentelemetry.instrumentation.kafka import KafkaInstrumentor
        return KafkaInstrumentor().instrument
    if lib == "aiokafka":
        from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
        return AIOKafkaInstrumentor().instrument
    raise SystemExit(f"unknown library {lib!r}; one of {', '.join(LIBS)}")


def _handle(service: str, value: bytes) -> None:
    with trace.get_tracer("tests.kafka_shop").start_as_current_span(f"handle {service}"):
        json.loads(value)
        time.sleep(0.005)


async def _started(cls, *args, **kwargs):  # type: ignore[no-untyped-def]
    """An aiokafka client, made and started on the running loop (it asks for one)."""
    client = cls(*args, **kwargs)
    await client.start()
    return client


class _Client:
    """One library's producer and consumer behind the same three calls."""

    def __init__(self, lib: str, service: str) -> None:
        self.lib, self.service = lib, service
        self.loop = asyncio.new_event_loop() if lib == "aiokafka" else None
        self.producer = None
        self.consumer = None

    def _run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        if self.lib == "confluent":
            import confluent_kafka  # (the instrumented class replaces the module's)
            if self.producer is None:
                self.producer = confluent_kafka.Producer({"bootstrap.servers": _bootstrap()})
            self.producer.produce(topic, key=key, value=value)
            self.producer.flush(30)
        elif self.lib == "kafka-python":
            import kafka
            if self.producer is None:
                self.producer = kafka.KafkaProducer(bootstrap_servers=_bootstrap())
            self.producer.send(topic, key=key, value=value).get(30)
        else:
            import aiokafka
            if self.producer is None:
                self.producer = self._run(_started(aiokafka.AIOKafkaProducer,
                                                   bootstrap_servers=_bootstrap()))
            self._run(self.producer.send_and_wait(topic, key=key, value=value))

    def subscribe(self, topic: str) -> None:
        g = GROUP
        if self.lib == "confluent":
            import confluent_kafka
            self.consumer = confluent_kafka.Consumer({
                "bootstrap.servers": _bootstrap(), "group.id": self.service,
                "auto.offset.reset": "earliest", "session.timeout.ms": g["session_ms"],
                "heartbeat.interval.ms": g["heartbeat_ms"],
                "max.poll.interval.ms": g["poll_ms"]})
            self.consumer.subscribe([topic])
        elif self.lib == "kafka-python":
            import kafka
            self.consumer = kafka.KafkaConsumer(
                topic, bootstrap_servers=_bootstrap(), group_id=self.service,
                auto_offset_reset="earliest", session_timeout_ms=g["session_ms"],
                heartbeat_interval_ms=g["heartbeat_ms"], max_poll_interval_ms=g["poll_ms"],
                consumer_timeout_ms=60_000)
            self.messages = iter(self.consumer)
        else:
            import aiokafka
            self.consumer = self._run(_started(
                aiokafka.AIOKafkaConsumer, topic, bootstrap_servers=_bootstrap(),
                group_id=self.service, auto_offset_reset="earliest",
                session_timeout_ms=g["session_ms"], heartbeat_interval_ms=g["heartbeat_ms"],
                max_poll_interval_ms=g["poll_ms"]))

    def next(self) -> tuple[bytes, bytes]:
        """The next message's key and value (waiting up to a minute)."""
        deadline = time.monotonic() + 60
        if self.lib == "confluent":
            while time.monotonic() < deadline:
                m = self.consumer.poll(1.0)
                if m is not None and not m.error():
                    return m.key(), m.value()
        elif self.lib == "kafka-python":
            m = next(self.messages, None)
            if m is not None:
                return m.key, m.value
        else:
            m = self._run(asyncio.wait_for(self.consumer.getone(), 60))
            return m.key, m.value
        raise SystemExit(f"{self.service}: no message within a minute")

    def close(self) -> None:
        if self.lib == "confluent":
            if self.consumer is not None:
                self.consumer.close()  # (which ends the last process span)
        elif self.lib == "kafka-python":
            for c in (self.consumer, self.producer):
                if c is not None:
                    c.close()
        else:
            for c in (self.consumer, self.producer):
                if c is not None:
                    self._run(c.stop())


def produce(lib: str, service: str, topic: str, n: int) -> None:
    tracer = trace.get_tracer("tests.kafka_shop")
    client = _Client(lib, service)
    try:
        for i in range(n):
            with tracer.start_as_current_span("POST /orders", kind=trace.SpanKind.SERVER):
                client.send(topic, f"order-{i}".encode(), json.dumps({"order": i}).encode())
    finally:
        client.close()


def work(lib: str, service: str, topic: str, n: int, forward: str | None) -> None:
    client = _Client(lib, service)
    client.subscribe(topic)
    try:
        for _ in range(n):
            key, value = client.next()
            _handle(service, value)
            if forward is not None:
                client.send(forward, key, value)
    finally:
        client.close()


def main(argv: list[str]) -> None:
    if argv[0] == "setup":
        setup(argv[1:])
        return
    lib, service = argv[1], argv[2]
    run_role(service, _instrument(lib), argv[0], {
        "produce": lambda: produce(lib, service, argv[3], int(argv[4])),
        "work": lambda: work(lib, service, argv[3], int(argv[4]),
                             argv[5] if len(argv) > 5 else None)})


if __name__ == "__main__":
    main(sys.argv[1:])
