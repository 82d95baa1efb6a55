"""`choreoscope analyze`: arguments and the command itself (wired in by choreoscope.cli)."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

from analyzer.analysis import analyze
from analyzer.render import FORMATS, render
from choreoscope.store import Store, StoreError

#: ``parse_duration("all")``: longer than any store, so ``now - d`` is before every span.
ALL = 2**62

_UNITS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
          "h": 3600 * 10**9, "d": 86400 * 10**9, "w": 7 * 86400 * 10**9}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h|d|w)")


def parse_duration(text: str) -> int:
    """``15m``, ``2h``, ``7d``, ``1h30m``, ``500ms``, ``90`` (seconds) or ``all`` -> ns.

    ``all`` gives :data:`ALL`, so ``now - parse_duration(x)`` is always a usable lower bound.
    Raises ``ValueError`` with a readable message on anything else.
    """
    t = (text or "").strip().lower().replace(" ", "")
    if t in ("all", "*", "inf"):
        return ALL
    if re.fullmatch(r"\d+(\.\d+)?", t):
        return int(float(t) * 10**9)
    pos, total = 0, 0.0
    for m in _PART.finditer(t):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(t) or not t:
        raise ValueError(f"not a duration: {text!r} (use e.g. 15m, 2h, 7d or all)")
    return int(total)


def since_ns_from(text: str | None, now_ns: int | None = None) -> int | None:
    """The window's lower bound for ``--since`` (None: everything)."""
    if text is None:
        return None
    d = parse_duration(text)
    if d >= ALL:
        return None
    return (time.time_ns() if now_ns is None else now_ns) - d


def add_analyze_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``choreoscope analyze`` to ``parser``."""
    parser.add_argument("--db", default=os.environ.get("CHOREOSCOPE_DB", "./choreoscope.duckdb"),
                        help="DuckDB database file (default: $CHOREOSCOPE_DB or "
                             "./choreoscope.duckdb)")
    parser.add_argument("--since", default="all", metavar="DURATION",
                        help="only spans that started this long ago or later: 15m, 2h, 7d, "
                             "or all (default: all)")
    parser.add_argument("--service", default=None, metavar="NAME",
                        help="only the flows that involve this service")
    parser.add_argument("--format", default="text", choices=FORMATS,
                        help="text report (default), json, or the architecture as mermaid, "
                             "dot or graphml")


def run_analyze(args: argparse.Namespace) -> int:
    """Run ``choreoscope analyze``; returns the process exit code."""
    try:
        since = since_ns_from(getattr(args, "since", None))
    except ValueError as exc:
        print(f"choreoscope analyze: {exc}", file=sys.stderr)
        return 2
    try:
        store = Store.open(args.db, read_only=True)
    except StoreError as exc:
        print(f"choreoscope analyze: {exc}", file=sys.stderr)
        return 1
    try:
        a = analyze(store, since_ns=since, service=getattr(args, "service", None))
    finally:
        store.close()
    sys.stdout.write(render(a, getattr(args, "format", "text") or "text"))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m analyzer.cli``."""
    p = argparse.ArgumentParser(prog="choreoscope analyze",
                                description="Rebuild the workflow from stored spans.")
    add_analyze_arguments(p)
    return run_analyze(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
