"""The ingest pipeline shared by every front end: admit, decode, write, acknowledge.

The gRPC and HTTP servers and the file loader hand raw request bytes to :class:`Ingest`.
It bounds the work in flight (bytes and spans) so overload is answered with a retryable
refusal instead of unbounded buffering, decodes (optionally in worker processes, since
protobuf decoding is CPU-bound Python and the GIL would serialise it), submits to the
store's single writer, and returns only once the spans are committed.
"""

from __future__ import annotations

import os
import threading
import zlib
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

from choreoscope.store import Store, StoreError
from collector.decode import DecodeFailure, SpanBatch
from collector.fastdecode import decode_bytes
from collector.otlp_json import parse_json_request

PROTOBUF = "protobuf"
JSON = "json"


class Overloaded(RuntimeError):
    """Too much work in flight: the client should retry after ``retry_after_s`` seconds."""

    def __init__(self, message: str, retry_after_s: int = 2) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TooLarge(ValueError):
    """The request (or its decompressed body) exceeds the configured maximum size."""


@dataclass(frozen=True)
class ExportOutcome:
    """The result of one export: spans stored, duplicates skipped, spans rejected and why."""

    accepted: int
    duplicates: int
    rejected: int
    message: str


def decode_body(body: bytes, fmt: str) -> SpanBatch:
    """Parse and decode one request body (module-level so worker processes can run it)."""
    if fmt == PROTOBUF:
        return decode_bytes(body)  # compiled wire decoder when built, else the reference
    # Re-serialising to protobuf and taking the compiled path beats the Python decoder.
    return decode_bytes(parse_json_request(body).SerializeToString())


def gunzip_bounded(body: bytes, limit: int) -> bytes:
    """Decompress gzip, refusing output past ``limit`` bytes (a gzip bomb stays small)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(body, limit + 1)
        if len(out) > limit or d.unconsumed_tail:
            raise TooLarge(f"decompressed body exceeds the {limit} byte limit")
        out += d.flush()
        if not d.eof:
            raise DecodeFailure("corrupt gzip body: truncated stream")
    except zlib.error as exc:
        raise DecodeFailure(f"corrupt gzip body: {exc}") from None
    if len(out) > limit:
        raise TooLarge(f"decompressed body exceeds the {limit} byte limit")
    return out


class Ingest:
    """Admission control + decode + durable write. Thread-safe; one per server process."""

    def __init__(self, store: Store, max_pending_spans: int = 200_000,
                 max_pending_bytes: int = 128 * 1024 * 1024, decode_workers: int = 0,
                 max_request_size: int = 16 * 1024 * 1024) -> None:
        self.store = store
        self.max_pending_spans = max_pending_spans
        self.max_pending_bytes = max_pending_bytes
        self.max_request_size = max_request_size
        self._lock = threading.Lock()
        self._pending_bytes = 0
        self._pending_spans = 0
        self._pool: ProcessPoolExecutor | None = None
        if decode_workers > 0:
            # Workers only decode (pure CPU); the writer stays single, in this process.
            import multiprocessing as mp
            self._pool = ProcessPoolExecutor(decode_workers, mp_context=mp.get_context("spawn"))
            # Start the workers now, not on the first export.
            list(self._pool.map(_warm, range(decode_workers)))
        self.exports = 0
        self.spans_stored = 0
        self.spans_rejected = 0
        self.refused_overload = 0

    # ----------------------------------------------------------------------- admission
    def _admit(self, nbytes: int) -> None:
        with self._lock:
            if (self._pending_bytes + nbytes > self.max_pending_bytes
                    and self._pending_bytes > 0) or self._pending_spans >= self.max_pending_spans:
                self.refused_overload += 1
                raise Overloaded(
                    f"collector busy: {self._pending_spans} spans / {self._pending_bytes} "
                    f"bytes in flight; retry later")
            self._pending_bytes += nbytes

    def _release(self, nbytes: int) -> None:
        with self._lock:
            self._pending_bytes -= nbytes

    # -------------------------------------------------------------------------- export
    def export(self, body: bytes, fmt: str = PROTOBUF, encoding: str | None = None) -> ExportOutcome:
        """Decode and durably store one request body; raises on malformed or refused input.

        Raises :class:`DecodeFailure` (malformed), :class:`TooLarge`, :class:`Overloaded`,
        or :class:`StoreError`.
        """
        if len(body) > self.max_request_size:
            raise TooLarge(f"request of {len(body)} bytes exceeds the "
                           f"{self.max_request_size} byte limit")
        admitted = len(body)
        self._admit(admitted)
        try:
            if encoding == "gzip":
                body = gunzip_bounded(body, self.max_request_size)
            if self._pool is not None and len(body) > 64 * 1024:
                batch = self._pool.submit(decode_body, body, fmt).result()
            else:
                batch = decode_body(body, fmt)
            return self.write(batch)
        finally:
            self._release(admitted)

    def write(self, batch: SpanBatch) -> ExportOutcome:
        """Submit a decoded batch and wait for its commit."""
        n = batch.span_count
        with self._lock:
            if self._pending_spans >= self.max_pending_spans and n:
                self.refused_overload += 1
                raise Overloaded(f"collector busy: {self._pending_spans} spans waiting for "
                                 f"the database; retry later")
            self._pending_spans += n
        try:
            fut: Future = self.store.submit(batch)
            res = fut.result()
        finally:
            with self._lock:
                self._pending_spans -= n
        with self._lock:
            self.exports += 1
            self.spans_stored += res.stored
            self.spans_rejected += batch.rejected
        return ExportOutcome(res.stored, res.duplicates, batch.rejected,
                             batch.rejection_message())

    @property
    def pending_spans(self) -> int:
        return self._pending_spans

    def close(self) -> None:
        """Stop decode workers (the store is closed by its owner)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _warm(_: int) -> int:
    return os.getpid()


__all__ = ["Ingest", "ExportOutcome", "Overloaded", "TooLarge", "DecodeFailure", "StoreError",
           "decode_body", "gunzip_bounded", "PROTOBUF", "JSON"]
