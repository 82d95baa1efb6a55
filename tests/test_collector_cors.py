"""OTLP/HTTP for web pages: the CORS preflight and headers `--cors-origins` allows, over a
real socket. (tests/test_browser_export.py sends spans from a page in headless Chromium.)"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import orjson
import pytest
import requests

from choreoscope.cli import main
from choreoscope.config import resolve
from collector.otlp_json import request_to_json_dict
from collector.server import Collector
from tests.conftest import collector_settings
from tests.otlp_fixtures import simple_request

PAGE = "http://shop.test:3000"
PREFLIGHT = {"Origin": PAGE, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type,authorization,x-team"}


@pytest.fixture
def cors(tmp_path: Path) -> Iterator[Collector]:
    col = Collector(collector_settings(tmp_path / "c.duckdb",
                                       cors_origins=(PAGE, "https://*.example.com")))
    col.start()
    try:
        yield col
    finally:
        col.stop()


def _json_body(service: str) -> bytes:
    return orjson.dumps(request_to_json_dict(simple_request(1, service=service)))


def _stored(col: Collector, service: str) -> int:
    with col.store.cursor() as cur:
        return cur.execute("SELECT count(*) FROM spans WHERE service_name = ?",
                           [service]).fetchone()[0]


def test_an_allowed_pages_preflight_and_export(cors: Collector):
    url = cors.endpoints.http + "/v1/traces"
    pre = requests.options(url, headers=PREFLIGHT, timeout=10)
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == PAGE
    assert pre.headers["Access-Control-Allow-Methods"] == "POST"
    assert pre.headers["Access-Control-Allow-Headers"] == "content-type, authorization, x-team"
    assert "Origin" in pre.headers["Vary"]
    r = requests.post(url, data=_json_body("web-shop"),
                      headers={"Content-Type": "application/json", "Origin": PAGE}, timeout=10)
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == PAGE
    assert _stored(cors, "web-shop") == 1
    # a subdomain of a wildcard origin, and an error the page can read
    sub = "https://checkout.eu.example.com"
    bad = requests.post(url, data=b"{", timeout=10,
                        headers={"Content-Type": "application/json", "Origin": sub})
    assert bad.status_code == 400 and bad.headers["Access-Control-Allow-Origin"] == sub
    assert "malformed JSON" in bad.json()["message"]


@pytest.mark.parametrize("origin", ["http://shop.test:3001", "https://example.com",
                                    "https://example.com.evil.org", "http://a.example.com"])
def test_other_origins_get_no_cors_headers(cors: Collector, origin: str):
    url = cors.endpoints.http + "/v1/traces"
    pre = requests.options(url, headers={**PREFLIGHT, "Origin": origin}, timeout=10)
    assert pre.status_code == 403 and "Access-Control-Allow-Origin" not in pre.headers
    assert "not one of --cors-origins" in pre.json()["message"]
    # (a client that is not a browser is not stopped by an Origin: the token is the lock)
    r = requests.post(url, data=_json_body("elsewhere"),
                      headers={"Content-Type": "application/json", "Origin": origin}, timeout=10)
    assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers


def test_without_cors_origins_a_preflight_says_how_to_allow_it(collector: Collector):
    url = collector.endpoints.http + "/v1/traces"
    pre = requests.options(url, headers=PREFLIGHT, timeout=10)
    assert pre.status_code == 405 and "Access-Control-Allow-Origin" not in pre.headers
    assert "--cors-origins" in pre.json()["message"]
    r = requests.post(url, data=_json_body("web-shop"),
                      headers={"Content-Type": "application/json", "Origin": PAGE}, timeout=10)
    assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers


def test_every_origin(tmp_path: Path):
    col = Collector(collector_settings(tmp_path / "any.duckdb", cors_origins=("*",)))
    col.start()
    try:
        pre = requests.options(col.endpoints.http + "/v1/traces",
                               headers={**PREFLIGHT, "Origin": "https://anything.test"},
                               timeout=10)
        assert pre.headers["Access-Control-Allow-Origin"] == "https://anything.test"
    finally:
        col.stop()


def test_a_bad_origin_setting_is_a_readable_error(capsys):
    with pytest.raises(ValueError, match="CHOREOSCOPE_CORS_ORIGINS: not an origin: 'shop'"):
        resolve({}, environ={"CHOREOSCOPE_CORS_ORIGINS": "shop"})
    assert resolve({}, environ={"CHOREOSCOPE_CORS_ORIGINS": " https://A.test/ ,"})[
        "cors_origins"] == ("https://a.test",)
    assert main(["serve", "--cors-origins", "ftp://x", "--no-ui"]) == 2
    assert "choreoscope: --cors-origins: not an origin: 'ftp://x'" in capsys.readouterr().err
