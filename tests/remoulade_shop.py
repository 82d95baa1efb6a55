"""Remoulade actors instrumented by opentelemetry-instrumentation-remoulade, for
tests/test_real_instrumentation.py.

    python -m tests.remoulade_shop run SERVICE N   # N orders, each a charge_card message

The actors: ``charge_card`` (queue ``billing``), which sends ``send_receipt`` (queue
``mailer``) for each order. The first try of every charge fails, so the Retries middleware
enqueues it again (after a 100 ms backoff, through the queue's delay queue).

One process, on remoulade's in-memory StubBroker, with a worker of its own: remoulade's
RabbitMQ broker needs amqpstorm, which needs pamqp < 3, where aio-pika needs pamqp 4, so it
cannot be installed beside the other real-broker tests. The instrumentation is a broker
middleware, the same on any broker; so is the worker's handling of delayed messages.

Environment: ``OTLP_ENDPOINT`` (gRPC).
"""

from __future__ import annotations

import sys
import threading

import remoulade
from opentelemetry import trace
from opentelemetry.instrumentation.remoulade import RemouladeInstrumentor
from remoulade.brokers.stub import StubBroker

from tests.shop_tracing import run_role

_DONE = threading.Event()
_LEFT = {"n": 0}
_TRIED: set[int] = set()


def _handled() -> None:
    _LEFT["n"] -= 1
    if _LEFT["n"] == 0:
        _DONE.set()


@remoulade.actor(queue_name="billing", max_retries=1, min_backoff=100, max_backoff=100)
def charge_card(order: int) -> None:
    try:
        if order not in _TRIED:  # (the card's first try fails: Retries sends it again)
            _TRIED.add(order)
            raise RuntimeError(f"card of order {order} declined, retrying")
        send_receipt.send(order)
    finally:
        _handled()


@remoulade.actor(queue_name="mailer")
def send_receipt(order: int) -> None:
    _handled()


def run(n: int) -> None:
    _LEFT["n"] = 2 * n + n  # (each charge twice, each receipt once)
    broker = StubBroker()
    remoulade.set_broker(broker)
    for actor in (charge_card, send_receipt):
        broker.declare_actor(actor)
    worker = remoulade.Worker(broker, worker_threads=1)
    worker.start()
    tracer = trace.get_tracer("tests.remoulade_shop")
    try:
        for i in range(n):
            with tracer.start_as_current_span("POST /orders", kind=trace.SpanKind.SERVER):
                charge_card.send(i)
        if not _DONE.wait(60):
            raise SystemExit(f"{_LEFT['n']} messages never came")
    finally:
        worker.stop()
        broker.close()


def main() -> None:
    role, service, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    run_role(service, lambda: RemouladeInstrumentor().instrument(), role,
             {"run": lambda: run(n)})


if __name__ == "__main__":
    main()
