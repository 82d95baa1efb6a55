"""Traces from a real instrumentation library: Celery with opentelemetry-instrumentation-celery,
three processes (a web service and two workers) exporting over OTLP/gRPC to the collector.

Celery's instrumentation names no messaging system and uses the older attribute names
(``messaging.destination``, ``messaging.destination_kind``) on PRODUCER and CONSUMER spans
whose context travels in the task message: what the analyzer must understand without any
help from us.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from analyzer import analyze, flow_for_trace

ROOT = Path(__file__).resolve().parent.parent
N = 4


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.celery_shop", *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_celery_tasks_become_a_choreographed_flow(collector, tmp_path):
    data = tmp_path / "broker"
    (data / "processed").mkdir(parents=True)
    env = {**os.environ, "CELERY_SHOP_DATA": str(data),
           "OTLP_ENDPOINT": collector.endpoints.grpc.removeprefix("http://")}
    workers = [_start(["work", "payments", "payments"], env),
               _start(["work", "mailer", "emails"], env)]
    try:
        producer = _start(["produce", "checkout", str(N)], env)
        out, _ = producer.communicate(timeout=60)
        assert producer.returncode == 0, out.decode(errors="replace")
        # checkout: N x (server + publish); payments: N x (run + publish); mailer: N x run
        deadline = time.monotonic() + 60
        while collector.store.count_spans() < 5 * N and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            try:
                w.wait(10)
            except subprocess.TimeoutExpired:
                w.kill()
    assert collector.store.count_spans() == 5 * N

    a = analyze(collector.store)
    edges = {e["id"]: e for e in a.edges}
    assert {k: (v["type"], v["count"]) for k, v in edges.items()} == {
        "service:checkout->topic:payments": ("publish", N),
        "topic:payments->service:payments": ("consume", N),
        "service:payments->topic:emails": ("publish", N),
        "topic:emails->service:mailer": ("consume", N),
    }
    assert all(e["broken_context_count"] == 0 for e in a.edges if e["type"] == "consume")
    (flow,) = a.flows
    assert flow["count"] == N and flow["style"] == "choreography"
    assert not a.anomalies
    # One flow instance's waterfall holds all three services.
    one = flow_for_trace(collector.store, flow["example_trace_ids"][0])
    assert {s["service_name"] for s in one["spans"]} == {"checkout", "payments", "mailer"}
