"""`choreoscope export`: a flow's stored spans written back as OTLP/JSON, loaded again by
`choreoscope load` into another store, give the same rows and the same flow."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from analyzer import flow_for_trace
from analyzer.export import any_value, otlp_document
from choreoscope.cli import main
from choreoscope.store import Store
from collector.decode import decode_request
from collector.otlp_json import parse_json_request

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces" / "data"

# Every column of spans_full, events and links the collector stored (not when it did).
SPAN_ROWS = """SELECT * EXCLUDE (ingested_at_unix_nano) FROM spans_full
               WHERE list_contains($ids, trace_id) ORDER BY ALL"""
EVENT_ROWS = "SELECT * FROM span_events WHERE list_contains($ids, trace_id) ORDER BY ALL"
LINK_ROWS = "SELECT * FROM span_links WHERE list_contains($ids, trace_id) ORDER BY ALL"


def _rows(db: Path, sql: str, ids: list[str] | None = None) -> list[tuple]:
    with Store.open(str(db), read_only=True) as store, store.cursor() as cur:
        return cur.execute(sql, None if ids is None else {"ids": ids}).fetchall()


@pytest.fixture(scope="module")
def hybrid_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("export") / "a.duckdb"
    assert main(["load", "--quiet", "--db", str(db), str(SAMPLES / "hybrid.jsonl")]) == 0
    return db


def _linked_trace(db: Path) -> str:
    """A trace whose messages were consumed in other traces (their consumers link to it),
    one with events, so the flow has links, events and several resources."""
    with Store.open(str(db), read_only=True) as store, store.cursor() as cur:
        return cur.execute("""
            SELECT l.linked_trace_id FROM span_links l
            WHERE l.linked_trace_id <> l.trace_id
              AND l.linked_trace_id IN (SELECT trace_id FROM span_events)
            ORDER BY 1 LIMIT 1""").fetchone()[0]


def test_an_exported_flow_loads_back_as_the_same_rows_and_flow(hybrid_db: Path,
                                                               tmp_path: Path, capsys):
    tid = _linked_trace(hybrid_db)
    out = tmp_path / "flow.json"
    assert main(["export", tid, "--db", str(hybrid_db), "-o", str(out)]) == 0
    doc = orjson.loads(out.read_bytes())
    traces = sorted({sp["traceId"] for rs in doc["resourceSpans"] for ss in rs["scopeSpans"]
                     for sp in ss["spans"]})
    before = flow_for_trace_of(hybrid_db, tid)
    assert traces == sorted(before["trace_ids"]) and len(traces) > 1

    again = tmp_path / "b.duckdb"
    assert main(["load", "--quiet", "--db", str(again), str(out)]) == 0
    capsys.readouterr()
    for sql in (SPAN_ROWS, EVENT_ROWS, LINK_ROWS):
        original = _rows(hybrid_db, sql, traces)
        assert original and _rows(again, sql, traces) == original, sql
    # nothing else came with it
    assert _rows(again, "SELECT count(*) FROM span_rows")[0][0] == \
        len(_rows(hybrid_db, SPAN_ROWS, traces))

    after = flow_for_trace_of(again, tid)
    assert after["critical_path"] == before["critical_path"]
    assert after["links"] == before["links"] and after["trace_ids"] == before["trace_ids"]
    # and the store it was loaded into exports it byte for byte
    assert main(["export", tid, "--db", str(again)]) == 0
    assert capsys.readouterr().out.encode() == out.read_bytes()


def flow_for_trace_of(db: Path, tid: str) -> dict:
    with Store.open(str(db), read_only=True) as store:
        flow = flow_for_trace(store, tid)
    assert flow is not None
    return flow


def test_attribute_values_come_back_as_the_collector_stored_them():
    attrs = {"s": "<script>x</script>", "i": 3, "big": 2**63 - 1, "neg": -7, "f": 1.5,
             "whole": 2.0, "b": True, "no": False, "arr": [1, "a", None, 2.5],
             "kv": {"k": [True], "n": {"deep": "x"}}, "none": None, "empty": ""}
    span = {"trace_id": "ab" * 16, "span_id": "cd" * 8, "parent_span_id": None,
            "trace_state": "k=v", "flags": 257, "name": "n", "kind": "PRODUCER",
            "start_time_unix_nano": 10**18, "end_time_unix_nano": 10**18 + 5,
            "status_code": "ERROR", "status_message": "boom", "attributes": orjson.dumps(attrs),
            "dropped_attributes_count": 2, "dropped_events_count": 0,
            "dropped_links_count": 1, "resource_id": 1, "scope_id": 2}
    event = {"trace_id": "ab" * 16, "span_id": "cd" * 8, "time_unix_nano": 10**18 + 1,
             "name": "exception", "attributes": '{"exception.type": "E"}',
             "dropped_attributes_count": 0}
    link = {"trace_id": "ab" * 16, "span_id": "cd" * 8, "linked_trace_id": "ef" * 16,
            "linked_span_id": "01" * 8, "trace_state": None, "flags": 1,
            "attributes": '{"messaging.message.id": "m1"}', "dropped_attributes_count": 0}
    doc = otlp_document([{**span, "events": [event], "links": [link]}],
                        [{"resource_id": 1, "attributes": '{"service.name": "shop"}',
                          "schema_url": "https://opentelemetry.io/schemas/1.26.0",
                          "dropped_attributes_count": 0}],
                        [{"scope_id": 2, "name": "lib", "version": "1.0", "attributes": None,
                          "schema_url": None, "dropped_attributes_count": 0}])
    batch = decode_request(parse_json_request(orjson.dumps(doc)))
    row = batch.spans.to_pylist()[0]
    assert orjson.loads(row["attributes"]) == attrs
    assert isinstance(orjson.loads(row["attributes"])["whole"], float)
    assert (row["kind"], row["status_code"], row["status_message"]) == ("PRODUCER", "ERROR", "boom")
    assert (row["flags"], row["trace_state"], row["dropped_attributes_count"],
            row["dropped_links_count"]) == (257, "k=v", 2, 1)
    assert row["service_name"] == "shop" and row["scope_name"] == "lib"
    assert row["resource_schema_url"] == "https://opentelemetry.io/schemas/1.26.0"
    assert batch.events.to_pylist()[0]["name"] == "exception"
    assert batch.links.to_pylist()[0]["msg_message_id"] == "m1"
    assert any_value(None) == {} and any_value(True) == {"boolValue": True}


def test_export_says_what_is_wrong(hybrid_db: Path, tmp_path: Path, capsys):
    assert main(["export", "xyz", "--db", str(hybrid_db)]) == 2
    assert "is not a trace id" in capsys.readouterr().err
    none = tmp_path / "none.json"
    assert main(["export", "0" * 32, "--db", str(hybrid_db), "-o", str(none)]) == 1
    assert f"no span of trace {'0' * 32}" in capsys.readouterr().err
    assert not none.exists()  # (no empty file left behind)
    assert main(["export", "0" * 32, "--db", str(tmp_path / "missing.duckdb")]) == 1
    assert "choreoscope export:" in capsys.readouterr().err
    tid = _linked_trace(hybrid_db)
    assert main(["export", tid, "--db", str(hybrid_db), "-o", str(tmp_path / "no" / "f")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_a_window_exports_whole_traces_as_otlp_json_lines(hybrid_db: Path, tmp_path: Path,
                                                         capsys):
    """Without a trace id every trace of the window goes out, whole, in documents of whole
    traces; loaded into another store they are the same rows."""
    out = tmp_path / "all.jsonl"
    assert main(["export", "--db", str(hybrid_db), "-o", str(out)]) == 0
    assert "exported 3152 spans in 1 OTLP/JSON line(s)" in capsys.readouterr().err
    again = tmp_path / "all.duckdb"
    assert main(["load", "--quiet", "--db", str(again), str(out)]) == 0
    everything = _rows(hybrid_db, "SELECT list(DISTINCT trace_id) FROM span_rows")[0][0]
    for sql in (SPAN_ROWS, EVENT_ROWS, LINK_ROWS):
        assert _rows(again, sql, everything) == _rows(hybrid_db, sql, everything), sql

    # small documents: each holds whole traces, and together every span once
    from analyzer.export import window_otlp
    with Store.open(str(hybrid_db), read_only=True) as store:
        docs = list(window_otlp(store, spans_per_document=200))
        begun = store_started(store)
    per_doc = [[sp for rs in d["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]]
               for d in docs]
    assert len(docs) > 10 and sum(map(len, per_doc)) == 3152
    traces_of = [{sp["traceId"] for sp in spans} for spans in per_doc]
    assert all(a.isdisjoint(b) for i, a in enumerate(traces_of) for b in traces_of[i + 1:])

    # a window: the traces with a span that started in it, whole
    with Store.open(str(hybrid_db), read_only=True) as store:
        mid = sorted(begun.values())[len(begun) // 2]
        late = [sp for d in window_otlp(store, since_ns=mid)
                for rs in d["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]]
        with store.cursor() as cur:
            want = cur.execute("""SELECT count(*) FROM span_rows WHERE trace_id IN (
                                      SELECT trace_id FROM span_rows
                                      WHERE start_time_unix_nano >= $t)""",
                               {"t": mid}).fetchone()[0]
    assert 0 < len(late) == want < 3152


def store_started(store: Store) -> dict[str, int]:
    """Each trace's first start."""
    with store.cursor() as cur:
        return dict(cur.execute("SELECT trace_id, min(start_time_unix_nano) FROM span_rows "
                                "GROUP BY 1").fetchall())


def test_export_of_a_window_says_what_is_wrong(hybrid_db: Path, capsys):
    assert main(["export", "--since", "yesterday", "--db", str(hybrid_db)]) == 2
    assert "choreoscope export:" in capsys.readouterr().err
    assert main(["export", "a" * 32, "--since", "1h", "--db", str(hybrid_db)]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["export", "--db", str(hybrid_db), "-o", "/nonexistent/dir/all.jsonl"]) == 1
    assert "cannot write /nonexistent/dir/all.jsonl" in capsys.readouterr().err
    # a window with no trace writes nothing, and says so
    assert main(["export", "--since", "1ms", "--db", str(hybrid_db)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "exported 0 spans in 0 OTLP/JSON line(s)" in captured.err
