"""Renderers, the `analyze` command, edge_detail and flow_for_trace output."""

from __future__ import annotations

import argparse
import dataclasses
import json
from datetime import datetime, timezone

import networkx as nx
import pytest

from analyzer import analyze, edge_detail, flow_for_trace, parse_duration, render
from analyzer.cli import ALL, add_analyze_arguments, run_analyze, since_ns_from
from choreoscope.store import Store
from collector.decode import decode_request
from tests.builders import SpanSet


def _spans() -> SpanSet:
    b = SpanSet()
    for i in range(3):
        t = i * 1000
        root = b.span("orders", 'POST /orders "quoted"', kind="SERVER", start_ms=t, dur_ms=20)
        b.client_call("orders", None, parent=root, start_ms=t + 1, dur_ms=3,
                      peer={"db.system": "postgresql"})
        pub = b.producer("orders", "order-placed", parent=root, start_ms=t + 5, dur_ms=2,
                         message_id=f"m{i}")
        con = b.consumer("billing", "order-placed", link=pub, start_ms=t + 30, dur_ms=10,
                         message_id=f"m{i}", status="ERROR" if i == 0 else "UNSET")
        b.client_call("billing", "ledger", parent=con, start_ms=t + 32, dur_ms=5)
    return b


@pytest.fixture(scope="module")
def analysed():
    b = _spans()
    st = b.store()
    yield b, st, analyze(st)
    st.close()


def test_json_is_the_stable_shape(analysed):
    _, _, a = analysed
    d = json.loads(render(a, "json"))
    assert set(d) >= {"summary", "nodes", "edges", "flows", "bottlenecks", "anomalies"}
    for n in d["nodes"]:
        assert {"id", "type", "name"} <= set(n) and n["type"] in ("service", "topic", "external")
    for e in d["edges"]:
        assert {"id", "source", "target", "type", "count", "error_count", "p50_ms", "p95_ms",
                "p99_ms", "queue_p50_ms", "queue_p95_ms", "broken_context_count",
                "rate_per_s"} <= set(e)
        assert e["id"] == f"{e['source']}->{e['target']}"
    for f in d["flows"]:
        assert {"id", "signature", "count", "style", "e2e_p50_ms", "e2e_p95_ms", "error_rate",
                "critical_path", "bottleneck", "example_trace_ids",
                "failed_trace_ids"} <= set(f)
    for b in d["bottlenecks"]:
        assert {"hop", "kind", "share", "example_trace_ids"} <= set(b)
    assert d["summary"]["span_count"] == 18 and d["summary"]["flow_count"] == 1
    assert d == a.to_dict()


def test_mermaid_and_dot_name_every_node_and_edge(analysed):
    _, _, a = analysed
    mm = render(a, "mermaid")
    assert mm.startswith("flowchart LR")
    assert mm.count("-->") + mm.count("-.->") + mm.count("==>") == len(a.edges)
    for n in a.nodes:
        assert f'"{n["name"]}"' in mm
    dot = render(a, "dot")
    assert dot.startswith("digraph choreoscope {") and dot.rstrip().endswith("}")
    for e in a.edges:
        assert f'"{e["source"]}" -> "{e["target"]}"' in dot


def test_graphml_round_trips_the_graph(analysed):
    _, _, a = analysed
    g = nx.parse_graphml(render(a, "graphml"))
    assert set(g.nodes) == set(a.graph.nodes) and set(g.edges) == set(a.graph.edges)
    e = a.edges[0]
    assert g.edges[e["source"], e["target"]]["count"] == str(e["count"])
    assert json.loads(g.edges[e["source"], e["target"]]["example_trace_ids"]) == \
        e["example_trace_ids"]


def test_text_report_and_unknown_format(analysed):
    _, _, a = analysed
    text = render(a, "text")
    assert "Flow map" in text and "Bottlenecks" in text and "Anomalies" in text
    assert "topic:order-placed->service:billing" in text
    assert "choreography" in text
    with pytest.raises(ValueError):
        render(a, "svg")
    assert "no spans" in render(analyze(Store.open(":memory:")), "text")



def test_text_report_lists_flows_across_services_first(analysed):
    """A frequent trace that stays within its service (a worker's housekeeping) comes after
    the flows between services, marked as such, without a style explanation."""
    _, _, a = analysed
    tick = {**a.flows[0], "id": "ft-tick", "name": "moveStalledJobsToWait (billing)",
            "count": 10_000, "hops": [], "style": "none",
            "style_explanation": "no service starts work in another service in this flow"}
    text = render(dataclasses.replace(a, flows=[tick, *a.flows]), "text")
    first_real = text.index(f"] {a.flows[0]['name']}:")
    assert first_real < text.index("[within its service] moveStalledJobsToWait (billing)")
    assert "no service starts work in another service" not in text


@pytest.mark.parametrize("text,ns", [("15m", 900 * 10**9), ("2h", 7200 * 10**9),
                                     ("7d", 7 * 86400 * 10**9), ("1h30m", 5400 * 10**9),
                                     ("500ms", 5 * 10**8), ("90", 90 * 10**9),
                                     (" 2H ", 7200 * 10**9), ("all", ALL)])
def test_parse_duration(text, ns):
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text", ["", "abc", "15x", "m15", "1h-2m"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_since_from_duration():
    assert since_ns_from("all") is None and since_ns_from(None) is None
    assert since_ns_from("1m", now_ns=10**12) == 10**12 - 60 * 10**9


def _args(argv):
    p = argparse.ArgumentParser()
    add_analyze_arguments(p)
    return p.parse_args(argv)


def test_run_analyze_on_a_database_file(tmp_path, capsys):
    db = tmp_path / "a.duckdb"
    st = Store.open(db)
    st.write(decode_request(_spans().request()))
    st.close()
    assert run_analyze(_args(["--db", str(db), "--format", "json"])) == 0
    d = json.loads(capsys.readouterr().out)
    assert len(d["edges"]) == 4
    assert run_analyze(_args(["--db", str(db), "--service", "ledger"])) == 0
    assert "service:billing->service:ledger" in capsys.readouterr().out
    assert run_analyze(_args(["--db", str(db), "--since", "15m", "--format", "mermaid"])) == 0
    assert capsys.readouterr().out.startswith("flowchart LR")  # spans are an hour old
    assert run_analyze(_args(["--db", str(db), "--since", "soon"])) == 2
    assert "not a time or a duration: 'soon'" in capsys.readouterr().err
    # a window of times, as the API's since/until: an incident's half hour
    with Store.open(db, read_only=True) as st, st.cursor() as cur:
        t0, t1 = cur.execute("SELECT min(start_time_unix_nano), max(start_time_unix_nano) "
                             "FROM span_rows").fetchone()
    iso = [datetime.fromtimestamp(t / 1e9, tz=timezone.utc).isoformat() for t in (t0, t1)]
    assert run_analyze(_args(["--db", str(db), "--since", iso[0], "--until", iso[1],
                              "--format", "json"])) == 0
    some = json.loads(capsys.readouterr().out)["summary"]["span_count"]
    assert 0 < some < json.loads(_analyze_json(db, capsys))["summary"]["span_count"]
    assert run_analyze(_args(["--db", str(db), "--since", str(t1 // 10**9 + 1),
                              "--format", "json"])) == 0  # Unix seconds: a time
    assert json.loads(capsys.readouterr().out)["summary"]["span_count"] == 0
    assert run_analyze(_args(["--db", str(db), "--since", "5m", "--until", "1h"])) == 2
    assert "until must be after since" in capsys.readouterr().err


def _analyze_json(db, capsys) -> str:
    assert run_analyze(_args(["--db", str(db), "--format", "json"])) == 0
    return capsys.readouterr().out


def test_run_analyze_reports_store_errors(tmp_path, capsys):
    assert run_analyze(_args(["--db", str(tmp_path / "missing.duckdb")])) == 1
    err = capsys.readouterr().err
    assert "no database" in err and "Traceback" not in err



def test_edge_detail_series_step_follows_the_window():
    """An element's series has at most 60 points, at the smallest step that allows: two
    minutes of calls in 5-second buckets (not one bar), an hour's window by the minute, a
    week's by three hours."""
    from analyzer.detail import series_step_s
    from tests.builders import SpanSet

    b = SpanSet(base_ns=1_700_000_040 * 10**9)  # (22:14:00 UTC: buckets align on it)
    for i in range(25):  # one call every 5 s for two minutes, the last one failing
        root = b.span("web", "GET /", kind="SERVER", start_ms=i * 5000, dur_ms=20)
        b.span("web", "GET", kind="CLIENT", parent=root, start_ms=i * 5000 + 1, dur_ms=10,
               status="ERROR" if i == 24 else "UNSET",
               attrs={"peer.service": "ledger", "http.method": "GET"})
    st = b.store()
    d = edge_detail(st, "service:web->external:ledger")
    assert d["count"] == 25 and d["timeseries_step_s"] == 5
    assert [p["count"] for p in d["timeseries"]] == [1] * 25
    assert d["timeseries"][0]["t"] == "2023-11-14T22:14:00Z"
    assert d["timeseries"][1]["t"] == "2023-11-14T22:14:05Z"
    assert [p["errors"] for p in d["timeseries"]][-1] == 1
    hour = edge_detail(st, "service:web->external:ledger", b.base_ns,
                       b.base_ns + 3600 * 10**9)
    assert hour["timeseries_step_s"] == 60
    assert [p["count"] for p in hour["timeseries"]] == [12, 12, 1]
    assert series_step_s(0, 7 * 86400 * 10**9, None, None) == 3 * 3600
    assert series_step_s(None, None, 0, 10 * 10**9) == 1
    assert series_step_s(None, None, None, None) == 60  # (nothing to size it on)


def test_edge_detail_for_nodes_and_edges(analysed):
    b, st, a = analysed
    d = edge_detail(st, "topic:order-placed->service:billing")
    assert d["type"] == "consume" and d["count"] == 3 and d["error_count"] == 1
    assert d["queue_p50_ms"] == pytest.approx(23.0)
    assert d["failed_trace_ids"] and d["slowest_trace_ids"]
    assert sum(p["count"] for p in d["timeseries"]) == 3
    assert all(p["t"].endswith("Z") for p in d["timeseries"])
    assert edge_detail(st, "service:orders")["count"] == 3  # its three server spans
    assert edge_detail(st, "external:postgresql")["count"] == 3
    assert edge_detail(st, "topic:order-placed")["count"] == 6
    assert edge_detail(st, "service:billing->service:ledger")["count"] == 3
    assert edge_detail(st, "service:orders->external:postgresql")["count"] == 3
    assert edge_detail(st, "service:orders->topic:order-placed",
                       since_ns=b.ms(1500), until_ns=b.ms(10_000))["count"] == 1
    assert edge_detail(st, "service:nobody")["count"] == 0
    with pytest.raises(ValueError):
        edge_detail(st, "nonsense")


def test_flow_for_trace_spans_links_and_critical_path(analysed):
    b, st, a = analysed
    tid = a.flows[0]["example_trace_ids"][0]
    f = flow_for_trace(st, tid.upper())  # ids are matched case-insensitively
    assert f is not None and tid in f["trace_ids"] and len(f["trace_ids"]) == 2
    assert f["span_count"] == 6 and f["errors"] in (0, 1)
    starts = [s["start_time_unix_nano"] for s in f["spans"]]
    assert starts == sorted(starts)
    consumer = next(s for s in f["spans"] if s["kind"] == "CONSUMER")
    assert consumer["queue_wait_ms"] == pytest.approx(23.0)
    assert consumer["on_critical_path"] and consumer["span_id"] in f["critical_path"]
    assert all(s["queue_wait_ms"] is None for s in f["spans"] if s["kind"] != "CONSUMER")
    assert "resource_attributes" in consumer and "attributes" in consumer
    cross = [x for x in f["links"] if x["cross_trace"]]
    assert [x["type"] for x in cross] == ["link"] and cross[0]["to_span"] == consumer["span_id"]
    json.dumps(f)  # JSON-able as is
    assert flow_for_trace(st, "f" * 32) is None
