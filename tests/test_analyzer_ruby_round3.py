"""Span shapes of more Ruby messaging and job instrumentation, each read from the library's
source and its own tests: opentelemetry-ruby-contrib's aws_sdk (SQS SendMessage and
SendMessageBatch) with its shoryuken worker instrumentation, the current active_job
instrumentation (over GoodJob, Shoryuken and Karafka's ActiveJob adapter; retry_on,
discard_on), and Karafka with WaterDrop, whose only OpenTelemetry integration is the
monitor its documentation shows. Each test builds exactly the spans the libraries export
for a small scenario and checks what the analyzer makes of them. (Sidekiq, resque, que,
delayed_job, rdkafka, racecar, ruby-kafka and bunny are in test_analyzer_go_ruby_jobs.py,
test_analyzer_ruby_more.py and test_analyzer_libraries.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from analyzer import analyze, edge_detail
from tests.analysis_checks import analysed, analysed_each, edges_of, systems_of
from tests.builders import SpanRef, SpanSet

N = 3

_PG = {"db.system": "postgresql", "db.name": "shop_production", "net.peer.name": "pg",
       "net.peer.port": 5432}


def _sql(b: SpanSet, service: str, parent: SpanRef | None, t: float, stmt: str,
         dur: float = 1.5) -> SpanRef:
    """The pg instrumentation's CLIENT span: named by the operation and table."""
    return b.span(service, stmt, kind="CLIENT", parent=parent, start_ms=t, dur_ms=dur,
                  attrs={**_PG, "db.operation": stmt.split()[0],
                         "db.statement": f"{stmt} WHERE id = $1"})


# ---------------------------------------------------------------------- SQS: aws_sdk
# Read from open-telemetry/opentelemetry-ruby-contrib, instrumentation/aws_sdk/lib/
# opentelemetry/instrumentation/aws_sdk/{instrumentation.rb, handler.rb, handler_helper.rb,
# messaging_helper.rb, message_attributes.rb, patches/telemetry.rb}. Every SDK call is one
# span (tracer.in_span) around the whole request; the SDK's own HTTP request under it is
# untraced by default (enable_internal_instrumentation false). SendMessage,
# SendMessageBatch and SNS Publish are PRODUCER spans, ReceiveMessage a CONSUMER span,
# anything else CLIENT. Names: with aws-sdk-core's Telemetry plugin (2024-09 on, the
# instrumentation patches its handler) "SQS.SendMessage.<queue>.Publish"; with older SDKs
# (the instrumentation's own Seahorse handler, legacy) "<queue> publish". Attributes:
# aws.region, rpc.system aws-api, rpc.service, rpc.method, code.function (the SDK method),
# code.namespace ('Aws::Plugins::Telemetry', legacy 'Aws::Plugins::AwsSdk'), and for SQS
# the pre-1.20 messaging names: messaging.system 'aws.sqs', messaging.destination_kind
# queue, messaging.destination (the queue URL's last segment), messaging.url (the URL);
# SNS: messaging.system 'aws.sns', destination_kind topic, destination (the ARN's last
# segment). No message id: the response is not read. The context goes into the message's
# MessageAttributes (each entry's for a batch) only with inject_messaging_context: true;
# it is false by default.
#
# Shoryuken: instrumentation/shoryuken/lib/opentelemetry/instrumentation/shoryuken/
# {instrumentation.rb, middlewares/server/tracer_middleware.rb, patches/fetcher.rb,
# patches/processor.rb}, test/.../middlewares/server/tracer_middleware_test.rb (and the
# review of its first pull request, open-telemetry/opentelemetry-ruby-contrib#536, where the
# extraction error turns up as a logged warning). On startup Fetcher#fetch (ReceiveMessage)
# and Processor#process (the middleware chain, the job, DeleteMessage) are wrapped in
# Common::Utilities.untraced. The server middleware starts a root "<queue> process"
# CONSUMER (tracer.start_root_span: its parent is the empty context, so it is recorded),
# linking the context it extracted if valid: messaging.system 'shoryuken', code.namespace
# the worker class, messaging.message_id the SQS message id, messaging.destination the
# queue, destination_kind queue, messaging.operation process. It extracts with the default
# text map getter from sqs_msg.message_attributes, whose values are the SDK's
# MessageAttributeValue structs ({string_value:, data_type:}), not strings: the
# tracecontext propagator's TraceParent.from_string(struct) raises a TypeError that the
# composite propagator (open-telemetry/opentelemetry-ruby, api/lib/opentelemetry/context/
# propagation/composite_text_map_propagator.rb) logs and swallows. So a Shoryuken job never
# links its send, whatever the sender injected (the aws_sdk gem's own
# MessageAttributeGetter would have read it). And the extracted context is built on the
# current one, which still carries the untraced flag (Common::Utilities.untraced? is read
# from the parent context by the SDK's TracerProvider#internal_start_span): no span the
# job itself starts under it is recorded, only roots.


_REGION = "eu-west-1"
_ACCOUNT = "123456789012"


def _queue_url(queue: str) -> str:
    return f"https://sqs.{_REGION}.amazonaws.com/{_ACCOUNT}/{queue}"


def _aws(method: str, function: str, service: str = "SQS",
         legacy: bool = False) -> dict[str, Any]:
    return {"aws.region": _REGION, "rpc.system": "aws-api", "rpc.service": service,
            "rpc.method": method, "code.function": function,
            "code.namespace": "Aws::Plugins::AwsSdk" if legacy else "Aws::Plugins::Telemetry"}


def _sqs_send(b: SpanSet, service: str, parent: SpanRef, t: float, queue: str, *,
              batch: bool = False, legacy: bool = False, dur: float = 18) -> SpanRef:
    """SQS SendMessage (or SendMessageBatch): one PRODUCER span around the request."""
    method, function = (("SendMessageBatch", "send_message_batch") if batch
                        else ("SendMessage", "send_message"))
    name = f"{queue} publish" if legacy else f"SQS.{method}.{queue}.Publish"
    attrs = {**_aws(method, function, legacy=legacy), "messaging.system": "aws.sqs",
             "messaging.destination_kind": "queue", "messaging.destination": queue,
             "messaging.url": _queue_url(queue)}
    if legacy:
        attrs["http.status_code"] = 200  # (the legacy handler sets it from the response)
    return b.span(service, name, kind="PRODUCER", parent=parent, start_ms=t, dur_ms=dur,
                  attrs=attrs)


def _sqs_message_id(i: int, k: int = 0) -> str:
    return f"5fea7756-0ea4-451a-a703-{i:04x}{k:08x}"


def _shoryuken_job(b: SpanSet, service: str, t: float, queue: str, worker: str,
                   message_id: str, dur: float = 12) -> SpanRef:
    """The server middleware's root "<queue> process" CONSUMER, with no link (see above) and
    nothing recorded inside."""
    return b.span(service, f"{queue} process", kind="CONSUMER", start_ms=t, dur_ms=dur,
                  attrs={"messaging.system": "shoryuken", "code.namespace": worker,
                         "messaging.message_id": message_id,
                         "messaging.destination": queue,
                         "messaging.destination_kind": "queue",
                         "messaging.operation": "process"})


@pytest.mark.parametrize("batch", [False, True], ids=["send_message", "send_message_batch"])
def test_shoryuken_jobs_never_link_the_aws_sdk_send_that_injected_their_context(batch: bool):
    """OrdersController#create sends with inject_messaging_context: true (by default it is
    false and nothing is injected: the same spans). send_message: an older aws-sdk, the
    legacy handler's "orders publish"; send_message_batch of three orders: aws-sdk-core's
    Telemetry plugin, "SQS.SendMessageBatch.orders.Publish", one span injected into every
    entry. Neither names a message id. Shoryuken runs InvoiceWorker once per message under
    a root "orders process" with no link (its extraction fails) and nothing recorded
    inside. Nothing joins a job to its send: the deliveries are reported as a broken
    context, the sends as unconsumed on a queue that has consumers. The queue is an SQS
    queue whichever side names more spans."""
    b = SpanSet()
    per = 3 if batch else 1
    for i in range(N):
        t = i * 1000
        root = b.span("shop-web", "OrdersController#create", kind="SERVER", start_ms=t,
                      dur_ms=45, attrs={"http.method": "POST", "http.route": "/orders"})
        _sql(b, "shop-web", root, t + 3, "INSERT orders")
        _sqs_send(b, "shop-web", root, t + 8, "orders", batch=batch, legacy=not batch,
                  dur=24 if batch else 18)
        for k in range(per):
            _shoryuken_job(b, "shop-worker", t + 140 + 15 * k, "orders", "InvoiceWorker",
                           _sqs_message_id(i, k))
    st = b.store()
    a = analyze(st)
    assert edges_of(a) == {
        "service:shop-web->topic:orders": ("publish", N),
        "topic:orders->service:shop-worker": ("consume", per * N),
        "service:shop-web->external:postgresql": ("call", N),
    }
    consume = a.edge("topic:orders->service:shop-worker")
    assert consume["joined_by"] == {"context": 0, "message_id": 0, "none": per * N, "outside": 0}
    found = {x["type"]: x for x in a.anomalies}
    assert set(found) == {"broken_context", "published_never_consumed"}
    assert (found["broken_context"]["where"], found["broken_context"]["count"],
            found["broken_context"]["stitched"]) == \
        ("topic:orders->service:shop-worker", per * N, 0)
    assert (found["published_never_consumed"]["count"],
            found["published_never_consumed"]["topic_has_consumers"]) == (N, True)
    for e in a.edges:
        assert edge_detail(st, e["id"])["count"] == e["count"], e["id"]
    assert systems_of(a) == {"topic:orders": "aws.sqs"}


# ------------------------------------------------------------------------- ActiveJob
# Read from open-telemetry/opentelemetry-ruby-contrib, instrumentation/active_job/lib/
# opentelemetry/instrumentation/active_job/{handlers.rb, handlers/default.rb,
# handlers/enqueue.rb, handlers/perform.rb, mappers/attribute.rb, patches/base.rb} and
# test/.../handlers/{perform_test.rb, retry_stopped_test.rb}, mappers/attribute_test.rb.
# ActiveSupport notifications become spans: enqueue / enqueue_at.active_job a PRODUCER
# "<queue> publish" (tracer.start_span under the current context, injecting into the job's
# __otel_headers, which patches/base.rb serializes with the job); perform.active_job a
# CONSUMER "<queue> process", by default (propagation_style :link) a root linking the
# extracted context; enqueue_retry, retry_stopped and discard INTERNAL spans named by the
# event ("enqueue_retry.active_job"). Every span gets the mapper's attributes, computed when
# it starts: code.namespace (job class), messaging.system 'active_job', messaging.destination
# (queue), messaging.message.id (the ActiveJob job_id, kept across retries),
# messaging.active_job.adapter.name, and messaging.active_job.message.provider_job_id when
# the adapter has set one (not yet when the enqueue starts). A span that ends unset is set
# OK; an event payload's error sets its span and the job's process span to ERROR.
# Rails' retry_job (activejob/lib/active_job/exceptions.rb) is
# `instrument :enqueue_retry, error:, wait: do enqueue options end`, inside the failed
# perform. GoodJob 4 (bensheldon/good_job, app/models/good_job/job.rb) sets
# provider_job_id = the job row's id, which equals the job_id, and re-saves the same row
# when it retries a job.


def _aj(job_class: str, queue: str, job_id: str, adapter: str,
        provider_job_id: str | None = None) -> dict[str, Any]:
    a = {"code.namespace": job_class, "messaging.system": "active_job",
         "messaging.destination": queue, "messaging.message.id": job_id,
         "messaging.active_job.adapter.name": adapter}
    if provider_job_id is not None:
        a["messaging.active_job.message.provider_job_id"] = provider_job_id
    return a


def _job_id(i: int, k: int = 0) -> str:
    return f"8f1c2a4e-6b3d-4e5f-9a7b-{k:04x}{i:08x}"


def _aj_publish(b: SpanSet, service: str, parent: SpanRef, t: float, queue: str,
                job_class: str, job_id: str, adapter: str, stmt: str | None,
                provider_job_id: str | None = None, dur: float = 4) -> SpanRef:
    """enqueue.active_job's "<queue> publish" around the adapter's enqueue (GoodJob's row
    written inside it)."""
    pub = b.span(service, f"{queue} publish", kind="PRODUCER", parent=parent, start_ms=t,
                 dur_ms=dur, status="OK",
                 attrs=_aj(job_class, queue, job_id, adapter, provider_job_id))
    if stmt:
        _sql(b, service, pub, t + 0.5, stmt, dur=dur - 1)
    return pub


def _aj_process(b: SpanSet, service: str, t: float, dur: float, queue: str, job_class: str,
                job_id: str, adapter: str, link: SpanRef, status: str = "OK",
                provider_job_id: str | None = None) -> SpanRef:
    """perform.active_job's root "<queue> process" linking the job's enqueue."""
    return b.span(service, f"{queue} process", kind="CONSUMER", start_ms=t, dur_ms=dur,
                  status=status, links=[link],
                  attrs=_aj(job_class, queue, job_id, adapter, provider_job_id))


def _http(b: SpanSet, service: str, parent: SpanRef, t: float, dur: float, host: str,
          status: str = "UNSET", code: int | None = 200) -> SpanRef:
    """net_http instrumentation's CLIENT span."""
    a: dict[str, Any] = {"http.method": "POST", "net.peer.name": host, "net.peer.port": 443,
                         "http.scheme": "https", "http.target": "/v1/charges"}
    if code is not None:
        a["http.status_code"] = code
    return b.span(service, "HTTP POST", kind="CLIENT", parent=parent, start_ms=t, dur_ms=dur,
                  status=status, attrs=a)


def test_active_job_on_good_job_names_active_job_the_system_and_links_each_run():
    """InvoiceJob.perform_later from a request with the GoodJob adapter: "default publish"
    (messaging.system active_job, adapter good_job, the job_id as message id, no provider
    id yet) around GoodJob's INSERT; in the worker "default process", a root linking the
    publish, with provider_job_id now set (GoodJob 4: the job_id) and the job's queries.
    GoodJob has no instrumentation of its own: ActiveJob's spans are the only messaging
    spans, joined by context, on a queue whose system is active_job."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        jid = _job_id(i)
        root = b.span("shop-web", "InvoicesController#create", kind="SERVER", start_ms=t,
                      dur_ms=20)
        pub = _aj_publish(b, "shop-web", root, t + 6, "default", "InvoiceJob", jid,
                          "good_job", "INSERT good_jobs")
        proc = _aj_process(b, "shop-worker", t + 210, 25, "default", "InvoiceJob", jid,
                           "good_job", pub, provider_job_id=jid)
        _sql(b, "shop-worker", proc, t + 212, "SELECT orders")
        _sql(b, "shop-worker", proc, t + 216, "INSERT invoices", dur=4)
    a = analysed(b.store(), {
        "service:shop-web->topic:default": ("publish", N),
        "topic:default->service:shop-worker": ("consume", N),
        "service:shop-web->external:postgresql": ("call", N),
        "service:shop-worker->external:postgresql": ("call", 2 * N),
    }, "topic:default->service:shop-worker", p50_ms=25)
    consume = a.edge("topic:default->service:shop-worker")
    assert consume["queue_p50_ms"] == 200 and consume["message_count"] == N
    assert systems_of(a) == {"topic:default": "active_job"}
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 2.0


def test_active_job_retry_on_enqueues_the_job_again_from_its_failed_run():
    """ChargeJob with retry_on Stripe::APIConnectionError, wait: 5.seconds, on GoodJob. The
    first run's charge fails; retry_on's handler calls retry_job: "enqueue_retry.active_job"
    (INTERNAL, the mapper's messaging attributes, ERROR with the exception) inside the
    failed "payments process", and in it a "payments publish" of the same job_id (now with
    its provider id) around GoodJob's UPDATE of the same row. The enqueue_retry error also
    sets the process span ERROR. Five seconds later the second run, a new root linking the
    retry's publish, succeeds. Two deliveries, each of its own publish (no redelivery);
    the worker feeding the queue it consumes is the cycle retries make; the first delivery
    failed. One business transaction over three traces."""
    b = SpanSet()
    q, job = "payments", "ChargeJob"
    for i in range(N):
        t = i * 10_000
        jid = _job_id(i, 1)
        root = b.span("shop-web", "CheckoutsController#create", kind="SERVER", start_ms=t,
                      dur_ms=18)
        pub = _aj_publish(b, "shop-web", root, t + 5, q, job, jid, "good_job",
                          "INSERT good_jobs")
        run1 = _aj_process(b, "shop-worker", t + 150, 2_030, q, job, jid, "good_job", pub,
                           status="ERROR", provider_job_id=jid)
        _http(b, "shop-worker", run1, t + 151, 2_000, "api.stripe.com", status="ERROR",
              code=None)
        retry = b.span("shop-worker", "enqueue_retry.active_job", parent=run1,
                       start_ms=t + 2_160, dur_ms=6, status="ERROR",
                       attrs=_aj(job, q, jid, "good_job", jid))
        again = _aj_publish(b, "shop-worker", retry, t + 2_161, q, job, jid, "good_job",
                            "UPDATE good_jobs", provider_job_id=jid)
        run2 = _aj_process(b, "shop-worker", t + 7_170, 420, q, job, jid, "good_job", again,
                           provider_job_id=jid)
        _http(b, "shop-worker", run2, t + 7_171, 410, "api.stripe.com")
    st = b.store()
    a = analysed_each(st, {
        "service:shop-web->topic:payments": ("publish", N),
        "service:shop-worker->topic:payments": ("publish", N),
        "topic:payments->service:shop-worker": ("consume", 2 * N),
        "service:shop-web->external:postgresql": ("call", N),
        "service:shop-worker->external:postgresql": ("call", N),
        "service:shop-worker->external:api.stripe.com": ("call", 2 * N),
    }, ["topic:payments->service:shop-worker"],
        anomalies=[("cycle", "service:shop-worker -> topic:payments -> service:shop-worker",
                    N)])
    consume = a.edge("topic:payments->service:shop-worker")
    assert consume["error_count"] == N  # the failed first runs
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 3.0
    assert flow["entry_service"] == "shop-web"
    # retry_on's five seconds are the retry's wait on the critical path, not queue time
    waits = {h["kind"]: h["p50_ms"] for h in flow["critical_path"]
             if h["hop"] == "topic:payments->service:shop-worker"}
    assert waits == {"queue": 141.0, "retry": 5005.0}
    assert flow["bottleneck"] == {"hop": "topic:payments->service:shop-worker",
                                  "kind": "retry", "share": flow["bottleneck"]["share"]}


def test_active_job_discard_on_ends_the_only_delivery_in_error():
    """SyncJob with discard_on ActiveJob::DeserializationError (its record was deleted
    before it ran): perform.active_job's "default process" (root linking the publish)
    holds the "discard.active_job" INTERNAL span (the mapper's messaging attributes,
    ERROR with the exception); the discard's error sets the process span ERROR too. The
    job is not enqueued again: one delivery per job, failed, and neither a retry nor a
    redelivery."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        jid = _job_id(i, 2)
        root = b.span("shop-web", "ProductsController#update", kind="SERVER", start_ms=t,
                      dur_ms=16)
        pub = _aj_publish(b, "shop-web", root, t + 4, "default", "SyncJob", jid, "good_job",
                          "INSERT good_jobs")
        proc = _aj_process(b, "shop-worker", t + 90, 5, "default", "SyncJob", jid,
                           "good_job", pub, status="ERROR", provider_job_id=jid)
        b.span("shop-worker", "discard.active_job", parent=proc, start_ms=t + 93,
               dur_ms=0.4, status="ERROR", attrs=_aj("SyncJob", "default", jid, "good_job",
                                                     jid))
    a = analysed(b.store(), {
        "service:shop-web->topic:default": ("publish", N),
        "topic:default->service:shop-worker": ("consume", N),
        "service:shop-web->external:postgresql": ("call", N),
    }, "topic:default->service:shop-worker", p50_ms=5)
    assert a.edge("topic:default->service:shop-worker")["error_count"] == N


def test_active_job_on_shoryuken_joins_by_its_own_context_beside_an_unlinked_wrapper():
    """WelcomeMailJob with config.active_job.queue_adapter = :shoryuken: ActiveJob's
    "default publish" (adapter shoryuken) wraps the adapter's send_message, the aws_sdk
    "SQS.SendMessage.default.Publish" (default config: nothing injected in the message
    attributes; ActiveJob's own context travels in the job payload's __otel_headers). The
    worker's Shoryuken middleware starts its root "default process" for the JobWrapper
    with no link; ActiveJob's "default process" for the job is another root, linking
    ActiveJob's publish (the payload's headers are plain strings). The untraced flag
    Shoryuken's processor set is still in the current context: the mail API call inside
    the job is not recorded. Two deliveries per job (the wrapper's, whose context is
    lost, and the job's, joined by context) of one message each; one publish."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        jid = _job_id(i, 4)
        root = b.span("shop-web", "RegistrationsController#create", kind="SERVER",
                      start_ms=t, dur_ms=40)
        pub = _aj_publish(b, "shop-web", root, t + 5, "default", "WelcomeMailJob", jid,
                          "shoryuken", None, dur=22)
        _sqs_send(b, "shop-web", pub, t + 6, "default", dur=20)
        _shoryuken_job(b, "shop-worker", t + 150, "default",
                       "ActiveJob::QueueAdapters::ShoryukenAdapter::JobWrapper",
                       _sqs_message_id(i, 4), dur=95)
        _aj_process(b, "shop-worker", t + 151, 90, "default", "WelcomeMailJob", jid,
                    "shoryuken", pub)
    st = b.store()
    a = analyze(st)
    assert edges_of(a) == {
        "service:shop-web->topic:default": ("publish", N),
        "topic:default->service:shop-worker": ("consume", 2 * N),
    }
    consume = a.edge("topic:default->service:shop-worker")
    assert consume["joined_by"] == {"context": N, "message_id": 0, "none": N, "outside": 0}
    assert consume["message_count"] == N
    assert [(x["type"], x["where"], x["count"]) for x in a.anomalies] == \
        [("broken_context", "topic:default->service:shop-worker", N)]
    flows = sorted((f["entry_service"], f["count"], f["traces_per_flow"]) for f in a.flows)
    assert flows == [("shop-web", N, 2.0), ("shop-worker", N, 1.0)]
    for e in a.edges:
        assert edge_detail(st, e["id"])["count"] == e["count"], e["id"]


# ------------------------------------------------------------- Karafka and WaterDrop
# Neither karafka/karafka nor karafka/waterdrop ships OpenTelemetry instrumentation: their
# lib/*/instrumentation/vendors hold Datadog, AppSignal, Kubernetes and Prometheus
# listeners only. karafka/wiki Operations/Monitoring-and-Logging.md ("OpenTelemetry")
# documents subclassing Karafka's Monitor so that instrument('consumer.consumed') runs in
# MyAppTracer.in_span("karafka.consumer.consumed", attributes: {'topic' => ..., 'consumer'
# => ...}): an INTERNAL span (no kind given), with no messaging attributes and no context
# taken from the messages. WaterDrop (lib/waterdrop/producer/{async,sync,buffer}.rb) hands
# every message to client.produce(**message), the rdkafka producer, so
# opentelemetry-instrumentation-rdkafka's Producer#produce patch (patches/producer.rb)
# makes one "<topic> publish" PRODUCER per message (messaging.system kafka,
# messaging.destination, destination_kind topic) and injects its context into the headers.
# Karafka 2 polls with its own Connection::ConsumerGroups::Client#batch_poll (kafka.poll),
# not Rdkafka::Consumer#each / #each_batch, the only consumer methods the rdkafka
# instrumentation patches: Karafka's consumers get no delivery span from it.
# Karafka's ActiveJob adapter (lib/active_job/queue_adapters/karafka_adapter.rb,
# lib/karafka/active_job/{dispatcher,consumer}.rb) produces the serialized job (with its
# __otel_headers) to the topic named by the queue with Karafka.producer.produce_async, and
# its consumer runs ::ActiveJob::Base.execute(job) for each message; it sets no
# provider_job_id.

_KAFKA = {"messaging.system": "kafka", "messaging.destination_kind": "topic"}


def _rdkafka_publish(b: SpanSet, service: str, parent: SpanRef, t: float,
                     topic: str) -> SpanRef:
    return b.span(service, f"{topic} publish", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=0.2, attrs={**_KAFKA, "messaging.destination": topic})


def _karafka_consumed(b: SpanSet, service: str, t: float, dur: float, topic: str,
                      consumer: str) -> SpanRef:
    """The documented MonitorWithOpenTelemetry's span around consumer.consumed."""
    return b.span(service, "karafka.consumer.consumed", start_ms=t, dur_ms=dur,
                  attrs={"topic": topic, "consumer": consumer})


def test_active_job_on_karafka_is_one_publish_over_waterdrop_and_one_delivery():
    """WelcomeMailJob (queue_as :emails) with config.active_job.queue_adapter = :karafka:
    ActiveJob's "emails publish" (adapter karafka, no provider id) wraps the dispatcher's
    produce_async, whose rdkafka "emails publish" (kafka) is its child. In the karafka
    server the documented monitor's "karafka.consumer.consumed" root wraps the batch, and
    ActiveJob's "emails process" for the job is a root of its own linking ActiveJob's
    publish (the context came in the job payload, not from the Kafka headers rdkafka wrote).
    One publish and one delivery per job, on the Kafka topic emails."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        jid = _job_id(i, 3)
        root = b.span("shop-web", "RegistrationsController#create", kind="SERVER",
                      start_ms=t, dur_ms=14)
        pub = _aj_publish(b, "shop-web", root, t + 5, "emails", "WelcomeMailJob", jid,
                          "karafka", None, dur=0.6)
        _rdkafka_publish(b, "shop-web", pub, t + 5.2, "emails")
        batch = _karafka_consumed(b, "shop-worker", t + 40, 95, "emails",
                                  "Karafka::ActiveJob::Consumer")
        proc = _aj_process(b, "shop-worker", t + 41, 90, "emails", "WelcomeMailJob", jid,
                           "karafka", pub)
        assert batch.trace_id != proc.trace_id  # (start_root_span)
        _http(b, "shop-worker", proc, t + 45, 80, "api.postmarkapp.com")
    a = analysed(b.store(), {
        "service:shop-web->topic:emails": ("publish", N),
        "topic:emails->service:shop-worker": ("consume", N),
        "service:shop-worker->external:api.postmarkapp.com": ("call", N),
    }, "topic:emails->service:shop-worker", p50_ms=90)
    assert a.edge("topic:emails->service:shop-worker")["message_count"] == N
    assert systems_of(a) == {"topic:emails": "kafka"}


def test_karafka_consumer_with_the_documented_monitor_makes_no_delivery_span():
    """A Rails app produces each order with WaterDrop's produce_many_sync (the order and its
    audit record, two rdkafka "orders publish" spans under the request). The billing
    Karafka app consumes orders with the wiki's MonitorWithOpenTelemetry: one
    "karafka.consumer.consumed" INTERNAL root per batch naming its topic in a plain 'topic'
    attribute, with the batch's inserts and, per message, WaterDrop's produce_async to
    invoices ("invoices publish" children). A plain rdkafka service consumes invoices with
    Consumer#each: "invoices process", child and link of its publish. Nothing marks the
    Karafka side as a delivery: orders is published and never seen consumed, the invoices
    hop is whole, and the business transaction falls apart into two flows."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("shop-web", "OrdersController#create", kind="SERVER", start_ms=t,
                      dur_ms=30)
        for k in range(2):
            _rdkafka_publish(b, "shop-web", root, t + 8 + k, "orders")
        batch = _karafka_consumed(b, "billing", t + 60, 30, "orders", "OrdersConsumer")
        for k in range(2):
            _sql(b, "billing", batch, t + 61 + 12 * k, "INSERT invoices", dur=8)
            pub = _rdkafka_publish(b, "billing", batch, t + 70 + 12 * k, "invoices")
            proc = b.span("mailer", "invoices process", kind="CONSUMER", parent=pub,
                          links=[pub], start_ms=t + 130 + 10 * k, dur_ms=6,
                          attrs={**_KAFKA, "messaging.destination": "invoices",
                                 "messaging.kafka.partition": k,
                                 "messaging.kafka.offset": 100 + i})
            _http(b, "mailer", proc, t + 131 + 10 * k, 4, "api.postmarkapp.com")
    st = b.store()
    a = analyze(st)
    assert edges_of(a) == {
        "service:shop-web->topic:orders": ("publish", 2 * N),
        "service:billing->topic:invoices": ("publish", 2 * N),
        "topic:invoices->service:mailer": ("consume", 2 * N),
        "service:billing->external:postgresql": ("call", 2 * N),
        "service:mailer->external:api.postmarkapp.com": ("call", 2 * N),
    }
    assert a.edge("topic:invoices->service:mailer")["joined_by"] == \
        {"context": 2 * N, "message_id": 0, "none": 0, "outside": 0}
    assert [(x["type"], x["where"], x["count"], x["topic_has_consumers"])
            for x in a.anomalies] == [("published_never_consumed", "topic:orders", 2 * N,
                                       False)]
    assert systems_of(a) == {"topic:orders": "kafka", "topic:invoices": "kafka"}
    assert sorted((f["entry_service"], f["count"]) for f in a.flows) == \
        [("billing", N), ("shop-web", N)]
    for e in a.edges:
        assert edge_detail(st, e["id"])["count"] == e["count"], e["id"]
