"""Shared helpers of the benchmarks: realistic requests, a collector in a child process."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.otlp_fixtures import kv as _kv  # the same KeyValue builder the tests use

ROOT = Path(__file__).resolve().parent.parent


def realistic_request(n_spans: int, rng: random.Random, now_ns: int) -> bytes:
    """One serialized export of ``n_spans`` spans as an SDK batch processor would send it:
    a realistic resource and scope, ~10 attributes a span, some events and links."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    svc = rng.choice(["order-service", "payment-service", "inventory-service"])
    rs.resource.attributes.extend([
        _kv("service.name", svc), _kv("service.version", "2.3.1"),
        _kv("service.namespace", "shop"), _kv("deployment.environment", "prod"),
        _kv("host.name", f"node-{rng.randint(1, 9)}"), _kv("telemetry.sdk.name", "opentelemetry"),
        _kv("telemetry.sdk.language", "python"), _kv("telemetry.sdk.version", "1.27.0"),
        _kv("process.pid", rng.randint(100, 9999))])
    rs.schema_url = "https://opentelemetry.io/schemas/1.26.0"
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.confluent_kafka"
    ss.scope.version = "0.48b0"
    trace = os.urandom(16)
    for i in range(n_spans):
        if i % 8 == 0:
            trace = rng.randbytes(16)
        s = ss.spans.add()
        s.trace_id = trace
        s.span_id = rng.randbytes(8)
        if i % 8:
            s.parent_span_id = rng.randbytes(8)
        kind = rng.choice([2, 3, 4, 5, 1])
        s.kind = kind
        topic = rng.choice(["order.placed", "payment.completed", "shipment.scheduled"])
        s.name = f"{'publish' if kind == 4 else 'process'} {topic}"
        s.start_time_unix_nano = now_ns + i * 1000
        s.end_time_unix_nano = s.start_time_unix_nano + rng.randint(10**5, 10**8)
        s.attributes.extend([
            _kv("messaging.system", "kafka"), _kv("messaging.destination.name", topic),
            _kv("messaging.operation.type", "send" if kind == 4 else "process"),
            _kv("messaging.message.id", f"{rng.getrandbits(48):x}"),
            _kv("messaging.kafka.message.key", f"order-{rng.randint(1, 10**6)}"),
            _kv("messaging.destination.partition.id", str(rng.randint(0, 11))),
            _kv("server.address", "kafka-0.kafka.svc"), _kv("server.port", 9092),
            _kv("code.function", "handle"), _kv("thread.id", rng.randint(1, 64))])
        if i % 10 == 0:
            e = s.events.add()
            e.name = "exception"
            e.time_unix_nano = s.start_time_unix_nano + 50
            e.attributes.extend([_kv("exception.type", "TimeoutError"),
                                 _kv("exception.message", "broker timeout")])
            s.status.code = 2
        if i % 6 == 0:
            ln = s.links.add()
            ln.trace_id = rng.randbytes(16)
            ln.span_id = rng.randbytes(8)
            ln.attributes.append(_kv("messaging.message.id", f"{rng.getrandbits(48):x}"))
    return req.SerializeToString()


def start_collector(db: Path, *extra: str) -> tuple[subprocess.Popen, str, str]:
    """`choreoscope serve --no-ui` in a child process; returns (proc, grpc addr, http url)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "choreoscope.cli", "serve", "--db", str(db), "--grpc-port", "0",
         "--http-port", "0", "--no-ui", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    grpc_addr = http = None
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline and not (grpc_addr and http):
        line = proc.stdout.readline()
        if not line:
            break
        if m := re.search(r"OTLP/gRPC\s+http://(\S+)", line):
            grpc_addr = m.group(1)
        if m := re.search(r"OTLP/HTTP\s+(http://\S+)/v1/traces", line):
            http = m.group(1)
    if not (grpc_addr and http):
        proc.kill()
        raise RuntimeError("collector did not start")
    return proc, grpc_addr, http
