"""Serve the dashboard in a background thread with a real threaded WSGI server."""

from __future__ import annotations

import ssl
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from dashboard.app import create_app


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request: the dashboard polls every few seconds."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class UIServer:
    """A running dashboard: its address, and how to stop it."""

    def __init__(self, server: BaseWSGIServer, app: Any, host: str, scheme: str = "http") -> None:
        self._server = server
        self.app = app
        self.host = host
        self.port: int = server.server_port
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        shown = f"[{shown}]" if ":" in shown else shown
        self.url = f"{scheme}://{shown}:{self.port}/"
        self._thread = threading.Thread(target=server.serve_forever, name="choreoscope-ui",
                                        daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        """Stop accepting requests, wait for the serving thread, free the port."""
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()


def start_ui(store: Any, host: str = "127.0.0.1", port: int = 8050, refresh_ms: int = 5000,
             auth_token: str | None = None, tls_cert: str | None = None,
             tls_key: str | None = None, **app_kwargs: Any) -> UIServer:
    """Build the app on ``store`` and serve it; ``port=0`` picks a free port.

    With ``tls_cert`` and ``tls_key`` (PEM files) the dashboard and API are served over HTTPS.
    """
    app = create_app(store, refresh_ms=refresh_ms, auth_token=auth_token, **app_kwargs)
    ssl_context = None
    if tls_cert and tls_key:
        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_context.load_cert_chain(tls_cert, tls_key)
    server = make_server(host, port, app.server, threaded=True, request_handler=_QuietHandler,
                         ssl_context=ssl_context)
    return UIServer(server, app, host, "https" if ssl_context else "http")
