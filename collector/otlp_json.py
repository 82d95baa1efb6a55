"""OTLP/JSON <-> protobuf, following the OTLP specification's JSON mapping.

OTLP/JSON is proto3 JSON with three differences that a generic parser gets wrong:
trace and span ids are hex strings (not base64), enums may be integers or names, and keys
are lowerCamelCase (the protobuf parser also accepts the original snake_case names).
No I/O here.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.decode import DecodeFailure

_ID_KEYS = {"traceId": 16, "spanId": 8, "parentSpanId": 8,
            "trace_id": 16, "span_id": 8, "parent_span_id": 8}
# Nesting far beyond any real payload is refused before the recursive walk below.
_MAX_DEPTH = 200


def _hex_to_b64(value: Any, size: int, key: str) -> str:
    if not isinstance(value, str):
        raise DecodeFailure(f"{key} must be a hex string, got {type(value).__name__}")
    if value == "":
        return ""
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise DecodeFailure(f"{key} {value[:40]!r} is not hex") from None
    if len(raw) != size:
        # Keep the wrong length: span-level validation rejects just this span (partial success).
        pass
    return base64.b64encode(raw).decode("ascii")


def _convert_ids(node: Any, depth: int = 0) -> None:
    """Rewrite hex ids in place to the base64 form ``json_format`` expects."""
    if depth > _MAX_DEPTH:
        raise DecodeFailure("JSON nested too deeply")
    if isinstance(node, dict):
        for key, value in node.items():
            size = _ID_KEYS.get(key)
            if size is not None:
                node[key] = _hex_to_b64(value, size, key)
            elif isinstance(value, (dict, list)):
                _convert_ids(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, (dict, list)):
                _convert_ids(item, depth + 1)


def parse_json_request(body: bytes | str | dict) -> ExportTraceServiceRequest:
    """Parse one OTLP/JSON ``ExportTraceServiceRequest`` or raise :class:`DecodeFailure`."""
    if isinstance(body, dict):
        doc = body
    else:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise DecodeFailure(f"malformed JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise DecodeFailure("OTLP/JSON body must be a JSON object with resourceSpans")
    try:
        _convert_ids(doc)
    except RecursionError:
        raise DecodeFailure("JSON nested too deeply") from None
    msg = ExportTraceServiceRequest()
    try:
        # Unknown fields are ignored, as the OTLP spec requires of receivers.
        json_format.ParseDict(doc, msg, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as exc:
        raise DecodeFailure(f"invalid OTLP/JSON: {str(exc)[:300]}") from None
    return msg


def _b64_to_hex(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            elif isinstance(value, (dict, list)):
                _b64_to_hex(value)
    elif isinstance(node, list):
        for item in node:
            _b64_to_hex(item)


def request_to_json_dict(req: ExportTraceServiceRequest) -> dict[str, Any]:
    """Encode a request in the OTLP/JSON mapping (hex ids, enum integers, camelCase keys)."""
    doc = json_format.MessageToDict(req, use_integers_for_enums=True)
    _b64_to_hex(doc)
    return doc
