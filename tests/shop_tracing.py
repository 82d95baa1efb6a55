"""The tracing every test shop (tests/*_shop.py) sets up: the official SDK exporting over
OTLP/gRPC to the collector at ``OTLP_ENDPOINT`` (or over OTLP/HTTP protobuf to
``OTLP_HTTP_ENDPOINT``, for shops on eventlet, which gRPC does not run under), span by
span, so that nothing is lost when a test terminates a worker."""

from __future__ import annotations

import os
from typing import Callable

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor


def export_as(service: str, http: bool = False) -> TracerProvider:
    """The global tracer provider of a process that is ``service``."""
    tp = TracerProvider(resource=Resource.create({"service.name": service}))
    if http:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HTTPSpanExporter)
        exporter = HTTPSpanExporter(endpoint=os.environ["OTLP_HTTP_ENDPOINT"] + "/v1/traces")
    else:
        exporter = OTLPSpanExporter(endpoint=os.environ["OTLP_ENDPOINT"], insecure=True)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(tp)
    return tp


def run_role(service: str, instrument: Callable[[], None], role: str,
             roles: dict[str, Callable[[], None]], http: bool = False) -> None:
    """Run the shop's ``role`` as ``service``, ``instrument()`` called once the tracer
    provider is set, then export what is left (a role the shop lacks: a readable exit)."""
    run = roles.get(role)
    if run is None:
        raise SystemExit(f"unknown role {role!r}; one of {', '.join(roles)}")
    tp = export_as(service, http)
    instrument()
    try:
        run()
    finally:
        tp.shutdown()
