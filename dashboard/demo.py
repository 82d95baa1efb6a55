"""A tiny hand-built choreography, for the dashboard's tests and for trying the UI offline.

``orders`` repetitions of: ``order-service`` takes ``POST /orders`` and publishes to the
``orders`` topic; ``payment-service`` consumes it *in a new trace* tied back by a span link,
calls an external bank API and publishes to ``payments``; ``shipping-service`` consumes that
(again a new trace, again a link) and fails every third time with an exception event. The
payment consumer carries an attribute holding ``<script>alert(1)</script>`` so the UI's
escaping is exercised by real data. Spans go in the way all spans do: as OTLP protobuf
requests through :func:`collector.decode.decode_request`.

Run ``python -m dashboard.demo --db demo.duckdb`` to make a store to point ``serve`` at.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from collector.decode import decode_request

MS = 1_000_000
SCRIPT_TEXT = "<script>alert(1)</script>"
KIND = {"INTERNAL": 1, "SERVER": 2, "CLIENT": 3, "PRODUCER": 4, "CONSUMER": 5}


def _id(seed: str, n: int) -> bytes:
    return hashlib.sha256(seed.encode()).digest()[:n]


def _kv(attrs: dict[str, Any]) -> list[KeyValue]:
    out = []
    for k, v in attrs.items():
        if isinstance(v, bool):
            av = AnyValue(bool_value=v)
        elif isinstance(v, int):
            av = AnyValue(int_value=v)
        else:
            av = AnyValue(string_value=str(v))
        out.append(KeyValue(key=k, value=av))
    return out


def _span(trace: str, name: str, kind: str, start: int, dur_ms: float, *,
          parent: str | None = None, attrs: dict[str, Any] | None = None,
          links: list[tuple[str, str, dict[str, Any]]] = (), error: str | None = None,
          span_key: str | None = None) -> trace_pb2.Span:
    key = span_key or f"{trace}/{name}"
    s = trace_pb2.Span(
        trace_id=_id(trace, 16), span_id=_id(key, 8), name=name, kind=KIND[kind],
        start_time_unix_nano=start, end_time_unix_nano=start + int(dur_ms * MS),
        attributes=_kv(attrs or {}))
    if parent:
        s.parent_span_id = _id(parent, 8)
    for ltrace, lkey, lattrs in links:
        s.links.add(trace_id=_id(ltrace, 16), span_id=_id(lkey, 8), attributes=_kv(lattrs))
    if error:
        s.status.code = trace_pb2.Status.STATUS_CODE_ERROR
        s.status.message = error
        s.events.add(name="exception", time_unix_nano=start + int(dur_ms * MS) - MS,
                     attributes=_kv({"exception.type": "TimeoutError",
                                     "exception.message": error,
                                     "exception.stacktrace": "Traceback...\nTimeoutError"}))
    return s


def _request(service: str, spans: list[trace_pb2.Span]) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(_kv({"service.name": service}))
    ss = rs.scope_spans.add()
    ss.scope.name = "choreoscope.demo"
    ss.spans.extend(spans)
    return req


def demo_requests(orders: int = 6, now_ns: int | None = None) -> list[ExportTraceServiceRequest]:
    """The scenario as export requests; the last order starts about a minute before now."""
    now = time.time_ns() if now_ns is None else now_ns
    out: list[ExportTraceServiceRequest] = []
    for i in range(orders):
        t0 = now - (orders - i) * 10_000 * MS - 60_000 * MS
        ta, tb, tc = f"order-{i}", f"payment-{i}", f"shipping-{i}"
        msg = {"messaging.system": "kafka", "messaging.operation.type": "send"}
        out.append(_request("order-service", [
            _span(ta, "POST /orders", "SERVER", t0, 60,
                  attrs={"http.request.method": "POST", "http.route": "/orders",
                         "order.id": f"o-{i}"}),
            _span(ta, "send orders", "PRODUCER", t0 + 20 * MS, 5, parent=f"{ta}/POST /orders",
                  attrs={**msg, "messaging.destination.name": "orders",
                         "messaging.message.id": f"m-o-{i}"}),
        ]))
        t1 = t0 + (45 + 10 * i) * MS  # queue time grows with i
        out.append(_request("payment-service", [
            _span(tb, "process orders", "CONSUMER", t1, 70,
                  links=[(ta, f"{ta}/send orders", {"messaging.message.id": f"m-o-{i}"})],
                  attrs={"messaging.system": "kafka", "messaging.operation.type": "process",
                         "messaging.destination.name": "orders",
                         "messaging.consumer.group.name": "payments",
                         "messaging.message.id": f"m-o-{i}", "payment.note": SCRIPT_TEXT}),
            _span(tb, "POST /charge", "CLIENT", t1 + 10 * MS, 40, parent=f"{tb}/process orders",
                  attrs={"http.request.method": "POST", "server.address": "api.bank.example",
                         "peer.service": "bank-api"}),
            _span(tb, "send payments", "PRODUCER", t1 + 60 * MS, 4,
                  parent=f"{tb}/process orders",
                  attrs={**msg, "messaging.destination.name": "payments",
                         "messaging.message.id": f"m-p-{i}"}),
        ]))
        t2 = t1 + 64 * MS + 30 * MS
        out.append(_request("shipping-service", [
            _span(tc, "process payments", "CONSUMER", t2, 35,
                  links=[(tb, f"{tb}/send payments", {"messaging.message.id": f"m-p-{i}"})],
                  attrs={"messaging.system": "kafka", "messaging.operation.type": "process",
                         "messaging.destination.name": "payments",
                         "messaging.message.id": f"m-p-{i}"},
                  error="carrier timeout" if i % 3 == 2 else None),
        ]))
    return out


def demo_trace_ids(orders: int = 6) -> dict[str, list[str]]:
    """Hex trace ids of the scenario by step (``order``, ``payment``, ``shipping``)."""
    return {step: [_id(f"{step}-{i}", 16).hex() for i in range(orders)]
            for step in ("order", "payment", "shipping")}


def demo_span_id(trace_key: str, name: str) -> str:
    """Hex span id of the span ``name`` in trace ``trace_key`` (e.g. ``payment-0``)."""
    return _id(f"{trace_key}/{name}", 8).hex()


def load_demo(store: Any, orders: int = 6, now_ns: int | None = None) -> int:
    """Write the scenario into ``store``; returns the number of spans stored."""
    stored = 0
    for req in demo_requests(orders, now_ns):
        stored += store.write(decode_request(req)).stored
    return stored


def main(argv: list[str] | None = None) -> int:
    from choreoscope.store import Store

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--orders", type=int, default=30)
    args = ap.parse_args(argv)
    with Store.open(args.db) as store:
        print(f"stored {load_demo(store, args.orders)} spans in {args.db}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
