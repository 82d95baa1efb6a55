"""Taskiq tasks on a real Redis, traced by Taskiq's own OpenTelemetry middleware
(``taskiq[opentelemetry]``), for tests/test_real_broker.py: one process per service.

    python -m tests.taskiq_shop kick SERVICE N     # N "charge" tasks for billing
    python -m tests.taskiq_shop work SERVICE N     # a worker of SERVICE's queue, until it
                                                   # ran N tasks

Each service has its queue (a Redis list named after it; ``ListQueueBroker``): billing
runs ``charge``, which kicks ``send_receipt`` on the mailer's queue. Environment:
``REDIS_PORT`` (on 127.0.0.1), ``OTLP_ENDPOINT`` (gRPC).

Taskiq's middleware (taskiq/middlewares/opentelemetry_middleware.py) makes a
"send/<task name>" PRODUCER span per kick, with messaging.message.id (the task id) and
taskiq.task_name, and injects its context into the message's labels; the worker runs the
task in an "execute/<task name>" CONSUMER span, the child of that context. Neither names
a messaging system or destination.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from opentelemetry import trace

from tests.shop_tracing import run_role


def _brokers() -> dict[str, object]:
    from taskiq.middlewares.opentelemetry_middleware import OpenTelemetryMiddleware
    from taskiq_redis import ListQueueBroker

    url = f"redis://127.0.0.1:{os.environ['REDIS_PORT']}"
    return {svc: ListQueueBroker(url, queue_name=svc).with_middlewares(
        OpenTelemetryMiddleware()) for svc in ("billing", "mailer")}


BROKERS = _brokers() if "REDIS_PORT" in os.environ else {}
done = asyncio.Event() if BROKERS else None
handled = 0
goal = 0


def _ran() -> None:
    global handled
    handled += 1
    if handled == goal:
        asyncio.get_running_loop().call_later(0.5, done.set)  # (after its kick)


if BROKERS:
    @BROKERS["mailer"].task(task_name="send_receipt")
    async def send_receipt(order: int) -> None:
        with trace.get_tracer("tests.taskiq_shop").start_as_current_span("render receipt"):
            time.sleep(0.005)
        _ran()

    @BROKERS["billing"].task(task_name="charge")
    async def charge(order: int) -> None:
        with trace.get_tracer("tests.taskiq_shop").start_as_current_span("charge card"):
            time.sleep(0.005)
        await send_receipt.kiq(order)
        _ran()


async def kick(n: int) -> None:
    tracer = trace.get_tracer("tests.taskiq_shop")
    broker = BROKERS["billing"]
    await broker.startup()
    try:
        for i in range(n):
            with tracer.start_as_current_span("POST /orders", kind=trace.SpanKind.SERVER):
                await charge.kiq(i)
    finally:
        await broker.shutdown()


async def work(service: str, n: int) -> None:
    from taskiq.api import run_receiver_task

    global goal
    goal = n
    for b in BROKERS.values():  # (billing's tasks kick the mailer's)
        await b.startup()
    receiver = asyncio.create_task(run_receiver_task(BROKERS[service]))
    try:
        await asyncio.wait_for(done.wait(), 60)
    finally:
        receiver.cancel()
        for b in BROKERS.values():
            await b.shutdown()


def main(argv: list[str]) -> None:
    # (the middleware is given to each broker: nothing to instrument globally)
    role, service, n = argv[0], argv[1], int(argv[2])
    run_role(service, lambda: None, role, {
        "kick": lambda: asyncio.run(kick(n)),
        "work": lambda: asyncio.run(work(service, n))})


if __name__ == "__main__":
    main(sys.argv[1:])
