"""The running collector: store + ingest + OTLP/gRPC + OTLP/HTTP (+ dashboard) + retention.

:class:`Collector` only wires pieces together and owns their lifetimes, so tests and the
CLI start and stop the whole thing the same way.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from choreoscope.store import Store
from collector.grpc_server import start_grpc
from collector.http_server import start_http
from collector.ingest import Ingest


@dataclass
class Endpoints:
    """Addresses the collector actually bound (ports resolved when 0 was asked)."""

    grpc: str
    http: str
    ui: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Collector:
    """Start with :meth:`start`, stop with :meth:`stop` (drains in-flight exports first)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.store: Store | None = None
        self.ingest: Ingest | None = None
        self._grpc: Any = None
        self._http: Any = None
        self._ui: Any = None
        self._stop = threading.Event()
        self._retention_thread: threading.Thread | None = None
        self.endpoints: Endpoints | None = None

    def start(self) -> Endpoints:
        """Open the store and start every front end; on failure, undo what was started."""
        try:
            return self._start()
        except BaseException:
            self.stop(grace_s=0)
            raise

    def _start(self) -> Endpoints:
        s = self.settings
        self.store = Store.open(s["db"], memory_limit=s.get("db_memory"))
        workers = s.get("decode_workers", 0)
        self.ingest = Ingest(self.store, s["max_pending_spans"], s["max_pending_bytes"],
                             max(0, workers), s["max_request_size"])
        host = s["host"]
        cert = key = None
        if s.get("tls_cert") and s.get("tls_key"):
            cert, key = Path(s["tls_cert"]).read_bytes(), Path(s["tls_key"]).read_bytes()
        self._grpc, gport = start_grpc(self.ingest, host, s["grpc_port"],
                                       auth_token=s.get("auth_token"), tls_cert=cert,
                                       tls_key=key)
        self._http, hport = start_http(self.ingest, host, s["http_port"],
                                       auth_token=s.get("auth_token"),
                                       tls_cert=s.get("tls_cert"), tls_key=s.get("tls_key"),
                                       cors_origins=s.get("cors_origins") or ())
        scheme = "https" if cert else "http"
        shown = host if ":" not in host else f"[{host}]"
        self.endpoints = Endpoints(grpc=f"{scheme}://{shown}:{gport}",
                                   http=f"{scheme}://{shown}:{hport}")
        if not s.get("no_ui"):
            from dashboard.server import start_ui  # the dashboard is optional at run time

            refresh = s.get("refresh") or 5 * 10**9
            self._ui = start_ui(self.store, host=host, port=s["ui_port"],
                                refresh_ms=max(500, refresh // 10**6),
                                auth_token=s.get("auth_token"), tls_cert=s.get("tls_cert"),
                                tls_key=s.get("tls_key"))
            self.endpoints.ui = self._ui.url
        if s.get("retention") or s.get("max_db_size"):
            self._retention_thread = threading.Thread(target=self._retention_loop,
                                                      name="retention", daemon=True)
            self._retention_thread.start()
        return self.endpoints

    # ------------------------------------------------------------------------- retention
    def enforce_retention(self) -> int:
        """Apply --retention and --max-db-size once; returns spans deleted."""
        assert self.store is not None
        deleted = 0
        keep = self.settings.get("retention")
        if keep:
            deleted += self.store.delete_before(time.time_ns() - keep).result()
        limit = self.settings.get("max_db_size")
        if limit:
            deleted += _shrink_to(self.store, limit)
        return deleted

    def _retention_loop(self, interval_s: float = 60.0) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.enforce_retention()
            except Exception as exc:  # retention must never take the collector down
                print(f"choreoscope: retention failed: {exc}", flush=True)

    # ------------------------------------------------------------------------------ stop
    def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting, let in-flight exports finish, flush and close the store."""
        self._stop.set()
        if self._ui is not None:
            self._ui.shutdown()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._grpc is not None:
            self._grpc.stop(grace_s).wait()
        if self.ingest is not None:
            self.ingest.close()
        if self.store is not None:
            self.store.close()


def _shrink_to(store: Store, limit: int) -> int:
    """Delete the oldest tenth of spans while the file is over ``limit`` bytes.

    DuckDB reuses freed blocks rather than shrinking the file, so this bounds growth: once
    over the limit, new data fills space the oldest data gave back.
    """
    deleted = 0
    for _ in range(5):
        if store.file_size() <= limit or store.count_spans() == 0:
            break
        cutoff = store.query_rows("start_time_quantile", {"q": 0.1})[0][0]
        if cutoff is None:
            break
        n = store.delete_before(int(cutoff) + 1).result()
        store.checkpoint().result()
        deleted += n
        if n == 0:
            break
    return deleted
