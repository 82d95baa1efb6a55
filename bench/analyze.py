"""Benchmark of the analyzer: time and peak memory per stage on 100k- and 1M-span stores.

    .venv/bin/python bench/analyze.py [--sizes 100000,1000000] [--runs 3]

Stores are built once and kept in ``bench/out/``: the three sample scenarios are generated
with ``python -m sample_traces.generate`` (about a third of the smallest size each, distinct
seeds), decoded into a store through the collector's own path (OTLP/JSON ->
``collector.otlp_json.parse_json_request`` -> ``collector.decode.decode_request``), and larger
sizes are that store replicated under fresh trace, span and message ids and shifted in time,
so every size has exactly the generated structure. Each size is analysed in a fresh child
process (so its peak RSS is the analysis', not the loader's); the table shows the median time
of ``--runs`` runs per stage and the peak RSS sampled while the stage ran.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
SCENARIOS = ("choreography", "orchestration", "hybrid")


def _decode_file(path: str) -> list:
    from collector.decode import decode_request
    from collector.otlp_json import parse_json_request

    with open(path, "rb") as fh:
        return [decode_request(parse_json_request(line)) for line in fh if line.strip()]


def _decode_lines(lines: list[bytes]) -> list:
    from collector.decode import decode_request
    from collector.otlp_json import parse_json_request

    return [decode_request(parse_json_request(x)) for x in lines]


def build_base(spans: int) -> Path:
    """The generated store of about ``spans`` spans (cached)."""
    from choreoscope.store import Store

    OUT.mkdir(parents=True, exist_ok=True)
    db = OUT / f"analyze-base-{spans}.duckdb"
    if db.exists():
        return db
    tmp = Path(tempfile.mkdtemp(prefix="choreoscope-bench-"))
    try:
        for i, sc in enumerate(SCENARIOS):
            t = time.monotonic()
            subprocess.run([sys.executable, "-m", "sample_traces.generate", "--scenario", sc,
                            "--spans", str(spans // len(SCENARIOS)), "--seed", str(42 + i),
                            "--out", str(tmp)], check=True, cwd=ROOT,
                           stderr=subprocess.DEVNULL)
            print(f"  generated {sc} in {time.monotonic() - t:.1f}s", file=sys.stderr)
        part = db.with_suffix(".part")
        for p in (part, Path(str(part) + ".wal")):
            p.unlink(missing_ok=True)
        st = Store.open(part)
        t = time.monotonic()
        lines: list[bytes] = []
        for sc in SCENARIOS:
            with open(tmp / f"{sc}.jsonl", "rb") as fh:
                lines.extend(x for x in fh if x.strip())
        chunks = [lines[i::os.cpu_count() or 2] for i in range(os.cpu_count() or 2)]
        with ProcessPoolExecutor(len(chunks)) as pool:
            for batches in pool.map(_decode_lines, chunks):
                for b in batches:
                    st.submit(b)
        st.close()
        os.replace(part, db)
        print(f"  decoded and stored in {time.monotonic() - t:.1f}s", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return db


def build_size(base: Path, size: int) -> Path:
    """``base`` replicated to about ``size`` spans (cached)."""
    from choreoscope.sql import named_queries
    import duckdb

    db = OUT / f"analyze-{size}.duckdb"
    if db.exists():
        return db
    q = named_queries()
    con = duckdb.connect(str(base), read_only=True)
    lo, hi, n = con.execute(q["bench_base_range"]).fetchone()
    con.close()
    copies = max(1, round(size / n))
    part = db.with_suffix(".part")
    part.unlink(missing_ok=True)
    shutil.copyfile(base, part)
    if copies > 1:
        con = duckdb.connect(str(part))
        period = (hi - lo) + 60 * 10**9
        con.execute(q["bench_replicate_spans"], {"copies": copies, "period": period})
        con.execute(q["bench_replicate_links"], {"copies": copies})
        con.execute("CHECKPOINT")
        con.close()
    os.replace(part, db)
    return db


# ------------------------------------------------------------------------------- child
class _Sampler(threading.Thread):
    """Samples this process' RSS every few milliseconds."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process()
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.perf_counter(), self.proc.memory_info().rss))
            time.sleep(0.005)

    def peak(self, t0: float, t1: float) -> int:
        inside = [r for t, r in self.samples if t0 <= t <= t1]
        if inside:
            return max(inside)
        before = [r for t, r in self.samples if t <= t1]
        return before[-1] if before else 0


def child(db: str, runs: int) -> dict:
    from analyzer import analyze, edge_detail, flow_for_trace
    from analyzer.export import flow_otlp, otlp_json_bytes, window_otlp
    from choreoscope.store import Store

    sampler = _Sampler()
    sampler.start()
    st = Store.open(db, read_only=True)
    times: dict[str, list[float]] = {}
    peaks: dict[str, int] = {}
    a = None
    for _ in range(runs):
        log: list[tuple[str, float, float]] = []
        c0 = time.process_time()
        t0 = time.perf_counter()
        a = analyze(st, log=log)
        t1 = time.perf_counter()
        c1 = time.process_time()
        log.append(("analyze (total)", t0, t1))
        per: dict[str, float] = {}
        for name, s, e in log:
            per[name] = per.get(name, 0.0) + (e - s)
            peaks[name] = max(peaks.get(name, 0), sampler.peak(s, e))
        # CPU seconds of all threads (sampler included, ~1%): on a shared machine wall time
        # swings with other load, CPU time much less
        per["analyze (total, CPU s)"] = c1 - c0
        for k, v in per.items():
            times.setdefault(k, []).append(v)
    assert a is not None
    # the dashboard's per-click calls
    for label, fn in (
            ("flow_for_trace (slowest flow)",
             lambda: flow_for_trace(st, a.flows[0]["example_trace_ids"][0])),
            ("edge_detail (busiest edge)",
             lambda: edge_detail(st, max(a.edges, key=lambda e: e["count"])["id"])),
            ("flow_otlp (slowest flow, encoded)",
             lambda: otlp_json_bytes(flow_otlp(st, a.flows[0]["example_trace_ids"][0])))):
        for _ in range(max(runs, 3)):
            s = time.perf_counter()
            fn()
            e = time.perf_counter()
            times.setdefault(label, []).append(e - s)
            peaks[label] = max(peaks.get(label, 0), sampler.peak(s, e))
    # a click on any node or edge of the map: the slowest of them (a rare edge's detail can
    # be slower than the busiest's: a publish edge's took 2 s at 1M before it was found)
    elements = [e["id"] for e in a.edges] + [n["id"] for n in a.nodes]
    label = f"edge_detail (slowest of {len(elements)})"
    for _ in range(max(runs, 1)):
        slowest = 0.0
        for element in elements:
            s = time.perf_counter()
            edge_detail(st, element)
            e = time.perf_counter()
            slowest = max(slowest, e - s)
            peaks[label] = max(peaks.get(label, 0), sampler.peak(s, e))
        times.setdefault(label, []).append(slowest)
    # `choreoscope export` of every span, once (tens of seconds at 1M): read, converted and
    # encoded, not written
    label = "window_otlp (every span, 1 run)"
    s = time.perf_counter()
    exported = sum(len(otlp_json_bytes(d)) for d in window_otlp(st))
    e = time.perf_counter()
    assert exported > 0
    times[label] = [e - s]
    peaks[label] = sampler.peak(s, e)
    sampler.stop.set()
    st.close()
    return {"spans": a.summary["span_count"], "traces": a.summary["trace_count"],
            "flows": a.summary["flow_instance_count"],
            "times": {k: statistics.median(v) for k, v in times.items()},
            "peaks_mb": {k: v / 2**20 for k, v in peaks.items()},
            "order": list(dict.fromkeys(k for k in times))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="100000,1000000", help="span counts, comma-separated")
    p.add_argument("--runs", type=int, default=3, help="runs per size (median is shown)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.runs)))
        return 0
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    base = build_base(min(sizes))
    for size in sizes:
        db = build_size(base, size)
        out = subprocess.run([sys.executable, __file__, "--child", str(db), "--runs",
                              str(args.runs)], check=True, capture_output=True, text=True,
                             cwd=ROOT)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"\n{r['spans']:,} spans, {r['traces']:,} traces, {r['flows']:,} flow instances "
              f"({db.name}; median of {args.runs} runs)")
        print(f"{'stage':<34} {'time (s)':>9} {'peak RSS (MB)':>14}")
        for k in r["order"]:
            peak = r["peaks_mb"].get(k)
            print(f"{k:<34} {r['times'][k]:>9.3f} "
                  + (f"{peak:>14.0f}" if peak is not None else ""))
        print("(edges_nodes includes the edge, evidence, service and topic queries it runs; "
              "analyze (total) is the whole call, in wall and in CPU seconds)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
