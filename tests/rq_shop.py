"""RQ jobs on a real Redis, instrumented by opentelemetry-instrumentation-rq (a third-party
instrumentation), for tests/test_real_broker.py.

    python -m tests.rq_shop enqueue SERVICE N    # N report jobs on the queue "reports"
    python -m tests.rq_shop work SERVICE         # an RQ worker, until the queue is empty

The worker is RQ's own (it forks a work horse per job, as in production), in burst mode.
Environment: ``REDIS_PORT`` (on 127.0.0.1), ``OTLP_ENDPOINT`` (gRPC).
"""

from __future__ import annotations

import os
import sys
import time

from opentelemetry import trace
from opentelemetry_instrumentation_rq import RQInstrumentor
from redis import Redis
from rq import Queue, Worker

from tests.shop_tracing import run_role

QUEUE = "reports"


def build_report(n: int) -> int:
    """The job: some work, under a span of its own."""
    with trace.get_tracer("tests.rq_shop").start_as_current_span("render report"):
        time.sleep(0.005)
    return n


def enqueue(n: int) -> None:
    queue = Queue(QUEUE, connection=_redis())
    tracer = trace.get_tracer("tests.rq_shop")
    for i in range(n):
        with tracer.start_as_current_span("POST /reports", kind=trace.SpanKind.SERVER):
            # (by its import path: this module runs as __main__ here)
            queue.enqueue("tests.rq_shop.build_report", i)


def _redis() -> Redis:
    return Redis(host="127.0.0.1", port=int(os.environ["REDIS_PORT"]))


def main(argv: list[str]) -> None:
    run_role(argv[1], RQInstrumentor().instrument, argv[0], {
        "enqueue": lambda: enqueue(int(argv[2])),
        "work": lambda: Worker([QUEUE], connection=_redis()).work(burst=True)})


if __name__ == "__main__":
    main(sys.argv[1:])
