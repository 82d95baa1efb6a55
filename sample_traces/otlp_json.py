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
    """Parse an OTLP/JSON dict (hex or base64 ids) into an ``ExportTraceServiceRequest``."""
    request = ExportTraceServiceRequest()
    ParseDict(_convert_ids(doc, _id_to_b64), request, ignore_unknown_fields=True)
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
