"""Span shapes of Elixir's Commanded (opentelemetry_commanded) and Exq (opentelemetry_exq)
instrumentation, and of Rust services on async-nats instrumented with `tracing` +
tracing-opentelemetry (System Initiative's si-data-nats and telemetry-nats crates) and of
apalis job workers with its tracing layer. Each shape was read from the library's source
(cited per test); each test builds exactly those spans for a small scenario and checks what
the analyzer makes of them.

(Searched and not found in the index, so not encoded: an `opentelemetry_brod`,
`opentelemetry_kafka_ex` or `opentelemetry_rabbitmq`/`amqp` hex package; sqlxmq's and fang's
tracing; an opentelemetry-cpp messaging example beyond a small NATS demo.)"""

from __future__ import annotations

from typing import Any

from analyzer import analyze, edge_detail, flow_for_trace
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import flows_of as _flows
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3


def _anomalies(a) -> list[tuple[str, str, int]]:
    return sorted((x["type"], x["where"], x["count"]) for x in a.anomalies)


def _phoenix(b: SpanSet, service: str, t: float, route: str, dur: float) -> SpanRef:
    """opentelemetry_phoenix's (Bandit/Cowboy) SERVER span of the request that starts it."""
    return b.span(service, f"POST {route}", kind="SERVER", start_ms=t, dur_ms=dur,
                  attrs={"http.request.method": "POST", "http.route": route,
                         "http.response.status_code": 201, "url.scheme": "http",
                         "server.address": "localhost", "server.port": 4000})


# ------------------------------------------------------------------- Elixir: Commanded
# Read from open-telemetry/opentelemetry-erlang-contrib, instrumentation/
# opentelemetry_commanded/lib/commanded/{application,aggregate,event_handler,
# process_manager,event_store,middleware,util}.ex, lib/opentelemetry_commanded.ex and
# test/commanded/*_test.exs (the same code as simplebet/opentelemetry_commanded), and from
# commanded/commanded lib/commanded/commands/dispatcher.ex and lib/commanded/
# process_managers/process_manager_instance.ex.
# Every span is a CONSUMER, none a PRODUCER: "commanded.application.dispatch" (a command
# dispatched in the caller's process), "commanded.aggregate.execute" (the aggregate's
# process), "commanded.event.handle" and "commanded.process_manager.handle". Legacy
# attributes: messaging.system "commanded", messaging.operation "receive",
# messaging.destination = the handler module (an atom, exported "Elixir.Bank...."),
# messaging.destination_kind command_handler / aggregate / event_handler / process_manager,
# messaging.message_id = the causation id (the command's uuid; an event's causation id is
# the command that caused it), messaging.conversation_id = the correlation id.
# Context: OpentelemetryCommanded.Middleware's before_dispatch (run after the dispatch span
# started) injects the current context, the dispatch span, into the command's metadata
# "trace_ctx", which the execution context and every event the command produced carry;
# each handler attaches it (safe_context_propagation) before starting its span. A process
# manager dispatches with opts [causation_id, correlation_id] and no metadata: its
# command's dispatch span is a child of the process manager's span.

_APP = "Elixir.Bank.App"
_ACCOUNT = "Elixir.Bank.Accounts.Account"


def _commanded(kind: str, handler: str, corr: str, causation: str,
               **extra: Any) -> dict[str, Any]:
    return {"commanded.application": _APP, "commanded.causation_id": causation,
            "commanded.correlation_id": corr, "messaging.conversation_id": corr,
            "messaging.destination": handler, "messaging.destination_kind": kind,
            "messaging.message_id": causation, "messaging.operation": "receive",
            "messaging.system": "commanded", **extra}


def _dispatch(b: SpanSet, parent: SpanRef, t: float, corr: str, cmd_uuid: str,
              command: str, account: str, version: int, dur: float) -> SpanRef:
    """A command to the Account aggregate: the dispatch span in the caller's process, the
    aggregate's execute span (its child through trace_ctx) in the aggregate's process."""
    d = b.span("bank", "commanded.application.dispatch", kind="CONSUMER", parent=parent,
               start_ms=t, dur_ms=dur,
               attrs=_commanded("command_handler", _ACCOUNT, corr, cmd_uuid,
                                **{"commanded.command": command,
                                   "commanded.function": "execute"}))
    b.span("bank", "commanded.aggregate.execute", kind="CONSUMER", parent=d,
           start_ms=t + 1.5, dur_ms=dur - 3,
           attrs=_commanded("aggregate", _ACCOUNT, corr, cmd_uuid,
                            **{"commanded.command": command, "commanded.function": "execute",
                               "commanded.aggregate_uuid": account,
                               "commanded.aggregate_version": version,
                               "commanded.event_count": 1}))
    return d


def _event(handler: str, kind: str, name: str, event: str, event_id: str, number: int,
           stream: str, corr: str, causation: str, **extra: Any) -> dict[str, Any]:
    return _commanded(kind, handler, corr, causation,
                      **{"commanded.event": event, "commanded.event_id": event_id,
                         "commanded.event_number": number, "commanded.handler_name": name,
                         "commanded.stream_id": stream, "commanded.stream_version": number,
                         **extra})


# Not supported (left alone): Commanded's dispatch and aggregate spans are CONSUMER spans
# naming the aggregate, with no producer anywhere (commands dispatch in process): they
# read as consumers without a producer.


def test_commanded_event_handler_and_process_manager_continue_the_command_trace():
    """A transfer saga (consistency :eventual): the MoneyWithdrawn event the first command
    produced is handled by an event handler ("commanded.event.handle") and a process
    manager ("commanded.process_manager.handle"), both children of the first dispatch span
    (the event's metadata carries its trace_ctx), after it ended. The process manager
    dispatches DepositMoney from its own process: a dispatch span that is its child, with
    the aggregate's execute inside; that command's MoneyDeposited is handled by the event
    handler too. The message ids are causation ids: the first command's uuid is on its
    dispatch, on both handlers of its event, so one id on three destinations is no
    redelivery, and the saga's command back to the Account aggregate is no cycle. One
    transaction, one trace. (Whether a delivery with no producer span but its context
    intact is an anomaly is the previous test's question, not asked again here.)"""
    b = SpanSet()
    saga, notif = "Elixir.Bank.Transfers.TransferSaga", "Elixir.Bank.Notifications"
    for i in range(N):
        t = i * 500
        corr, c1, c2 = f"b802ced4-{i}", f"6f1c0d2e-{i}", f"91aa7e03-{i}"
        src, dst = f"ACC{100 + i}", f"ACC{200 + i}"
        root = _phoenix(b, "bank", t, "/transfers", 14)
        d1 = _dispatch(b, root, t + 2, corr, c1, "Elixir.Bank.Commands.Withdraw", src, 4, 9)
        ev1 = f"e5d0-{i}"
        pm = b.span("bank", "commanded.process_manager.handle", kind="CONSUMER", parent=d1,
                    start_ms=t + 20, dur_ms=16,
                    attrs=_event(saga, "process_manager", "TransferSaga",
                                 "Elixir.Bank.Events.MoneyWithdrawn", ev1, 5, src, corr, c1,
                                 **{"commanded.process_uuid": f"TR{i}",
                                    "commanded.command_count": 1}))
        b.span("bank", "commanded.event.handle", kind="CONSUMER", parent=d1, start_ms=t + 21,
               dur_ms=4, attrs=_event(notif, "event_handler", "Notifications",
                                      "Elixir.Bank.Events.MoneyWithdrawn", ev1, 5, src, corr,
                                      c1))
        d2 = _dispatch(b, pm, t + 22, corr, c2, "Elixir.Bank.Commands.Deposit", dst, 2, 12)
        b.span("bank", "commanded.event.handle", kind="CONSUMER", parent=d2, start_ms=t + 45,
               dur_ms=4, attrs=_event(notif, "event_handler", "Notifications",
                                      "Elixir.Bank.Events.MoneyDeposited", f"a7c1-{i}", 3,
                                      dst, corr, c2))
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        f"topic:{_ACCOUNT}->service:bank": ("consume", 2 * N),
        f"topic:{saga}->service:bank": ("consume", N),
        f"topic:{notif}->service:bank": ("consume", 2 * N),
    }
    assert a.edge(f"topic:{saga}->service:bank")["p50_ms"] == 16.0
    kinds = {x["type"] for x in a.anomalies}
    assert not kinds & {"redelivery", "cycle", "broken_context", "clock_skew"}, kinds
    for e in a.edges:
        assert edge_detail(st, e["id"])["count"] == e["count"], e["id"]
    assert _systems(a) == {f"topic:{_ACCOUNT}": "commanded", f"topic:{saga}": "commanded",
                           f"topic:{notif}": "commanded"}
    assert _flows(a) == [("bank", N, 1.0)]
    flow = flow_for_trace(st, b.spans[0].ref.trace_id)
    assert flow["trace_ids"] == [b.spans[0].ref.trace_id]


# -------------------------------------------------------------------------- Elixir: Exq
# Read from ananthakumaran/opentelemetry_exq, lib/opentelemetry_exq/enqueue_middleware.ex
# (Exq's :enqueue_middleware), lib/opentelemetry_exq/middleware.ex (the worker middleware),
# test/opentelemetry_exq/propagation_test.exs and CHANGELOG.md (0.1.0, semantic
# conventions 1.44). One PRODUCER span per enqueue call, also for Exq.enqueue_all: named
# "send <queue>" when all its jobs go to one queue, else "send" with no destination;
# messaging.operation.type send, messaging.operation.name the Exq call (enqueue,
# enqueue_at, enqueue_in, enqueue_all); a single job's jid as messaging.message.id, a bulk
# call's messaging.batch.message_count instead. The context, injected inside that span, goes
# into every job's meta "trace_propagation_headers". The job's "process <queue>" CONSUMER
# span (jid as message id, retry count, enqueued_at) is with span_relationship :link (the
# default) the root of a new trace linking the send span, with :child its child.

_RECEIPT = "Shop.Workers.Receipt"


def _exq_bulk_send(b: SpanSet, parent: SpanRef, t: float, queue: str | None,
                   jobs: int) -> SpanRef:
    attrs: dict[str, Any] = {"messaging.system": "exq", "messaging.operation.name": "enqueue_all",
                             "messaging.operation.type": "send",
                             "messaging.batch.message_count": jobs,
                             "messaging.exq.enqueue_result": "ok"}
    if queue is not None:
        attrs["messaging.destination.name"] = queue
    return b.span("shop", f"send {queue}" if queue else "send", kind="PRODUCER", parent=parent,
                  start_ms=t, dur_ms=2.5, attrs=attrs)


def _exq_job(b: SpanSet, t: float, queue: str, jid: str, worker: str, *,
             links: list[SpanRef] = (), parent: SpanRef | None = None,
             dur: float = 12.0) -> SpanRef:
    job = b.span("shop-worker", f"process {queue}", kind="CONSUMER", parent=parent,
                 links=links, start_ms=t, dur_ms=dur,
                 attrs={"messaging.system": "exq", "messaging.destination.name": queue,
                        "messaging.operation.name": "process",
                        "messaging.operation.type": "process", "messaging.message.id": jid,
                        "messaging.exq.class": worker, "messaging.exq.retry_count": 0,
                        "messaging.exq.enqueued_at": "2026-10-02T09:14:03.118Z"})
    b.span("shop-worker", "shop.repo.query:orders", kind="CLIENT", parent=job, start_ms=t + 2,
           dur_ms=3, attrs={"db.system": "postgresql", "db.name": "shop_prod"})
    return job


# Not supported (left alone): opentelemetry_exq's enqueue_all is one send span naming no
# queue for jobs to two queues; a publish naming none goes where its deliveries say only
# when they all say one destination.


# Not supported (left alone): a publish is one per producer span; the batch count of a send
# span with no per-message spans is not read as that many messages.


# ------------------------------------------------------------- Rust: async-nats (SI)
# Read from systeminit/si: lib/si-data-nats/src/lib.rs (Client::publish,
# publish_with_headers: #[instrument(name = "nats_client.publish...", level = "debug")]
# with otel.kind producer, otel.name "<subject> publish", legacy messaging.operation
# "publish" and messaging.client_id, messaging.url, the server's info; NatsTxn: publish()
# only queues the message, commit_into_conn() publishes the queue without headers), lib/
# telemetry-nats-rs/src/{make_span,propagation}.rs (NatsMakeSpan: "<subject> receive"
# CONSUMER, messaging.operation "receive", parent set from the message's headers when it
# has any; inject_headers injects Span::current()), lib/dal/src/job/processor/
# nats_processor.rs (push_all_jobs) and lib/dal/src/ws_event.rs (publish_on_commit).
# Spans are tracing spans exported by tracing-opentelemetry (tokio-rs/tracing-opentelemetry
# src/layer.rs: otel.* fields are the span's name, kind and status, not attributes;
# code.* and thread.* are added; follows_from becomes a link).

_NATS = {"messaging.system": "nats", "messaging.client_id": "17",
         "messaging.nats.server.id": "NCUOVAAQHIS6MDOXGU5HPWWYBZPUJ6TBOLS2WXLHOJKQ2DXGBQYL7OV",
         "messaging.nats.server.name": "nats-0", "messaging.nats.server.version": "2.10.22",
         "messaging.url": "nats://nats:4222", "network.peer.address": "10.42.0.17",
         "network.protocol.name": "nats", "network.protocol.version": "1",
         "network.transport": "ip_tcp", "server.address": "0.0.0.0", "server.port": 4222}


def _rust(module: str, line: int, *field_sets: dict[str, Any]) -> dict[str, Any]:
    """What tracing-opentelemetry adds to every span, and the span's own fields (later sets
    override earlier ones)."""
    out: dict[str, Any] = {"code.filepath": f"{module.split('::')[0]}/src/lib.rs",
                           "code.namespace": module, "code.lineno": line, "thread.id": 11,
                           "thread.name": "tokio-runtime-worker", "busy_ns": 120_000,
                           "idle_ns": 40_000}
    for fields in field_sets:
        out.update(fields)
    return out


# Not supported (left alone): System Initiative injects the span current before its publish
# spans exist, so each delivery is a sibling of the publishes under that span; pairing
# siblings one to one needs an order the spans do not give.


def test_si_nats_transaction_publishes_at_commit_without_context():
    """A WsEvent published on commit: Client::transaction() is an #[instrument]ed plain fn,
    so "nats_client.transaction" is an INTERNAL span of microseconds naming the messaging
    system and server but no destination; its NatsTxn keeps Span::none() as tx_span (the
    current_span_for_debug! macro of the version read), so no follows_from link is made.
    txn.publish() only queues the event: "nats_txn.publish", INTERNAL, with
    messaging.destination.name and no system, is no publish though its name ends in one.
    At commit "nats_txn.commit_into_conn" publishes each queued message with
    Client::publish, no headers: the
    "si.workspace_pk.<pk>.event publish" PRODUCER is the only publish, and the subscriber's
    "... receive" span (NatsMakeSpan, no headers, no parent; here in a service of its own)
    starts a trace of its own. One
    publish per event; the deliveries lost their context, honestly reported."""
    b = SpanSet()
    subject = "si.workspace_pk.01HRFEV0S23R1G23RP75QQDCA7.event"
    for i in range(N):
        t = i * 400
        root = b.span("sdf", "POST /api/component/set_property", kind="SERVER", start_ms=t,
                      dur_ms=40, attrs={"http.request.method": "POST",
                                        "http.route": "/api/component/set_property",
                                        "http.response.status_code": 200})
        b.span("sdf", "nats_client.transaction", parent=root, start_ms=t + 1, dur_ms=0.01,
               attrs=_rust("si_data_nats", 520, _NATS))
        b.span("sdf", "nats_txn.publish", parent=root, start_ms=t + 12, dur_ms=0.05,
               attrs=_rust("si_data_nats", 640, {"messaging.destination.name": subject}))
        commit = b.span("sdf", "nats_txn.commit_into_conn", parent=root, start_ms=t + 35,
                        dur_ms=1.2, status="OK", attrs=_rust("si_data_nats", 690))
        b.span("sdf", f"{subject} publish", kind="PRODUCER", parent=commit, start_ms=t + 35.3,
               dur_ms=0.3, status="OK",
               attrs=_rust("si_data_nats", 385, _NATS, {
                   "messaging.destination.name": subject, "messaging.message.body.size": 288,
                   "messaging.operation": "publish"}))
        b.span("sdf-ws", f"{subject} receive", kind="CONSUMER", start_ms=t + 37, dur_ms=0.8,
               attrs=_rust("telemetry_nats::make_span", 150, _NATS, {
                   "messaging.client_id": "23", "messaging.destination.name": subject,
                   "messaging.message.body.size": 288, "messaging.message.envelope.size": 342,
                   "messaging.operation": "receive"}))
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        f"service:sdf->topic:{subject}": ("publish", N),
        f"topic:{subject}->service:sdf-ws": ("consume", N),
    }
    assert _systems(a) == {f"topic:{subject}": "nats"}
    consume = a.edge(f"topic:{subject}->service:sdf-ws")
    assert consume["joined_by"] == {"context": 0, "message_id": 0, "none": N, "outside": 0}
    assert _anomalies(a) == [("broken_context", f"topic:{subject}->service:sdf-ws", N),
                             ("published_never_consumed", f"topic:{subject}", N)]
    for e in a.edges:
        assert edge_detail(st, e["id"])["count"] == e["count"], e["id"]


# --------------------------------------------------------------------------- Rust: apalis
# Read from apalis-dev/apalis, apalis/src/layers/tracing/{mod,make_span,contextual_span,
# otel_context}.rs and the examples that push tasks with and without a TracingContext
# (geofmureithi/apalis packages/apalis-core/src/layers/tracing/ is the 0.x layer: a
# "process" span with current_attempt). TraceLayer wraps each task run in a tracing span
# "task" (task_id, attempt) whose parent is Span::current() of the worker: no otel.kind
# (INTERNAL), no messaging attribute. ContextualTaskSpan (feature opentelemetry) sets its
# parent to the context pushed with the task: OtelTraceContext::current(), the caller's
# current span when it pushed (push_task makes no span of its own). A retried task gets a
# new "task" span per attempt, each restoring the same pushed context.


# Not supported (left alone): apalis' task span is a child of the pushing span in another
# service; a call is keyed by its calling span, so two attempts are one call (errored).

