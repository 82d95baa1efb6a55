"""A Celery canvas on Redis under opentelemetry-instrumentation-celery: what a checkout
starts when it builds its workflow from Celery's primitives instead of tasks calling tasks.

Per order, the checkout applies ``chord([charge, reserve], confirm)``: charge (payments)
and reserve (inventory) run in parallel; the last of them to finish applies the chord's
callback, confirm (mailer), through the Redis result backend. charge fails its first run
and retries (``self.retry``, a 0.5 s countdown: the task is sent again, same id), so it
is the last. confirm then applies ``chain(label, notify_seller)`` (logistics):
notify_seller is sent by label's worker once label is done.

    python -m tests.celery_canvas_shop produce SERVICE N
    python -m tests.celery_canvas_shop work SERVICE QUEUE

Environment: ``REDIS_PORT``, ``OTLP_ENDPOINT`` (gRPC).
"""

from __future__ import annotations

import os
import sys
import time

from celery import Celery, chain, chord
from opentelemetry import trace
from opentelemetry.instrumentation.celery import CeleryInstrumentor

from tests.celery_shop import work
from tests.shop_tracing import export_as

_REDIS = f"redis://127.0.0.1:{os.environ.get('REDIS_PORT', '6379')}"
app = Celery("canvas", broker=f"{_REDIS}/0", backend=f"{_REDIS}/1")
app.conf.update(
    task_routes={"canvas.charge": {"queue": "payments"},
                 "canvas.reserve": {"queue": "stock"},
                 "canvas.confirm": {"queue": "emails"},
                 "canvas.label": {"queue": "logistics"},
                 "canvas.notify_seller": {"queue": "logistics"}},
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="canvas.charge", bind=True, max_retries=3)
def charge(self, order: int) -> str:
    time.sleep(0.01)
    if self.request.retries == 0:
        raise self.retry(countdown=0.5)  # the card processor's first answer: try again
    return f"charged {order}"


@app.task(name="canvas.reserve")
def reserve(order: int) -> str:
    time.sleep(0.02)
    return f"reserved {order}"


@app.task(name="canvas.confirm")
def confirm(results: list[str], order: int) -> None:
    time.sleep(0.005)
    chain(label.si(order), notify_seller.si(order)).delay()


@app.task(name="canvas.label")
def label(order: int) -> str:
    time.sleep(0.01)
    return f"label {order}"


@app.task(name="canvas.notify_seller")
def notify_seller(order: int) -> None:
    time.sleep(0.005)


def main(argv: list[str]) -> None:
    role, service = argv[0], argv[1]
    tp = export_as(service)
    CeleryInstrumentor().instrument()
    if role == "produce":
        tracer = trace.get_tracer("tests.celery_canvas_shop")
        for i in range(int(argv[2])):
            with tracer.start_as_current_span("POST /checkout", kind=trace.SpanKind.SERVER):
                chord([charge.s(i), reserve.s(i)])(confirm.s(i))
        tp.shutdown()
        return
    work(app, service, argv[2])


if __name__ == "__main__":
    main(sys.argv[1:])
