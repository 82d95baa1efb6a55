"""Decode OTLP trace export requests into columnar span batches.

Pure functions, no I/O: the gRPC and HTTP front ends, the file loader and the benchmarks all
call :func:`decode_request` and hand the result to the store. The output is a
:class:`SpanBatch` of three Arrow tables whose columns match ``choreoscope/sql/schema.sql``.

The hot path is one Python loop over spans. Everything per span that is not needed later is
avoided; attributes are flattened once into JSON text (the analyzer never re-reads them) and
the messaging/peer attributes of current and legacy semantic conventions are folded into
their own columns on the way, because that is the only time we touch every attribute anyway.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import orjson
import pyarrow as pa
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.conventions import (
    EMPTY_IS_ABSENT, NORMALISED_COLUMNS, NORMALISED_KEYS, OPERATION_ALIASES,
    complete_normalised, messaging_fallbacks, service_name,
)
from collector.reply_names import one_reply_name

KIND_NAMES = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
STATUS_NAMES = ("UNSET", "OK", "ERROR")

# Spans whose timestamps fall outside this window are rejected: a zero or garbage timestamp
# would otherwise land in 1970 or 2262 and poison every time window and retention rule.
MIN_TIME_NS = 946_684_800 * 10**9  # 2000-01-01
MAX_FUTURE_NS = 7 * 24 * 3600 * 10**9  # a week ahead of the collector clock
# AnyValue can nest without limit; real attributes never go deeper than a few levels.
MAX_VALUE_DEPTH = 32
INT64_MAX = 2**63 - 1

SPAN_SCHEMA = pa.schema([
    ("trace_id", pa.string()), ("span_id", pa.string()), ("parent_span_id", pa.string()),
    ("trace_state", pa.string()), ("flags", pa.uint32()), ("name", pa.string()),
    ("kind", pa.string()), ("start_time_unix_nano", pa.int64()),
    ("end_time_unix_nano", pa.int64()), ("status_code", pa.string()),
    ("status_message", pa.string()), ("service_name", pa.string()),
    ("attributes", pa.string()), ("dropped_attributes_count", pa.uint32()),
    ("dropped_events_count", pa.uint32()), ("dropped_links_count", pa.uint32()),
    ("event_count", pa.uint32()), ("link_count", pa.uint32()),
    ("resource_attributes", pa.string()), ("resource_schema_url", pa.string()),
    ("resource_dropped_attributes_count", pa.uint32()), ("scope_name", pa.string()),
    ("scope_version", pa.string()), ("scope_attributes", pa.string()),
    ("scope_schema_url", pa.string()), ("scope_dropped_attributes_count", pa.uint32()),
    ("msg_system", pa.string()), ("msg_destination", pa.string()),
    ("msg_destination_kind", pa.string()), ("msg_operation_type", pa.string()),
    ("msg_operation_name", pa.string()), ("msg_message_id", pa.string()),
    ("msg_conversation_id", pa.string()), ("msg_consumer_group", pa.string()),
    ("msg_batch_count", pa.int64()), ("peer_service", pa.string()),
    ("server_address", pa.string()), ("db_system", pa.string()),
    ("ingested_at_unix_nano", pa.int64()),
])
EVENT_SCHEMA = pa.schema([
    ("trace_id", pa.string()), ("span_id", pa.string()), ("seq", pa.uint32()),
    ("time_unix_nano", pa.int64()), ("name", pa.string()), ("attributes", pa.string()),
    ("dropped_attributes_count", pa.uint32()),
])
LINK_SCHEMA = pa.schema([
    ("trace_id", pa.string()), ("span_id", pa.string()), ("seq", pa.uint32()),
    ("linked_trace_id", pa.string()), ("linked_span_id", pa.string()),
    ("trace_state", pa.string()), ("flags", pa.uint32()), ("attributes", pa.string()),
    ("dropped_attributes_count", pa.uint32()), ("msg_message_id", pa.string()),
])


class DecodeFailure(ValueError):
    """The request as a whole cannot be decoded (answered with HTTP 400 / INVALID_ARGUMENT)."""


@dataclass
class SpanBatch:
    """Decoded spans of one or more requests, ready for the store."""

    spans: pa.Table
    events: pa.Table
    links: pa.Table
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def span_count(self) -> int:
        return self.spans.num_rows

    def rejection_message(self) -> str:
        """Human-readable summary of why spans were rejected ('' when none were)."""
        return rejection_message(self.reasons)


def rejection_message(reasons: dict[str, int]) -> str:
    """``"3 spans with invalid ids; 1 ..."``: rejection counts by reason, '' when none."""
    return "; ".join(f"{n} {why}" for why, n in sorted(reasons.items()))


def any_value(v: Any, depth: int = 0) -> Any:
    """Convert an OTLP ``AnyValue`` to a JSON-able Python value (bytes as base64 text)."""
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "string_value" or which == "bool_value" or which == "double_value":
        return getattr(v, which)
    if which == "int_value":
        return v.int_value
    if depth >= MAX_VALUE_DEPTH:
        return "<nested deeper than %d levels, truncated>" % MAX_VALUE_DEPTH
    if which == "array_value":
        return [any_value(x, depth + 1) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value, depth + 1) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode("ascii")
    return None


def bytes_text(raw: bytes) -> str:
    """A normalised column's value sent as bytes: its UTF-8 text (FastStream's Redis
    instrumentation names a channel by the bytes Redis gave it), else base64 as in the
    attributes' JSON."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii")


def attributes_dict(attrs: Iterable[Any]) -> dict[str, Any]:
    """Flatten a repeated ``KeyValue`` into a dict (a later duplicate key wins, as in the SDK)."""
    return {kv.key: any_value(kv.value) for kv in attrs}


def _json(d: dict[str, Any]) -> str | None:
    # OPT_NON_STR_KEYS never needed (keys are str); NaN/Infinity become null, as JSON requires.
    return orjson.dumps(d).decode() if d else None


def parse_request(body: bytes) -> ExportTraceServiceRequest:
    """Parse a binary protobuf ``ExportTraceServiceRequest`` or raise :class:`DecodeFailure`."""
    try:
        return ExportTraceServiceRequest.FromString(body)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise DecodeFailure(f"malformed OTLP protobuf: {exc}") from None


def decode_request(req: ExportTraceServiceRequest, now_ns: int | None = None) -> SpanBatch:
    """Turn a parsed export request into a :class:`SpanBatch`, rejecting invalid spans.

    Invalid spans (ids of the wrong length or all zero, missing or impossible timestamps) are
    counted in ``rejected`` with a reason, so the caller can answer with OTLP partial success
    while keeping every valid span of the same request.
    """
    now = time.time_ns() if now_ns is None else now_ns
    max_time = now + MAX_FUTURE_NS
    cols: dict[str, list[Any]] = {f.name: [] for f in SPAN_SCHEMA}
    ev: dict[str, list[Any]] = {f.name: [] for f in EVENT_SCHEMA}
    lk: dict[str, list[Any]] = {f.name: [] for f in LINK_SCHEMA}
    reasons: dict[str, int] = {}
    rejected = 0
    normalised = NORMALISED_KEYS
    aliases = OPERATION_ALIASES
    kinds, statuses = KIND_NAMES, STATUS_NAMES
    # Bind list.append methods once: this loop runs for every span we ever store.
    a = {name: col.append for name, col in cols.items()}

    for rs in req.resource_spans:
        res = rs.resource
        res_attrs = attributes_dict(res.attributes)
        service = service_name(res_attrs)
        res_json = _json(res_attrs)
        res_schema = rs.schema_url or None
        res_dropped = res.dropped_attributes_count
        for ss in rs.scope_spans:
            scope = ss.scope
            scope_name = scope.name or None
            scope_version = scope.version or None
            scope_json = _json(attributes_dict(scope.attributes))
            scope_schema = ss.schema_url or None
            scope_dropped = scope.dropped_attributes_count
            for s in ss.spans:
                tid, sid, pid = s.trace_id, s.span_id, s.parent_span_id
                start, end = s.start_time_unix_nano, s.end_time_unix_nano
                why = None
                if len(tid) != 16 or not any(tid):
                    why = "spans with an invalid trace_id (need 16 non-zero bytes)"
                elif len(sid) != 8 or not any(sid):
                    why = "spans with an invalid span_id (need 8 non-zero bytes)"
                elif pid and len(pid) != 8:
                    why = "spans with an invalid parent_span_id (need 8 bytes)"
                elif start < MIN_TIME_NS or start > max_time:
                    why = "spans with a start time before 2000 or more than 7 days ahead"
                elif end < start:
                    why = "spans that end before they start"
                elif end > INT64_MAX:
                    why = "spans with an end time out of range"
                if why is not None:
                    rejected += 1
                    reasons[why] = reasons.get(why, 0) + 1
                    continue
                th, sh = tid.hex(), sid.hex()
                attrs: dict[str, Any] = {}
                norm: dict[str, Any] = {}
                prio: dict[str, int] = {}
                raw: dict[str, tuple[Any, bytes]] | None = None  # columns sent as bytes
                for kv in s.attributes:
                    key = kv.key
                    val = any_value(kv.value)
                    attrs[key] = val
                    hit = normalised.get(key)
                    if hit is not None and val is not None \
                            and not (val == "" and key in EMPTY_IS_ABSENT):
                        col, p = hit
                        if p < prio.get(col, 99):
                            prio[col] = p
                            norm[col] = val
                            if kv.value.WhichOneof("value") == "bytes_value":
                                raw = raw or {}
                                raw[col] = (val, kv.value.bytes_value)
                if "msg_operation_type" not in norm:
                    # (filling in only: a message id the span names by the conventions'
                    # key stays, beside a library's own, as the compiled decoder has it)
                    for col, val in messaging_fallbacks(attrs, s.name, norm.get("msg_system"),
                                                        "msg_destination" in norm).items():
                        norm.setdefault(col, val)
                complete_normalised(norm, prio, attrs, s.kind)
                if raw:
                    # (after the rules above, which read names sent as text only)
                    for col, (b64, rb) in raw.items():
                        if norm.get(col) is b64:
                            norm[col] = bytes_text(rb)
                a["trace_id"](th)
                a["span_id"](sh)
                # A span naming itself as its parent (broken instrumentation; Zipkin's
                # translator drops such a parent too) has none: it would be nested in itself.
                a["parent_span_id"](pid.hex() if pid and any(pid) and pid != sid else None)
                a["trace_state"](s.trace_state or None)
                a["flags"](s.flags)
                a["name"](s.name)
                a["kind"](kinds[s.kind] if 0 <= s.kind < 6 else "UNSPECIFIED")
                a["start_time_unix_nano"](start)
                a["end_time_unix_nano"](end)
                st = s.status
                a["status_code"](statuses[st.code] if 0 <= st.code < 3 else "UNSET")
                a["status_message"](st.message or None)
                a["service_name"](service)
                a["attributes"](_json(attrs))
                a["dropped_attributes_count"](s.dropped_attributes_count)
                a["dropped_events_count"](s.dropped_events_count)
                a["dropped_links_count"](s.dropped_links_count)
                a["resource_attributes"](res_json)
                a["resource_schema_url"](res_schema)
                a["resource_dropped_attributes_count"](res_dropped)
                a["scope_name"](scope_name)
                a["scope_version"](scope_version)
                a["scope_attributes"](scope_json)
                a["scope_schema_url"](scope_schema)
                a["scope_dropped_attributes_count"](scope_dropped)
                a["ingested_at_unix_nano"](now)
                _append_normalised(a, norm, aliases)
                n_ev = 0
                for e in s.events:
                    ev["trace_id"].append(th)
                    ev["span_id"].append(sh)
                    ev["seq"].append(n_ev)
                    et = e.time_unix_nano
                    ev["time_unix_nano"].append(et if et <= INT64_MAX else None)
                    ev["name"].append(e.name)
                    ev["attributes"].append(_json(attributes_dict(e.attributes)))
                    ev["dropped_attributes_count"].append(e.dropped_attributes_count)
                    n_ev += 1
                n_lk = 0
                for link in s.links:
                    ltid, lsid = link.trace_id, link.span_id
                    if len(ltid) != 16 or len(lsid) != 8:
                        # A link we cannot resolve is useless for joining; count it as dropped
                        # rather than rejecting the whole span.
                        reasons["links with invalid ids dropped"] = reasons.get(
                            "links with invalid ids dropped", 0) + 1
                        continue
                    la = attributes_dict(link.attributes)
                    mid = la.get("messaging.message.id", la.get("messaging.message_id"))
                    lk["trace_id"].append(th)
                    lk["span_id"].append(sh)
                    lk["seq"].append(n_lk)
                    lk["linked_trace_id"].append(ltid.hex())
                    lk["linked_span_id"].append(lsid.hex())
                    lk["trace_state"].append(link.trace_state or None)
                    lk["flags"].append(link.flags)
                    lk["attributes"].append(_json(la))
                    lk["dropped_attributes_count"].append(link.dropped_attributes_count)
                    lk["msg_message_id"].append(None if mid is None else str(mid))
                    n_lk += 1
                a["event_count"](n_ev)
                a["link_count"](n_lk)
    return SpanBatch(
        one_reply_name(pa.Table.from_pydict(cols, schema=SPAN_SCHEMA)),
        pa.Table.from_pydict(ev, schema=EVENT_SCHEMA),
        pa.Table.from_pydict(lk, schema=LINK_SCHEMA),
        rejected, reasons,
    )


def _append_normalised(a: dict[str, Any], norm: dict[str, Any], aliases: dict[str, str]) -> None:
    """Append one value per normalised column (None where the span had no such attribute)."""
    for col in NORMALISED_COLUMNS:
        v = norm.get(col)
        if v is None:
            a[col](None)
        elif col == "msg_batch_count":
            a[col](_to_int(v))
        elif col == "msg_operation_type":
            s = str(v).lower()
            a[col](aliases.get(s, s))
        elif col == "msg_destination_kind" and isinstance(v, bool):
            a[col]("temporary" if v else None)
        elif isinstance(v, (dict, list)):
            a[col](orjson.dumps(v).decode())
        else:
            a[col](str(v) if not isinstance(v, str) else v)


def _to_int(v: Any) -> int | None:
    try:
        n = int(v)
    except (TypeError, ValueError, OverflowError):
        return None
    return n if -INT64_MAX - 1 <= n <= INT64_MAX else None
