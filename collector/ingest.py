"""The ingest pipeline shared by every front end: admit, decode, write, acknowledge.

The gRPC and HTTP servers and the file loader hand raw request bytes to :class:`Ingest`.
It bounds the work in flight (bytes and spans) so overload is answered with a retryable
refusal instead of unbounded buffering, decodes (optionally in worker processes, since
protobuf decoding is CPU-bound Python and the GIL would serialise it), submits to the
store's single writer, and returns only once the spans are committed.
"""

from __future__ import annotations

import os
import sys
import threading
import types
import zlib
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import pyarrow as pa

from choreoscope.store import Store, StoreError
from collector.decode import DecodeFailure, SpanBatch
from collector.prepare import (
    JSON, PROTOBUF, ZIPKIN, ReadyBatch, decode_body, decode_ready, warm, watch_parent,
)


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


# The Content-Encodings an OTLP/HTTP body may come in. By zlib's window bits: gzip (every
# SDK's exporter can), deflate (the Python SDK's other compression: a zlib stream, though
# some clients send raw deflate, as HTTP's "deflate" was often read) and zlib (the
# OpenTelemetry Collector's otlphttp exporter's `compression: zlib` names it so).
_ZLIB_ENCODINGS = {"gzip": (16 + zlib.MAX_WBITS,), "deflate": (zlib.MAX_WBITS, -zlib.MAX_WBITS),
                   "zlib": (zlib.MAX_WBITS, -zlib.MAX_WBITS)}
# By Arrow's streaming codecs: zstd and lz4 (frames), which the Collector's otlphttp
# exporter can send (compression: zstd / lz4).
_ARROW_ENCODINGS = frozenset({"zstd", "lz4"})  # (Arrow's codec names too)
# Snappy, the Collector's `compression: snappy`: the block format since Collector v0.131
# (feature gate confighttp.framedSnappy, permanent since v0.155), the framing format before
# it; `x-snappy-framed` always the framing format. A body says which it is by its first
# bytes (the framing format's stream identifier), which is how the Collector's own
# receiver tells them apart.
_SNAPPY_ENCODINGS = frozenset({"snappy", "x-snappy-framed"})
ENCODINGS = frozenset(_ZLIB_ENCODINGS) | _ARROW_ENCODINGS | _SNAPPY_ENCODINGS


def decompress_bounded(body: bytes, limit: int, encoding: str = "gzip") -> bytes:
    """Decompress a gzip (or ``encoding``: one of ``ENCODINGS``) body, refusing output past
    ``limit`` bytes (a gzip bomb stays small)."""
    if encoding in _ARROW_ENCODINGS:
        return _arrow_bounded(body, limit, encoding)
    if encoding in _SNAPPY_ENCODINGS:
        if body.startswith(_SNAPPY_STREAM_ID):
            return _snappy_framed_bounded(body, limit)
        if encoding == "x-snappy-framed":
            raise DecodeFailure("corrupt x-snappy-framed body: no snappy stream identifier")
        return _snappy_block_bounded(body, limit)
    *others, last = _ZLIB_ENCODINGS[encoding]
    for wbits in others:
        try:
            return _inflate_bounded(body, limit, encoding, wbits)
        except DecodeFailure:
            continue  # (not this format: the next)
    return _inflate_bounded(body, limit, encoding, last)


def _arrow_bounded(body: bytes, limit: int, encoding: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        stream = pa.CompressedInputStream(pa.BufferReader(body), encoding)
        while True:
            chunk = stream.read(min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"decompressed body exceeds the {limit} byte limit")
            chunks.append(chunk)
    except OSError as exc:  # (corrupt or truncated: Arrow says which)
        raise DecodeFailure(f"corrupt {encoding} body: {exc}") from None
    return b"".join(chunks)


_SNAPPY_STREAM_ID = b"\xff\x06\x00\x00sNaPpY"
_SNAPPY = pa.Codec("snappy")


def _snappy_block_bounded(block: bytes | memoryview, limit: int) -> bytes:
    """One snappy block: a varint of its decompressed length, then the compressed data."""
    size = shift = 0
    for i in range(min(len(block), 5)):
        b = block[i]
        size |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    else:
        raise DecodeFailure("corrupt snappy body: no length")
    if size > limit:
        raise TooLarge(f"decompressed body exceeds the {limit} byte limit")
    try:
        # (Arrow checks the data against the length it is given: a block that says more
        # or less than it holds is corrupt, not padded or cut)
        return _SNAPPY.decompress(block, decompressed_size=size, asbytes=True)
    except (OSError, ValueError) as exc:
        raise DecodeFailure(f"corrupt snappy body: {exc}") from None


def _snappy_framed_bounded(body: bytes, limit: int) -> bytes:
    """The snappy framing format: chunks of a type byte and a 3-byte little-endian length.
    The chunks' CRC-32C checksums are not verified (the standard library has no CRC-32C);
    a corrupt chunk almost always fails to decompress or to decode as OTLP anyway."""
    view = memoryview(body)
    out: list[bytes] = []
    size = pos = 0
    while pos < len(view):
        if pos + 4 > len(view):
            raise DecodeFailure("corrupt snappy body: truncated chunk header")
        kind = view[pos]
        n = int.from_bytes(view[pos + 1:pos + 4], "little")
        chunk = view[pos + 4:pos + 4 + n]
        if len(chunk) < n:
            raise DecodeFailure("corrupt snappy body: truncated chunk")
        pos += 4 + n
        if kind in (0x00, 0x01):  # compressed / uncompressed data, after a 4-byte checksum
            if n < 4:
                raise DecodeFailure("corrupt snappy body: chunk shorter than its checksum")
            data = (_snappy_block_bounded(chunk[4:], limit - size) if kind == 0x00
                    else bytes(chunk[4:]))
            size += len(data)
            if size > limit:
                raise TooLarge(f"decompressed body exceeds the {limit} byte limit")
            out.append(data)
        elif kind == 0xFF:  # (the stream identifier, which may repeat)
            if bytes(chunk) != _SNAPPY_STREAM_ID[4:]:
                raise DecodeFailure("corrupt snappy body: bad stream identifier")
        elif kind < 0x80:  # (reserved, unskippable)
            raise DecodeFailure(f"corrupt snappy body: unknown chunk type {kind:#x}")
        # (0x80-0xfe: padding and skippable chunks)
    return b"".join(out)


def _inflate_bounded(body: bytes, limit: int, encoding: str, wbits: int) -> bytes:
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(body, limit + 1)
        if len(out) > limit or d.unconsumed_tail:
            raise TooLarge(f"decompressed body exceeds the {limit} byte limit")
        out += d.flush()
        if not d.eof:
            raise DecodeFailure(f"corrupt {encoding} body: truncated stream")
    except zlib.error as exc:
        raise DecodeFailure(f"corrupt {encoding} body: {exc}") from None
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
            # Workers decode and split (pure CPU); the writer stays single, in this process.
            self._pool = start_decode_pool(decode_workers)
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
            if encoding in ENCODINGS:
                body = decompress_bounded(body, self.max_request_size, encoding)
            batch: SpanBatch | ReadyBatch | None = None
            pool = self._pool
            if pool is not None and len(body) > 64 * 1024:
                # All the per-span work in the worker: decoding and the envelope split hold
                # the GIL here for ~3 ms per 1,000 spans, and the writer thread waits for it
                # after every DuckDB call (bench/RESULTS.md, "Ingest").
                try:
                    batch = pool.submit(decode_ready, body, fmt).result()
                except BrokenProcessPool:
                    self._lose_pool(pool)  # a worker died: decode here from now on
            if batch is None:
                batch = decode_body(body, fmt)
            return self.write(batch)
        finally:
            self._release(admitted)

    def write(self, batch: SpanBatch | ReadyBatch) -> ExportOutcome:
        """Submit a decoded batch and wait for its commit."""
        n = batch.span_count
        with self._lock:
            if self._pending_spans >= self.max_pending_spans and n:
                self.refused_overload += 1
                raise Overloaded(f"collector busy: {self._pending_spans} spans waiting for "
                                 f"the database; retry later")
            self._pending_spans += n
        try:
            fut: Future = self.store.submit(
                batch.prepared if isinstance(batch, ReadyBatch) else batch)
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

    def _lose_pool(self, pool: ProcessPoolExecutor) -> None:
        """A decode worker died (killed, out of memory): the pool is unusable, so exports
        are decoded in the server's own threads, slower but without losing any."""
        with self._lock:
            if self._pool is not pool:
                return
            self._pool = None
        print("choreoscope: a decode worker process died; decoding in the server from now on",
              file=sys.stderr, flush=True)
        pool.shutdown(wait=False, cancel_futures=True)

    @property
    def pending_spans(self) -> int:
        return self._pending_spans

    def close(self) -> None:
        """Stop decode workers (the store is closed by its owner)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def start_decode_pool(workers: int) -> ProcessPoolExecutor:
    """Decode worker processes that import the decoder only, all started now.

    A spawned child first re-imports the parent's ``__main__`` (the CLI, and with it DuckDB,
    the analyzer and networkx: ~50 MB more per worker, for nothing) unless ``__main__``
    names no module and no file. So the workers are started here, while the server runs no
    other thread yet, with ``__main__`` briefly replaced by an empty module. Each warm-up
    task lingers a moment so that every submit finds no idle worker and starts a new one.
    """
    import multiprocessing as mp

    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                               initializer=watch_parent, initargs=(os.getpid(),))
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        list(pool.map(warm, [0.05] * workers))
    finally:
        sys.modules["__main__"] = main
    return pool


__all__ = ["Ingest", "ExportOutcome", "start_decode_pool", "Overloaded", "TooLarge", "DecodeFailure", "StoreError",
           "ReadyBatch", "decode_body", "decompress_bounded", "PROTOBUF", "JSON", "ZIPKIN"]
