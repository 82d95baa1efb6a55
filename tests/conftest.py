"""Shared fixtures: a real collector on loopback with a real DuckDB file, ports picked free."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from choreoscope.config import resolve
from collector.server import Collector


def collector_settings(db: Path, **over: object) -> dict:
    """Settings for a test collector: loopback, free ports, no dashboard unless asked."""
    # No decode worker process unless a test asks (tests/test_decode_workers.py): only
    # exports over 64 KiB would reach it, and starting one per test costs time.
    base = {"db": str(db), "host": "127.0.0.1", "grpc_port": 0, "http_port": 0,
            "ui_port": 0, "no_ui": True, "decode_workers": 0}
    base.update(over)
    return resolve(base, environ={})


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    """A running collector (gRPC + HTTP, no UI) on a fresh DuckDB file."""
    col = Collector(collector_settings(tmp_path / "t.duckdb"))
    col.start()
    try:
        yield col
    finally:
        col.stop()
