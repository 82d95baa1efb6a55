"""Soak: a bounded load with a fault every minute; prints sent/acknowledged/stored and memory.

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 20000]

Runs `choreoscope serve` in a child process, sends `--rate` spans/s (about half of what
bench/ingest.py measures as the maximum on this machine) over gRPC and HTTP, and once a
minute injects one fault in turn: a client killed mid-request, a burst of malformed
requests, an overload spike (many large concurrent exports). Every acknowledged span must
be stored; the table shows memory over time so growth would be visible.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
)
import grpc  # noqa: E402
import psutil  # noqa: E402
import requests  # noqa: E402

from bench.common import realistic_request, start_collector  # noqa: E402

METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PB = {"Content-Type": "application/x-protobuf"}


class Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent = self.acked = self.refused = self.failed = 0

    def add(self, **kw: int) -> None:
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)


class Bodies:
    """Unique export bodies, fast: a pool of realistic requests re-stamped with new trace
    ids (and current times) per use, so the client keeps up and nothing is a duplicate."""

    def __init__(self, spans_per: int, pool: int = 16, seed: int = 1) -> None:
        rng = random.Random(seed)
        self.reqs = [ExportTraceServiceRequest.FromString(
            realistic_request(spans_per, rng, time.time_ns())) for _ in range(pool)]
        self.n = 0
        self.lock = threading.Lock()

    def next(self) -> bytes:
        with self.lock:
            self.n += 1
            n = self.n
            req = self.reqs[n % len(self.reqs)]
            stamp = n.to_bytes(6, "big")
            now = time.time_ns()
            for s in req.resource_spans[0].scope_spans[0].spans:
                dur = s.end_time_unix_nano - s.start_time_unix_nano
                s.trace_id = stamp + s.trace_id[6:]
                s.start_time_unix_nano = now
                s.end_time_unix_nano = now + dur
            return req.SerializeToString()


def steady_load(grpc_addr: str, http: str, rate: int, stop: threading.Event,
                c: Counters, bodies: Bodies, spans_per: int = 500) -> None:
    call = grpc.insecure_channel(grpc_addr).unary_unary(METHOD)
    session = requests.Session()
    interval = spans_per / rate
    next_t = time.monotonic()
    i = 0
    while not stop.is_set():
        body = bodies.next()
        c.add(sent=spans_per)
        try:
            if i % 2:
                call(body, timeout=30)
            else:
                r = session.post(http + "/v1/traces", data=body, headers=PB, timeout=30)
                if r.status_code in (429, 503):
                    c.add(refused=spans_per)
                    continue
                r.raise_for_status()
            c.add(acked=spans_per)
        except grpc.RpcError as exc:
            c.add(**({"refused": spans_per} if exc.code() in (
                grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE)
                else {"failed": spans_per}))
        except requests.RequestException:
            c.add(failed=spans_per)
        i += 1
        next_t += interval
        time.sleep(max(0.0, next_t - time.monotonic()))


def fault_killed_client(http: str) -> str:
    u = urlparse(http)
    s = socket.create_connection((u.hostname, u.port))
    s.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
              b"Content-Length: 100000\r\n\r\n" + os.urandom(5000))
    s.close()
    return "client killed mid-request"


def fault_malformed_burst(http: str) -> str:
    codes = set()
    for i in range(200):
        r = requests.post(http + "/v1/traces", data=os.urandom(100 + i),
                          headers=PB if i % 2 else {"Content-Type": "application/json"},
                          timeout=10)
        codes.add(r.status_code)
    return f"200 malformed requests -> HTTP {sorted(codes)}"


def fault_overload(http: str, c: Counters, big: Bodies) -> str:
    bodies = [big.next() for _ in range(24)]  # all distinct: no duplicate inflates "acked"
    results: list[int] = []

    def one(b: bytes) -> None:
        c.add(sent=5000)
        r = requests.post(http + "/v1/traces", data=b, headers=PB, timeout=60)
        results.append(r.status_code)
        if r.status_code == 200:
            c.add(acked=5000)
        else:
            c.add(refused=5000)

    ts = [threading.Thread(target=one, args=(b,)) for b in bodies]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return (f"overload spike: {results.count(200)} accepted, "
            f"{len(results) - results.count(200)} refused with 503")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rate", type=int, default=20000, help="steady spans/s")
    args = ap.parse_args()
    db = Path(tempfile.mkdtemp(prefix="choreoscope-soak-")) / "soak.duckdb"
    proc, grpc_addr, http = start_collector(db, "--max-pending-spans", "60000")
    ps = psutil.Process(proc.pid)
    c = Counters()
    stop = threading.Event()
    bodies = Bodies(500, seed=1)
    big = Bodies(5000, pool=4, seed=5)
    # Four senders share the rate: one synchronous client can't have more in flight.
    loaders = [threading.Thread(target=steady_load,
                                args=(grpc_addr, http, args.rate // 4, stop, c, bodies))
               for _ in range(4)]
    for t in loaders:
        t.start()
    faults = [lambda: fault_killed_client(http), lambda: fault_malformed_burst(http),
              lambda: fault_overload(http, c, big)]
    t0 = time.monotonic()
    end = t0 + args.minutes * 60
    rows = []
    minute = 0
    while time.monotonic() < end:
        time.sleep(min(60, max(0, end - time.monotonic())))
        minute += 1
        what = faults[(minute - 1) % len(faults)]() if time.monotonic() < end else "-"
        rows.append((minute, c.sent, c.acked, c.refused, c.failed,
                     ps.memory_info().rss / 2**20, what))
        print(f"  minute {minute}: {what}", file=sys.stderr)
    stop.set()
    for t in loaders:
        t.join(60)
    time.sleep(1)
    peak = int(open(f"/proc/{proc.pid}/status").read().split("VmHWM:")[1].split()[0]) / 1024
    proc.terminate()
    proc.wait(60)
    con = duckdb.connect(str(db), read_only=True)
    stored = con.execute("SELECT count(*) FROM spans").fetchone()[0]
    con.close()
    print(f"\nsoak: {args.minutes:g} min at {args.rate} spans/s, a fault every minute\n")
    print(f"{'min':>4}{'sent':>11}{'acked':>11}{'refused':>10}{'failed':>8}{'RSS MB':>8}  fault")
    for m, s, a, r, f, rss, what in rows:
        print(f"{m:>4}{s:>11,}{a:>11,}{r:>10,}{f:>8,}{rss:>8.0f}  {what}")
    print(f"\nsteady rate reached: {c.sent / (args.minutes * 60):,.0f} spans/s")
    print(f"sent {c.sent:,}  acknowledged {c.acked:,}  stored {stored:,}  "
          f"refused (retryable) {c.refused:,}  failed {c.failed:,}  peak RSS {peak:.0f} MB")
    print("OK: every acknowledged span is stored" if stored >= c.acked
          else f"LOST {c.acked - stored:,} acknowledged spans")


if __name__ == "__main__":
    main()
