"""A Celery app instrumented by opentelemetry-instrumentation-celery, for
tests/test_real_instrumentation.py: real instrumentation, real Celery, real OTLP export.

The broker is kombu's filesystem transport (a shared folder), so producer and workers are
separate processes, each its own service, with no broker server to start; or, when
``CELERY_SHOP_BROKER`` names one (``amqp://127.0.0.1:PORT//``), a real RabbitMQ
(tests/test_real_broker.py).

    python -m tests.celery_shop produce SERVICE N   # N checkouts, each sending tasks.charge
    python -m tests.celery_shop work SERVICE QUEUE  # a worker until terminated

Environment: ``CELERY_SHOP_DATA`` (the broker folder), ``CELERY_SHOP_BROKER`` (a broker URL
instead), ``OTLP_ENDPOINT`` (gRPC).
"""

from __future__ import annotations

import os
import sys
import time

from celery import Celery
from opentelemetry import trace
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.sdk.trace import TracerProvider

from tests.shop_tracing import export_as

DATA = os.environ.get("CELERY_SHOP_DATA", "/tmp/celery-shop")
app = Celery("shop", broker=os.environ.get("CELERY_SHOP_BROKER", "filesystem://"))
app.conf.update(
    broker_transport_options={"data_folder_in": DATA, "data_folder_out": DATA,
                              "processed_folder": os.path.join(DATA, "processed"),
                              "control_folder": os.path.join(DATA, "control"),
                              "polling_interval": 0.05},
    task_ignore_result=True,
    task_routes={"tasks.charge": {"queue": "payments"}, "tasks.notify": {"queue": "emails"}},
    worker_hijack_root_logger=False,
)


def _setup(service: str) -> TracerProvider:
    tp = export_as(service)
    CeleryInstrumentor().instrument()
    return tp


@app.task(name="tasks.charge")
def charge(order: int) -> None:
    time.sleep(0.01)
    notify.delay(order)


@app.task(name="tasks.notify")
def notify(order: int) -> None:
    time.sleep(0.005)


def main(argv: list[str]) -> None:
    role, service = argv[0], argv[1]
    tp = _setup(service)
    if role == "produce":
        tracer = trace.get_tracer("tests.celery_shop")
        for i in range(int(argv[2])):
            with tracer.start_as_current_span("POST /checkout", kind=trace.SpanKind.SERVER):
                charge.delay(i)
        tp.shutdown()
        return
    work(app, service, argv[2])


def work(celery: Celery, service: str, queue: str) -> None:
    """Run a worker of ``celery`` as ``service`` on ``queue`` until terminated."""
    # A node name of its own: on RabbitMQ two workers of one host share a control queue.
    celery.Worker(queues=[queue], hostname=f"{service}@localhost", pool="solo",
                  concurrency=1, loglevel="WARNING",
                  without_heartbeat=True, without_mingle=True, without_gossip=True).start()


if __name__ == "__main__":
    main(sys.argv[1:])
