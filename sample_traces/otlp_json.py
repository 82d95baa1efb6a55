"""OTLP/JSON encoding as the OpenTelemetry Collector's file exporter writes it.

The OTLP JSON mapping differs from protobuf's canonical JSON in a few places
(https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding): trace and span ids are
lowercase hex instead of base64, enums are integers, keys are lowerCamelCase and 64-bit
integers are strings.  ``MessageToDict`` gives the last two; this module fixes the ids in both
directions and reads files with one ``ExportTraceServiceRequest`` per line.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any

import orjson
from google.protobuf.json_format import MessageToDict, ParseDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_ID_KEYS = ("traceId", "spanId", "parentSpanId")
_HEX = frozenset("0123456789abcdefABCDEF")


def _spans(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for rs in doc.get("resourceSpans", ()):
        for ss in rs.get("scopeSpans", ()):
            yield from ss.get("spans", ())


def _b64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def _id_to_b64(value: str) -> str:
    # OTLP/JSON says hex; canonical protobuf JSON says base64.  A 16-byte id is 32 hex chars
    # or 24 base64 chars, an 8-byte id 16 hex or 12 base64 chars, so the length tells them apart.
    if len(value) in (16, 32) and _HEX.issuperset(value):
        return base64.b64encode(bytes.fromhex(value)).decode()
    return value


def _convert_ids(doc: dict[str, Any], convert: Any) -> dict[str, Any]:
    for span in _spans(doc):
        for key in _ID_KEYS:
            if span.get(key):
                span[key] = convert(span[key])
        for link in span.get("links", ()):
            for key in ("traceId", "spanId"):
                if link.get(key):
                    link[key] = convert(link[key])
    return doc


def request_to_dict(request: ExportTraceServiceRequest) -> dict[str, Any]:
    """An ``ExportTraceServiceRequest`` as an OTLP/JSON dict (hex ids, integer enums)."""
    doc = MessageToDict(request, use_integers_for_enums=True)
    return _convert_ids(doc, _b64_to_hex)


def request_to_json(request: ExportTraceServiceRequest) -> bytes:
    """Compact OTLP/JSON bytes (no trailing newline) for one request."""
    return orjson.dumps(request_to_dict(request))


def dict_to_request(doc: dict[str, Any]) -> ExportTraceServiceRequest:
    """Parse an OTLP/JSON dict (hex or base64 ids) into an ``ExportTraceServiceRequest``.

    The common lowerCamelCase form is converted by hand -- ``ParseDict`` is pure Python and
    about ten times slower, which matters for million-span replays; anything unusual
    (snake_case keys, enum names instead of integers) falls back to ``ParseDict``.
    """
    try:
        return _fast_parse(doc)
    except _Unusual:
        request = ExportTraceServiceRequest()
        ParseDict(_convert_ids(doc, _id_to_b64), request, ignore_unknown_fields=True)
        return request


class _Unusual(Exception):
    """The document uses a form the fast path does not handle."""


def _id_bytes(value: str) -> bytes:
    if len(value) in (16, 32) and _HEX.issuperset(value):
        return bytes.fromhex(value)
    return base64.b64decode(value)


def _set_any(target: Any, value: dict[str, Any]) -> None:
    for kind, v in value.items():
        if kind == "stringValue":
            target.string_value = v
        elif kind == "intValue":
            target.int_value = int(v)
        elif kind == "boolValue":
            target.bool_value = v
        elif kind == "doubleValue":
            target.double_value = float(v)
        elif kind == "arrayValue":
            arr = target.array_value
            arr.SetInParent()
            for item in v.get("values", ()):
                _set_any(arr.values.add(), item)
        elif kind == "kvlistValue":
            kvl = target.kvlist_value
            kvl.SetInParent()
            _set_attrs(kvl.values, v.get("values", ()))
        elif kind == "bytesValue":
            target.bytes_value = base64.b64decode(v)
        else:
            raise _Unusual(kind)


def _set_attrs(target: Any, attrs: Any) -> None:
    for kv in attrs:
        item = target.add()
        item.key = kv["key"]
        if "value" in kv:
            _set_any(item.value, kv["value"])


_SPAN_KEYS = frozenset(("traceId", "spanId", "parentSpanId", "traceState", "flags", "name", "kind",
                        "startTimeUnixNano", "endTimeUnixNano", "attributes", "droppedAttributesCount",
                        "events", "droppedEventsCount", "links", "droppedLinksCount", "status"))


def _fast_parse(doc: dict[str, Any]) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for rs in doc.get("resourceSpans", ()):
        rs_pb = request.resource_spans.add()
        resource = rs.get("resource")
        if resource is not None:
            rs_pb.resource.SetInParent()
            _set_attrs(rs_pb.resource.attributes, resource.get("attributes", ()))
            rs_pb.resource.dropped_attributes_count = resource.get("droppedAttributesCount", 0)
        rs_pb.schema_url = rs.get("schemaUrl", "")
        for ss in rs.get("scopeSpans", ()):
            ss_pb = rs_pb.scope_spans.add()
            scope = ss.get("scope")
            if scope is not None:
                ss_pb.scope.SetInParent()
                ss_pb.scope.name = scope.get("name", "")
                ss_pb.scope.version = scope.get("version", "")
                _set_attrs(ss_pb.scope.attributes, scope.get("attributes", ()))
            ss_pb.schema_url = ss.get("schemaUrl", "")
            for span in ss.get("spans", ()):
                if not _SPAN_KEYS.issuperset(span) or not isinstance(span.get("kind", 0), int):
                    raise _Unusual("span")
                sp = ss_pb.spans.add()
                sp.trace_id = _id_bytes(span.get("traceId", ""))
                sp.span_id = _id_bytes(span.get("spanId", ""))
                if span.get("parentSpanId"):
                    sp.parent_span_id = _id_bytes(span["parentSpanId"])
                sp.trace_state = span.get("traceState", "")
                sp.flags = span.get("flags", 0)
                sp.name = span.get("name", "")
                sp.kind = span.get("kind", 0)
                sp.start_time_unix_nano = int(span.get("startTimeUnixNano", 0))
                sp.end_time_unix_nano = int(span.get("endTimeUnixNano", 0))
                _set_attrs(sp.attributes, span.get("attributes", ()))
                sp.dropped_attributes_count = span.get("droppedAttributesCount", 0)
                for ev in span.get("events", ()):
                    ev_pb = sp.events.add()
                    ev_pb.time_unix_nano = int(ev.get("timeUnixNano", 0))
                    ev_pb.name = ev.get("name", "")
                    _set_attrs(ev_pb.attributes, ev.get("attributes", ()))
                    ev_pb.dropped_attributes_count = ev.get("droppedAttributesCount", 0)
                sp.dropped_events_count = span.get("droppedEventsCount", 0)
                for link in span.get("links", ()):
                    l_pb = sp.links.add()
                    l_pb.trace_id = _id_bytes(link.get("traceId", ""))
                    l_pb.span_id = _id_bytes(link.get("spanId", ""))
                    l_pb.trace_state = link.get("traceState", "")
                    _set_attrs(l_pb.attributes, link.get("attributes", ()))
                    l_pb.dropped_attributes_count = link.get("droppedAttributesCount", 0)
                    l_pb.flags = link.get("flags", 0)
                sp.dropped_links_count = span.get("droppedLinksCount", 0)
                status = span.get("status")
                if status is not None:
                    if not isinstance(status.get("code", 0), int):
                        raise _Unusual("status")
                    sp.status.SetInParent()
                    sp.status.message = status.get("message", "")
                    sp.status.code = status.get("code", 0)
    return request


def read_requests(path: str | os.PathLike[str]) -> Iterator[ExportTraceServiceRequest]:
    """Yield the requests of an OTLP/JSON file: JSON Lines, or one (pretty-printed) document."""
    with open(path, "rb") as fh:
        # JSON Lines if the first non-empty line is a complete document by itself; otherwise
        # the file is one (pretty-printed) document.
        first_line = b""
        while not first_line:
            first_line = fh.readline()
            if not first_line:
                return  # empty file
            first_line = first_line.strip()
        fh.seek(0)
        try:
            orjson.loads(first_line)
        except orjson.JSONDecodeError:
            yield dict_to_request(orjson.loads(fh.read()))
            return
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({exc})") from None
            yield dict_to_request(doc)
