"""OTLP/HTTP front end: ``POST /v1/traces`` with protobuf or JSON bodies.

Follows the OTLP/HTTP specification: the response uses the request's content type,
failures carry a ``google.rpc.Status`` body, 400 for malformed input, 413 for too large,
415 for an unsupported content type or encoding, 503 with ``Retry-After`` when overloaded.
Built on the standard library's threading HTTP server: one thread per connection, a socket
timeout so a client that sends its body very slowly can't hold a thread forever.

Web pages export from the browser (OpenTelemetry JS's OTLP/HTTP exporters) to another
origin than their own, so the browser asks first (a CORS preflight, ``OPTIONS``) and reads
the answer only if it names the page's origin. ``cors_origins`` (``--cors-origins``) says
which origins may, as the OpenTelemetry Collector's ``cors.allowed_origins`` does: exact
origins, ``https://*.example.com`` for any subdomain, or ``*``.

``POST /api/v2/spans`` takes Zipkin's v2 JSON, as a Zipkin server does (202, no body), for
apps still on Zipkin's instrumentation: ``collector.foreign`` makes it OTLP, as the
OpenTelemetry Collector's zipkin receiver would.
"""

from __future__ import annotations

import hmac
import re
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector.decode import DecodeFailure
from collector.ingest import (ENCODINGS, JSON, PROTOBUF, ZIPKIN, Ingest, Overloaded, StoreError,
                              TooLarge)

TRACES_PATH = "/v1/traces"
# Zipkin's API, where Zipkin reporters (Brave, zipkin-js, py_zipkin, ...) send v2 JSON: an app
# still on Zipkin's instrumentation reports here without an OpenTelemetry Collector between.
ZIPKIN_PATH = "/api/v2/spans"
_PATHS = (TRACES_PATH, ZIPKIN_PATH)
_TYPES = {"application/x-protobuf": PROTOBUF, "application/protobuf": PROTOBUF,
          "application/json": JSON}
# Seconds a client may take between two reads of its request; a slow-loris client is cut.
BODY_TIMEOUT_S = 15


class _Handler(BaseHTTPRequestHandler):
    server: "OTLPHTTPServer"
    protocol_version = "HTTP/1.1"
    server_version = "choreoscope"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(BODY_TIMEOUT_S)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # exporters post many times a second; access logs would drown the console

    # ------------------------------------------------------------------- responses
    def _cors_headers(self) -> dict[str, str]:
        """What lets a web page of an allowed origin read this answer (none for others, and
        for clients that are not browsers: they send no Origin)."""
        origin = self.headers.get("Origin")
        if not origin or not self.server.origin_allowed(origin):
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
                "Access-Control-Expose-Headers": "Retry-After"}

    def _send(self, code: int, body: bytes, ctype: str, extra: dict[str, str] | None = None,
              close: bool = False) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in {**self._cors_headers(), **(extra or {})}.items():
            self.send_header(k, v)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _fail(self, code: int, message: str, fmt: str | None, extra: dict[str, str] | None = None,
              close: bool = False) -> None:
        status = status_pb2.Status(code=_GRPC_CODE.get(code, 2), message=message)
        if fmt == PROTOBUF:
            self._send(code, status.SerializeToString(), "application/x-protobuf", extra, close)
        else:
            body = orjson.dumps({"code": status.code, "message": message})
            self._send(code, body, "application/json", extra, close)

    # --------------------------------------------------------------------- methods
    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        path = self.path.split("?", 1)[0]
        if path not in _PATHS:
            self._fail(404, f"no such endpoint {path}; OTLP traces go to {TRACES_PATH}", None)
            return
        ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        fmt = _TYPES.get(ctype)
        if path == ZIPKIN_PATH:
            fmt = ZIPKIN if fmt == JSON else None
        token = self.server.auth_token
        if token is not None:
            got = self.headers.get("Authorization", "")
            if not hmac.compare_digest(got.encode(), f"Bearer {token}".encode()):
                self._drain_or_close()
                self._fail(401, "missing or wrong bearer token in the Authorization header",
                           fmt, {"WWW-Authenticate": "Bearer"}, close=True)
                return
        if fmt is None:
            self._drain_or_close()
            self._fail(415, f"unsupported Content-Type {ctype or '(none)'!r}; use " + (
                "application/json (Zipkin's v2 JSON)" if path == ZIPKIN_PATH
                else "application/x-protobuf or application/json"), None, close=True)
            return
        encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding not in ENCODINGS and encoding not in ("identity", "none", ""):
            self._drain_or_close()
            self._fail(415, f"unsupported Content-Encoding {encoding!r}; use "
                       f"{', '.join(sorted(ENCODINGS))} or none", fmt, close=True)
            return
        limit = self.server.ingest.max_request_size
        try:
            body = self._read_body(limit)
        except TooLarge as exc:
            self._fail(413, str(exc), fmt, close=True)
            return
        except (socket.timeout, TimeoutError):
            self._fail(408, f"request body not received within {BODY_TIMEOUT_S}s", fmt,
                       close=True)
            return
        except ValueError as exc:
            self._fail(400, str(exc), fmt, close=True)
            return
        try:
            out = self.server.ingest.export(body, fmt, encoding if encoding in ENCODINGS
                                            else None)
        except DecodeFailure as exc:
            self._fail(400, str(exc), fmt)
            return
        except TooLarge as exc:
            self._fail(413, str(exc), fmt)
            return
        except Overloaded as exc:
            self._fail(503, str(exc), fmt, {"Retry-After": str(exc.retry_after_s)})
            return
        except StoreError as exc:
            self._fail(503, f"store unavailable: {exc}", fmt, {"Retry-After": "5"})
            return
        if fmt == ZIPKIN:
            self._send(202, b"", "text/plain")  # (Zipkin's API answers so, with no body)
            return
        resp = ExportTraceServiceResponse()
        if out.rejected:
            resp.partial_success.rejected_spans = out.rejected
            resp.partial_success.error_message = out.message
        if fmt == PROTOBUF:
            self._send(200, resp.SerializeToString(), "application/x-protobuf")
        else:
            doc: dict[str, Any] = {}
            if out.rejected:
                doc["partialSuccess"] = {"rejectedSpans": str(out.rejected),
                                         "errorMessage": out.message}
            self._send(200, orjson.dumps(doc), "application/json")

    def _not_allowed(self) -> None:
        self._drain_or_close()
        self._fail(405, f"{self.command} is not supported; OTLP exports use POST {TRACES_PATH}",
                   None, {"Allow": "POST"}, close=True)

    do_GET = do_PUT = do_DELETE = do_PATCH = _not_allowed  # noqa: N815

    def do_OPTIONS(self) -> None:  # noqa: N802 - stdlib naming
        """A browser's preflight before a web page's cross-origin export."""
        self._drain_or_close()
        path = self.path.split("?", 1)[0]
        origin = self.headers.get("Origin")
        if not self.server.cors_origins:
            self._fail(405, "exports from web pages of other origins are not enabled: start "
                       "choreoscope with --cors-origins naming the pages' origin", None,
                       {"Allow": "POST"})
            return
        if path not in _PATHS:
            self._fail(404, f"no such endpoint {path}; OTLP traces go to {TRACES_PATH}", None)
            return
        if not origin or not self.server.origin_allowed(origin):
            self._fail(403, f"origin {origin or '(none)'} is not one of --cors-origins", None)
            return
        requested = self.headers.get("Access-Control-Request-Headers", "")
        extra = {"Access-Control-Allow-Methods": "POST",
                 # (whatever the page's exporter sends: Content-Type, Content-Encoding,
                 # Authorization, its own; header names only)
                 "Access-Control-Allow-Headers": ", ".join(
                     h for h in (x.strip() for x in requested.split(",")) if _TOKEN.fullmatch(h)),
                 "Access-Control-Max-Age": "7200"}
        self.send_response(204)
        for k, v in {**self._cors_headers(), **extra}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:  # noqa: N802
        self.send_response(405)
        self.send_header("Allow", "POST")
        self.send_header("Content-Length", "0")
        self.end_headers()

    # ------------------------------------------------------------------- body I/O
    def _read_body(self, limit: int) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked(limit)
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            raise ValueError("Content-Length (or chunked Transfer-Encoding) required")
        try:
            length = int(length_text)
        except ValueError:
            raise ValueError(f"bad Content-Length {length_text!r}") from None
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > limit:
            raise TooLarge(f"request of {length} bytes exceeds the {limit} byte limit")
        body = self.rfile.read(length)
        if len(body) != length:
            raise ValueError(f"body ended after {len(body)} of {length} bytes")
        return body

    def _read_chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ValueError("malformed chunked encoding") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > limit:
                raise TooLarge(f"request exceeds the {limit} byte limit")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _drain_or_close(self) -> None:
        """Skip a small unread body so keep-alive works; big ones just close the connection."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if 0 < length <= 1024 * 1024:
            try:
                self.rfile.read(length)
                return
            except OSError:
                pass
        if length != 0:
            self.close_connection = True


# An HTTP header name (RFC 9110 token).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

# HTTP status -> google.rpc.Code, for the Status body OTLP asks failures to carry.
_GRPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 408: 4, 413: 8, 415: 3, 503: 14}


class OTLPHTTPServer(ThreadingHTTPServer):
    """Threading HTTP server bound to an :class:`Ingest`."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], ingest: Ingest, auth_token: str | None = None,
                 ssl_context: ssl.SSLContext | None = None,
                 cors_origins: tuple[str, ...] = ()) -> None:
        self.ingest = ingest
        self.auth_token = auth_token
        self.ssl_context = ssl_context
        self.cors_origins = tuple(cors_origins)
        self._origins = _origin_pattern(self.cors_origins)
        super().__init__(addr, _Handler)

    def origin_allowed(self, origin: str) -> bool:
        """Whether web pages of ``origin`` may export here (``--cors-origins``)."""
        return self._origins is not None and self._origins.fullmatch(origin.lower()) is not None

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            # Handshake in the handler thread, so a stalled TLS client can't block accept().
            sock.settimeout(BODY_TIMEOUT_S)
            sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up mid-request is not the server's error to print


def _origin_pattern(origins: tuple[str, ...]) -> re.Pattern[str] | None:
    """One pattern for the allowed origins: ``*`` any, ``https://*.example.com`` any
    subdomain of example.com (not example.com itself, as the Collector reads it)."""
    if not origins:
        return None
    if "*" in origins:
        return re.compile(r".+")
    return re.compile("|".join(re.escape(o).replace(r"\*\.", r"[a-z0-9-]+(?:\.[a-z0-9-]+)*\.")
                               for o in origins))


def start_http(ingest: Ingest, host: str = "127.0.0.1", port: int = 4318, *,
               auth_token: str | None = None, tls_cert: str | None = None,
               tls_key: str | None = None,
               cors_origins: tuple[str, ...] = ()) -> tuple[OTLPHTTPServer, int]:
    """Start OTLP/HTTP in a background thread; returns the server and its bound port."""
    ctx = None
    if tls_cert and tls_key:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls_cert, tls_key)
    server = OTLPHTTPServer((host, port), ingest, auth_token, ctx, cors_origins)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                         name="otlp-http", daemon=True)
    t.start()
    return server, server.server_address[1]
