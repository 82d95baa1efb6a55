"""Deterministic simulation runtime for the sample-trace generator.

Everything that would normally come from the outside world is simulated here so that one seed
always produces byte-identical OTLP files:

* :class:`EventLoop` -- a tiny discrete-event simulator on a simulated nanosecond clock
  (timestamps never come from the wall clock);
* :class:`SeededIdGenerator` -- an OpenTelemetry ``IdGenerator`` drawing trace/span ids from a
  seeded ``random.Random``;
* :class:`Telemetry` / :class:`Service` -- one real SDK ``TracerProvider`` per service with a
  realistic ``Resource``; all providers export into one in-memory exporter;
* :class:`Broker` -- an in-memory message broker with consumer groups, FIFO queues, a fixed
  number of workers per consumer, redelivery of failed messages and batch polling.  Trace
  context travels only inside message headers (W3C ``traceparent``), exactly like a real broker.
"""

from __future__ import annotations

import heapq
import math
import random
import uuid
import zlib
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Tracer

#: Simulated wall-clock origin of every scenario: 2025-06-02T09:00:00Z.
EPOCH_NS = 1_748_854_800_000_000_000
MS = 1_000_000
SECOND = 1_000_000_000


class EventLoop:
    """Discrete-event loop: callbacks run in simulated-time order (FIFO for equal times)."""

    def __init__(self, start_ns: int = EPOCH_NS) -> None:
        self.now = start_ns
        self._heap: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0

    def at(self, t_ns: int, fn: Callable[..., None], *args: Any) -> None:
        """Schedule ``fn(*args)`` at simulated time ``t_ns`` (never earlier than now)."""
        # The sequence number keeps equal-time events in scheduling order, which keeps the
        # simulation deterministic without ever comparing callbacks.
        heapq.heappush(self._heap, (max(t_ns, self.now), self._seq, fn, args))
        self._seq += 1

    def step(self) -> bool:
        """Run the next event; return False when nothing is left."""
        if not self._heap:
            return False
        t, _, fn, args = heapq.heappop(self._heap)
        self.now = t
        fn(*args)
        return True


class SeededIdGenerator(IdGenerator):
    """Trace and span ids from a seeded PRNG, so generation is reproducible."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def generate_span_id(self) -> int:
        span_id = 0
        while span_id == 0:  # zero is the invalid id
            span_id = self._rng.getrandbits(64)
        return span_id

    def generate_trace_id(self) -> int:
        trace_id = 0
        while trace_id == 0:
            trace_id = self._rng.getrandbits(128)
        return trace_id

    def is_trace_id_random(self) -> bool:
        return True


@dataclass(frozen=True)
class Scope:
    """An instrumentation scope as real instrumentation libraries register it."""

    name: str
    version: str
    schema_url: str = ""


SCHEMA_CURRENT = "https://opentelemetry.io/schemas/1.27.0"
SCHEMA_LEGACY = "https://opentelemetry.io/schemas/1.11.0"

#: Instrumentation scopes used by the scenarios (names and versions of real libraries).
SCOPES: dict[str, Scope] = {
    "kafka": Scope("opentelemetry.instrumentation.confluent_kafka", "0.48b0", SCHEMA_CURRENT),
    "eventbus": Scope("shop.eventbus", "2.3.1", SCHEMA_CURRENT),
    "pika": Scope("opentelemetry.instrumentation.pika", "0.36b0", SCHEMA_LEGACY),
    "flask": Scope("opentelemetry.instrumentation.flask", "0.48b0", SCHEMA_CURRENT),
    "flask-legacy": Scope("opentelemetry.instrumentation.flask", "0.33b0", SCHEMA_LEGACY),
    "requests": Scope("opentelemetry.instrumentation.requests", "0.48b0", SCHEMA_CURRENT),
    "grpc": Scope("opentelemetry.instrumentation.grpc", "0.48b0", SCHEMA_CURRENT),
    "psycopg": Scope("opentelemetry.instrumentation.psycopg", "0.48b0", SCHEMA_CURRENT),
    "app": Scope("shop.app", "1.0.0", ""),
}


@dataclass(frozen=True)
class ServiceProfile:
    """Static facts about one simulated service (they end up in its OTel Resource)."""

    name: str
    version: str
    sdk_version: str = "1.27.0"
    python: str = "3.12.4"
    auto_version: str = "0.48b0"


class Service:
    """A simulated service: its own TracerProvider (Resource) and lazily created tracers."""

    def __init__(self, profile: ServiceProfile, provider: TracerProvider, host: str) -> None:
        self.profile = profile
        self.name = profile.name
        self.host = host
        self._provider = provider
        self._tracers: dict[str, Tracer] = {}

    def tracer(self, scope_key: str) -> Tracer:
        """The tracer of one instrumentation library inside this service."""
        tracer = self._tracers.get(scope_key)
        if tracer is None:
            scope = SCOPES[scope_key]
            tracer = self._provider.get_tracer(scope.name, scope.version, schema_url=scope.schema_url or None)
            self._tracers[scope_key] = tracer
        return tracer


class Telemetry:
    """Builds one SDK TracerProvider per service, all exporting to one in-memory exporter."""

    def __init__(self, seed: int, rng: random.Random) -> None:
        self.exporter = InMemorySpanExporter()
        self.id_generator = SeededIdGenerator(seed)
        self._rng = rng
        self.services: dict[str, Service] = {}
        self.spans_started = 0

    def service(self, profile: ServiceProfile) -> Service:
        """Create (or return) the service described by ``profile``."""
        if profile.name in self.services:
            return self.services[profile.name]
        pod = f"{profile.name}-{self._rng.getrandbits(36):09x}"[: len(profile.name) + 10]
        host = f"{pod}-{''.join(self._rng.choice('bcdfghjklmnpqrstvwxz2456789') for _ in range(5))}"
        attributes = {
            "service.name": profile.name,
            "service.namespace": "shop",
            "service.version": profile.version,
            "service.instance.id": str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            "deployment.environment": "production",
            "host.name": host,
            "host.arch": "amd64",
            "os.type": "linux",
            "k8s.namespace.name": "shop",
            "k8s.pod.name": host,
            "process.pid": 1,
            "process.runtime.name": "cpython",
            "process.runtime.version": profile.python,
            "process.runtime.description": f"{profile.python} (main, Jun  6 2024, 18:26:44) [GCC 12.2.0]",
            "telemetry.sdk.language": "python",
            "telemetry.sdk.name": "opentelemetry",
            "telemetry.sdk.version": profile.sdk_version,
            "telemetry.auto.version": profile.auto_version,
        }
        # Resource(...) rather than Resource.create(...): create() would read
        # OTEL_RESOURCE_ATTRIBUTES and the real SDK version, breaking reproducibility.
        provider = TracerProvider(
            resource=Resource(attributes), id_generator=self.id_generator, shutdown_on_exit=False
        )
        provider.add_span_processor(_CountingProcessor(self))
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        svc = Service(profile, provider, host)
        self.services[profile.name] = svc
        return svc


class _CountingProcessor(SpanProcessor):
    """Counts started spans so the generator can stop near the requested span count."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self._telemetry.spans_started += 1


def lognormal_ns(rng: random.Random, median_ms: float, sigma: float = 0.35) -> int:
    """A latency with the given median (ms), log-normally distributed, in nanoseconds."""
    return max(1, int(median_ms * math.exp(rng.gauss(0.0, sigma)) * MS))


def new_uuid(rng: random.Random) -> str:
    """A reproducible random UUID4 string."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# --------------------------------------------------------------------------- broker


@dataclass
class Message:
    """One message on the broker; ``headers`` carry the W3C trace context."""

    topic: str
    message_id: str
    key: str
    headers: dict[str, str]
    system: str
    body_size: int
    partition: int = 0
    offset: int = 0
    attempt: int = 0
    payload: dict[str, Any] = field(default_factory=dict)


#: handler(message, start_ns, attempt) -> (end_ns, ok)
Handler = Callable[[Message, int], tuple[int, bool]]
#: batch handler(messages, start_ns) -> end_ns
BatchHandler = Callable[[list[Message], int], int]


class Subscription:
    """A consumer group on one topic: a FIFO queue served by ``workers`` parallel workers."""

    def __init__(
        self,
        loop: EventLoop,
        rng: random.Random,
        group: str,
        handler: Handler | None,
        workers: int,
        max_attempts: int,
        redelivery_ms: float,
        batch_handler: BatchHandler | None = None,
        poll_ms: float = 0.0,
        max_batch: int = 0,
    ) -> None:
        self.loop, self.rng, self.group = loop, rng, group
        self.handler, self.batch_handler = handler, batch_handler
        self.idle = workers
        self.max_attempts = max_attempts
        self.redelivery_ms = redelivery_ms
        self.poll_ms, self.max_batch = poll_ms, max_batch
        self.queue: deque[Message] = deque()
        self._poll_scheduled = False

    def deliver(self, msg: Message) -> None:
        """The broker hands a message to this group (it waits in the queue for a worker)."""
        self.queue.append(msg)
        if self.batch_handler is not None:
            if not self._poll_scheduled:
                self._poll_scheduled = True
                self.loop.at(self.loop.now + int(self.poll_ms * MS), self._poll)
        else:
            self._dispatch()

    def _dispatch(self) -> None:
        while self.idle and self.queue:
            self.idle -= 1
            msg = self.queue.popleft()
            self.loop.at(self.loop.now, self._run, msg)

    def _run(self, msg: Message) -> None:
        assert self.handler is not None
        end, ok = self.handler(msg, self.loop.now)
        if not ok and msg.attempt + 1 < self.max_attempts:
            # The offset is not committed, so the broker redelivers the very same message
            # (same id, same headers) after a back-off.
            again = replace(msg, attempt=msg.attempt + 1)
            self.loop.at(end + int(self.redelivery_ms * MS), self.deliver, again)
        self.loop.at(end, self._done)

    def _done(self) -> None:
        self.idle += 1
        self._dispatch()

    def _poll(self) -> None:
        assert self.batch_handler is not None
        batch = [self.queue.popleft() for _ in range(min(self.max_batch, len(self.queue)))]
        end = self.batch_handler(batch, self.loop.now)
        if self.queue:
            self.loop.at(max(end, self.loop.now + int(self.poll_ms * MS)), self._poll)
        else:
            self._poll_scheduled = False


class Broker:
    """An in-memory broker (Kafka-like topics or RabbitMQ-like exchanges)."""

    def __init__(self, loop: EventLoop, rng: random.Random, system: str, host: str, port: int,
                 partitions: int = 6) -> None:
        self.loop, self.rng = loop, rng
        self.system, self.host, self.port = system, host, port
        self.partitions = partitions
        self._subs: dict[str, list[Subscription]] = {}
        self._offsets: dict[tuple[str, int], int] = {}

    def subscribe(self, topic: str, group: str, handler: Handler, *, workers: int = 4,
                  max_attempts: int = 1, redelivery_ms: float = 1000.0) -> Subscription:
        """Register a consumer group processing messages one by one."""
        sub = Subscription(self.loop, self.rng, group, handler, workers, max_attempts, redelivery_ms)
        self._subs.setdefault(topic, []).append(sub)
        return sub

    def subscribe_batch(self, topic: str, group: str, handler: BatchHandler, *, poll_ms: float,
                        max_batch: int) -> Subscription:
        """Register a consumer group that polls every ``poll_ms`` and processes batches."""
        sub = Subscription(self.loop, self.rng, group, None, 1, 1, 0.0, handler, poll_ms, max_batch)
        self._subs.setdefault(topic, []).append(sub)
        return sub

    def assign(self, topic: str, key: str) -> tuple[int, int]:
        """Partition (stable hash of the key) and next offset for a new message."""
        partition = zlib.crc32(key.encode()) % self.partitions if self.system == "kafka" else 0
        offset = self._offsets.get((topic, partition), 0)
        self._offsets[(topic, partition)] = offset + 1
        return partition, offset

    def publish(self, msg: Message, t_ns: int) -> None:
        """The message reaches the broker at ``t_ns``; each group receives its own copy."""
        for sub in self._subs.get(msg.topic, []):
            latency = int(self.rng.uniform(1.0, 6.0) * MS)
            self.loop.at(t_ns + latency, sub.deliver, replace(msg, headers=dict(msg.headers)))


class FailureDeck:
    """Failure outcomes drawn like cards: exactly ``round(rate * block)`` failures in every
    consecutive block of ``block`` attempts, in random order.

    Independent coin flips would make the observed failure rate of a small committed file
    drift from the configured one (0.25 instead of 0.3 is common at a few hundred attempts);
    with a deck the observed rate is the configured rate up to one partial block, so the
    ground truth can state it precisely while failures still fall on random attempts.
    """

    def __init__(self, rng: random.Random, rate: float, block: int = 10) -> None:
        self._rng = rng
        self._failures = round(rate * block)
        self._block = block
        self._cards: list[bool] = []

    def draw(self) -> bool:
        """True if the next attempt fails."""
        if not self._cards:
            self._cards = [True] * self._failures + [False] * (self._block - self._failures)
            self._rng.shuffle(self._cards)
        return self._cards.pop()
