"""Common machinery of the three e-commerce scenarios: load profile, services, brokers."""

from __future__ import annotations

import random
import zlib
from typing import Callable

from opentelemetry.sdk.trace import ReadableSpan

from opentelemetry.trace import Span, SpanKind

from . import semconv as sc
from .semconv import ROOT
from .sim import (
    MS, SECOND, Broker, EventLoop, Message, Service, ServiceProfile, Telemetry, lognormal_ns,
)

#: Resource facts per service.  email-service is an old deployment (old SDK and Python).
PROFILES: dict[str, ServiceProfile] = {
    p.name: p
    for p in (
        ServiceProfile("order-service", "3.4.1"),
        ServiceProfile("payment-service", "2.8.0"),
        ServiceProfile("inventory-service", "1.19.2"),
        ServiceProfile("seller-notification-service", "1.4.0", python="3.11.9"),
        ServiceProfile("logistics-service", "2.1.5"),
        ServiceProfile("email-service", "1.7.3", sdk_version="1.11.1", python="3.9.18",
                       auto_version="0.30b1"),
        ServiceProfile("analytics-service", "0.9.4"),
        ServiceProfile("support-service", "1.2.0"),
        ServiceProfile("otp-service", "1.0.8"),
        ServiceProfile("recommendation-service", "4.2.0"),
        ServiceProfile("catalog-service", "2.13.1"),
    )
}

#: Load profile, repeated every CYCLE_S seconds: base rate, then a peak of PEAK_RATE orders/s
#: during [PEAK_START_S, PEAK_END_S) of each cycle.
CYCLE_S = 90.0
PEAK_START_S, PEAK_END_S = 30.0, 50.0
BASE_RATE, PEAK_RATE = 1.6, 6.0


def in_peak(t_rel_ns: int) -> bool:
    """Whether a time (ns since the scenario start) falls in a peak window."""
    phase = (t_rel_ns / SECOND) % CYCLE_S
    return PEAK_START_S <= phase < PEAK_END_S


class Scenario:
    """Base class: a simulated shop with services, brokers and an order arrival process.

    Subclasses create their services/brokers/subscriptions in ``setup`` and implement
    ``place_order`` (the entry point of one order at a simulated time).
    """

    name = "base"

    def __init__(self, seed: int) -> None:
        # String seeds are hashed with SHA-512 by random.Random: stable across processes.
        self.rng = random.Random(f"{seed}/{self.name}/sim")
        self.loop = EventLoop()
        self.start_ns = self.loop.now
        self.telemetry = Telemetry(zlib.crc32(f"{seed}/{self.name}/ids".encode()), self.rng)
        self.orders = 0
        self.kafka = Broker(self.loop, self.rng, "kafka", "kafka-0.kafka.shop.internal", 9092)
        self.rabbitmq = Broker(self.loop, self.rng, "rabbitmq", "rabbitmq.shop.internal", 5672)
        self.setup()

    # -- to implement
    def setup(self) -> None:
        """Create services and subscriptions."""
        raise NotImplementedError

    def place_order(self, order_id: str, t_ns: int) -> None:
        """Run the entry point of one order."""
        raise NotImplementedError

    # -- helpers
    def svc(self, name: str) -> Service:
        """The service ``name`` (created on first use)."""
        return self.telemetry.service(PROFILES[name])

    def checkout_request(self, t_ns: int, client_address: str, user_agent: str) -> Span:
        """The order-service SERVER span of ``POST /orders``: every scenario's entry point."""
        return self.svc("order-service").tracer("flask").start_span(
            "POST /orders", context=ROOT, kind=SpanKind.SERVER, start_time=t_ns,
            attributes={"http.request.method": "POST", "http.route": "/orders", "url.path": "/orders",
                        "url.scheme": "https", "server.address": "shop.example.com", "server.port": 443,
                        "network.protocol.version": "1.1", "client.address": client_address,
                        "user_agent.original": user_agent},
        )

    def latency(self, median_ms: float, sigma: float = 0.35) -> int:
        """A log-normal latency in ns."""
        return lognormal_ns(self.rng, median_ms, sigma)

    def finish(self, span: Span, t_ns: int, pad_ms: float = 0.3) -> int:
        """End ``span`` a short moment after ``t_ns``; returns the end time."""
        end = t_ns + self.latency(pad_ms)
        span.end(end_time=end)
        return end

    def on_dlq(self, msg: Message, t_ns: int) -> tuple[int, bool]:
        """support-service files a ticket for a message parked on a dead-letter topic."""
        svc = self.svc("support-service")
        span = sc.start_process(svc, self.kafka, msg, "support-service", t_ns)
        t = sc.db_query(svc, sc.context_of(span), t_ns + self.latency(0.3), self.rng, "INSERT",
                        "tickets", "INSERT INTO tickets (order_id, reason) VALUES (%s, %s)")
        return self.finish(span, t), True

    def chance(self, p: float) -> bool:
        """True with probability ``p``."""
        return self.rng.random() < p

    def _arrive(self, stop: Callable[[], bool]) -> None:
        if stop():
            return
        now = self.loop.now
        self.orders += 1
        self.place_order(f"ORD-{100000 + self.orders}", now)
        rate = PEAK_RATE if in_peak(now - self.start_ns) else BASE_RATE
        self.loop.at(now + int(self.rng.expovariate(rate) * SECOND), self._arrive, stop)

    def run(self, target_spans: int, sink: Callable[[list[ReadableSpan]], None], chunk: int = 250) -> int:
        """Simulate orders until about ``target_spans`` spans, passing finished spans to ``sink``
        in chunks of about ``chunk`` (in end order).  Returns the number of spans emitted."""
        exporter = self.telemetry.exporter
        emitted = 0
        self.loop.at(self.loop.now + 50 * MS, self._arrive,
                     lambda: self.telemetry.spans_started >= target_spans)
        steps = 0
        while self.loop.step():
            steps += 1
            if steps % 16 == 0:
                spans = exporter.get_finished_spans()
                if len(spans) >= chunk:
                    exporter.clear()
                    sink(list(spans))
                    emitted += len(spans)
        spans = exporter.get_finished_spans()
        if spans:
            exporter.clear()
            sink(list(spans))
            emitted += len(spans)
        return emitted
