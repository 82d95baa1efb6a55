"""``choreoscope load``: import OTLP files into the store without a running server.

Accepted formats, detected from the content (gzip- or zstd-compressed or not):
- OTLP JSON Lines: one ``ExportTraceServiceRequest`` JSON per line (the OpenTelemetry
  Collector file exporter's default);
- a single OTLP JSON document (pretty-printed or not);
- length-delimited OTLP protobuf records: 4-byte big-endian length prefixes (the Collector
  file exporter's ``proto`` format) or varint prefixes (protobuf's ``writeDelimitedTo``);
  a file holding exactly one binary request works too;
- the Collector file exporter's ``compression: zstd``: the whole file one zstd stream
  (its native compression), or, as it wrote before, each request, JSON or protobuf,
  compressed on its own behind a 4-byte length prefix;
- traces in Jaeger's JSON (its UI's download, its API's answer) or Zipkin's v2 JSON (a list
  of spans), as the Collector's translators make them OTLP (:mod:`collector.foreign`).
"""

from __future__ import annotations

import gzip
import io
import os
import re
import sys
from collections import Counter, deque
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

from choreoscope.store import Store
from collector import foreign
from collector.decode import DecodeFailure, parse_request
from collector.ingest import JSON, PROTOBUF, ReadyBatch, decompress_bounded, start_decode_pool
from collector.prepare import decode_group, read_varint

_MAX_IN_FLIGHT = 4  # decode the next records while the writer commits the previous ones
# Records are decoded and stored in groups of about this many bytes (decode_group): a
# record's fixed cost (~5-7 ms) made a file of a trace a line load at ~1,000 spans/s.
_GROUP_BYTES = 4 * 1024 * 1024
# Files smaller than this are decoded here: starting a worker process costs ~1 s.
_POOL_BYTES = 32 * 1024 * 1024


@dataclass
class LoadSummary:
    """What a load did, for the closing report."""

    files: int = 0
    records: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    bad_records: list[str] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"loaded {self.files} file(s), {self.records} request(s): "
                 f"{self.stored} spans stored, {self.duplicates} duplicates skipped, "
                 f"{self.rejected} spans rejected"]
        for why, n in self.reasons.most_common():
            lines.append(f"  rejected {n}: {why}")
        for bad in self.bad_records[:10]:
            lines.append(f"  unreadable: {bad}")
        if len(self.bad_records) > 10:
            lines.append(f"  ... and {len(self.bad_records) - 10} more unreadable records")
        return "\n".join(lines)


_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _unzstd(data: bytes) -> bytes:
    """The content of a zstd stream (or of frames one after the other): the collector's
    decompression, with no size limit (a local file); DecodeFailure, a ValueError, if it
    is none."""
    return decompress_bounded(data, sys.maxsize, "zstd")


def _open(path: Path) -> IO[bytes]:
    f = open(path, "rb")
    head = f.read(4)
    if head[:2] == b"\x1f\x8b":
        f.seek(0)
        return gzip.open(f)  # type: ignore[return-value]
    if head == _ZSTD_MAGIC:  # (the file exporter's native compression: one stream)
        with f:
            return io.BytesIO(_unzstd(head + f.read()))
    f.seek(0)
    return f


def iter_records(path: Path) -> Iterator[tuple[str, bytes | None, str | None]]:
    """Yield (where, body, fmt) per request in the file; body None with an error message.

    ``fmt`` is "json" or "protobuf"; for a record that can't be framed, or a file that
    can't be read on (a corrupt or truncated gzip or zstd file: what came before it was
    yielded), ``fmt`` holds the reason instead and ``body`` is None.
    """
    try:
        with _open(path) as f:
            head = f.read(64)
            f.seek(0)
            # (a file named as JSON is read as JSON, so what is wrong with it is told as
            # JSON's error, not protobuf's "wire format was corrupt")
            if head.lstrip()[:1] in (b"{", b"[") or _named_json(path):
                yield from _json_records(path, f)
            else:
                yield from _proto_records(path, f.read())
    except (ValueError, OSError, EOFError) as exc:  # (gzip's BadGzipFile is an OSError)
        yield str(path), None, f"unreadable from here on: {exc}"


def _named_json(path: Path) -> bool:
    """Whether the file's name says JSON (``.json``, ``.jsonl``, ``.ndjson``, compressed or
    not)."""
    suffixes = [x.lower() for x in path.suffixes]
    while suffixes and suffixes[-1] in (".gz", ".zst", ".zstd"):
        suffixes.pop()
    return bool(suffixes) and suffixes[-1] in (".json", ".jsonl", ".ndjson")


def _json_records(path: Path, f: IO[bytes]) -> Iterator[tuple[str, bytes | None, str | None]]:
    # JSON Lines: the first line is a whole JSON object on its own. Stream those line by
    # line (files of a million spans are large); anything else is one document.
    import orjson

    first = f.readline()
    try:
        orjson.loads(first)
        is_lines = True
    except orjson.JSONDecodeError:
        is_lines = False
    if not is_lines:
        yield from _json_record(str(path), (first + f.read()).strip())
        return
    yield from _json_record(f"{path}:1", first)
    for i, line in enumerate(f, 2):
        if line.strip():
            yield from _json_record(f"{path}:{i}", line)


_OTLP_KEY = re.compile(rb'"resource_?[sS]pans"')
_RESULT = re.compile(rb'\s*\{\s*"result"\s*:')  # (Jaeger's api/v3: OTLP inside "result")


def _json_record(where: str, body: bytes) -> Iterator[tuple[str, bytes | None, str | None]]:
    """A JSON document as OTLP records: itself when it holds ``resourceSpans``, else what
    :func:`_foreign_records` makes of it."""
    if _OTLP_KEY.search(body, 0, 65536) is not None and _RESULT.match(body) is None:
        yield where, body, "json"
    else:
        yield from _foreign_records(where, body)


def _foreign_records(where: str, body: bytes) -> Iterator[tuple[str, bytes | None, str | None]]:
    """A JSON document with no ``resourceSpans``: each request :mod:`collector.foreign`
    makes of Jaeger's or Zipkin's JSON, or the document itself (the decoder reads it as
    OTLP and says what it is missing)."""
    import orjson

    try:
        doc = orjson.loads(body)
        kind, requests = foreign.to_otlp(doc)
    except orjson.JSONDecodeError:
        yield where, body, "json"
        return
    except foreign.NotForeign as exc:
        if isinstance(doc, dict):
            # (an object with none of the keys: OTLP would read it as an empty request,
            # and the file as loaded; it is more likely logs or metrics, or another tool's)
            keys = ", ".join(sorted(map(str, doc))[:5]) or "none"
            yield where, None, f"{exc} (its keys: {keys})"
        else:
            yield where, body, "json"
        return
    except ValueError as exc:  # (a foreign document with a span that cannot be read)
        yield where, None, str(exc)
        return
    for i, req in enumerate(requests, 1):
        yield (f"{where} ({kind} trace {i})" if kind == "jaeger" else f"{where} ({kind})",
               orjson.dumps(req), "json")


def _frames(data: bytes, varint: bool) -> list[tuple[int, int]] | None:
    """Split ``data`` into (start, end) frames, or None when the framing doesn't fit exactly."""
    out, pos = [], 0
    while pos < len(data):
        try:
            if varint:
                n, pos = read_varint(data, pos)
            else:
                if pos + 4 > len(data):
                    return None
                n, pos = int.from_bytes(data[pos:pos + 4], "big"), pos + 4
        except ValueError:
            return None
        if pos + n > len(data):
            return None
        out.append((pos, pos + n))
        pos += n
    return out


def _proto_records(path: Path, data: bytes) -> Iterator[tuple[str, bytes | None, str | None]]:
    frames = _frames(data, False)
    if frames and data[frames[0][0]:frames[0][0] + 4] == _ZSTD_MAGIC:
        # the file exporter's compression before its native one: each request compressed
        # on its own, JSON or protobuf, behind its length
        for i, (s, e) in enumerate(frames, 1):
            where = f"{path} record {i}"
            try:
                body = _unzstd(data[s:e])
            except ValueError as exc:
                yield where, None, str(exc)
                continue
            yield where, body, "json" if body.lstrip()[:1] == b"{" else "protobuf"
        return
    for varint in (False, True):
        frames = _frames(data, varint)
        if frames:
            # A framing that parses as protobuf at its first record is the right one; a
            # single raw request can accidentally look framed, so check before committing.
            s, e = frames[0]
            try:
                parse_request(data[s:e])
            except DecodeFailure:
                continue
            for i, (s, e) in enumerate(frames, 1):
                yield f"{path} record {i}", data[s:e], "protobuf"
            return
    yield str(path), data, "protobuf"


def load_files(store: Store, paths: list[Path], progress: bool = True,
               workers: int | None = None) -> LoadSummary:
    """Import every file into ``store``; unreadable records are reported, not fatal.

    ``workers`` decode processes (default: one per core, up to four, on two cores or more,
    for files of more than ``_POOL_BYTES``) decode records while this process reads the
    files and the store's writer commits. On two cores a 1M-span OTLP/JSON Lines file
    loaded in 20.6 s with two workers against 31.7 s without (one worker: 31.5 s, the
    decoding only moved), the same spans as protobuf in 8.1 s against 8.8 s. Records are
    still stored in file order, and a worker that dies leaves the decoding to this process.
    Consecutive records of one format are decoded and stored as one export of up to
    ``_GROUP_BYTES`` (``decode_group``): a file of a trace a line loaded 35x faster
    (``bench/load.py``), each bad record still reported on its own.
    """
    from tqdm import tqdm

    summary = LoadSummary()
    total = sum(p.stat().st_size for p in paths)
    if workers is None:
        cores = os.cpu_count() or 1
        workers = min(cores, 4) if cores >= 2 and total > _POOL_BYTES else 0
    pool = start_decode_pool(workers) if workers > 0 else None
    bar = tqdm(total=total, unit="B", unit_scale=True, desc="loading", disable=not progress,
               leave=False)
    decoding: deque[tuple[list[str], list[bytes], str, Future]] = deque()
    pending: deque[tuple[Future, ReadyBatch]] = deque()

    def settle(fut: Future, batch: ReadyBatch) -> None:
        res = fut.result()
        summary.stored += res.stored
        summary.duplicates += res.duplicates
        summary.rejected += batch.rejected
        summary.reasons.update(batch.reasons)

    broken = False  # (a worker died: the pool is unusable, this process decodes)

    def store_group(wheres: list[str], bodies: list[bytes], fmt: str,
                    fut: Future | None) -> None:
        nonlocal broken
        done: tuple[list[ReadyBatch], list[tuple[int, str]]] | None = None
        if fut is not None:
            try:
                done = fut.result()
            except BrokenProcessPool:
                if not broken:
                    print("choreoscope: a decode worker process died; decoding here "
                          "from now on", file=sys.stderr, flush=True)
                broken = True
        batches, failures = done if done is not None else decode_group(bodies, fmt)
        summary.bad_records.extend(f"{wheres[i]}: {message}" for i, message in failures)
        for batch in batches:
            pending.append((store.submit(batch.prepared), batch))
            if len(pending) >= _MAX_IN_FLIGHT:
                settle(*pending.popleft())

    # Consecutive records of one format go as one group (decode_group), up to _GROUP_BYTES
    group: list[tuple[str, bytes]] = []
    group_fmt, group_bytes = "", 0

    def flush() -> None:
        nonlocal group_bytes
        if not group:
            return
        wheres, bodies = [w for w, _ in group], [b for _, b in group]
        group.clear()
        group_bytes = 0
        if pool is None or broken:
            store_group(wheres, bodies, group_fmt, None)
            return
        decoding.append((wheres, bodies, group_fmt, pool.submit(decode_group, bodies,
                                                                group_fmt)))
        if len(decoding) > 2 * workers:
            store_group(*decoding.popleft())

    try:
        for path in paths:
            summary.files += 1
            for where, body, fmt in iter_records(path):
                summary.records += 1
                bar.update(len(body or b""))
                if body is None:  # (unreadable: fmt says why)
                    summary.bad_records.append(f"{where}: {fmt}")
                    continue
                kind = PROTOBUF if fmt == "protobuf" else JSON
                if group and (kind != group_fmt or group_bytes + len(body) > _GROUP_BYTES):
                    flush()
                group.append((where, body))
                group_fmt, group_bytes = kind, group_bytes + len(body)
        flush()
        while decoding:
            store_group(*decoding.popleft())
        while pending:
            settle(*pending.popleft())
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return summary
