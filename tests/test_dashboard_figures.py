"""Figure and element builders of the dashboard, called as plain functions."""

import plotly.graph_objects as go

from dashboard.pages.flow_map import edge_colors, edge_label, map_elements, node_text, ramp, \
    timeseries_figure
from dashboard.pages.flows import _scope, critical_hops, dag_elements, share_figure
from dashboard.waterfall import CRITICAL, SELECTED, order_rows, waterfall_figure

MS = 10**6
T0 = 1_750_000_000 * 10**9


def span(tid, sid, svc, name, start_ms, end_ms, **kw):
    d = {"trace_id": tid * 32, "span_id": sid * 16, "service_name": svc, "name": name,
         "kind": kw.pop("kind", "INTERNAL"), "start_time_unix_nano": T0 + start_ms * MS,
         "end_time_unix_nano": T0 + end_ms * MS, "status_code": kw.pop("status", "UNSET"),
         "depth": kw.pop("depth", 0), "on_critical_path": kw.pop("crit", False),
         "queue_wait_ms": kw.pop("queue", None)}
    d.update(kw)
    return d


def flow():
    spans = [
        span("a", "1", "order", "POST /orders", 0, 60, crit=True),
        span("a", "2", "order", "send orders", 20, 25, depth=1, kind="PRODUCER", crit=True),
        span("b", "3", "payment", "process <b>orders</b>", 45, 115, kind="CONSUMER",
             crit=True, queue=20.0),
        span("b", "4", "payment", "charge", 55, 95, depth=1, status="ERROR"),
        span("c", "5", "order", "late audit", 200, 210),
    ]
    return {"flow_id": "flow:x", "trace_ids": ["a" * 32, "b" * 32, "c" * 32], "spans": spans,
            "links": [{"from_span": "2" * 16, "to_span": "3" * 16, "type": "link",
                       "cross_trace": True},
                      {"from_span": "1" * 16, "to_span": "2" * 16, "type": "parent",
                       "cross_trace": False}],
            "critical_path": ["1" * 16, "2" * 16, "3" * 16], "start_ns": T0,
            "end_ns": T0 + 210 * MS, "duration_ms": 210.0, "errors": 1}


def test_rows_are_grouped_by_service_in_order_of_first_activity():
    rows = order_rows(flow()["spans"])
    assert [r["name"] for r in rows] == ["POST /orders", "send orders", "late audit",
                                         "process <b>orders</b>", "charge"]


def test_waterfall_bars_queue_gap_link_arrow_and_highlights():
    fig = waterfall_figure(flow(), selected_span="4" * 16)
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    assert [b.name for b in bars] == ["order", "payment"]
    payment = bars[1]
    assert list(payment.base) == [45.0, 55.0] and list(payment.x) == [70.0, 40.0]
    assert [c[0] for c in payment.customdata] == ["3" * 16, "4" * 16]
    # critical path outlined black, the selected span orange, errors hatched
    assert list(payment.marker.line.color) == [CRITICAL, SELECTED]
    assert list(payment.marker.pattern.shape) == ["", "x"]
    # the queue wait is a dotted gap ending where the consumer starts, with its duration
    gap = next(t for t in fig.data if t.name == "queue wait")
    assert list(gap.x)[:2] == [25.0, 45.0]
    label = next(t for t in fig.data if isinstance(t, go.Scatter) and t.mode == "text")
    assert list(label.text) == ["queue 20.0 ms"]
    # one arrow: the cross-trace link (in-trace parent links are the row order)
    arrows = [a for a in fig.layout.annotations if a.showarrow]
    assert len(arrows) == 1
    assert (arrows[0].ax, arrows[0].x) == (25.0, 45.0)
    assert (arrows[0].ay, arrows[0].y) == (1, 3)


def test_a_flow_of_seconds_is_drawn_on_an_axis_of_seconds():
    """A flow lasting 2 s or more reads in seconds ("14 s", not "14k ms"): bars, queue gaps
    and link arrows alike; hovers and labels still give milliseconds where they are short."""
    assert waterfall_figure(flow()).layout.xaxis.title.text == "ms since the flow started"
    f = flow()
    f["spans"][4] = span("c", "5", "order", "late audit", 14_000, 14_010)
    fig = waterfall_figure(f)
    assert fig.layout.xaxis.title.text == "s since the flow started"
    payment = [t for t in fig.data if isinstance(t, go.Bar)][1]
    assert list(payment.base) == [0.045, 0.055] and list(payment.x) == [0.07, 0.04]
    assert "70.00 ms" in payment.hovertext[0]
    gap = next(t for t in fig.data if t.name == "queue wait")
    assert list(gap.x)[:2] == [0.025, 0.045]
    label = next(t for t in fig.data if isinstance(t, go.Scatter) and t.mode == "text")
    assert list(label.text) == ["queue 20.0 ms"] and list(label.x) == [0.035]
    (arrow,) = [a for a in fig.layout.annotations if a.showarrow]
    assert (arrow.ax, arrow.x) == (0.025, 0.045)


def test_waterfall_tells_a_retry_wait_from_a_queue_wait():
    f = flow()
    f["spans"][2]["retry_wait"] = True  # (the analysis' critical path says so)
    fig = waterfall_figure(f)
    label = next(t for t in fig.data if isinstance(t, go.Scatter) and t.mode == "text")
    assert list(label.text) == ["retry wait 20.0 ms"]
    payment = [t for t in fig.data if isinstance(t, go.Bar)][1]
    assert "waited for its retry 20.0 ms before it started" in payment.hovertext[0]
    assert "parent span never arrived" not in payment.hovertext[0]
    f["spans"][2]["parent_missing"] = True
    payment = [t for t in waterfall_figure(f).data if isinstance(t, go.Bar)][1]
    assert "its parent span never arrived" in payment.hovertext[0]


def test_waterfall_escapes_span_text():
    fig = waterfall_figure(flow())
    ticks = list(fig.layout.yaxis.ticktext)
    assert any("process &lt;b&gt;orders&lt;/b&gt;" in t for t in ticks)
    assert not any("<b>orders" in t for t in ticks)
    services = [a.text for a in fig.layout.annotations if not a.showarrow]
    assert services == ["<b>order</b>", "<b>payment</b>"]  # band labels, in row order
    hover = " ".join(h for b in fig.data if isinstance(b, go.Bar) for h in b.hovertext)
    assert "&lt;b&gt;orders" in hover


def test_empty_flow_gives_an_empty_figure():
    fig = waterfall_figure({"spans": []})
    assert not fig.data


ANALYSIS = {
    "nodes": [{"id": "service:a", "type": "service", "name": "a"},
              {"id": "topic:t", "type": "topic", "name": "t"},
              {"id": "service:b", "type": "service", "name": "b"},
              {"id": "external:pg", "type": "external", "name": "pg"}],
    "edges": [
        {"id": "service:a->topic:t", "source": "service:a", "target": "topic:t",
         "type": "publish", "count": 1000, "error_count": 0, "p95_ms": 2.0, "rate_per_s": 10},
        {"id": "topic:t->service:b", "source": "topic:t", "target": "service:b",
         "type": "consume", "count": 900, "error_count": 90, "p95_ms": 400.0,
         "rate_per_s": 9, "broken_context_count": 12},
        {"id": "service:b->external:pg", "source": "service:b", "target": "external:pg",
         "type": "call", "count": 10, "error_count": 0, "p95_ms": 20.0, "rate_per_s": 0.01},
    ],
}


def test_map_elements_shapes_widths_broken_edges_and_layout():
    els = map_elements(ANALYSIS, "p95", selected="topic:t->service:b")
    nodes = {e["data"]["id"]: e for e in els if "source" not in e["data"]}
    edges = {e["data"]["id"]: e for e in els if "source" in e["data"]}
    assert nodes["topic:t"]["classes"] == "topic"
    assert nodes["external:pg"]["classes"] == "external"
    assert nodes["service:a"]["position"]["x"] < nodes["topic:t"]["position"]["x"] < \
        nodes["service:b"]["position"]["x"] < nodes["external:pg"]["position"]["x"]
    w = {k: e["data"]["width"] for k, e in edges.items()}
    assert w["service:a->topic:t"] > w["topic:t->service:b"] > w["service:b->external:pg"]
    assert "broken" in edges["topic:t->service:b"]["classes"].split()
    assert "picked" in edges["topic:t->service:b"]["classes"].split()
    assert "broken" not in edges["service:a->topic:t"]["classes"]
    assert edges["topic:t->service:b"]["data"]["label"] == "9/s · p95 400 ms · ⚠ 12 lost context"


def test_a_long_node_name_is_shown_on_two_lines_broken_where_it_reads_well():
    assert node_text("order-service") == ("order-service", 13)
    assert node_text("seller-notification-service") == ("seller-\nnotification-service", 12)
    assert node_text("payment.requested.dlq") == ("payment.\nrequested.dlq", 12)
    # (no separator: cut in the middle; what two lines do not hold ends in an ellipsis)
    text, _ = node_text("x" * 50)
    assert text == "x" * 20 + "\n" + "x" * 19 + "…"
    els = map_elements({"nodes": [{"id": "service:seller-notification-service", "type": "service",
                                   "name": "seller-notification-service"}], "edges": []})
    assert els[0]["data"]["label"] == "seller-notification-service"  # (what a click names)
    assert els[0]["data"]["text"] == "seller-\nnotification-service"


def test_edge_colours_follow_the_toggle():
    by_p95 = edge_colors(ANALYSIS["edges"], "p95")
    assert by_p95["service:a->topic:t"] == ramp(0)
    assert by_p95["topic:t->service:b"] == ramp(1)
    by_err = edge_colors(ANALYSIS["edges"], "errors")
    assert by_err["topic:t->service:b"] == ramp(1)  # 10% errors is full red
    assert by_err["service:a->topic:t"] == ramp(0)
    assert edge_label(ANALYSIS["edges"][1], "errors").startswith("9/s · 10% err")
    assert map_elements({"nodes": [], "edges": []}) == []


def test_flow_dag_marks_the_critical_path_and_share_chart_ranks_hops():
    fl = {"id": "flow:1", "hops": ["service:a->topic:t", "topic:t->service:b",
                                   "service:b->external:pg"],
          "critical_path": [
              {"hop": "service:a->topic:t", "kind": "call", "share": 0.1, "mean_ms": 1},
              {"hop": "topic:t->service:b", "kind": "queue", "share": 0.6, "mean_ms": 30},
              {"hop": "service:b", "kind": "processing", "share": 0.3, "mean_ms": 15},
              {"hop": "service:b->external:pg", "kind": "call", "share": 0.001,
               "mean_ms": 0.1}]}
    els = dag_elements(fl)
    edges = {e["data"]["id"]: e for e in els if "source" in e["data"]}
    assert set(edges) == set(fl["hops"])
    assert edges["topic:t->service:b"]["classes"] == "crit"
    assert edges["topic:t->service:b"]["data"]["label"] == "60%"
    # a hop on the path for a sliver of the time is not highlighted
    assert edges["service:b->external:pg"]["classes"] == ""
    assert edges["topic:t->service:b"]["data"]["width"] > edges["service:a->topic:t"][
        "data"]["width"]
    node_b = next(e for e in els if e["data"]["id"] == "service:b")
    assert "crit" in node_b["classes"] and "30%" in node_b["data"]["label"]
    assert [h["hop"] for h in critical_hops(fl)] == ["topic:t->service:b", "service:b",
                                                     "service:a->topic:t",
                                                     "service:b->external:pg"]
    bars = share_figure(critical_hops(fl)).data[0]
    assert list(bars.x) == [60.0, 30.0, 10.0, 0.1]
    assert "t → b (queue)" in bars.y[0]


def test_a_flow_types_scope_counts_in_words_that_agree_with_the_number():
    one = {"services": ["service:a"], "topics": ["topic:t"], "hops": ["service:a->topic:t"],
           "traces_per_flow": 1, "id": "flow:1"}
    assert _scope(one) == "1 service · 1 topic · 1 hop · 1 trace per flow · flow:1"
    more = {"services": ["service:a", "service:b"], "topics": [], "hops": ["x", "y", "z"],
            "traces_per_flow": 1.5}
    assert _scope(more) == "2 services · 3 hops · 1.5 traces per flow"


def test_timeseries_figure_stacks_errors_on_successes():
    fig = timeseries_figure([{"t": "2024-01-01T00:00:00Z", "count": 10, "errors": 2,
                              "p95_ms": 30}, {"t": "2024-01-01T00:01:00Z", "count": 5,
                                              "errors": 0, "p95_ms": 12}])
    ok, err, p95 = fig.data
    assert list(ok.y) == [8, 5] and list(err.y) == [2, 0] and list(p95.y) == [30, 12]


def test_timeseries_figure_bars_are_their_step_wide_and_ticks_fit_it():
    one = [{"t": "2024-01-01T00:00:05Z", "count": 3, "errors": 0, "p95_ms": 4}]
    fig = timeseries_figure(one, step_s=5)
    assert list(fig.data[0].width) == [4500.0]  # (ms on a date axis: 90% of the step)
    assert fig.layout.xaxis.tickformat == "%H:%M:%S"
    assert timeseries_figure(one, step_s=300).layout.xaxis.tickformat == "%H:%M"
    assert timeseries_figure(one, step_s=3 * 3600).layout.xaxis.tickformat == "%b %d %H:%M"


def test_a_dag_of_many_rows_gets_a_taller_box():
    """A chain draws in the usual 380 px; an entry calling seven services (seven rows) gets
    a taller box, up to 600 px, and is spread wider to fill it rather than shrunk."""
    from dashboard.pages.flows import DAG_HEIGHT_PX, dag_view
    chain = {"hops": ["service:a->topic:t", "topic:t->service:b"], "critical_path": []}
    assert dag_view(chain)[1] == DAG_HEIGHT_PX[0]
    fan = {"hops": [f"service:gw->service:s{i}" for i in range(7)], "critical_path": []}
    els, height = dag_view(fan)
    assert DAG_HEIGHT_PX[0] < height <= DAG_HEIGHT_PX[1]
    xs = {e["data"]["id"]: e["position"]["x"] for e in els if "position" in e}
    assert xs["service:s0"] - xs["service:gw"] > 200  # (its columns 200 apart, spread)
    huge = {"hops": [f"service:gw->service:s{i}" for i in range(40)], "critical_path": []}
    assert dag_view(huge)[1] == DAG_HEIGHT_PX[1]
