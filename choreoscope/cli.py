"""The ``choreoscope`` command. It only wires the pieces together.

Subcommands: serve, load, analyze, replay, demo. Errors a user can cause (a locked or
incompatible database, a bad option, an unreachable endpoint) are printed as one readable
line with a non-zero exit code, never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Sequence

from analyzer.cli import add_analyze_arguments, add_export_arguments, run_analyze, run_export
from choreoscope.config import SETTINGS, resolve
from sample_traces.replay import add_replay_arguments, run_replay


def _add_settings(p: argparse.ArgumentParser, names: Sequence[str]) -> None:
    for s in SETTINGS:
        if s.name not in names:
            continue
        flag = "--" + s.name.replace("_", "-")
        if s.name == "no_ui":
            p.add_argument(flag, action="store_const", const="1", default=None,
                           help=f"{s.help} [env {s.env}]")
        else:
            shown = s.default if s.default is not None else "unset"
            p.add_argument(flag, default=None, metavar=s.name.split("_")[-1].upper(),
                           help=f"{s.help} (default {shown}) [env {s.env}]")


SERVE_SETTINGS = [s.name for s in SETTINGS]


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return resolve({k: v for k, v in vars(args).items() if k in {s.name for s in SETTINGS}})


def _print_endpoints(ep: Any, db: str) -> None:
    print(f"choreoscope collector on {db}", flush=True)
    print(f"  OTLP/gRPC  {ep.grpc}", flush=True)
    print(f"  OTLP/HTTP  {ep.http}/v1/traces", flush=True)
    print(f"  Zipkin     {ep.http}/api/v2/spans", flush=True)
    if ep.ui:
        print(f"  dashboard  {ep.ui}", flush=True)
        print(f"  JSON API   {ep.ui.rstrip('/')}/api/analysis", flush=True)


def _stop_on_signal() -> threading.Event:
    """An event set by SIGTERM or SIGINT, installed before anything starts: a stop asked
    for while the collector is still starting (first imports take seconds) then stops it
    cleanly once started, instead of killing the process half way."""
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def _wait_for(stop: threading.Event) -> None:
    while not stop.wait(0.5):
        pass


def cmd_serve(args: argparse.Namespace) -> int:
    stop = _stop_on_signal()
    from collector.server import Collector

    settings = _settings(args)
    col = Collector(settings)
    try:
        ep = col.start()
    except OSError as exc:
        raise SystemExit(f"choreoscope: cannot start: {exc}")
    _print_endpoints(ep, settings["db"])
    print("press Ctrl-C to stop", flush=True)
    _wait_for(stop)
    print("choreoscope: draining and stopping...", flush=True)
    col.stop()
    print("choreoscope: stopped; every acknowledged span is in " + settings["db"], flush=True)
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from choreoscope.store import Store
    from collector.load import load_files

    paths = _load_paths([Path(p) for p in args.files])
    db = resolve({"db": args.db})["db"]
    with Store.open(db) as store:
        summary = load_files(store, paths, progress=not args.quiet and sys.stderr.isatty())
    print(summary.report())
    return 0 if summary.stored or not (summary.bad_records or summary.rejected) else 1


def _load_paths(given: list[Path]) -> list[Path]:
    """The files to load: each file given, and every file under each directory given (the
    Collector's file exporter rotates into one directory: ``traces.json``,
    ``traces-2026-12-02T10-00-00.000.json.gz``, ...), in name order, hidden ones left out.
    A readable error for a path that is neither, or a directory holding no file."""
    paths: list[Path] = []
    missing, empty = [], []
    for p in given:
        if p.is_file():
            paths.append(p)
        elif p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file()
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            paths.extend(found)
            if not found:
                empty.append(str(p))
        else:
            missing.append(str(p))
    if missing:
        raise SystemExit(f"choreoscope load: no such file: {', '.join(missing)}")
    if empty:
        raise SystemExit(f"choreoscope load: no file in directory: {', '.join(empty)}")
    return paths


def cmd_demo(args: argparse.Namespace) -> int:
    stopped = _stop_on_signal()
    # Without --db the demo's store is a temporary file, removed when the demo stops
    # (each run replays the scenarios afresh); --db keeps it.
    scratch = None if args.db else tempfile.mkdtemp(prefix="choreoscope-demo-")
    try:
        return _run_demo(args, stopped, args.db or os.path.join(scratch, "demo.duckdb"))
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
            print("choreoscope demo: temporary store removed (--db FILE keeps one)",
                  flush=True)


def _run_demo(args: argparse.Namespace, stopped: threading.Event, db: str) -> int:
    from collector.server import Collector
    from sample_traces.replay import replay

    settings = _settings(args)
    settings["db"] = db
    col = Collector(settings)
    try:
        ep = col.start()
    except OSError as exc:
        raise SystemExit(f"choreoscope demo: cannot start: {exc}")
    _print_endpoints(ep, db)
    # (a store kept from an earlier run holds the scenarios' own ids already: sent again,
    # every message id would join this run's flows to that run's, minutes or days apart)
    kept = col.store is not None and col.store.count_spans() > 0
    data = Path(__file__).resolve().parent.parent / "sample_traces" / "data"
    scenarios = [data / f"{n}.jsonl" for n in ("choreography", "orchestration", "hybrid")]
    scenarios = [p for p in scenarios if p.exists()]
    stop = threading.Event()
    headers = {"authorization": f"Bearer {settings['auth_token']}"} \
        if settings.get("auth_token") else None

    def feed(path: Path) -> None:
        """One scenario, round after round, as its services' exporters would send it."""
        loop = 0
        while not stop.is_set():
            try:
                # Fresh ids after the first round: each round is new flows, not retries.
                replay([path], endpoint=ep.grpc.replace("https", "http"), protocol="grpc",
                       speed=args.speed, loops=1, shift=True, progress=False,
                       headers=headers, fresh_ids=loop > 0 or kept)
            except Exception as exc:  # keep the demo alive; say what went wrong
                if stop.is_set():  # (the collector stopped under it: Ctrl-C, no failure)
                    return
                print(f"choreoscope demo: replay of {path.name} failed: {exc}", flush=True)
                stop.wait(2)
            loop += 1
            if args.loops and loop >= args.loops:
                return

    # The scenarios side by side, each in real time by default: the store fills as a live
    # system's would, the newest flows still under way, none of them from the future.
    print(f"replaying {', '.join(p.stem for p in scenarios)} in a loop (Ctrl-C to stop)",
          flush=True)
    feeders = [threading.Thread(target=feed, args=(p,), name=f"demo-{p.stem}", daemon=True)
               for p in scenarios]
    for t in feeders:
        t.start()

    def done() -> None:
        for t in feeders:
            t.join()
        if args.loops and not stop.is_set():
            print("choreoscope demo: sample traces replayed; still serving", flush=True)

    threading.Thread(target=done, name="demo-done", daemon=True).start()
    _wait_for(stopped)
    stop.set()
    col.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="choreoscope",
        description="See the implicit workflow of event-driven microservices: an OTLP "
                    "collector, a flow analyzer and a dashboard on an embedded DuckDB file.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    sp = sub.add_parser("serve", help="run the OTLP collector (gRPC + HTTP) and the dashboard",
                        description="Run the OTLP/gRPC and OTLP/HTTP collector and the "
                                    "dashboard in one process. Settings resolve as argument, "
                                    "then environment variable, then default.")
    _add_settings(sp, SERVE_SETTINGS)
    sp.set_defaults(func=cmd_serve)

    lp = sub.add_parser("load", help="import OTLP JSON Lines / JSON / protobuf files",
                        description="Import OTLP files (JSON Lines as written by the "
                                    "OpenTelemetry Collector file exporter, a single OTLP JSON "
                                    "document, or length-delimited protobuf records; gzip or "
                                    "zstd ok).")
    lp.add_argument("files", nargs="+", metavar="FILE",
                    help="a file, or a directory: every file under it, in name order")
    lp.add_argument("--db", default=None, help="DuckDB file (default ./choreoscope.duckdb) "
                                               "[env CHOREOSCOPE_DB]")
    lp.add_argument("--quiet", action="store_true", help="no progress bar")
    lp.set_defaults(func=cmd_load)

    ap = sub.add_parser("analyze", help="report flows, bottlenecks and anomalies",
                        description="Analyze the stored spans: flow map, flows, critical "
                                    "paths, bottlenecks, coordination style, anomalies.")
    add_analyze_arguments(ap)
    ap.set_defaults(func=run_analyze)

    xp = sub.add_parser("export", help="write a flow's or a window's spans as OTLP/JSON",
                        description="Write every stored span of the flow containing a trace "
                                    "(the traces its flow view shows) as one OTLP/JSON "
                                    "document, or of every trace of a window as OTLP/JSON "
                                    "Lines, which choreoscope load and other OTLP tools "
                                    "read.")
    add_export_arguments(xp)
    xp.set_defaults(func=run_export)

    rp = sub.add_parser("replay", help="send sample/scenario files to any OTLP endpoint",
                        description="Replay OTLP JSON Lines files to an OTLP endpoint, keeping "
                                    "their relative timing.")
    add_replay_arguments(rp)
    rp.set_defaults(func=run_replay)

    dp = sub.add_parser("demo", help="serve + replay the sample order workflow in a loop",
                        description="Start serve on a temporary (or given) database and replay "
                                    "the sample scenarios into it in a loop.")
    _add_settings(dp, [n for n in SERVE_SETTINGS if n != "db"])
    dp.add_argument("--db", default=None,
                    help="database file, kept (default: a temporary file, removed when the "
                         "demo stops)")
    # In real time, the three scenarios side by side: the map fills in seconds, flows
    # arrive live as they end, and an all-day demo's database stays small (~150 spans/s).
    # Faster, a round's spans reach the store later after they ended than any exporter's
    # would, and the newest flows show incomplete.
    dp.add_argument("--speed", type=float, default=1.0,
                    help="replay speed factor (default 1, real time; 0 = as fast as possible)")
    dp.add_argument("--loops", type=int, default=0,
                    help="stop replaying after N rounds of all scenarios (default 0 = forever)")
    dp.set_defaults(func=cmd_demo)
    return p


def _use_system_allocator_for_arrow() -> None:
    """Give Arrow's buffers to the C allocator instead of pyarrow's bundled mimalloc.

    Each export decodes into short-lived Arrow buffers; mimalloc keeps the pages they used,
    so a collector under load held ~100MB more at peak than with glibc's malloc, which
    hands them back (bench/ingest.py, peak RSS, same throughput).
    """
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``choreoscope`` console command."""
    from choreoscope.store import StoreError

    args = build_parser().parse_args(argv)
    _use_system_allocator_for_arrow()
    try:
        return int(args.func(args) or 0)
    except StoreError as exc:
        print(f"choreoscope: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"choreoscope: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
