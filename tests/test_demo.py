"""`choreoscope demo`: serve + the sample scenarios replayed into it, end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from sample_traces.ground_truth import SCENARIOS, data_path


def _spans_in(path) -> int:
    import orjson

    n = 0
    for line in Path(path).read_bytes().splitlines():
        for rs in orjson.loads(line).get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                n += len(ss.get("spans", []))
    return n


def _lines_until(proc: subprocess.Popen, text: str, timeout: float = 120) -> list[str]:
    """The demo's output lines up to the first holding ``text`` (or its end)."""
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if text in line or not line:
            break
    return lines


def test_demo_serves_and_replays_every_scenario(tmp_path):
    db = tmp_path / "demo.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "choreoscope.cli", "demo", "--db", str(db), "--no-ui",
         "--grpc-port", "0", "--http-port", "0", "--speed", "0", "--loops", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = _lines_until(proc, "sample traces replayed")
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    out = "".join(lines)
    assert "sample traces replayed" in out, out
    assert "OTLP/gRPC" in out and proc.returncode == 0
    expected = sum(_spans_in(data_path(name)) for name in SCENARIOS)
    con = duckdb.connect(str(db), read_only=True)
    stored, traces, messages = con.execute(
        "SELECT count(*), count(DISTINCT trace_id), count(DISTINCT msg_message_id) "
        "FROM spans").fetchone()
    con.close()
    # Two rounds, the second with fresh ids: twice the spans, none lost, none doubled.
    assert stored == 2 * expected
    assert traces % 2 == 0
    # The demo run again on the store it kept sends new ids from its first round: no trace
    # (nor message) of this run is one of the last run's.
    proc = subprocess.Popen(
        [sys.executable, "-m", "choreoscope.cli", "demo", "--db", str(db), "--no-ui",
         "--grpc-port", "0", "--http-port", "0", "--speed", "0", "--loops", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = "".join(_lines_until(proc, "sample traces replayed"))
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    assert "sample traces replayed" in out and proc.returncode == 0, out
    con = duckdb.connect(str(db), read_only=True)
    again = con.execute("SELECT count(*), count(DISTINCT trace_id), "
                        "count(DISTINCT msg_message_id) FROM spans").fetchone()
    con.close()
    assert messages > 0 and messages % 2 == 0
    assert again == (3 * expected, traces // 2 * 3, messages // 2 * 3)


def test_demo_stopped_while_replaying_says_nothing_failed(tmp_path):
    """Ctrl-C (here SIGTERM) in the middle of a replay stops the collector under the feeding
    thread: the demo exits cleanly without reporting the replay it cut short as failed."""
    db = tmp_path / "demo.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "choreoscope.cli", "demo", "--db", str(db), "--no-ui",
         "--grpc-port", "0", "--http-port", "0", "--speed", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _lines_until(proc, "in a loop", 60)  # until the feed runs
    time.sleep(1.5)  # (replaying at full speed, round after round)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "failed" not in out, out
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM spans").fetchone()[0] > 0
    con.close()


def test_ctrl_c_in_a_terminal_stops_the_demo_without_a_traceback(tmp_path):
    """Ctrl-C in a terminal sends SIGINT to the whole process group, the decode worker
    processes included: the demo stops cleanly and no worker prints its KeyboardInterrupt
    or is reported dead."""
    db = tmp_path / "demo.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "choreoscope.cli", "demo", "--db", str(db), "--no-ui",
         "--grpc-port", "0", "--http-port", "0", "--speed", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    _lines_until(proc, "in a loop", 60)  # until the feed runs
    time.sleep(1.5)
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    assert "died" not in out, out


def test_demo_without_a_database_removes_its_temporary_store_when_it_stops():
    """Without --db the demo writes to a temporary file, there while it serves and removed
    when it stops: runs of the demo don't pile up stores in the temp directory."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "choreoscope.cli", "demo", "--no-ui",
         "--grpc-port", "0", "--http-port", "0", "--speed", "0", "--loops", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = _lines_until(proc, "sample traces replayed")
    out = "".join(lines)
    db = Path(next(l for l in lines if l.startswith("choreoscope collector on "))
              .removeprefix("choreoscope collector on ").strip())
    try:
        assert "sample traces replayed" in out, out
        assert db.exists() and db.stat().st_size > 0, out
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + rest
    assert not db.parent.exists(), f"{db.parent} left behind"
    assert "temporary store removed" in rest
