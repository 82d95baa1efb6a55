"""Dramatiq actors on a real RabbitMQ, instrumented by opentelemetry-instrumentor-dramatiq
(the one published instrumentation of Dramatiq, third-party), for tests/test_real_broker.py.

    python -m tests.dramatiq_shop send SERVICE N     # N invoices for the actor's queue
    python -m tests.dramatiq_shop work SERVICE N     # a worker until N messages were done

Environment: ``AMQP_PORT`` (the broker on 127.0.0.1), ``OTLP_ENDPOINT`` (gRPC),
``DRAMATIQ_DONE`` (a file the actor appends a line to per message, which the worker
watches: Dramatiq's worker runs until stopped), ``DRAMATIQ_FAIL_FIRST`` (set: each
message's first run raises, and Dramatiq's Retries middleware delivers it again).
"""

from __future__ import annotations

import os
import sys
import time

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from opentelemetry import trace
from opentelemetry_instrumentor_dramatiq import DramatiqInstrumentor

from tests.shop_tracing import export_as

broker = RabbitmqBroker(host="127.0.0.1", port=int(os.environ.get("AMQP_PORT", "5672")))
dramatiq.set_broker(broker)


# (retries after ~0.2-0.3 s, not Dramatiq's default 15 s and more)
@dramatiq.actor(queue_name="invoices", max_retries=3, min_backoff=200, max_backoff=300)
def send_invoice(order: int) -> None:
    done = os.environ["DRAMATIQ_DONE"]
    with trace.get_tracer("tests.dramatiq_shop").start_as_current_span("render invoice"):
        time.sleep(0.005)
        first = f"{done}.{order}"
        if os.environ.get("DRAMATIQ_FAIL_FIRST") and not os.path.exists(first):
            open(first, "w").close()
            raise RuntimeError("the PDF renderer is down")  # Dramatiq retries the message
    with open(done, "a") as fh:
        fh.write(f"{order}\n")


def main(argv: list[str]) -> None:
    role, service, n = argv[0], argv[1], int(argv[2])
    tp = export_as(service)
    DramatiqInstrumentor().instrument()
    try:
        if role == "send":
            tracer = trace.get_tracer("tests.dramatiq_shop")
            for i in range(n):
                with tracer.start_as_current_span("POST /orders", kind=trace.SpanKind.SERVER):
                    send_invoice.send(i)
        elif role == "work":
            worker = dramatiq.Worker(broker, worker_threads=1)
            worker.start()
            deadline = time.monotonic() + 60
            done = os.environ["DRAMATIQ_DONE"]
            while time.monotonic() < deadline:
                if os.path.exists(done) and len(open(done).read().split()) >= n:
                    break
                time.sleep(0.05)
            worker.stop()
        else:
            raise SystemExit(f"unknown role {role!r}")
    finally:
        broker.close()
        tp.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
