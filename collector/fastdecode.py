"""Fast OTLP decoding: serialized request bytes -> :class:`SpanBatch`.

:func:`decode_bytes` validates the body with upb exactly as :func:`collector.decode.parse_request`
does (so malformed bodies fail the same way), then decodes the wire format with the compiled
``collector._fastdecode`` extension. When the extension is not built (no compiler/Cython at
install time), or it declines a rare construct (e.g. a repeated singular sub-message whose
protobuf merge semantics it does not reproduce), the pure-Python reference decoder is used, so
the result is always identical to ``decode_request(parse_request(body))``.
"""

from __future__ import annotations

import time

import pyarrow as pa

from collector.decode import (
    EVENT_SCHEMA, LINK_SCHEMA, MAX_FUTURE_NS, MIN_TIME_NS, SPAN_SCHEMA, SpanBatch,
    decode_request, parse_request,
)

try:
    from collector._fastdecode import decode_columns as _decode_columns
except ImportError:  # extension not built: pure-Python fallback
    _decode_columns = None

HAVE_FAST: bool = _decode_columns is not None

# How often the compiled decoder declined a body that upb accepted (observability/tests).
fallbacks = 0


def decode_bytes(body: bytes, now_ns: int | None = None) -> SpanBatch:
    """Decode a binary ``ExportTraceServiceRequest``; raises ``DecodeFailure`` if malformed."""
    global fallbacks
    req = parse_request(body)  # upb validation (UTF-8, nesting, wire format)
    now = time.time_ns() if now_ns is None else now_ns
    if _decode_columns is not None:
        try:
            spans, events, links, rejected, reasons = _decode_columns(
                body, now, MIN_TIME_NS, now + MAX_FUTURE_NS)
        except (ValueError, OverflowError):
            fallbacks += 1
        else:
            return SpanBatch(
                pa.Table.from_pydict(spans, schema=SPAN_SCHEMA),
                pa.Table.from_pydict(events, schema=EVENT_SCHEMA),
                pa.Table.from_pydict(links, schema=LINK_SCHEMA),
                rejected, reasons,
            )
    return decode_request(req, now)
