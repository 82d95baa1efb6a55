"""Replay OTLP/JSON trace files to any OTLP endpoint (``choreoscope replay``).

Requests are sent in the order and at the pace of the original timestamps (each request when
its last span ended, divided by ``speed``; ``speed=0`` sends as fast as possible).  By default
timestamps are shifted so that each span has ended by the time it is sent, as an exporter
sends spans (at speed 1 the earliest span starts at the moment a loop starts).  Every loop
after the first rewrites trace and span ids with a per-loop XOR mask -- a bijection, so parent
ids and links that pointed at a span still point at the same (renamed) span -- which makes loops
distinct flows instead of duplicates.  Message and conversation ids (attributes whose key ends
in ``message.id``, ``message_id`` or ``conversation_id``, on spans and links) get a per-loop
suffix too: each loop's messages are new messages, not the last loop's delivered again.

Files are streamed; only inputs of up to ``CACHE_SPANS`` spans are kept parsed in memory between
loops, so a benchmark file of a million spans does not need gigabytes.
"""

from __future__ import annotations

import argparse
import heapq
import http.client
import os
import random
import socket
import sys
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from .otlp_json import read_requests, request_to_json

PROTOCOLS = ("grpc", "http/protobuf", "http/json")
DEFAULT_ENDPOINTS = {"grpc": "http://127.0.0.1:4317", "http/protobuf": "http://127.0.0.1:4318",
                     "http/json": "http://127.0.0.1:4318"}
CACHE_SPANS = 200_000


class ReplayError(Exception):
    """The replay could not be completed (unreachable endpoint, rejected data, bad input)."""


@dataclass
class ReplayResult:
    """What a replay sent."""

    spans: int
    requests: int
    elapsed: float
    loops: int


# --------------------------------------------------------------------------- input


def _scan(path: str) -> tuple[int, int, int]:
    """(earliest span start in ns, span count, latest span end in ns) of a file, without
    building protobufs."""
    earliest, count, latest = None, 0, 0
    for request in read_requests(path) if _is_single_document(path) else _raw_docs(path):
        for start, end in _times(request):
            count += 1
            earliest = start if earliest is None or start < earliest else earliest
            latest = max(latest, end)
    if earliest is None:
        raise ReplayError(f"{path}: no spans found")
    return earliest, count, latest


def _is_single_document(path: str) -> bool:
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                try:
                    orjson.loads(line)
                    return False
                except orjson.JSONDecodeError:
                    return True
    return False


def _raw_docs(path: str) -> Iterator[dict]:
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                yield orjson.loads(line)


def _times(request: dict | ExportTraceServiceRequest) -> Iterator[tuple[int, int]]:
    if isinstance(request, ExportTraceServiceRequest):
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    yield span.start_time_unix_nano, span.end_time_unix_nano
        return
    for rs in request.get("resourceSpans", ()):
        for ss in rs.get("scopeSpans", ()):
            for span in ss.get("spans", ()):
                yield (int(span.get("startTimeUnixNano", 0)),
                       int(span.get("endTimeUnixNano", 0)))


def _last_end(request: ExportTraceServiceRequest) -> int:
    return max((s.end_time_unix_nano for rs in request.resource_spans for ss in rs.scope_spans
                for s in ss.spans), default=0)


def _span_count(request: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


def _timed(path: str) -> Iterator[tuple[int, int, ExportTraceServiceRequest]]:
    for seq, request in enumerate(read_requests(path)):
        yield _last_end(request), seq, request


# --------------------------------------------------------------------------- rewriting


def _xor(value: bytes, mask: int) -> bytes:
    return (int.from_bytes(value, "big") ^ mask).to_bytes(len(value), "big") if value else value


# Attribute keys naming a message or a conversation (messaging.message.id, the legacy
# messaging.message_id, nservicebus.message_id, messaging.message.conversation_id, ...): a
# consumer is joined to its producer by them, so a loop that kept them would deliver the
# last loop's messages again.
_MESSAGE_ID_SUFFIXES = ("message.id", "message_id", "conversation_id")


def _rewrite_message_ids(attributes, tag: str) -> None:
    for kv in attributes:
        if kv.key.endswith(_MESSAGE_ID_SUFFIXES) and kv.value.HasField("string_value"):
            kv.value.string_value += tag


def _rewrite(request: ExportTraceServiceRequest, shift_ns: int, masks: tuple[int, int] | None) -> None:
    """Shift all timestamps by ``shift_ns`` and XOR all ids with ``masks`` (in place); message
    and conversation ids get a suffix of the masks'."""
    tag = f"~{masks[0] & 0xFFFFFFFF:08x}" if masks is not None else ""
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                if shift_ns:
                    span.start_time_unix_nano += shift_ns
                    span.end_time_unix_nano += shift_ns
                    for event in span.events:
                        event.time_unix_nano += shift_ns
                if masks is not None:
                    tmask, smask = masks
                    span.trace_id = _xor(span.trace_id, tmask)
                    span.span_id = _xor(span.span_id, smask)
                    span.parent_span_id = _xor(span.parent_span_id, smask)
                    _rewrite_message_ids(span.attributes, tag)
                    for link in span.links:
                        link.trace_id = _xor(link.trace_id, tmask)
                        link.span_id = _xor(link.span_id, smask)
                        _rewrite_message_ids(link.attributes, tag)


def _loop_masks(loop: int, salt: str) -> tuple[int, int] | None:
    """Per-loop id masks; loop 0 keeps the original ids unless a fresh salt is used."""
    if loop == 0 and salt == "":
        return None
    rng = random.Random(f"choreoscope-replay/{salt}/{loop}")
    return rng.getrandbits(128) | 1, rng.getrandbits(64) | 1  # never the identity


# --------------------------------------------------------------------------- transports


def parse_headers(spec: str | Sequence[str] | None) -> dict[str, str]:
    """``'k1=v1,k2=v2'`` (the OTEL_EXPORTER_OTLP_HEADERS format) into a dict."""
    if not spec:
        return {}
    items = [spec] if isinstance(spec, str) else list(spec)
    headers: dict[str, str] = {}
    for item in items:
        for pair in item.split(","):
            if not pair.strip():
                continue
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise ReplayError(f"bad header {pair.strip()!r}: expected key=value")
            headers[key.strip().lower()] = urllib.parse.unquote(value.strip())
    return headers


class _GrpcSender:
    def __init__(self, endpoint: str, headers: dict[str, str], timeout: float) -> None:
        import grpc
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

        self._grpc = grpc
        parsed = urllib.parse.urlparse(endpoint if "://" in endpoint else f"http://{endpoint}")
        if not parsed.hostname:
            raise ReplayError(f"bad gRPC endpoint {endpoint!r}")
        self.target = f"{parsed.hostname}:{parsed.port or 4317}"
        self.address = (parsed.hostname, parsed.port or 4317)
        if parsed.scheme == "https":
            self._channel = grpc.secure_channel(self.target, grpc.ssl_channel_credentials())
        else:
            self._channel = grpc.insecure_channel(self.target)
        self._stub = TraceServiceStub(self._channel)
        self._metadata = tuple(headers.items())
        self._timeout = timeout

    def send(self, request: ExportTraceServiceRequest) -> None:
        try:
            response = self._stub.Export(request, timeout=self._timeout, metadata=self._metadata)
        except self._grpc.RpcError as exc:
            code = exc.code()
            details = (exc.details() or "").splitlines()[0] if exc.details() else ""
            if code in (self._grpc.StatusCode.UNAVAILABLE, self._grpc.StatusCode.DEADLINE_EXCEEDED):
                raise ReplayError(f"cannot reach OTLP/gRPC endpoint {self.target}: {code.name} {details}".strip()) from None
            raise ReplayError(f"OTLP/gRPC endpoint {self.target} rejected the data: {code.name} {details}".strip()) from None
        _check_partial(response, self.target)

    def close(self) -> None:
        self._channel.close()


class _HttpSender:
    def __init__(self, endpoint: str, as_json: bool, headers: dict[str, str], timeout: float) -> None:
        parsed = urllib.parse.urlparse(endpoint if "://" in endpoint else f"http://{endpoint}")
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ReplayError(f"bad HTTP endpoint {endpoint!r}")
        path = parsed.path.rstrip("/")
        self.path = path if path.endswith("/v1/traces") else f"{path}/v1/traces"
        self.url = f"{parsed.scheme}://{parsed.netloc}{self.path}"
        self._host, self._port = parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 4318)
        self.address = (self._host, self._port)
        self.target = self.url
        self._https = parsed.scheme == "https"
        self._json = as_json
        self._headers = {"Content-Type": "application/json" if as_json else "application/x-protobuf",
                         "User-Agent": "choreoscope-replay", **headers}
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=self._timeout)

    def send(self, request: ExportTraceServiceRequest) -> None:
        body = request_to_json(request) if self._json else request.SerializeToString()
        for attempt in (0, 1):
            reused = self._conn is not None
            if self._conn is None:
                self._conn = self._connect()
            try:
                self._conn.request("POST", self.path, body=body, headers=self._headers)
                response = self._conn.getresponse()
                payload = response.read()
                break
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                # A kept-alive connection the server already closed: reconnect once.
                if reused and attempt == 0 and isinstance(
                        exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
                    continue
                raise ReplayError(f"cannot reach OTLP/HTTP endpoint {self.url}: {exc}") from None
        if not 200 <= response.status < 300:
            text = payload.decode("utf-8", "replace").strip().replace("\n", " ")[:200]
            raise ReplayError(f"OTLP/HTTP endpoint {self.url} rejected the data: "
                              f"HTTP {response.status} {response.reason}{': ' + text if text else ''}")
        if payload:
            parsed = ExportTraceServiceResponse()
            try:
                if self._json or response.getheader("Content-Type", "").startswith("application/json"):
                    partial = orjson.loads(payload).get("partialSuccess") or {}
                    parsed.partial_success.rejected_spans = int(partial.get("rejectedSpans", 0))
                    parsed.partial_success.error_message = partial.get("errorMessage", "")
                else:
                    parsed.ParseFromString(payload)
            except (ValueError, AttributeError, orjson.JSONDecodeError):
                return  # a 2xx with an unparsable body still means accepted
            _check_partial(parsed, self.url)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _check_partial(response: ExportTraceServiceResponse, where: str) -> None:
    rejected = response.partial_success.rejected_spans
    if rejected:
        msg = response.partial_success.error_message
        raise ReplayError(f"{where} rejected {rejected} spans{': ' + msg if msg else ''}")


def _probe(sender: _GrpcSender | _HttpSender, protocol: str, timeout: float) -> None:
    """Fail fast when nothing listens, instead of after the pacing delay of the first request."""
    try:
        with socket.create_connection(sender.address, timeout=timeout):
            pass
    except OSError as exc:
        kind = "OTLP/gRPC" if protocol == "grpc" else "OTLP/HTTP"
        raise ReplayError(f"cannot reach {kind} endpoint {sender.target}: {exc.strerror or exc}") from None


def _sender(protocol: str, endpoint: str, headers: dict[str, str], timeout: float):
    if protocol == "grpc":
        return _GrpcSender(endpoint, headers, timeout)
    if protocol in ("http/protobuf", "http/json"):
        return _HttpSender(endpoint, protocol == "http/json", headers, timeout)
    raise ReplayError(f"unknown protocol {protocol!r} (choose from {', '.join(PROTOCOLS)})")


# --------------------------------------------------------------------------- replay


def replay(paths: Iterable[str | os.PathLike[str]], endpoint: str | None = None, protocol: str = "grpc",
           speed: float = 1.0, loops: int = 1, shift: bool = True, progress: bool = True,
           headers: dict[str, str] | None = None, timeout: float = 10.0,
           fresh_ids: bool = False) -> ReplayResult:
    """Send OTLP/JSON trace files to an OTLP endpoint.

    ``paths``: OTLP/JSON Lines files (or single OTLP/JSON documents), replayed on one common
    timeline.  ``endpoint``: base URL (default 127.0.0.1:4317 for gRPC, :4318 for HTTP; for HTTP
    ``/v1/traces`` is appended unless present).  ``speed``: pacing factor, 0 = no pacing.
    ``loops``: number of passes (0 = until interrupted); loop 0 keeps the original ids, later
    loops get consistently rewritten ids.  ``shift``: move timestamps so each loop's spans end
    as they are sent (at speed 1 the loop starts now; faster, it started earlier).
    ``fresh_ids``: rewrite ids in the first loop too (random per run), for stores that already
    hold an earlier replay.  Raises :class:`ReplayError` on any failure.
    """
    files = [os.fspath(p) for p in paths]
    if not files:
        raise ReplayError("no input files")
    if speed < 0:
        raise ReplayError("--speed must be >= 0")
    if loops < 0:
        raise ReplayError("--loop must be >= 0 (0 = forever)")
    endpoint = endpoint or DEFAULT_ENDPOINTS.get(protocol, "")
    for path in files:
        if not os.path.isfile(path):
            raise ReplayError(f"{path}: no such file")
    try:
        scans = [_scan(path) for path in files]
    except (ValueError, OSError) as exc:
        raise ReplayError(f"cannot read input: {exc}") from None
    base = min(s[0] for s in scans)
    per_loop = sum(s[1] for s in scans)
    # Shifted, a loop's spans end no later than they are sent, as an exporter sends spans
    # once they have ended: faster than real time, the loop's timeline starts that much
    # before the loop does (a window "up to now" then holds what has arrived, no spans
    # from the future). At speed 1 the loop starts now.
    extent = max(s[2] for s in scans) - base
    lead = extent if speed == 0 else int(extent * max(0.0, 1.0 - 1.0 / speed))
    cache: list[tuple[int, int, ExportTraceServiceRequest]] | None = None
    if per_loop <= CACHE_SPANS:
        cache = list(heapq.merge(*(_timed(p) for p in files), key=lambda item: item[0]))
    salt = os.urandom(8).hex() if fresh_ids else ""
    sender = _sender(protocol, endpoint, headers or {}, timeout)
    try:
        _probe(sender, protocol, timeout)
    except ReplayError:
        sender.close()
        raise
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=per_loop * loops if loops else None, unit="span", unit_scale=True,
                   file=sys.stderr, desc="replay", dynamic_ncols=True)
    started = time.monotonic()
    sent_spans = sent_requests = loop = 0
    try:
        while loops == 0 or loop < loops:
            masks = _loop_masks(loop, salt)
            loop_wall = time.monotonic()
            shift_ns = time.time_ns() - base - lead if shift else 0
            items = cache if cache is not None else heapq.merge(*(_timed(p) for p in files),
                                                                key=lambda item: item[0])
            for t_end, _, original in items:
                if speed > 0:
                    delay = loop_wall + (t_end - base) / 1e9 / speed - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                request = original
                if shift_ns or masks is not None:
                    if cache is not None:  # keep the cached original intact for the next loop
                        request = ExportTraceServiceRequest()
                        request.CopyFrom(original)
                    _rewrite(request, shift_ns, masks)
                sender.send(request)
                n = _span_count(request)
                sent_spans += n
                sent_requests += 1
                if bar is not None:
                    bar.update(n)
            loop += 1
    finally:
        sender.close()
        if bar is not None:
            bar.close()
    return ReplayResult(sent_spans, sent_requests, time.monotonic() - started, loop)


# --------------------------------------------------------------------------- CLI


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``replay`` options to an argparse (sub)parser."""
    parser.add_argument("files", nargs="+", metavar="FILE", help="OTLP/JSON (Lines) trace files")
    parser.add_argument("--endpoint", default=None,
                        help="OTLP endpoint (default http://127.0.0.1:4317 for grpc, :4318 for http)")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="grpc", help="OTLP transport (default grpc)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="time scale: 2 = twice as fast, 0 = as fast as possible (default 1)")
    parser.add_argument("--loop", type=int, default=1, dest="loop",
                        help="replay N times with fresh trace/span ids after the first (0 = forever)")
    parser.add_argument("--no-shift", action="store_true",
                        help="keep the original timestamps instead of moving them to now")
    parser.add_argument("--fresh-ids", action="store_true",
                        help="rewrite ids in the first loop too (the store already has this file)")
    parser.add_argument("--headers", action="append", default=None, metavar="K=V[,K=V]",
                        help="extra request headers, e.g. 'authorization=Bearer TOKEN'")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout in seconds")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_replay(args: argparse.Namespace) -> int:
    """Run a replay from parsed arguments; returns the process exit code."""
    try:
        result = replay(args.files, endpoint=args.endpoint, protocol=args.protocol, speed=args.speed,
                        loops=args.loop, shift=not args.no_shift, progress=not args.no_progress,
                        headers=parse_headers(args.headers), timeout=args.timeout,
                        fresh_ids=args.fresh_ids)
    except ReplayError as exc:
        print(f"choreoscope replay: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("choreoscope replay: interrupted", file=sys.stderr)
        return 130
    print(f"replayed {result.spans} spans in {result.requests} requests "
          f"({result.loops} loop{'s' if result.loops != 1 else ''}, {result.elapsed:.1f}s)", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m sample_traces.replay`` (the same as ``choreoscope replay``)."""
    parser = argparse.ArgumentParser(prog="choreoscope replay", description=__doc__.split("\n\n")[0])
    add_replay_arguments(parser)
    return run_replay(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
