"""Span shapes of job queues kept in PostgreSQL itself (no broker), each read from the
library's source or its own documentation: pg-boss's built-in OpenTelemetry support (Node),
PgQueuer's OpenTelemetryTracing (Python) and litestar-saq's instrumentation of SAQ (Python);
River's otelriver middleware (Go, riverqueue/rivercontrib) is a note (not supported). Each test builds exactly the spans
the library exports for a small scenario and checks what the analyzer makes of them: the
enqueue is a publish to the queue, the job run its delivery, joined by context (or by the
job id when the context was lost), a retried job a redelivery.

(Oban, Solid Queue and GoodJob are in test_analyzer_elixir_php_py.py,
test_analyzer_ruby_php_round5.py and test_analyzer_ruby_round3.py. Graphile Worker and
Procrastinate ship no tracing and no OpenTelemetry instrumentation of them was found; SAQ
itself has none, only litestar-saq's wrapper.)"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from analyzer import analyze, edge_detail
from tests.analysis_checks import analysed as _analysed
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3

_PG = {"db.system": "postgresql", "db.name": "shop", "net.peer.name": "pg",
       "net.peer.port": 5432}


def _sql(b: SpanSet, service: str, parent: SpanRef | None, t: float, statement: str,
         dur: float = 2.0) -> SpanRef:
    """A query of the service's Postgres driver instrumentation (pg, psycopg, pgx)."""
    return b.span(service, f"pg.query:{statement.split()[0]} shop", kind="CLIENT",
                  parent=parent, start_ms=t, dur_ms=dur,
                  attrs={**_PG, "db.statement": statement})


# ---------------------------------------------------------------------------- pg-boss
# Read from timgit/pg-boss: src/telemetry.ts (Telemetry.send / receive / process / settle,
# baseAttributes, spanName) and docs/opentelemetry.md (the span table, "propagateContext",
# retries, publish). A send is a PRODUCER "<op> <queue>" (messaging.system 'pg-boss', the
# job id as messaging.message.id once the single job exists) whose context, with
# propagateContext on, is stored in the job's trace_context column. A worker's handler runs in
# a CONSUMER "process <queue>": for a batch of one its parent is that stored context (the
# context work() was called in is never used), for a larger batch it is a root linking every
# job's send. The worker's polling has no span (its pg queries are roots); queries made in the
# handler, and the completion pg-boss records after it, are children of the process span.

def _boss(op: str, op_type: str, dest: str | None) -> dict[str, Any]:
    a: dict[str, Any] = {"messaging.system": "pg-boss", "messaging.operation.name": op,
                         "messaging.operation.type": op_type,
                         "db.namespace": "shop|pgboss", "pgboss.schema": "pgboss"}
    if dest:
        a["messaging.destination.name"] = dest
    return a


def _boss_send(b: SpanSet, service: str, parent: SpanRef, t: float, queue: str,
               job_id: str) -> SpanRef:
    """boss.send(queue, data): the PRODUCER around the INSERT (its pg query a child)."""
    send = b.span(service, f"send {queue}", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=3, attrs={**_boss("send", "send", queue),
                                   "messaging.message.id": job_id})
    _sql(b, service, send, t + 0.5, "INSERT INTO pgboss.job (id, name, data, ...)")
    return send


def _boss_process(b: SpanSet, service: str, t: float, queue: str, *,
                  job_id: str | None = None, retry_count: int = 0,
                  parent: SpanRef | None = None, links: Iterable[SpanRef] = (),
                  batch: int | None = None, dur: float = 20.0,
                  failed: bool = False) -> SpanRef:
    """Telemetry.process: one job (message id, pgboss.job.retry_count, parent the send) or a
    batch (messaging.batch.message_count, links to every send); the handler's query and
    pg-boss's completion (or failure) query inside."""
    a = _boss("process", "process", queue)
    if batch is None:
        a.update({"messaging.message.id": job_id, "pgboss.job.retry_count": retry_count})
    else:
        a["messaging.batch.message_count"] = batch
    if failed:
        a["error.type"] = "Error"
    span = b.span(service, f"process {queue}", kind="CONSUMER", parent=parent,
                  links=list(links), start_ms=t, dur_ms=dur,
                  status="ERROR" if failed else "UNSET", attrs=a)
    _sql(b, service, span, t + 2, "SELECT * FROM orders WHERE id = $1", dur=4)
    _sql(b, service, span, t + dur - 3, "WITH results AS (UPDATE pgboss.job SET state = ...")
    return span


def test_pg_boss_process_continues_the_trace_of_its_send():
    """propagateContext on, one job at a time: the request's "send receipts" PRODUCER (the
    INSERT under it) and the worker's "process receipts" CONSUMER, a child of the send in the
    request's trace, with the handler's and the completion's queries inside. The worker's
    polling queries run outside any span: roots, no delivery."""
    b = SpanSet()
    for i in range(N):
        t = i * 3_000
        jid = f"5b2a7c1e-0d4f-4a8b-9c3e-7f10000000{i:02d}"
        root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12)
        send = _boss_send(b, "shop", root, t + 4, "receipts", jid)
        _sql(b, "receipts-worker", None, t + 900, "WITH next AS (SELECT id FROM pgboss.job ...",
             dur=3)
        _boss_process(b, "receipts-worker", t + 905, "receipts", job_id=jid, parent=send)
    st = b.store()
    a = _analysed(st, {
        "service:shop->topic:receipts": ("publish", N),
        "topic:receipts->service:receipts-worker": ("consume", N),
        "service:shop->external:postgresql": ("call", N),
        "service:receipts-worker->external:postgresql": ("call", 3 * N),
    }, "topic:receipts->service:receipts-worker", p50_ms=20)
    assert a.edge("topic:receipts->service:receipts-worker")["queue_p50_ms"] == 898.0
    assert _systems(a) == {"topic:receipts": "pg-boss"}
    (flow,) = [f for f in a.flows if f["entry_service"] == "shop"]
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


def test_pg_boss_retried_job_is_processed_again_under_the_same_send():
    """A handler that threw: its process span ends ERROR with error.type, pg-boss records the
    failure and, retries left (retryLimit 2 by default), re-creates the job under the same id
    with its trace_context copied ("the trace context survives retries"): the next attempt is
    another child of the same send, pgboss.job.retry_count 1. One job, delivered twice."""
    b = SpanSet()
    for i in range(N):
        t = i * 5_000
        jid = f"9e4d1a20-66b1-4d0e-8f55-1c20000000{i:02d}"
        root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12)
        send = _boss_send(b, "shop", root, t + 4, "receipts", jid)
        _boss_process(b, "receipts-worker", t + 400, "receipts", job_id=jid, parent=send,
                      dur=9, failed=True)
        _boss_process(b, "receipts-worker", t + 2_400, "receipts", job_id=jid,
                      retry_count=1, parent=send)
    a = _analysed_each(b.store(), {
        "service:shop->topic:receipts": ("publish", N),
        "topic:receipts->service:receipts-worker": ("consume", 2 * N),
        "service:shop->external:postgresql": ("call", N),
        "service:receipts-worker->external:postgresql": ("call", 4 * N),
    }, ["topic:receipts->service:receipts-worker"],
        anomalies=[("redelivery", "topic:receipts->service:receipts-worker", N)])
    assert a.edge("topic:receipts->service:receipts-worker")["error_count"] == N
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


def test_pg_boss_batch_worker_links_the_send_of_every_job():
    """work(queue, { batchSize: 3 }): one "process receipts" per batch, the root of a trace
    of its own with messaging.batch.message_count 3 and a link to each job's send (no message
    id, no parent). One delivery of three messages."""
    b = SpanSet()
    sends = []
    for i in range(3 * N):
        t = i * 400
        root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12)
        sends.append(_boss_send(b, "shop", root, t + 4, "receipts", f"c0ffee00-{i:04d}"))
    for k in range(N):
        _boss_process(b, "receipts-worker", k * 1_200 + 1_000, "receipts",
                      links=sends[3 * k:3 * k + 3], batch=3, dur=30)
    st = b.store()
    a = _analysed(st, {
        "service:shop->topic:receipts": ("publish", 3 * N),
        "topic:receipts->service:receipts-worker": ("consume", N),
        "service:shop->external:postgresql": ("call", 3 * N),
        "service:receipts-worker->external:postgresql": ("call", 2 * N),
    }, "topic:receipts->service:receipts-worker", p50_ms=30)
    consume = a.edge("topic:receipts->service:receipts-worker")
    assert consume["message_count"] == 3 * N and consume["batch_deliveries"] == N
    detail = edge_detail(st, "topic:receipts->service:receipts-worker")
    assert (detail["count"], detail["message_count"]) == (N, 3 * N)


def test_pg_boss_fetch_is_a_receive_linked_to_the_send_and_complete_settles_it():
    """An application that pulls jobs itself: boss.fetch() inside its own span is a CLIENT
    "receive exports" (linked to the job's send; its message id) and boss.complete() a
    CLIENT "complete exports" with messaging.operation.type 'settle': the receive is the
    delivery, the settle no delivery at all."""
    b = SpanSet()
    for i in range(N):
        t = i * 10_000
        jid = f"e1a5b7c9-3d2f-4e6a-8b0c-9d30000000{i:02d}"
        root = b.span("shop", "POST /exports", kind="SERVER", start_ms=t, dur_ms=12)
        send = _boss_send(b, "shop", root, t + 4, "exports", jid)
        job = b.span("exporter", "export-tick", start_ms=t + 5_000, dur_ms=60)
        recv = b.span("exporter", "receive exports", kind="CLIENT", parent=job,
                      start_ms=t + 5_001, dur_ms=3, links=[send],
                      attrs={**_boss("receive", "receive", "exports"),
                             "messaging.message.id": jid})
        _sql(b, "exporter", recv, t + 5_001.5, "WITH next AS (SELECT id FROM pgboss.job ...")
        _sql(b, "exporter", job, t + 5_006, "SELECT * FROM orders WHERE ...", dur=40)
        done = b.span("exporter", "complete exports", kind="CLIENT", parent=job,
                      start_ms=t + 5_050, dur_ms=3,
                      attrs={**_boss("complete", "settle", "exports"),
                             "messaging.message.id": jid})
        _sql(b, "exporter", done, t + 5_050.5, "WITH results AS (UPDATE pgboss.job ...")
    a = _analysed(b.store(), {
        "service:shop->topic:exports": ("publish", N),
        "topic:exports->service:exporter": ("consume", N),
        "service:shop->external:postgresql": ("call", N),
        "service:exporter->external:postgresql": ("call", 3 * N),
    }, "topic:exports->service:exporter", p50_ms=3)
    assert a.edge("topic:exports->service:exporter")["queue_p50_ms"] == 4_994.0
    (flow,) = a.flows  # the request and the exporter's tick that took its job
    assert flow["count"] == N and flow["traces_per_flow"] == 2.0


# Not supported (left alone, see the session note): pg-boss's publish(event) fans out on the
# client: a "publish <event>" PRODUCER span is the parent of a "send <queue>" PRODUCER per
# subscribed queue. A producer span around producer spans of its service for other
# destinations reads as an envelope (Camel's rule): the map shows shop -> each queue, not
# shop -> the event routed to its queues.


# ---------------------------------------------------------------------------- PgQueuer
# Read from janbjorge/pgqueuer: pgqueuer/adapters/tracing/opentelemetry.py (current release
# and the earlier one without messaging.operation.type), pgqueuer/adapters/persistence/
# queries.py (Queries.enqueue: the tracing headers are all computed, so every span has
# ended, before the INSERT runs; retry_job re-queues the same row) and pgqueuer/core/qm.py
# (_dispatch: the process span wraps the executor; a RetryRequested or any other exception
# is caught inside it, so the span still ends OK). The destination is the entrypoint (the
# job's function name); the job id is on the process span only.

def _pgq(op: str, *, typed: bool = True) -> dict[str, Any]:
    a: dict[str, Any] = {"messaging.system": "pgqueuer", "messaging.operation.name": op}
    if typed:
        a["messaging.operation.type"] = op
    return a


def _pgq_process(b: SpanSet, parent: SpanRef, t: float, entrypoint: str, job_id: int, *,
                 typed: bool = True, dur: float = 25.0) -> SpanRef:
    """trace_process: "process <entrypoint>" CONSUMER, parent the creation context from the
    job's headers, the job id (a string) and the payload size."""
    size_key = "messaging.message.body.size" if typed else \
        "messaging.message.payload_size_bytes"
    span = b.span("worker", f"process {entrypoint}", kind="CONSUMER", parent=parent,
                  start_ms=t, dur_ms=dur, status="OK",
                  attrs={**_pgq("process", typed=typed),
                         "messaging.destination.name": entrypoint,
                         "messaging.message.id": str(job_id), size_key: 64})
    _sql(b, "worker", span, t + 2, "UPDATE accounts SET welcomed = true WHERE id = $1")
    return span


def test_pgqueuer_send_span_ends_before_its_insert_and_a_retry_is_a_redelivery():
    """Current release, queries.enqueue("send_welcome", ...): a PRODUCER "send send_welcome"
    (the send is the creation context) that ends before the INSERT, which is the request's
    child beside it. In the worker "process send_welcome" is the send's child. The first
    signup's job raises RetryRequested: caught inside the process span (status OK all the
    same), the row re-queued under the same id and processed again under the same send."""
    b = SpanSet()
    for i in range(N):
        t = i * 2_000
        root = b.span("accounts", "POST /signup", kind="SERVER", start_ms=t, dur_ms=15)
        send = b.span("accounts", "send send_welcome", kind="PRODUCER", parent=root,
                      start_ms=t + 4, dur_ms=0.1,
                      attrs={**_pgq("send"), "messaging.destination.name": "send_welcome"})
        _sql(b, "accounts", root, t + 4.2, "INSERT INTO pgqueuer (priority, entrypoint, ...)")
        _pgq_process(b, send, t + 30, "send_welcome", 100 + i)
        if i == 0:
            _pgq_process(b, send, t + 1_060, "send_welcome", 100 + i)
    a = _analysed_each(b.store(), {
        "service:accounts->topic:send_welcome": ("publish", N),
        "topic:send_welcome->service:worker": ("consume", N + 1),
        "service:accounts->external:postgresql": ("call", N),
        "service:worker->external:postgresql": ("call", N + 1),
    }, ["topic:send_welcome->service:worker"],
        anomalies=[("redelivery", "topic:send_welcome->service:worker", 1)])
    assert _systems(a) == {"topic:send_welcome": "pgqueuer"}
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


def test_pgqueuer_batch_enqueue_is_a_client_send_around_one_create_per_job():
    """The earlier release (no messaging.operation.type, the payload size as
    messaging.message.payload_size_bytes), enqueue of two jobs at once: a CLIENT "send"
    (no destination, messaging.batch.message_count 2) wraps one PRODUCER "create
    <entrypoint>" per job; each create's context goes into its job's headers, so each
    process span is the child of its own create."""
    b = SpanSet()
    for i in range(N):
        t = i * 2_000
        root = b.span("accounts", "POST /signup", kind="SERVER", start_ms=t, dur_ms=15)
        send = b.span("accounts", "send", kind="CLIENT", parent=root, start_ms=t + 4,
                      dur_ms=0.3, attrs={**_pgq("send", typed=False),
                                         "messaging.batch.message_count": 2})
        creates = [b.span("accounts", f"create {ep}", kind="PRODUCER", parent=send,
                          start_ms=t + 4.05 + k * 0.1, dur_ms=0.05,
                          attrs={**_pgq("create", typed=False),
                                 "messaging.destination.name": ep})
                   for k, ep in enumerate(("send_welcome", "sync_crm"))]
        _sql(b, "accounts", root, t + 4.5, "INSERT INTO pgqueuer (priority, entrypoint, ...)")
        _pgq_process(b, creates[0], t + 30, "send_welcome", 200 + 2 * i, typed=False)
        _pgq_process(b, creates[1], t + 35, "sync_crm", 201 + 2 * i, typed=False)
    a = _analysed_each(b.store(), {
        "service:accounts->topic:send_welcome": ("publish", N),
        "service:accounts->topic:sync_crm": ("publish", N),
        "topic:send_welcome->service:worker": ("consume", N),
        "topic:sync_crm->service:worker": ("consume", N),
        "service:accounts->external:postgresql": ("call", N),
        "service:worker->external:postgresql": ("call", 2 * N),
    }, ["topic:send_welcome->service:worker", "topic:sync_crm->service:worker"])
    assert _systems(a) == {"topic:send_welcome": "pgqueuer", "topic:sync_crm": "pgqueuer"}
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


# --------------------------------------------------------------------- SAQ (litestar-saq)
# SAQ (tobymao/saq) has no tracing of its own. Read from cofin/litestar-saq:
# litestar_saq/instrumentation.py (InstrumentedQueue.enqueue, inject_trace_context,
# create_process_span, end_process_span), litestar_saq/base.py (Worker._otel_before_process /
# _otel_after_process) and README.md; and from tobymao/saq saq/queue/base.py (Queue.enqueue
# runs the before_enqueue hooks, then _enqueue serialises and stores the job) and
# saq/queue/postgres.py (job_id is the job's key). InstrumentedQueue's "<queue> publish"
# PRODUCER injects the context into job.meta only after the queue has stored the job: the
# stored job carries none, and the worker's "<queue> process" CONSUMER is a root. Only
# the job id (messaging.message.id on both spans) ties them. With inject_trace_context
# registered as a before_enqueue hook instead, the context is the one current at enqueue.

def _saq_process(b: SpanSet, t: float, key: str, attempts: int, *,
                 parent: SpanRef | None = None, failed: bool = False) -> SpanRef:
    """create_process_span (not made current: the job's own spans are not its children)."""
    a = {"messaging.system": "saq", "messaging.operation.name": "process",
         "messaging.destination.name": "reports", "messaging.message.id": key,
         "saq.job.function": "build_report", "saq.job.attempts": attempts,
         "saq.job.status": "failed" if failed else "complete"}
    return b.span("report-worker", "reports process", kind="CONSUMER", parent=parent,
                  start_ms=t, dur_ms=30, status="ERROR" if failed else "OK", attrs=a)


def test_saq_instrumented_queue_loses_the_context_and_the_job_id_joins_the_run():
    """InstrumentedQueue.enqueue("build_report"): "reports publish" PRODUCER (the INSERT under
    it; the job id set once enqueued) in the request; in the worker "reports process"
    CONSUMER roots with the same job id. The second and third reports fail once and run again
    (saq.job.attempts 2). Every run is joined to its publish by the job id; the context is
    lost every time (the library injects it too late): a broken context, and two deliveries
    of one job are a redelivery."""
    b = SpanSet()
    for i in range(N):
        t = i * 5_000
        key = f"0e9c8f3a-1f2b-11f1-8a6e-0242ac1200{i:02d}"
        root = b.span("reports-api", "POST /reports", kind="SERVER", start_ms=t, dur_ms=15)
        pub = b.span("reports-api", "reports publish", kind="PRODUCER", parent=root,
                     start_ms=t + 3, dur_ms=4,
                     attrs={"messaging.system": "saq", "messaging.operation.name": "publish",
                            "messaging.destination.name": "reports",
                            "saq.job.function": "build_report",
                            "messaging.message.id": key})
        _sql(b, "reports-api", pub, t + 3.5, "INSERT INTO saq_jobs (key, lock_key, ...)")
        if i == 0:
            _saq_process(b, t + 60, key, 1)
        else:
            _saq_process(b, t + 60, key, 1, failed=True)
            _saq_process(b, t + 1_100, key, 2)
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        "service:reports-api->topic:reports": ("publish", N),
        "topic:reports->service:report-worker": ("consume", 2 * N - 1),
        "service:reports-api->external:postgresql": ("call", N),
    }
    consume = a.edge("topic:reports->service:report-worker")
    assert consume["joined_by"] == {"context": 0, "message_id": 2 * N - 1, "none": 0, "outside": 0}
    assert consume["error_count"] == N - 1
    assert sorted((x["type"], x["where"], x["count"]) for x in a.anomalies) == [
        ("broken_context", "topic:reports->service:report-worker", 2 * N - 1),
        ("redelivery", "topic:reports->service:report-worker", N - 1)]
    assert _systems(a) == {"topic:reports": "saq"}
    assert edge_detail(st, "topic:reports->service:report-worker")["count"] == 2 * N - 1
    (flow,) = a.flows  # each request with its job's run(s), joined by the job id
    assert flow["count"] == N and flow["traces_per_flow"] == round((2 + 3 + 3) / 3, 3)


def test_saq_before_enqueue_hook_gives_the_job_the_request_context():
    """The README's other way: no InstrumentedQueue, inject_trace_context registered with
    queue.register_before_enqueue. There is no publish span at all; the job carries the
    context current at enqueue, the request's SERVER span, so "reports process" is that
    span's child in another service: the request enqueued the job, which its worker ran
    (context propagated, not lost)."""
    b = SpanSet()
    for i in range(N):
        t = i * 5_000
        key = f"7a3e55d0-1f2b-11f1-8a6e-0242ac1200{i:02d}"
        root = b.span("reports-api", "POST /reports", kind="SERVER", start_ms=t, dur_ms=15)
        _sql(b, "reports-api", root, t + 3.5, "INSERT INTO saq_jobs (key, lock_key, ...)")
        _saq_process(b, t + 60, key, 1, parent=root)
    a = _analysed(b.store(), {
        "service:reports-api->topic:reports": ("publish", N),
        "topic:reports->service:report-worker": ("consume", N),
        "service:reports-api->external:postgresql": ("call", N),
    }, "topic:reports->service:report-worker", p50_ms=30)
    assert _systems(a) == {"topic:reports": "saq"}
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


# ------------------------------------------------------------------------- Go: River
# Read from riverqueue/rivercontrib otelriver/middleware.go (releases 0.1 to 0.4: InsertMany
# and Work, setStatus; 0.2 made insert_many a PRODUCER and work a CONSUMER and added priority,
# tag, id, created_at, scheduled_at; 0.4 the EnableWorkSpanJobKindSuffix option) and
# otelriver/middleware_test.go, CHANGELOG.md. The spans carry River's own bare keys only (no
# messaging.* attribute: messaging.system 'river' is given to the semantic metrics alone);
# every insert, one job or many, is one "river.insert_many" span. The releases read here
# propagate no context; EnableTracePropagation (a later release whose source is not in the
# index) stores the insert's traceparent in the job's metadata and makes the work span *link*
# to the enqueue span: taken from a user's notes on that option, not from the source.

# Not supported (left alone): otelriver's spans carry River's bare keys only (queue, id,
# kind; no messaging.* attribute), so its work spans name no system or queue; and the
# work span's link to the insert (EnableTracePropagation) could not be read in the source.

