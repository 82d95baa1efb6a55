"""The tracing every test shop (tests/*_shop.py) sets up: the official SDK exporting over
OTLP/gRPC to the collector at ``OTLP_ENDPOINT``, span by span, so that nothing is lost when
a test terminates a worker."""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor


def export_as(service: str) -> TracerProvider:
    """The global tracer provider of a process that is ``service``."""
    tp = TracerProvider(resource=Resource.create({"service.name": service}))
    tp.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint=os.environ["OTLP_ENDPOINT"], insecure=True)))
    trace.set_tracer_provider(tp)
    return tp
