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
from collector.reply_names import one_reply_name

try:
    from collector._fastdecode import decode_arrays as _decode_arrays
except ImportError:  # extension not built (or built against other schemas): pure Python
    _decode_arrays = None

HAVE_FAST: bool = _decode_arrays is not None

# How often the compiled decoder declined a body that upb accepted (observability/tests).
fallbacks = 0


def decode_bytes(body: bytes, now_ns: int | None = None) -> SpanBatch:
    """Decode a binary ``ExportTraceServiceRequest``; raises ``DecodeFailure`` if malformed."""
    global fallbacks
    req = parse_request(body)  # upb validation (UTF-8, nesting, wire format)
    now = time.time_ns() if now_ns is None else now_ns
    if _decode_arrays is not None:
        try:
            spans, events, links, rejected, reasons = _decode_arrays(
                body, now, MIN_TIME_NS, now + MAX_FUTURE_NS)
        except (ValueError, OverflowError):
            # A construct the compiled decoder declines (see _fastdecode), or a value the
            # reference decoder fails on too: let the reference produce its exact outcome.
            fallbacks += 1
        else:
            # The compiled decoder fills Arrow buffers directly (from_pydict of Python lists
            # cost more than the whole decode); the arrays carry the schema's types.
            return SpanBatch(
                one_reply_name(pa.Table.from_arrays(spans, schema=SPAN_SCHEMA)),
                pa.Table.from_arrays(events, schema=EVENT_SCHEMA),
                pa.Table.from_arrays(links, schema=LINK_SCHEMA),
                rejected, reasons,
            )
    return decode_request(req, now)
