"""Bounded overload, bearer-token auth, TLS and retention, against a live collector."""

from __future__ import annotations

import subprocess
import threading
import time

import grpc
import pytest
import requests
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from collector.server import Collector
from tests.conftest import collector_settings
from tests.otlp_fixtures import simple_request

PB = {"Content-Type": "application/x-protobuf"}


def _stub(target: str, creds: grpc.ChannelCredentials | None = None):
    ch = grpc.secure_channel(target, creds) if creds else grpc.insecure_channel(target)
    return trace_service_pb2_grpc.TraceServiceStub(ch)


def test_overload_is_refused_with_retry_hint_and_accepted_data_is_kept(tmp_path):
    col = Collector(collector_settings(tmp_path / "o.duckdb", max_pending_spans=100))
    col.start()
    try:
        # Hold the single writer so the first export stays in flight.
        gate = threading.Event()
        col.store.run_write(lambda conn: gate.wait(10))
        first: dict = {}
        t = threading.Thread(target=lambda: first.setdefault("r", requests.post(
            col.endpoints.http + "/v1/traces", data=simple_request(300).SerializeToString(),
            headers=PB, timeout=30)))
        t.start()
        deadline = time.monotonic() + 10
        while col.ingest.pending_spans == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert col.ingest.pending_spans == 300
        r = requests.post(col.endpoints.http + "/v1/traces",
                          data=simple_request(5).SerializeToString(), headers=PB, timeout=10)
        assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0
        assert "busy" in status_pb2.Status.FromString(r.content).message
        with pytest.raises(grpc.RpcError) as err:
            _stub(col.endpoints.grpc.removeprefix("http://")).Export(simple_request(5),
                                                                     timeout=10)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        details = dict(err.value.trailing_metadata())["grpc-status-details-bin"]
        st = status_pb2.Status.FromString(details)
        info = error_details_pb2.RetryInfo()
        assert st.details[0].Unpack(info) and info.retry_delay.seconds > 0
        gate.set()
        t.join(30)
        assert first["r"].status_code == 200
        assert col.store.count_spans() == 300
        # Once drained, the collector accepts again.
        r = requests.post(col.endpoints.http + "/v1/traces",
                          data=simple_request(5).SerializeToString(), headers=PB, timeout=10)
        assert r.status_code == 200 and col.store.count_spans() == 305
    finally:
        col.stop()


def test_bearer_token_required_on_http_and_grpc(tmp_path):
    col = Collector(collector_settings(tmp_path / "a.duckdb", auth_token="s3cret"))
    col.start()
    try:
        url = col.endpoints.http + "/v1/traces"
        body = simple_request(2).SerializeToString()
        assert requests.post(url, data=body, headers=PB, timeout=10).status_code == 401
        bad = {**PB, "Authorization": "Bearer nope"}
        assert requests.post(url, data=body, headers=bad, timeout=10).status_code == 401
        good = {**PB, "Authorization": "Bearer s3cret"}
        assert requests.post(url, data=body, headers=good, timeout=10).status_code == 200
        stub = _stub(col.endpoints.grpc.removeprefix("http://"))
        with pytest.raises(grpc.RpcError) as err:
            stub.Export(simple_request(2), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        stub.Export(simple_request(3), timeout=10,
                    metadata=(("authorization", "Bearer s3cret"),))
        assert col.store.count_spans() == 5
    finally:
        col.stop()


def test_tls_on_grpc_and_http(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    col = Collector(collector_settings(tmp_path / "t.duckdb", tls_cert=str(cert),
                                       tls_key=str(key), no_ui=False, auth_token="tok"))
    ep = col.start()
    try:
        assert ep.http.startswith("https://") and ep.grpc.startswith("https://")
        auth = {"Authorization": "Bearer tok"}
        r = requests.post(ep.http + "/v1/traces", data=simple_request(2).SerializeToString(),
                          headers={**PB, **auth}, timeout=10, verify=str(cert))
        assert r.status_code == 200
        assert ep.ui.startswith("https://")
        assert requests.get(ep.ui + "api/health", verify=str(cert), timeout=10).status_code == 401
        assert requests.get(ep.ui + "api/health", verify=str(cert), headers=auth,
                            timeout=10).status_code == 200
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.post(ep.http.replace("https", "http") + "/v1/traces", data=b"",
                          headers=PB, timeout=5)
        creds = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        _stub(ep.grpc.removeprefix("https://"), creds).Export(
            simple_request(3), timeout=10, metadata=(("authorization", "Bearer tok"),))
        assert col.store.count_spans() == 5
    finally:
        col.stop()


def test_retention_drops_old_spans_only(tmp_path):
    col = Collector(collector_settings(tmp_path / "r.duckdb", retention="24h"))
    col.start()
    try:
        old = time.time_ns() - 2 * 86400 * 10**9
        for req in (simple_request(10, "old", now_ns=old), simple_request(4, "new")):
            assert requests.post(col.endpoints.http + "/v1/traces",
                                 data=req.SerializeToString(), headers=PB,
                                 timeout=10).status_code == 200
        assert col.enforce_retention() == 10
        with col.store.cursor() as cur:
            rows = cur.execute("SELECT service_name, count(*) FROM spans GROUP BY 1").fetchall()
        assert rows == [("new", 4)]
    finally:
        col.stop()


def test_max_db_size_drops_oldest_first(tmp_path):
    col = Collector(collector_settings(tmp_path / "m.duckdb", max_db_size="1"))
    col.start()
    try:
        base = time.time_ns() - 3600 * 10**9
        for i in range(10):
            req = simple_request(50, f"s{i}", now_ns=base + i * 60 * 10**9)
            requests.post(col.endpoints.http + "/v1/traces", data=req.SerializeToString(),
                          headers=PB, timeout=10)
        deleted = col.enforce_retention()
        assert deleted > 0
        with col.store.cursor() as cur:
            left = {r[0] for r in cur.execute("SELECT DISTINCT service_name FROM spans")
                    .fetchall()}
        assert "s0" not in left  # the oldest goes first
    finally:
        col.stop()
