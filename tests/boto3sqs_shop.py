"""Services on Amazon SQS's API (moto's server on loopback) through boto3, instrumented by
opentelemetry-instrumentation-boto3sqs, for tests/test_real_broker.py: the contrib
instrumentation that carries the trace context in the message attributes, on real
clients, exporting over OTLP/gRPC.

    python -m tests.boto3sqs_shop setup QUEUE...                 # create the queues
    python -m tests.boto3sqs_shop send SERVICE QUEUE N           # N orders, each sent
                                                                 # inside a request's span
    python -m tests.boto3sqs_shop work SERVICE QUEUE N MAX [NEXT]  # receive MAX at most a
                                                                 # call until N were
                                                                 # handled; NEXT: forward

Environment: ``SQS_ENDPOINT`` (moto's address), ``OTLP_ENDPOINT`` (gRPC),
``SQS_SHOP_FAIL_FIRST`` (set: a worker's handler fails each message the first time; the
message, not deleted, comes back once its 1 s visibility timeout is over).

The instrumentation's ``<queue> receive`` CONSUMER span wraps the call; under it, one
``<queue> process`` CONSUMER span per message received, linked to the span that sent it,
which becomes the current span while the application reads that message from the list
and ends when the message is deleted (or received again).
"""

from __future__ import annotations

import os
import sys
import time

from opentelemetry import trace

from tests.shop_tracing import run_role


def _client():  # type: ignore[no-untyped-def]
    import boto3
    return boto3.client("sqs", endpoint_url=os.environ["SQS_ENDPOINT"],
                        region_name="eu-west-1", aws_access_key_id="test",
                        aws_secret_access_key="test")


def _url(sqs, queue: str) -> str:  # type: ignore[no-untyped-def]
    return sqs.get_queue_url(QueueName=queue)["QueueUrl"]


def send(queue: str, n: int) -> None:
    tracer = trace.get_tracer("tests.boto3sqs_shop")
    sqs = _client()
    url = _url(sqs, queue)
    for i in range(n):
        with tracer.start_as_current_span("POST /orders", kind=trace.SpanKind.SERVER):
            sqs.send_message(QueueUrl=url, MessageBody=f'{{"order": {i}}}')


def work(service: str, queue: str, n: int, most: int, forward: str | None) -> None:
    tracer = trace.get_tracer("tests.boto3sqs_shop")
    sqs = _client()
    url = _url(sqs, queue)
    next_url = _url(sqs, forward) if forward else None
    flaky = bool(os.environ.get("SQS_SHOP_FAIL_FIRST"))
    failed: set[str] = set()
    done = 0
    deadline = time.monotonic() + 60
    while done < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"{service}: only {done} of {n} messages")
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=most, WaitTimeSeconds=1)
        for message in got.get("Messages", []):  # (each read makes its process span current)
            try:
                with tracer.start_as_current_span(f"handle {service}"):
                    time.sleep(0.005)
                    if flaky and message["MessageId"] not in failed:
                        failed.add(message["MessageId"])
                        raise RuntimeError("the ledger timed out")
            except RuntimeError:
                # not deleted: SQS delivers it again once its visibility timeout is over
                sqs.change_message_visibility(QueueUrl=url, VisibilityTimeout=1,
                                              ReceiptHandle=message["ReceiptHandle"])
                continue
            if next_url is not None:
                sqs.send_message(QueueUrl=next_url, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            done += 1


def main(argv: list[str]) -> None:
    if argv[0] == "setup":
        sqs = _client()
        for queue in argv[1:]:
            sqs.create_queue(QueueName=queue)
        return
    from opentelemetry.instrumentation.boto3sqs import Boto3SQSInstrumentor

    service = argv[1]
    run_role(service, Boto3SQSInstrumentor().instrument, argv[0], {
        "send": lambda: send(argv[2], int(argv[3])),
        "work": lambda: work(service, argv[2], int(argv[3]), int(argv[4]),
                             argv[5] if len(argv) > 5 else None)})


if __name__ == "__main__":
    main(sys.argv[1:])
