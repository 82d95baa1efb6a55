"""A web page exports its spans to the collector from headless Chromium, with OpenTelemetry
JS's own web tracer and OTLP/HTTP exporter (tests/node_shop/web/page.js, bundled by
esbuild), from the page's origin to the collector's: the browser's CORS preflight decides.
"""

from __future__ import annotations

import functools
import os
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from collector.server import Collector
from dashboard.screenshots import CHROMEDRIVER, headless_chromium
from tests.conftest import collector_settings

NODE_SHOP = Path(__file__).resolve().parent / "node_shop"
ESBUILD = NODE_SHOP / "node_modules" / ".bin" / "esbuild"
TOKEN = "page-token"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMEDRIVER),
                       reason=f"{CHROMEDRIVER} not installed (apt-get install chromium-driver)"),
    pytest.mark.skipif(not ESBUILD.exists(),
                       reason="npm ci --prefix tests/node_shop (as .ci/run does) has not run"),
]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page and its bundle."""
    root = tmp_path_factory.mktemp("site")
    subprocess.run([str(ESBUILD), "web/page.js", "--bundle", "--format=iife",
                    f"--outfile={root / 'page.js'}", "--log-level=error"],
                   cwd=NODE_SHOP, check=True, timeout=120)
    (root / "index.html").write_text("<!doctype html><title>shop</title>"
                                     "<script src='page.js'></script>")
    return root


def _serve(root: Path) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def pages(site: Path) -> Iterator[tuple[str, str]]:
    """The same page on two origins (two ports of 127.0.0.1)."""
    servers = [_serve(site), _serve(site)]
    try:
        yield tuple(f"http://127.0.0.1:{s.server_address[1]}" for s in servers)  # type: ignore
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


def _export(browser: Any, page: str, url: str) -> dict[str, Any]:
    browser.get(page + "/index.html")
    browser.set_script_timeout(30)
    return browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "window.exportSpans(arguments[0], arguments[1]).then(done, e => done({error: String(e)}));",
        url, TOKEN)


def test_a_web_page_of_an_allowed_origin_exports_and_others_cannot(tmp_path: Path, pages):
    allowed, other = pages
    col = Collector(collector_settings(tmp_path / "web.duckdb", cors_origins=(allowed,),
                                       auth_token=TOKEN))
    col.start()
    browser = headless_chromium(1000, 700)
    try:
        url = col.endpoints.http + "/v1/traces"
        result = _export(browser, allowed, url)
        assert result == {"code": 0, "error": None}
        with col.store.cursor() as cur:
            rows = cur.execute("SELECT name, kind, service_name FROM spans ORDER BY name"
                               ).fetchall()
        assert rows == [("POST /orders", "CLIENT", "web-shop"),
                        ("click checkout", "INTERNAL", "web-shop")]
        # the same page on an origin the collector does not name: the browser refuses
        # after the preflight, and nothing is sent
        result = _export(browser, other, url)
        assert result["code"] == 1 and result["error"]
        assert col.store.count_spans() == 2
    finally:
        browser.quit()
        col.stop()
