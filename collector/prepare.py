"""Decoding an export into what the store's writer takes, with no I/O and no store.

:func:`decode_body` turns one request body into a :class:`collector.decode.SpanBatch`;
:func:`decode_ready` also splits its envelopes off (``choreoscope.envelopes.Prepared``), so
that a worker process can do all the per-span work of an export and the server only
hands the result to the writer. This module imports only the decoder and pyarrow, which
keeps decode worker processes small (see ``collector.ingest``).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field

import orjson

from choreoscope.envelopes import Prepared
from collector.decode import DecodeFailure, SpanBatch, parse_request, rejection_message
from collector.fastdecode import decode_bytes
from collector.foreign import zipkin_request
from collector.otlp_json import parse_json_request

PROTOBUF = "protobuf"
JSON = "json"
ZIPKIN = "zipkin"  # Zipkin's v2 JSON: a list of spans (POST /api/v2/spans)


def decode_body(body: bytes, fmt: str) -> SpanBatch:
    """Parse and decode one request body."""
    if fmt == PROTOBUF:
        return decode_bytes(body)  # compiled wire decoder when built, else the reference
    # Re-serialising to protobuf and taking the compiled path beats the Python decoder.
    return decode_bytes(_as_protobuf(body, fmt))


def _zipkin_doc(body: bytes) -> dict:
    """The OTLP/JSON request of a Zipkin v2 JSON body, or :class:`DecodeFailure`."""
    try:
        return zipkin_request(orjson.loads(body))
    except orjson.JSONDecodeError as exc:
        raise DecodeFailure(f"malformed JSON: {exc}") from None
    except ValueError as exc:
        raise DecodeFailure(f"Zipkin v2 JSON: {exc}") from None


@dataclass(frozen=True)
class ReadyBatch:
    """An export decoded and split for the writer, with what its answer needs to say."""

    prepared: Prepared
    span_count: int
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def rejection_message(self) -> str:
        """Human-readable summary of why spans were rejected ('' when none were)."""
        return rejection_message(self.reasons)


def decode_ready(body: bytes, fmt: str) -> ReadyBatch:
    """:func:`decode_body`, then the envelope split (what a decode worker process runs)."""
    batch = decode_body(body, fmt)
    return ReadyBatch(Prepared.of(batch), batch.span_count, batch.rejected, batch.reasons)


def decode_group(bodies: list[bytes], fmt: str
                 ) -> tuple[list[ReadyBatch], list[tuple[int, str]]]:
    """Several records of a file decoded as few exports: the batches, and (index, message)
    for each record that cannot be read.

    Decoding a record, splitting its envelopes and committing it cost ~5 ms whatever its
    size, so a file of 40,000 small records (a file exporter on a quiet system, a script
    writing a line per trace) loaded at ~400 spans/s. Each record is made protobuf on its
    own, so a bad one is told apart; the concatenation of valid requests is one valid
    request holding all their resource spans, decoded and split once. Should that fail
    still, each record is decoded on its own."""
    if len(bodies) == 1:
        try:
            return [decode_ready(bodies[0], fmt)], []
        except DecodeFailure as exc:
            return [], [(0, str(exc))]
    parts: list[tuple[int, bytes]] = []
    failures: list[tuple[int, str]] = []
    for i, body in enumerate(bodies):
        try:
            if fmt == PROTOBUF:
                if not _whole(body):  # (no bytes of it may run into the next record's)
                    parse_request(body)  # (protobuf's own words for what is wrong)
                    raise DecodeFailure("malformed OTLP protobuf: truncated or corrupt")
                parts.append((i, body))
            else:
                parts.append((i, _as_protobuf(body, fmt)))
        except DecodeFailure as exc:
            failures.append((i, str(exc)))
    if not parts:
        return [], failures
    try:
        return [decode_ready(b"".join(b for _, b in parts), PROTOBUF)], failures
    except DecodeFailure:
        batches = []
        for i, body in parts:
            try:
                batches.append(decode_ready(body, PROTOBUF))
            except DecodeFailure as exc:
                failures.append((i, str(exc)))
        return batches, sorted(failures)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The protobuf varint at ``pos`` and the position after it (``ValueError`` if cut)."""
    shift = result = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _whole(body: bytes) -> bool:
    """Whether ``body``'s top-level fields end exactly where it does: then it cannot swallow
    a record joined after it (what is wrong inside a field stays in that field, and fails
    the joined decode, which decode_group then repeats record by record). A walk over a
    few fields, not a parse: 0.4 ms against protobuf's 236 ms for 300 requests of 1,000
    spans, which loaded in 2.39 s instead of 2.57 s."""
    pos, end = 0, len(body)
    try:
        while pos < end:
            tag, pos = read_varint(body, pos)
            wire = tag & 7
            if wire == 0:
                _, pos = read_varint(body, pos)
            elif wire == 2:
                n, pos = read_varint(body, pos)
                pos += n
            elif wire in (1, 5):
                pos += 8 if wire == 1 else 4
            else:
                return False
    except ValueError:
        return False
    return pos == end


def _as_protobuf(body: bytes, fmt: str) -> bytes:
    """A JSON or Zipkin record as a binary OTLP request."""
    if fmt == ZIPKIN:
        return parse_json_request(_zipkin_doc(body)).SerializeToString()
    return parse_json_request(body).SerializeToString()


def watch_parent(parent_pid: int) -> None:
    """A worker's initializer: exit once the server that started it is gone, and leave
    SIGINT and SIGTERM to the server.

    A worker blocks on its task queue, which it holds both ends of, so a server killed with
    SIGKILL (or by the OOM killer) would leave it running forever. Ctrl-C in a terminal (and
    a service manager's stop) signals the whole process group: a worker taking it would die
    with a traceback, or be reported dead, while the server stops and shuts its pool down,
    or is gone and this watch ends the worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def warm(pause_s: float) -> int:
    """A worker's first task: start up, linger a moment, say who it is."""
    time.sleep(pause_s)
    return os.getpid()
