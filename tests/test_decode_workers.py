"""Decode worker processes (--decode-workers): the same spans stored, through a small process.

Large exports are decoded and split into envelopes in a worker process, so the server's
writer does not wait behind the GIL; what is stored must not depend on where that ran.
"""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import requests
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from collector.server import Collector
from tests.conftest import collector_settings
from tests.otlp_fixtures import full_request, simple_request

PB = {"Content-Type": "application/x-protobuf"}


def _big_request() -> ExportTraceServiceRequest:
    """An export past the 64 KiB a worker takes, with every field kind and two bad spans."""
    now = time.time_ns()
    req = full_request(now)
    more = simple_request(400, service="bulk", now_ns=now,
                          attrs={"messaging.system": "kafka", "order.note": "x" * 150})
    req.resource_spans.extend(more.resource_spans)
    spans = req.resource_spans[-1].scope_spans[0].spans
    spans[7].trace_id = b"\x00" * 16
    spans[9].end_time_unix_nano = spans[9].start_time_unix_nano - 1
    assert req.ByteSize() > 64 * 1024
    return req


def _stored(col: Collector) -> list[tuple]:
    with col.store.cursor() as cur:
        spans = cur.execute(
            "SELECT * EXCLUDE (ingested_at_unix_nano) FROM spans_full "
            "ORDER BY trace_id, span_id").fetchall()
        events = cur.execute("SELECT * FROM span_events ORDER BY ALL").fetchall()
        links = cur.execute("SELECT * FROM span_links ORDER BY ALL").fetchall()
    return [spans, events, links]


def _start(path: Path, workers: int) -> Collector:
    col = Collector(collector_settings(path, decode_workers=workers))
    col.start()
    return col


def test_a_worker_stores_exactly_what_the_server_itself_stores(tmp_path):
    body = _big_request().SerializeToString()
    results = []
    for workers in (0, 1):
        col = _start(tmp_path / f"w{workers}.duckdb", workers)
        try:
            r = requests.post(col.endpoints.http + "/v1/traces", data=body, headers=PB,
                              timeout=30)
            assert r.status_code == 200
            ps = ExportTraceServiceResponse.FromString(r.content).partial_success
            assert ps.rejected_spans == 2
            assert "invalid trace_id" in ps.error_message and "end before" in ps.error_message
            # A retry over gRPC counts nothing twice.
            stub = trace_service_pb2_grpc.TraceServiceStub(
                grpc.insecure_channel(col.endpoints.grpc.removeprefix("http://")))
            resp = stub.Export(ExportTraceServiceRequest.FromString(body), timeout=30)
            assert resp.partial_success.rejected_spans == 2
            results.append((_stored(col), col.ingest.spans_stored))
        finally:
            col.stop()
    (plain, plain_n), (worker, worker_n) = results
    assert len(plain[0]) == worker_n == plain_n == 399  # 400 + 1, less the 2 rejected
    assert plain[1] and plain[2]  # the full request's events and links are there
    assert worker == plain


def test_worker_processes_do_not_load_the_server(tmp_path):
    col = _start(tmp_path / "w.duckdb", 1)
    try:
        pids = list(col.ingest._pool._processes)  # the pool's worker processes
        assert len(pids) == 1
        maps = Path(f"/proc/{pids[0]}/maps").read_text()
        assert "pyarrow" in maps  # it does decode
        assert "_duckdb" not in maps and "networkx" not in maps
    finally:
        col.stop()


def test_auto_means_one_worker_on_two_or_more_cores(monkeypatch):
    from choreoscope.config import resolve

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert resolve({}, environ={})["decode_workers"] == 1
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert resolve({}, environ={})["decode_workers"] == 0
    assert resolve({}, environ={"CHOREOSCOPE_DECODE_WORKERS": "3"})["decode_workers"] == 3


def test_a_killed_worker_costs_no_export(tmp_path):
    import os
    import signal

    col = _start(tmp_path / "k.duckdb", 1)
    try:
        (pid,) = list(col.ingest._pool._processes)
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        for _ in range(3):  # the first finds the pool broken, the others never use it
            r = requests.post(col.endpoints.http + "/v1/traces",
                              data=_big_request().SerializeToString(), headers=PB, timeout=30)
            assert r.status_code == 200
        assert col.store.count_spans() == 3 * 399
        assert col.ingest._pool is None
    finally:
        col.stop()


def test_a_killed_server_takes_its_worker_with_it(tmp_path):
    """SIGKILL (or the OOM killer) gives the server no chance to stop its workers."""
    import os
    import signal
    import subprocess
    import sys

    import psutil

    proc = subprocess.Popen(
        [sys.executable, "-m", "choreoscope.cli", "serve", "--db", str(tmp_path / "s.duckdb"),
         "--grpc-port", "0", "--http-port", "0", "--no-ui", "--decode-workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "OTLP/HTTP" in line:
                break
        workers = [c for c in psutil.Process(proc.pid).children()
                   if "spawn_main" in " ".join(c.cmdline())]
        assert len(workers) == 1
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        gone, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, "the decode worker outlived its server"
    finally:
        if proc.poll() is None:
            proc.kill()
