"""Build small hand-made span sets and load them into a ``:memory:`` store.

Spans go through the real ingest path (an OTLP ``ExportTraceServiceRequest`` decoded by
:func:`collector.decode.decode_request`), so tests see exactly what the collector stores.

Example::

    b = SpanSet()
    root = b.span("orders", "POST /orders", kind="SERVER", dur_ms=20)
    pub = b.producer("orders", "order-placed", parent=root, start_ms=5, message_id="m1")
    b.consumer("billing", "order-placed", link=pub, start_ms=30, message_id="m1")
    store = b.store()

Times are milliseconds relative to ``SpanSet.base_ns``; ids are generated deterministically.
The interface (``span``, ``producer``, ``consumer``, ``client_call``, ``store``,
``request``) is shared with other test suites: keep it stable.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1 import common_pb2

from choreoscope.store import Store
from collector.decode import decode_request

_KINDS = {"UNSPECIFIED": 0, "INTERNAL": 1, "SERVER": 2, "CLIENT": 3, "PRODUCER": 4,
          "CONSUMER": 5}
_STATUS = {"UNSET": 0, "OK": 1, "ERROR": 2}


@dataclass(frozen=True)
class SpanRef:
    """Identity of a built span (hex ids, as stored)."""

    trace_id: str
    span_id: str


@dataclass
class _Span:
    service: str
    ref: SpanRef
    parent: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status: str
    attrs: dict[str, Any]
    links: list[tuple[SpanRef, dict[str, Any]]] = field(default_factory=list)


def _any_value(v: Any) -> common_pb2.AnyValue:
    if isinstance(v, bool):
        return common_pb2.AnyValue(bool_value=v)
    if isinstance(v, int):
        return common_pb2.AnyValue(int_value=v)
    if isinstance(v, float):
        return common_pb2.AnyValue(double_value=v)
    if isinstance(v, (list, tuple)):  # (an array attribute: RocketMQ's keys, socket.io rooms)
        return common_pb2.AnyValue(array_value=common_pb2.ArrayValue(
            values=[_any_value(x) for x in v]))
    return common_pb2.AnyValue(string_value=str(v))


def _kvs(d: dict[str, Any]) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=k, value=_any_value(v)) for k, v in d.items()
            if v is not None]


class SpanSet:
    """A growing set of spans; every helper returns the new span's :class:`SpanRef`."""

    def __init__(self, base_ns: int | None = None, seed: int = 1) -> None:
        # An hour ago, on a whole second: inside the collector's accepted time range.
        self.base_ns = base_ns if base_ns is not None else (
            (time.time_ns() // 10**9) * 10**9 - 3600 * 10**9)
        self._rng = random.Random(seed)
        self.spans: list[_Span] = []

    # ------------------------------------------------------------------------------ ids
    def new_trace(self) -> str:
        """A fresh trace id (hex)."""
        return "%032x" % self._rng.getrandbits(128)

    def _new_span_id(self) -> str:
        return "%016x" % (self._rng.getrandbits(63) | 1)

    def ms(self, t_ms: float) -> int:
        """Absolute ns timestamp of ``t_ms`` milliseconds after ``base_ns``."""
        return self.base_ns + int(round(t_ms * 1_000_000))

    # ---------------------------------------------------------------------------- spans
    def span(self, service: str, name: str, *, kind: str = "INTERNAL",
             parent: SpanRef | None = None, trace: str | None = None,
             start_ms: float = 0.0, dur_ms: float = 1.0, status: str = "UNSET",
             attrs: dict[str, Any] | None = None,
             links: Iterable[SpanRef | tuple[SpanRef, dict[str, Any]]] = (),
             span_id: str | None = None) -> SpanRef:
        """Add one span. Without ``parent`` or ``trace`` it starts a new trace. ``span_id``
        reuses an id (Zipkin's shared client/server spans)."""
        if parent is not None:
            trace_id = parent.trace_id
        else:
            trace_id = trace or self.new_trace()
        ref = SpanRef(trace_id, span_id or self._new_span_id())
        lk = [(x, {}) if isinstance(x, SpanRef) else (x[0], dict(x[1])) for x in links]
        self.spans.append(_Span(service, ref, parent.span_id if parent else None, name, kind,
                                self.ms(start_ms), self.ms(start_ms + dur_ms), status,
                                dict(attrs or {}), lk))
        return ref

    def producer(self, service: str, topic: str | None, *, parent: SpanRef | None = None,
                 start_ms: float = 0.0, dur_ms: float = 1.0, message_id: str | None = None,
                 system: str = "kafka", legacy: bool = False, kind: str = "PRODUCER",
                 status: str = "UNSET", conversation_id: str | None = None,
                 attrs: dict[str, Any] | None = None,
                 links: Iterable[SpanRef | tuple[SpanRef, dict[str, Any]]] = ()) -> SpanRef:
        """A publish span; ``legacy`` uses pre-1.20 attribute names."""
        a: dict[str, Any] = {"messaging.system": system}
        if legacy:
            a.update({"messaging.destination": topic, "messaging.destination_kind": "topic",
                      "messaging.message_id": message_id,
                      "messaging.conversation_id": conversation_id})
        else:
            a.update({"messaging.destination.name": topic,
                      "messaging.operation.type": "send", "messaging.operation.name": "send",
                      "messaging.message.id": message_id,
                      "messaging.message.conversation_id": conversation_id})
        a.update(attrs or {})
        return self.span(service, f"send {topic or ''}".strip(), kind=kind, parent=parent,
                         start_ms=start_ms, dur_ms=dur_ms, status=status, attrs=a, links=links)

    def consumer(self, service: str, topic: str | None, *, parent: SpanRef | None = None,
                 link: SpanRef | Iterable[SpanRef] | None = None,
                 link_message_ids: Iterable[str] | None = None,
                 start_ms: float = 0.0, dur_ms: float = 1.0, message_id: str | None = None,
                 system: str = "kafka", legacy: bool = False, kind: str = "CONSUMER",
                 operation: str = "process", status: str = "UNSET",
                 conversation_id: str | None = None, group: str | None = None,
                 attrs: dict[str, Any] | None = None) -> SpanRef:
        """A receive/process span tied to its producer by ``parent``, ``link``, both, or
        neither (lost context; then only ``message_id`` can join it)."""
        a: dict[str, Any] = {"messaging.system": system}
        if legacy:
            a.update({"messaging.destination": topic, "messaging.operation": operation,
                      "messaging.message_id": message_id,
                      "messaging.conversation_id": conversation_id,
                      "messaging.kafka.consumer.group": group})
        else:
            a.update({"messaging.destination.name": topic, "messaging.operation.type": operation,
                      "messaging.operation.name": operation,
                      "messaging.message.id": message_id,
                      "messaging.message.conversation_id": conversation_id,
                      "messaging.consumer.group.name": group})
        a.update(attrs or {})
        refs: list[SpanRef] = []
        if isinstance(link, SpanRef):
            refs = [link]
        elif link is not None:
            refs = list(link)
        mids = list(link_message_ids or [])
        links = [(r, {"messaging.message.id": mids[i]} if i < len(mids) else {})
                 for i, r in enumerate(refs)]
        return self.span(service, f"{operation} {topic or ''}".strip(), kind=kind,
                         parent=parent, start_ms=start_ms, dur_ms=dur_ms, status=status,
                         attrs=a, links=links)

    def client_call(self, service: str, target: str | None, *, parent: SpanRef,
                    start_ms: float = 0.0, dur_ms: float = 1.0, server_dur_ms: float | None = None,
                    server_offset_ms: float = 0.0, status: str = "UNSET",
                    server_status: str = "UNSET", peer: dict[str, Any] | None = None,
                    route: str = "/") -> tuple[SpanRef, SpanRef | None]:
        """A CLIENT span and, when ``target`` is a service name, its SERVER child there."""
        client = self.span(service, f"GET {route}", kind="CLIENT", parent=parent,
                           start_ms=start_ms, dur_ms=dur_ms, status=status, attrs=peer or {})
        server = None
        if target is not None:
            sd = server_dur_ms if server_dur_ms is not None else max(dur_ms - 0.2, 0.0)
            server = self.span(target, f"GET {route}", kind="SERVER", parent=client,
                               start_ms=start_ms + server_offset_ms, dur_ms=sd,
                               status=server_status)
        return client, server

    # ---------------------------------------------------------------------------- output
    def request(self, order: str = "asis") -> ExportTraceServiceRequest:
        """All spans as one export request (one ResourceSpans per service and span, so any
        order is representable). ``order``: ``asis``, ``reversed`` or ``shuffled``."""
        spans = list(self.spans)
        if order == "reversed":
            spans.reverse()
        elif order == "shuffled":
            random.Random(7).shuffle(spans)
        req = ExportTraceServiceRequest()
        for s in spans:
            rs = req.resource_spans.add()
            rs.resource.attributes.extend(_kvs({"service.name": s.service}))
            ss = rs.scope_spans.add()
            ss.scope.name = "tests.builders"
            p = ss.spans.add()
            p.trace_id = bytes.fromhex(s.ref.trace_id)
            p.span_id = bytes.fromhex(s.ref.span_id)
            if s.parent:
                p.parent_span_id = bytes.fromhex(s.parent)
            p.name = s.name
            p.kind = _KINDS[s.kind]
            p.start_time_unix_nano = s.start_ns
            p.end_time_unix_nano = s.end_ns
            p.status.code = _STATUS[s.status]
            p.attributes.extend(_kvs(s.attrs))
            for ref, la in s.links:
                lk = p.links.add()
                lk.trace_id = bytes.fromhex(ref.trace_id)
                lk.span_id = bytes.fromhex(ref.span_id)
                lk.attributes.extend(_kvs(la))
        return req

    def store(self, order: str = "asis", batches: int = 1) -> Store:
        """A ``:memory:`` store holding these spans, written in ``batches`` exports."""
        st = Store.open(":memory:")
        if batches <= 1:
            st.write(decode_request(self.request(order)))
            return st
        req = self.request(order)
        n = len(req.resource_spans)
        step = max(1, -(-n // batches))
        for i in range(0, n, step):
            part = ExportTraceServiceRequest()
            part.resource_spans.extend(req.resource_spans[i:i + step])
            st.write(decode_request(part))
        return st
