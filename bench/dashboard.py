"""Time every dashboard page's data callbacks on big stores (100k and 1M spans).

    python -m bench.dashboard [--sizes 100000,1000000] [--repeat 5] [--cache DIR]

Stores are the analyzer benchmark's (``bench/analyze.py``: the three sample scenarios
generated and replicated under fresh ids, cached in ``bench/out/``), so both benchmarks measure
the same data; without that module, the choreography scenario is generated at each size
into ``--cache``. A second run only measures. Each page's
callbacks are called as plain functions, exactly as Dash calls them, for two windows: ``all``
(worst case) and a range over the newest tenth of the data (a typical live view). "cold"
runs include the analysis (cache emptied first); "warm" is what every refresh and every
other page costs while the analysis is cached. Prints one table: page, size, window, median.

``--browser`` adds what a user waits for: each page served by the real app, loaded in headless
Chromium (``/usr/bin/chromium`` + ``chromedriver``) until its data is on screen (no Dash
callback pending and the page's own content drawn), with the window's analysis cached, as
after the first visit. The browser's rendering can cost more than the callbacks: Dash's
renderer slows down faster than linearly with the number of components on a page.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from choreoscope.store import Store  # noqa: E402
from collector.decode import decode_request  # noqa: E402
from collector.otlp_json import parse_json_request  # noqa: E402
from dashboard.app import create_app, status_line  # noqa: E402
from dashboard.pages.bottlenecks import BottlenecksPage  # noqa: E402
from dashboard.pages.flow_map import FlowMapPage  # noqa: E402
from dashboard.pages.flow_view import FlowViewPage  # noqa: E402
from dashboard.pages.flows import FlowsPage  # noqa: E402
from dashboard.pages.search import SearchPage  # noqa: E402
from dashboard.params import format_time  # noqa: E402


def build_store(spans: int, cache: Path, base_spans: int) -> Path:
    """A DuckDB store of about ``spans`` generated spans (built once, then reused)."""
    try:
        from bench.analyze import build_base, build_size
    except ImportError:
        return _generate_store(spans, cache)
    return build_size(build_base(base_spans), spans)


def _generate_store(spans: int, cache: Path) -> Path:
    db = cache / f"dashboard-{spans}.duckdb"
    if db.exists():
        return db
    gen_dir = cache / f"gen-{spans}"
    jsonl = gen_dir / "choreography.jsonl"
    if not jsonl.exists():
        print(f"generating {spans:,} spans into {gen_dir} ...", flush=True)
        partial = cache / f"gen-{spans}.partial"
        subprocess.run([sys.executable, "-m", "sample_traces.generate", "--scenario",
                        "choreography", "--spans", str(spans), "--out", str(partial)],
                       cwd=ROOT, check=True)
        partial.rename(gen_dir)  # only a complete file is ever reused
    print(f"loading {jsonl} into {db} ...", flush=True)
    tmp = db.with_suffix(".partial")
    with Store.open(tmp) as store:
        with open(jsonl, "rb") as fh:
            for line in fh:
                if line.strip():
                    store.write(decode_request(parse_json_request(line)))
    tmp.rename(db)
    return db


def median_ms(fn: Callable[[], Any], repeat: int, before: Callable[[], None] | None = None) \
        -> float:
    times = []
    for _ in range(repeat):
        if before:
            before()
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def measure(db: Path, repeat: int) -> list[tuple[str, str, str, float]]:
    """``[(page, window, mode, median ms)]`` for one store."""
    store = Store.open(db, read_only=True)
    try:
        app = create_app(store, refresh_ms=3_600_000)
        deps = app.deps
        lo, hi = store.query_rows("time_range")[0]
        recent = {"window": "range", "from": format_time(hi - (hi - lo) // 10),
                  "to": None, "service": None}
        windows = {"all": {"window": "all", "from": None, "to": None, "service": None},
                   "newest 10%": recent}
        fmap, flows, view = FlowMapPage(deps), FlowsPage(deps), FlowViewPage(deps)
        bns, search = BottlenecksPage(deps), SearchPage(deps)
        out = []
        for wname, f in windows.items():
            deps.analyses.invalidate()
            analysis = deps.analysis(f)
            edge = max(analysis["edges"], key=lambda e: e["count"])["id"]
            flow = analysis["flows"][0]
            trace = flow["example_trace_ids"][0]
            fl = deps.analyzer.flow_for_trace(store, trace)
            span = fl["critical_path"][-1] if fl and fl["critical_path"] else None

            client = app.server.test_client()
            q = {"since": f["from"] or "all"}  # (the API's name for the same window)

            def api(path: str, **extra: str) -> None:
                r = client.get(path, query_string={**q, **extra})
                assert r.status_code == 200, r.get_data(as_text=True)

            def cold() -> None:
                deps.forget()  # (the analyses, and the window's staging: a cold analysis)

            def fresh_flow() -> None:
                deps.flows.invalidate()

            cases: list[tuple[str, Callable[[], Any], Callable[[], None] | None]] = [
                ("analysis (cold, shared by pages)", lambda: deps.analysis(f), cold),
                ("shell: filters + status", lambda: status_line(f, deps), None),
                ("map: graph + edge table", lambda: fmap.elements(f, 0, "p95", edge), None),
                ("map: element stats", lambda: fmap.detail(edge, f, 0), None),
                # (the same click once the window's staging is no longer kept: the edge's
                # hop instances read from the spans)
                ("map: element stats, no staging kept", lambda: fmap.detail(edge, f, 0),
                 deps.staged.close),
                ("flows: table + DAG", lambda: flows.body(flow["id"], f, 0), None),
                ("flow view: waterfall", lambda: view.waterfall(trace, span, f, 0),
                 fresh_flow),
                ("flow view: span detail", lambda: view.detail(span, trace, f), None),
                ("bottlenecks + anomalies", lambda: bns.body(f, 0), None),
                ("search: attribute + duration", lambda: search.results(
                    1, f, None, None, "messaging.system", "kafka", "1000", None, []), None),
                # (a script polling the JSON API: answered from the pages' cache and kept
                # staging, serialised to JSON)
                ("api: /api/analysis", lambda: api("/api/analysis"), None),
                ("api: /api/element (busiest edge)", lambda: api("/api/element", id=edge),
                 None),
            ]
            deps.analysis(f)  # warm for the page cases
            for name, fn, before in cases:
                out.append((name, wname, median_ms(fn, repeat, before)))
                if before is cold:
                    deps.analysis(f)  # re-warm after the cold measurement
            out += _service_filters(deps, f, analysis, wname, repeat)
        return out
    finally:
        store.close()


def _service_filters(deps: Any, f: dict[str, Any], analysis: dict[str, Any], wname: str,
                     repeat: int) -> list[tuple[str, str, float]]:
    """A service filter chosen on the window shown, the slowest of its services: cold, and
    on the window's staging (kept by the dashboard from the unfiltered analysis)."""
    services = [n["id"].split(":", 1)[1] for n in analysis["nodes"]
                if n["id"].startswith("service:")]
    cold, staged = [], []
    for svc in services:
        g = {**f, "service": svc}

        def drop_filtered() -> None:
            deps.analyses.invalidate()
            deps.analysis(f)  # the window as shown, staged (not timed)

        cold.append(median_ms(lambda: deps.analysis(g), repeat, deps.forget))
        staged.append(median_ms(lambda: deps.analysis(g), repeat, drop_filtered))
    return [(f"service filter, cold (slowest of {len(services)})", wname, max(cold)),
            (f"service filter, window staged (slowest of {len(services)})", wname,
             max(staged))]


# Per page: its path, and a script that is true once its data is on screen.
_IDLE = "!document.querySelector('[data-dash-is-loading=\"true\"]')"
BROWSER_PAGES: list[tuple[str, str, str]] = [
    ("flow map", "/map", "document.querySelectorAll('#map-edges tr').length > 1"),
    ("flows", "/flows", "document.querySelectorAll('#fl-table tr').length > 1"),
    ("flow view", "/flow/{trace}", "!!document.querySelector('#fv-waterfall .bars path')"),
    ("bottlenecks", "/bottlenecks",
     "!!document.querySelector('#bn-list li, #an-list li')"),
    ("search", "/search?attr_key=messaging.system&attr_value=kafka&min_ms=1000&",
     "!!document.querySelector('#s-results tr, #s-none')"),
]


def measure_browser(db: Path, repeat: int) -> list[tuple[str, str, float]]:
    """``[(page, "all", median ms)]``: page load until its data is shown, in Chromium."""
    from dashboard.screenshots import headless_chromium
    from dashboard.server import start_ui

    store = Store.open(db, read_only=True)
    server = start_ui(store, port=0, refresh_ms=3_600_000)
    driver = None
    try:
        f = {"window": "all", "from": None, "to": None, "service": None}
        analysis = server.app.deps.analysis(f)  # cached, as after a page's first visit
        trace = analysis["flows"][0]["example_trace_ids"][0]
        driver = headless_chromium(1500, 1000)
        out = []
        for name, path, ready in BROWSER_PAGES:
            sep = "" if path.endswith("&") else "?"
            url = server.url.rstrip("/") + path.format(trace=trace) + sep + "window=all"

            def load() -> None:
                driver.get(url)
                deadline = time.monotonic() + 60
                while not driver.execute_script(f"return {_IDLE} && ({ready})"):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{name} never showed its data")
                    time.sleep(0.01)

            load()  # the first load also fetches the page's script bundles
            out.append((name, "all", median_ms(load, repeat)))
        return out
    finally:
        if driver is not None:
            driver.quit()
        server.shutdown()
        store.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cache", default="/tmp/choreoscope-bench")
    ap.add_argument("--browser", action="store_true",
                    help="also time each page in headless Chromium until its data is shown")
    args = ap.parse_args(argv)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    rows = []
    sizes = [int(s) for s in args.sizes.split(",") if s]
    for size in sizes:
        db = build_store(size, cache, min(sizes))
        with Store.open(db, read_only=True) as s:
            n = s.count_spans()
        for page, window, ms in measure(db, args.repeat):
            rows.append((page, n, window, ms))
        if args.browser:
            for page, window, ms in measure_browser(db, args.repeat):
                rows.append((f"browser: {page}", n, window, ms))
    print()
    print(f"{'page callback':36} {'spans':>10} {'window':>11} {'median ms':>10}")
    print("-" * 70)
    for page, n, window, ms in rows:
        flag = "" if ms < 1000 else "  > 1 s"
        print(f"{page:36} {n:>10,} {window:>11} {ms:>10.1f}{flag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
