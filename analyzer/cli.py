"""`choreoscope analyze` and `choreoscope export`: arguments and the commands themselves
(wired in by choreoscope.cli)."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from typing import Iterable

from analyzer.analysis import analyze
from analyzer.export import flow_otlp, otlp_json_bytes, window_otlp
from analyzer.render import FORMATS, render
from choreoscope.config import duration_ns, time_window
from choreoscope.store import Store, StoreError

#: ``parse_duration("all")``: longer than any store, so ``now - d`` is before every span.
ALL = 2**62

def parse_duration(text: str) -> int:
    """``15m``, ``2h``, ``7d``, ``1h30m``, ``500ms``, ``90`` (seconds) or ``all`` -> ns.

    ``all`` gives :data:`ALL`, so ``now - parse_duration(x)`` is always a usable lower bound.
    Raises ``ValueError`` with a readable message on anything else.
    """
    if (text or "").strip().lower() in ("all", "*", "inf"):
        return ALL
    return duration_ns(text)


def since_ns_from(text: str | None, now_ns: int | None = None) -> int | None:
    """The window's lower bound for ``--since`` (None: everything)."""
    return window_from(text, None, now_ns)[0]


def window_from(since: str | None, until: str | None,
                now_ns: int | None = None) -> tuple[int | None, int | None]:
    """``--since`` and ``--until`` in Unix nanoseconds (None: open): each a duration ago,
    a time, or ``all`` (:func:`choreoscope.config.time_window`); ``ValueError`` if not."""
    return time_window(since, until, time.time_ns() if now_ns is None else now_ns)


def _add_db_and_window(parser: argparse.ArgumentParser, started: str) -> None:
    """``--db``, and ``--since``/``--until`` bounding what ``started`` names (default:
    everything)."""
    parser.add_argument("--db", default=os.environ.get("CHOREOSCOPE_DB", "./choreoscope.duckdb"),
                        help="DuckDB database file (default: $CHOREOSCOPE_DB or "
                             "./choreoscope.duckdb)")
    parser.add_argument("--since", default=None, metavar="WHEN",
                        help=f"{started} at or after this: a duration ago (15m, 2h, 7d), a "
                             f"time (2024-05-01T14:00:00Z, Unix seconds), or all (default: "
                             f"all)")
    parser.add_argument("--until", default=None, metavar="WHEN",
                        help=f"{started} before this, as --since (default: now)")


def add_analyze_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``choreoscope analyze`` to ``parser``."""
    _add_db_and_window(parser, "only spans that started")
    parser.add_argument("--service", default=None, metavar="NAME",
                        help="only the flows that involve this service")
    parser.add_argument("--format", default="text", choices=FORMATS,
                        help="text report (default), json, or the architecture as mermaid, "
                             "dot or graphml")


def run_analyze(args: argparse.Namespace) -> int:
    """Run ``choreoscope analyze``; returns the process exit code."""
    try:
        since, until = window_from(getattr(args, "since", None), getattr(args, "until", None))
    except ValueError as exc:
        print(f"choreoscope analyze: {exc}", file=sys.stderr)
        return 2
    try:
        store = Store.open(args.db, read_only=True)
    except StoreError as exc:
        print(f"choreoscope analyze: {exc}", file=sys.stderr)
        return 1
    try:
        a = analyze(store, since_ns=since, until_ns=until,
                    service=getattr(args, "service", None))
    finally:
        store.close()
    sys.stdout.write(render(a, getattr(args, "format", "text") or "text"))
    return 0


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``choreoscope export`` to ``parser``."""
    parser.add_argument("trace_id", metavar="TRACE_ID", nargs="?", default=None,
                        help="any trace of the flow to write (32 hexadecimal characters); "
                             "without one, every trace of the window")
    _add_db_and_window(parser, "without TRACE_ID: the traces, each whole, with a span that "
                               "started")
    parser.add_argument("--output", "-o", default="-", metavar="FILE",
                        help="file to write (default: standard output)")


def run_export(args: argparse.Namespace) -> int:
    """Run ``choreoscope export``; returns the process exit code."""
    def fail(message: str, code: int) -> int:
        print(f"choreoscope export: {message}", file=sys.stderr)
        return code

    tid = None
    if args.trace_id is not None:
        tid = args.trace_id.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{32}", tid):
            return fail(f"{args.trace_id!r} is not a trace id (32 hexadecimal characters)", 2)
        if args.since is not None or args.until is not None:
            return fail("give a trace id (its flow) or --since/--until (a window), not both",
                        2)
    try:
        since, until = window_from(args.since, args.until)
    except ValueError as exc:
        return fail(str(exc), 2)
    try:
        store = Store.open(args.db, read_only=True)
    except StoreError as exc:
        return fail(str(exc), 1)
    if tid is not None:
        # (found before the output is opened: a trace that is not there leaves no file)
        try:
            doc = flow_otlp(store, tid)
        finally:
            store.close()
        if doc is None:
            return fail(f"no span of trace {tid} (or of its flow) in {args.db}", 1)
        docs: Iterable[dict] = [doc]
        window = None
    else:
        docs = window = window_otlp(store, since, until)
    spans = lines = 0
    try:
        out = sys.stdout.buffer if args.output in ("-", "") else open(args.output, "wb")
        try:
            for d in docs:
                out.write(otlp_json_bytes(d) + b"\n")
                lines += 1
                spans += sum(len(ss["spans"]) for rs in d["resourceSpans"]
                             for ss in rs["scopeSpans"])
        finally:
            if out is sys.stdout.buffer:
                out.flush()
            else:
                out.close()
    except OSError as exc:
        return fail(f"cannot write {args.output}: {exc.strerror}", 1)
    finally:
        if window is not None:
            window.close()  # (its read ends before the store does)
            store.close()
    if window is not None:
        # (on standard error: standard output may be the export itself)
        print(f"exported {spans} spans in {lines} OTLP/JSON line(s)", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m analyzer.cli``."""
    p = argparse.ArgumentParser(prog="choreoscope analyze",
                                description="Rebuild the workflow from stored spans.")
    add_analyze_arguments(p)
    return run_analyze(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
