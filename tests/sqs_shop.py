"""Amazon SQS calls instrumented by opentelemetry-instrumentation-botocore, for
tests/test_real_instrumentation.py: the real instrumentation on real botocore clients,
exporting over OTLP/gRPC, with no AWS account and no network.

botocore's own ``Stubber`` answers the calls (it validates requests and responses against the
SQS API model); the instrumentation wraps the client call above it, so its spans are the ones
a service talking to SQS exports: CLIENT spans named ``SQS.SendMessage`` /
``SQS.ReceiveMessage`` with ``messaging.system`` = ``aws.sqs``, the queue as the legacy
``messaging.destination``, the message id, and no messaging operation. The trace context is
not carried in the message, as with the plain botocore instrumentation.

    python -m tests.sqs_shop send SERVICE N      # N web requests, each sending one message
    python -m tests.sqs_shop receive SERVICE N   # N polls receiving a message, N empty ones

Environment: ``OTLP_ENDPOINT`` (gRPC). Message ids are derived from the order number, so
the two processes agree on them.
"""

from __future__ import annotations

import sys
import uuid

import botocore.session
from botocore.stub import Stubber
from opentelemetry import trace
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

from tests.shop_tracing import export_as

QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/order-shipments"


def message_id(order: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"order-{order}"))


def _client(service: str):
    tp = export_as(service)
    BotocoreInstrumentor().instrument(tracer_provider=tp)
    client = botocore.session.get_session().create_client(
        "sqs", region_name="eu-west-1", aws_access_key_id="test",
        aws_secret_access_key="test")
    return tp, client


def send(service: str, n: int) -> None:
    tp, client = _client(service)
    tracer = tp.get_tracer("sqs_shop")
    with Stubber(client) as stub:
        for i in range(n):
            body = f'{{"order": {i}}}'
            stub.add_response("send_message", {"MessageId": message_id(i)},
                              {"QueueUrl": QUEUE_URL, "MessageBody": body})
            with tracer.start_as_current_span("POST /orders", kind=trace.SpanKind.SERVER):
                client.send_message(QueueUrl=QUEUE_URL, MessageBody=body)
    tp.shutdown()


def receive(service: str, n: int) -> None:
    """``n`` polls that each receive one message, each followed by a long poll that comes
    back empty (as a consumer loop's polls do when the queue is drained)."""
    tp, client = _client(service)
    tracer = tp.get_tracer("sqs_shop")
    params = {"QueueUrl": QUEUE_URL, "MaxNumberOfMessages": 1}
    with Stubber(client) as stub:
        for i in range(n):
            stub.add_response(
                "receive_message",
                {"Messages": [{"MessageId": message_id(i), "ReceiptHandle": f"rh-{i}",
                               "Body": f'{{"order": {i}}}'}]}, params)
            resp = client.receive_message(**params)
            for _ in resp["Messages"]:
                with tracer.start_as_current_span("ship order"):
                    pass
            stub.add_response("receive_message", {}, params)
            assert not client.receive_message(**params).get("Messages")
    tp.shutdown()


def main(argv: list[str]) -> None:
    cmd, service, n = argv[0], argv[1], int(argv[2])
    {"send": send, "receive": receive}[cmd](service, n)


if __name__ == "__main__":
    main(sys.argv[1:])
