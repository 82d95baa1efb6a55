"""Ingest benchmark: spans/s durably stored by a running collector, against the parse ceiling.

    .venv/bin/python bench/ingest.py [--requests 150] [--clients 4] [--spans 1000]

Starts `choreoscope serve --no-ui` in a child process on a fresh DuckDB file, drives it with
pre-serialized 1000-span requests over gRPC and over HTTP (protobuf, and the same as
OTLP/JSON) from several concurrent clients,
and prints one table: stored spans/s (counted in the database afterwards), export latency
p50/p99, server CPU seconds and peak RSS, and the protobuf parse-only ceiling measured in
the same run on the same requests.
"""

from __future__ import annotations

import argparse
import http.client
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402
import orjson  # noqa: E402
import grpc  # noqa: E402
import psutil  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
)

from bench.common import realistic_request, start_collector  # noqa: E402
from collector.fastdecode import HAVE_FAST, decode_bytes  # noqa: E402
from collector.otlp_json import request_to_json_dict  # noqa: E402
from collector.prepare import JSON, decode_body  # noqa: E402

METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _drive(protocol: str, addr: str, bodies: list[bytes], clients: int) -> list[float]:
    """Send every body once, spread over ``clients`` threads; returns per-export latencies."""
    latencies: list[float] = []
    lock = threading.Lock()
    work = list(enumerate(bodies))
    errors: list[str] = []

    def client() -> None:
        if protocol == "grpc":
            ch = grpc.insecure_channel(addr, options=[("grpc.max_send_message_length", 64 << 20)])
            call = ch.unary_unary(METHOD)
        else:
            u = urlparse(addr)
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        while True:
            with lock:
                if not work:
                    break
                _, body = work.pop()
            t0 = time.perf_counter()
            try:
                if protocol == "grpc":
                    call(body, timeout=60)
                else:
                    ctype = "application/json" if protocol == "http-json" \
                        else "application/x-protobuf"
                    conn.request("POST", "/v1/traces", body, {"Content-Type": ctype})
                    resp = conn.getresponse()
                    resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"HTTP {resp.status}")
            except Exception as exc:  # count it; a benchmark reports, it doesn't crash
                errors.append(str(exc)[:80])
                continue
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print(f"  {len(errors)} failed exports, e.g. {errors[0]}", file=sys.stderr)
    return latencies


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run(protocol: str, bodies: list[bytes], clients: int, spans_per: int,
        workers: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="choreoscope-bench-"))
    db = tmp / "bench.duckdb"
    proc, grpc_addr, http = start_collector(db, "--decode-workers", str(workers),
                                            "--max-pending-spans", "10000000",
                                            "--max-pending-bytes", "2GB",
                                            "--max-request-size", "64MiB")
    ps = psutil.Process(proc.pid)
    # Warm up (connections, first commit), then measure.
    _drive(protocol, grpc_addr if protocol == "grpc" else http, bodies[:2], 1)

    def cpu() -> float:
        total = sum(ps.cpu_times()[:2])
        for c in ps.children(recursive=True):
            try:
                total += sum(c.cpu_times()[:2])
            except psutil.Error:
                pass
        return total

    cpu0 = cpu()
    t0 = time.perf_counter()
    lat = _drive(protocol, grpc_addr if protocol == "grpc" else http, bodies[2:], clients)
    elapsed = time.perf_counter() - t0
    cpu1 = cpu()
    rss = _peak_rss_mb(proc.pid)
    for c in ps.children(recursive=True):
        try:
            rss += c.memory_info().rss / 2**20
        except psutil.Error:
            pass
    proc.terminate()
    proc.wait(60)
    con = duckdb.connect(str(db), read_only=True)
    stored = con.execute("SELECT count(*) FROM spans").fetchone()[0] - 2 * spans_per
    con.close()
    shutil.rmtree(tmp, ignore_errors=True)  # (each run's store: ~17 MB per 150k spans)
    lat.sort()
    return {"protocol": protocol, "workers": workers, "stored": stored,
            "spans_s": stored / elapsed, "p50_ms": 1000 * statistics.median(lat),
            "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            "cpu_s": cpu1 - cpu0, "elapsed": elapsed, "rss_mb": rss}


def json_ceiling(json_bodies: list[bytes], spans_per: int) -> float:
    """Spans/s of an OTLP/JSON export parsed and decoded as the collector does, on one
    core."""
    t0 = time.perf_counter()
    for b in json_bodies[:20]:
        decode_body(b, JSON)
    return spans_per * len(json_bodies[:20]) / (time.perf_counter() - t0)


def parse_ceiling(bodies: list[bytes]) -> tuple[float, float]:
    """Spans/s of protobuf parsing alone, and of parse + our decode, on one core."""
    n = sum(len(ExportTraceServiceRequest.FromString(b).resource_spans[0].scope_spans[0].spans)
            for b in bodies[:20])
    t0 = time.perf_counter()
    for b in bodies[:20]:
        ExportTraceServiceRequest.FromString(b)
    parse = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for b in bodies[:20]:
        decode_bytes(b)
    decode = n / (time.perf_counter() - t0)
    return parse, decode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=150)
    ap.add_argument("--spans", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--workers", default="0,1", help="decode worker processes to compare")
    args = ap.parse_args()
    rng = random.Random(7)
    now = time.time_ns()
    print(f"building {args.requests} requests of {args.spans} spans...", file=sys.stderr)
    bodies = [realistic_request(args.spans, rng, now + i * 10**9) for i in range(args.requests)]
    # the same requests as OTLP/JSON, as an OTLP/HTTP exporter set to JSON sends them
    json_bodies = [orjson.dumps(request_to_json_dict(ExportTraceServiceRequest.FromString(b)))
                   for b in bodies]
    parse, decode = parse_ceiling(bodies)
    json_decode = json_ceiling(json_bodies, args.spans)
    rows = []
    for w in [int(x) for x in args.workers.split(",")]:
        for proto in ("grpc", "http", "http-json"):
            print(f"running {proto} with {w} decode workers...", file=sys.stderr)
            rows.append(run(proto, json_bodies if proto == "http-json" else bodies,
                            args.clients, args.spans, w))
    print(f"\n{args.requests} requests x {args.spans} spans "
          f"({sum(map(len, bodies)) / len(bodies) / 1024:.0f} KiB each), "
          f"{args.clients} concurrent clients, {psutil.cpu_count()} cores\n")
    print(f"{'protocol':<9}{'workers':>8}{'stored/s':>11}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'server CPU s':>14}{'CPU/elapsed':>13}{'peak RSS MB':>13}{'vs parse':>10}")
    for r in rows:
        print(f"{r['protocol']:<9}{r['workers']:>8}{r['spans_s']:>11,.0f}{r['p50_ms']:>9.1f}"
              f"{r['p99_ms']:>9.1f}{r['cpu_s']:>14.1f}{r['cpu_s'] / r['elapsed']:>13.2f}"
              f"{r['rss_mb']:>13.0f}{r['spans_s'] / parse:>10.2f}")
    print(f"\nparse-only ceiling (protobuf decode, one core): {parse:,.0f} spans/s")
    print(f"parse + choreoscope decode to Arrow columns (one core, compiled={HAVE_FAST}): "
          f"{decode:,.0f} spans/s")
    print(f"the same from OTLP/JSON (collector.prepare.decode_body, one core): "
          f"{json_decode:,.0f} spans/s")


if __name__ == "__main__":
    main()
