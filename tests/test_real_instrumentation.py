"""Traces from real instrumentation libraries, exported over OTLP/gRPC to the collector.

Celery with opentelemetry-instrumentation-celery, three processes (a web service and two
workers): Celery's instrumentation names no messaging system and uses the older attribute
names (``messaging.destination``, ``messaging.destination_kind``) on PRODUCER and CONSUMER
spans whose context travels in the task message.

Amazon SQS through botocore with opentelemetry-instrumentation-botocore, two processes: the
sends and polls are CLIENT spans that name the messaging system, the queue and the message
id but no operation, and the context does not travel with the message.

Remoulade with opentelemetry-instrumentation-remoulade, one process on its in-memory broker:
spans that name only their actor, and a delayed retry that is sent twice.

What the analyzer must understand without any help from us.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from analyzer import analyze, edge_detail, flow_for_trace
from tests.analysis_checks import all_joined, one_choreographed_flow

ROOT = Path(__file__).resolve().parent.parent
N = 4


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.celery_shop", *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_celery_tasks_become_a_choreographed_flow(collector, tmp_path):
    data = tmp_path / "broker"
    (data / "processed").mkdir(parents=True)
    check_celery_shop(collector, {**os.environ, "CELERY_SHOP_DATA": str(data)})


def stop_workers(workers: list[subprocess.Popen]) -> None:
    """Terminate workers that serve until told to stop (killed if they do not)."""
    for w in workers:
        w.terminate()
    for w in workers:
        try:
            w.wait(10)
        except subprocess.TimeoutExpired:
            w.kill()


def serve_until_spans(collector, workers: list[subprocess.Popen], produce: Callable[[], None],
                      spans: int) -> None:
    """Call ``produce`` (which runs the producers to their end) while ``workers`` serve,
    wait until the store holds ``spans`` spans (a minute at most), then stop the workers;
    exactly ``spans`` must have arrived."""
    try:
        produce()
        deadline = time.monotonic() + 60
        while collector.store.count_spans() < spans and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop_workers(workers)
    assert collector.store.count_spans() == spans


def check_celery_shop(collector, env: dict[str, str]) -> None:
    """Run the Celery shop on the broker ``env`` names (tests/celery_shop.py), and check
    that its tasks become one choreographed flow through two queues."""
    env = {**env, "OTLP_ENDPOINT": collector.endpoints.grpc.removeprefix("http://")}
    workers = [_start(["work", "payments", "payments"], env),
               _start(["work", "mailer", "emails"], env)]
    def produce() -> None:
        producer = _start(["produce", "checkout", str(N)], env)
        out, _ = producer.communicate(timeout=60)
        assert producer.returncode == 0, out.decode(errors="replace")

    # checkout: N x (server + publish); payments: N x (run + publish); mailer: N x run
    serve_until_spans(collector, workers, produce, 5 * N)

    a = one_choreographed_flow(collector.store, {
        "service:checkout->topic:payments": ("publish", N),
        "topic:payments->service:payments": ("consume", N),
        "service:payments->topic:emails": ("publish", N),
        "topic:emails->service:mailer": ("consume", N),
    }, "checkout")
    (flow,) = a.flows
    # One flow instance's waterfall holds all three services.
    one = flow_for_trace(collector.store, flow["example_trace_ids"][0])
    assert {s["service_name"] for s in one["spans"]} == {"checkout", "payments", "mailer"}


def _run_sqs(args: list[str], env: dict[str, str]) -> None:
    r = subprocess.run([sys.executable, "-m", "tests.sqs_shop", *args], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_botocore_sqs_calls_become_a_queue_joined_by_message_id(collector):
    env = {**os.environ, "OTLP_ENDPOINT": collector.endpoints.grpc.removeprefix("http://")}
    _run_sqs(["send", "orders-api", str(N)], env)      # N x (POST /orders + SendMessage)
    # N x (ReceiveMessage + ship order), each followed by an empty ReceiveMessage
    _run_sqs(["receive", "shipping", str(N)], env)
    deadline = time.monotonic() + 30
    while collector.store.count_spans() < 5 * N and time.monotonic() < deadline:
        time.sleep(0.1)
    assert collector.store.count_spans() == 5 * N

    a = analyze(collector.store)
    edges = {e["id"]: e for e in a.edges}
    # The queue is a node between the two services (not an external peer, not nothing).
    assert {k: (v["type"], v["count"]) for k, v in edges.items()} == {
        "service:orders-api->topic:order-shipments": ("publish", N),
        "topic:order-shipments->service:shipping": ("consume", N),
    }
    consume = edges["topic:order-shipments->service:shipping"]
    # No context crossed the queue: every delivery is found by its message id and reported;
    # the empty polls are no deliveries.
    assert consume["joined_by"] == {"context": 0, "message_id": N, "none": 0, "outside": 0}
    assert edge_detail(collector.store, "topic:order-shipments->service:shipping")["count"] == N
    assert [(x["type"], x["where"], x["count"]) for x in a.anomalies] == [
        ("broken_context", "topic:order-shipments->service:shipping", N)]
    # Producer and consumer traces join into one flow instance per order.
    (flow,) = [f for f in a.flows if f["entry_service"] == "orders-api"]
    assert flow["count"] == N and flow["traces_per_flow"] == 2.0
    assert flow["style"] == "choreography"


def test_remoulade_retry_through_the_delay_queue_is_sent_twice(collector):
    """Remoulade's actors under opentelemetry-instrumentation-remoulade (tests/remoulade_shop.py,
    one service): each order's charge fails once, then succeeds and sends a receipt. The
    spans name the actor, not the queue. A retry is sent twice, with the same message id:
    by the Retries middleware under the failed run's span, to the queue's delay queue, and
    by the worker when the delay is over, at the root of a trace of its own, whose process
    span is its child. The first send is taken by the worker, which traces nothing of it:
    no lost message, as the same message was sent again, and the retry's trace continues
    the order's flow."""
    env = {**os.environ, "OTLP_ENDPOINT": collector.endpoints.grpc.removeprefix("http://")}
    p = subprocess.run([sys.executable, "-m", "tests.remoulade_shop", "run", "shop", str(N)],
                       cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    # N x (POST /orders, send, process, send(retry-1)), N x (send(retry-1),
    # process(retry-1), send, process)
    assert collector.store.count_spans() == 8 * N
    a = all_joined(collector.store, {
        "service:shop->topic:charge_card": ("publish", 3 * N),
        "topic:charge_card->service:shop": ("consume", 2 * N),
        "service:shop->topic:send_receipt": ("publish", N),
        "topic:send_receipt->service:shop": ("consume", N),
    })
    assert {n["id"]: n["system"] for n in a.nodes if n["type"] == "topic"} == {
        "topic:charge_card": "remoulade", "topic:send_receipt": "remoulade"}
    # (a service consuming its own messages: each topic is a cycle of the one service)
    assert [(x["type"], x["where"], x["count"]) for x in a.anomalies] == [
        ("cycle", "service:shop -> topic:charge_card -> service:shop", 2 * N),
        ("cycle", "service:shop -> topic:send_receipt -> service:shop", N)]
    # the retry's trace starts at the worker's root send of the message: it continues the
    # order's flow, by the message id (the context was lost there)
    (flow,) = a.flows
    assert (flow["entry_service"], flow["count"], flow["traces_per_flow"]) == ("shop", N, 2.0)
