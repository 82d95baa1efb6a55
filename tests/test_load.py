"""`choreoscope load`: JSON Lines, a single JSON document, length-delimited protobuf, gzip,
and the Collector file exporter's zstd."""

from __future__ import annotations

import gzip
import subprocess
import sys

import orjson
import pyarrow as pa
from google.protobuf.internal.encoder import _VarintBytes

from choreoscope.store import Store
from collector.load import load_files
from collector.otlp_json import request_to_json_dict
from tests.otlp_fixtures import full_request, simple_request


def test_jsonl_single_document_and_bad_line(tmp_path):
    lines = [orjson.dumps(request_to_json_dict(simple_request(10, "a"))) for _ in range(3)]
    lines.insert(1, b'{"resourceSpans": [ broken')
    jl = tmp_path / "traces.jsonl"
    jl.write_bytes(b"\n".join(lines) + b"\n")
    single = tmp_path / "one.json"
    single.write_bytes(orjson.dumps(request_to_json_dict(full_request()),
                                    option=orjson.OPT_INDENT_2))
    with Store.open(tmp_path / "db.duckdb") as store:
        summary = load_files(store, [jl, single], progress=False)
        assert store.count_spans() == 31
    assert summary.stored == 31 and summary.records == 5
    assert len(summary.bad_records) == 1 and "traces.jsonl:2" in summary.bad_records[0]
    assert "31 spans stored" in summary.report()


def test_decode_workers_store_the_same_in_file_order(tmp_path):
    """With decode worker processes (a big file's default), a load stores what it stores
    without them, in file order (a later record's duplicate spans are the ones skipped),
    and a record a worker cannot decode is reported as one."""
    reqs = [simple_request(50, f"svc{i % 3}") for i in range(12)]
    lines = [orjson.dumps(request_to_json_dict(r)) for r in reqs]
    lines.insert(5, b'{"resourceSpans": [ broken')
    lines.append(lines[0])  # (the first record again: its spans are duplicates)
    jl = tmp_path / "many.jsonl"
    jl.write_bytes(b"\n".join(lines) + b"\n")
    got = []
    for workers in (0, 2):
        with Store.open(tmp_path / f"w{workers}.duckdb") as store:
            summary = load_files(store, [jl], progress=False, workers=workers)
            with store.cursor() as cur:
                rows = cur.execute("SELECT * EXCLUDE (ingested_at_unix_nano) FROM spans "
                                   "ORDER BY ALL").fetchall()
        got.append((summary.stored, summary.duplicates, summary.records,
                    summary.bad_records, rows))
    assert got[0] == got[1]
    stored, duplicates, records, bad, rows = got[1]
    assert (stored, duplicates, records) == (600, 50, 14) and len(rows) == 600
    assert len(bad) == 1 and "many.jsonl:6" in bad[0] and "malformed JSON" in bad[0]


def test_a_dead_decode_worker_leaves_the_decoding_to_the_loader(tmp_path, monkeypatch, capsys):
    """A worker killed mid-load (out of memory, say) breaks the pool: every record is still
    decoded and stored, by the loader itself, and it says so once."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    import collector.load as load_mod

    class DeadPool:  # what a pool whose worker was killed answers to every task
        def submit(self, *_args):
            fut: Future = Future()
            fut.set_exception(BrokenProcessPool("a child process terminated abruptly"))
            return fut

        def shutdown(self, **_kw):
            pass

    monkeypatch.setattr(load_mod, "start_decode_pool", lambda n: DeadPool())
    jl = tmp_path / "some.jsonl"
    jl.write_bytes(b"\n".join(orjson.dumps(request_to_json_dict(simple_request(20, "a")))
                              for _ in range(6)) + b"\n")
    with Store.open(tmp_path / "db.duckdb") as store:
        summary = load_files(store, [jl], progress=False, workers=2)
    assert summary.stored == 120 and not summary.bad_records
    assert capsys.readouterr().err.count("a decode worker process died") == 1


def test_a_file_named_json_that_is_not_is_told_so_as_json(tmp_path):
    """Text that is no JSON in a .jsonl (or .json.gz) file is reported as JSON's error,
    not as a corrupt protobuf's; a protobuf file is still sniffed whatever its name."""
    text = tmp_path / "spans.jsonl"
    text.write_bytes(b"trace_id,span_id\nabc,def\n")
    packed = tmp_path / "spans.json.gz"
    packed.write_bytes(gzip.compress(b"not json at all"))
    with Store.open(tmp_path / "db.duckdb") as store:
        summary = load_files(store, [text, packed], progress=False)
    assert summary.stored == 0 and len(summary.bad_records) == 2
    for bad in summary.bad_records:
        assert "malformed JSON" in bad and "protobuf" not in bad, bad


def test_length_delimited_protobuf_both_framings_and_gzip(tmp_path):
    reqs = [simple_request(5, "p") for _ in range(4)]
    be = b"".join(len(b).to_bytes(4, "big") + b for b in (r.SerializeToString() for r in reqs))
    others = [simple_request(5, "q") for _ in range(4)]
    vi = b"".join(_VarintBytes(len(b)) + b for b in (r.SerializeToString() for r in others))
    (tmp_path / "be.pb").write_bytes(be)
    (tmp_path / "vi.pb.gz").write_bytes(gzip.compress(vi))
    (tmp_path / "raw.pb").write_bytes(simple_request(3, "r").SerializeToString())
    with Store.open(tmp_path / "db.duckdb") as store:
        s = load_files(store, [tmp_path / "be.pb"], progress=False)
        assert (s.records, s.stored) == (4, 20)
        s = load_files(store, [tmp_path / "vi.pb.gz"], progress=False)
        assert (s.records, s.stored) == (4, 20)
        s = load_files(store, [tmp_path / "raw.pb"], progress=False)
        assert s.stored == 3
        assert store.count_spans() == 43


def test_small_records_go_as_one_export_and_a_bad_one_is_still_told_apart(tmp_path):
    """Consecutive small records are decoded and committed together (decode_group), and a
    corrupt record among them, whose frame could swallow its neighbour's bytes if joined
    unchecked, is reported alone; the others are all stored."""
    good = [simple_request(5, f"s{i}").SerializeToString() for i in range(6)]
    # (a record cut short: a field that says it is longer than what follows it)
    bad = good[0][:-7]
    records = good[:3] + [bad] + good[3:]
    body = b"".join(len(b).to_bytes(4, "big") + b for b in records)
    (tmp_path / "small.pb").write_bytes(body)
    with Store.open(tmp_path / "db.duckdb") as store:
        before = store.commits
        s = load_files(store, [tmp_path / "small.pb"], progress=False, workers=0)
        assert (s.records, s.stored) == (7, 30)
        assert len(s.bad_records) == 1 and "small.pb record 4" in s.bad_records[0]
        assert store.commits - before == 1  # (the six good records, one export)
        with store.cursor() as c:
            assert c.execute("SELECT count(DISTINCT service_name) FROM spans").fetchone() == (6,)


def test_load_cli_summary_and_duplicates(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_bytes(orjson.dumps(request_to_json_dict(simple_request(8, "cli"))) + b"\n")
    db = tmp_path / "c.duckdb"
    cmd = [sys.executable, "-m", "choreoscope.cli", "load", str(f), "--db", str(db)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "8 spans stored" in first.stdout
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert "0 spans stored, 8 duplicates skipped" in again.stdout
    missing = subprocess.run(cmd[:4] + [str(tmp_path / "nope.jsonl")], capture_output=True,
                             text=True, timeout=60)
    assert missing.returncode != 0 and "no such file" in missing.stderr


def test_load_cli_takes_a_directory_of_rotated_files(tmp_path):
    """A directory stands for every file under it (the Collector's file exporter rotates
    into one), hidden files left out; an empty directory is a readable error."""
    from choreoscope.cli import main

    rot = tmp_path / "rotated"
    (rot / "old").mkdir(parents=True)
    (rot / "traces.jsonl").write_bytes(
        orjson.dumps(request_to_json_dict(simple_request(3, "now"))) + b"\n")
    (rot / "old" / "traces-1.jsonl.gz").write_bytes(gzip.compress(
        orjson.dumps(request_to_json_dict(simple_request(5, "before"))) + b"\n"))
    (rot / ".traces.jsonl.swp").write_bytes(b"not otlp")
    db = tmp_path / "d.duckdb"
    assert main(["load", "--quiet", "--db", str(db), str(rot)]) == 0
    with Store.open(str(db)) as st, st.cursor() as c:
        assert c.execute("SELECT service_name, count(*) FROM spans GROUP BY 1 ORDER BY 1"
                         ).fetchall() == [("before", 5), ("now", 3)]
    (tmp_path / "empty" / ".hidden").mkdir(parents=True)
    try:
        main(["load", "--quiet", "--db", str(db), str(tmp_path / "empty")])
    except SystemExit as exc:
        assert "no file in directory" in str(exc)
    else:
        raise AssertionError("an empty directory was loaded")


def _zstd(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(data)
    return sink.getvalue().to_pybytes()


def test_collector_file_exporter_zstd_files(tmp_path):
    """The Collector file exporter's compression: zstd. Natively the file is one zstd
    stream (here two frames, as its rotation mode writes a frame per write) of JSON Lines
    or of length-prefixed protobuf; before that, each request was compressed on its own
    behind a 4-byte length (JSON here). A record that is no zstd is reported and the
    others load; a file that is no zstd stream is reported, not a crash."""
    def js(n: int, name: str) -> bytes:
        return orjson.dumps(request_to_json_dict(simple_request(n, name)))

    (tmp_path / "lines.json.zst").write_bytes(
        _zstd(js(2, "a") + b"\n") + _zstd(js(3, "b") + b"\n"))
    pb = b"".join(len(b).to_bytes(4, "big") + b for b in (
        simple_request(4, f"c{i}").SerializeToString() for i in range(2)))
    (tmp_path / "native.pb.zst").write_bytes(_zstd(pb))
    records = [_zstd(js(5, "d")), b"not zstd, though it is framed", _zstd(js(6, "e"))]
    records[1] = b"\x28\xb5\x2f\xfd" + records[1]  # (a frame that starts like one)
    (tmp_path / "legacy.zst").write_bytes(
        b"".join(len(r).to_bytes(4, "big") + r for r in records))
    (tmp_path / "broken.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 40)
    with Store.open(tmp_path / "db.duckdb") as store:
        s = load_files(store, [tmp_path / "lines.json.zst"], progress=False)
        assert (s.records, s.stored) == (2, 5)
        s = load_files(store, [tmp_path / "native.pb.zst"], progress=False)
        assert (s.records, s.stored) == (2, 8)
        s = load_files(store, [tmp_path / "legacy.zst"], progress=False)
        assert (s.records, s.stored) == (3, 11)
        assert len(s.bad_records) == 1 and "record 2" in s.bad_records[0]
        s = load_files(store, [tmp_path / "broken.zst"], progress=False)
        assert s.stored == 0 and len(s.bad_records) == 1 and "zstd" in s.bad_records[0]
        assert store.count_spans() == 24


def test_corrupt_and_truncated_gzip_files_are_reported(tmp_path):
    """A gzip file that is none, or one cut short, is reported in the summary (the records
    read before the cut are loaded), and the CLI says so without a traceback."""
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 30)
    lines = b"".join(orjson.dumps(request_to_json_dict(simple_request(3, f"g{i}"))) + b"\n"
                     for i in range(40))
    whole = gzip.compress(lines)
    (tmp_path / "cut.jsonl.gz").write_bytes(whole[:len(whole) * 2 // 3])
    with Store.open(tmp_path / "db.duckdb") as store:
        s = load_files(store, [tmp_path / "bad.gz", tmp_path / "cut.jsonl.gz"],
                       progress=False)
        assert 0 < s.stored < 120 and s.stored == store.count_spans()
    assert [b.split(":")[0] for b in s.bad_records] == [
        str(tmp_path / "bad.gz"), str(tmp_path / "cut.jsonl.gz")]
    cli = subprocess.run([sys.executable, "-m", "choreoscope.cli", "load",
                          str(tmp_path / "bad.gz"), "--db", str(tmp_path / "c.duckdb")],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 1 and "Traceback" not in cli.stderr
    assert "unreadable" in cli.stdout
