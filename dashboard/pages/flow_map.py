"""Flow map (``/map?select=<node or edge id>``): services, topics and externals as a graph.

dash-cytoscape with positions from :mod:`dashboard.layered` (a left-to-right layered layout
computed in Python, so it is stable across refreshes and testable). Node shape by type, edge
width by throughput, edge colour by p95 latency or error rate, rates on the edges, edges that
lost trace context dashed. Clicking an element, or its row in the table under the map (the
keyboard- and test-friendly way), shows its stats and example flows beside the map. The
table lists the ``SHOWN`` busiest edges (and the selected one) until "Show all" is clicked:
it is redrawn at every refresh, and Dash's renderer slows down faster than linearly with the
rows of a table.
"""

from __future__ import annotations

from collections import Counter
import math
from typing import Any, Iterable, Mapping, Sequence

import dash_cytoscape as cyto
import plotly.graph_objects as go
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from analyzer.model import element_title
from dashboard.components import (as_text, empty_state, error_box, first_rows, fmt_count,
                                  fmt_ms, fmt_pct, fmt_rate, fmt_value, kv_table, label,
                                  md_table, more_button, more_state, table, trace_links)
from dashboard import data
from dashboard.deps import Deps
from dashboard.layered import layered_layout, widen
from dashboard.live import unless_unchanged
from dashboard.params import ParamError, build_query, filters_from_query, parse_query

GOOD, MID, BAD = (46, 125, 50), (249, 168, 37), (198, 40, 40)
SHOWN = 30
# A node with this many edges out or more labels them near their targets.
HUB_EDGES = 5
# The map's box: 470 px high on a laptop's screen, 62% of the window's height on a taller
# one (a big map's names stay readable), about 1,000 px wide beside the detail panel. A map
# taller for its width than 0.6 is spread wider to that: fitted by its height in the
# laptop's box all the same, and about the shape of a desktop's.
MAP_HEIGHT = "max(470px, 62vh)"
MAP_ASPECT = 0.6
NODE_W, NODE_H = 140, 38  # (px, a node's box)
NODE_STYLE = {  # type -> (shape, fill colour)
    "service": ("round-rectangle", "#E3F2FD"),
    "topic": ("rhomboid", "#FFF3E0"),
    "external": ("hexagon", "#ECEFF1"),
}


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> str:
    r, g, bl = (round(x + (y - x) * t) for x, y in zip(a, b))
    return f"#{r:02x}{g:02x}{bl:02x}"


def ramp(t: float) -> str:
    """Green (0) through amber (0.5) to red (1)."""
    t = min(max(t, 0.0), 1.0)
    return _mix(GOOD, MID, t * 2) if t < 0.5 else _mix(MID, BAD, (t - 0.5) * 2)


def error_rate(edge: Mapping[str, Any]) -> float:
    n = edge.get("count") or 0
    return (edge.get("error_count") or 0) / n if n else 0.0


def edge_colors(edges: Sequence[Mapping[str, Any]], color_by: str) -> dict[str, str]:
    """Edge id -> colour. p95: log scale between the fastest and slowest edge shown (the map
    is for spotting the slow hop among these); errors: absolute, red at 10% and above."""
    if color_by == "errors":
        return {e["id"]: ramp(error_rate(e) / 0.10) for e in edges}
    p95 = {e["id"]: e.get("p95_ms") for e in edges}
    known = [math.log10(max(v, 0.01)) for v in p95.values() if v is not None]
    lo, hi = (min(known), max(known)) if known else (0.0, 0.0)
    out = {}
    for eid, v in p95.items():
        if v is None:
            out[eid] = "#9E9E9E"
        else:
            out[eid] = ramp((math.log10(max(v, 0.01)) - lo) / (hi - lo) if hi > lo else 0.0)
    return out


def edge_label(edge: Mapping[str, Any], color_by: str) -> str:
    """The text drawn on an edge: its rate and the coloured metric."""
    rate = fmt_rate(edge.get("rate_per_s"))
    if color_by == "errors":
        metric = f"{fmt_pct(error_rate(edge))} err"
    else:
        metric = f"p95 {fmt_ms(edge.get('p95_ms'))}"
    broken = edge.get("broken_context_count") or 0
    return f"{rate} · {metric}" + (f" · ⚠ {broken} lost context" if broken else "")


# Characters of a node's name that fit a line of its box's 132 px of text: one line in
# 13 px type, or two in 12 px.
LINE_CHARS, LINE_CHARS_SMALL = 18, 20


def node_text(name: str) -> tuple[str, int]:
    """A node's name as its box shows it, and the type size: on two lines when one does
    not hold it, broken after the ``-``, ``.``, ``/``, ``_`` or ``:`` that best shares it
    out (``seller-`` / ``notification-service``), rather than cut short; a line two do not
    hold ends in an ellipsis."""
    if len(name) <= LINE_CHARS:
        return name, 13
    n = LINE_CHARS_SMALL
    cuts = [i + 1 for i, c in enumerate(name[:-1]) if c in "-./_: "]
    fitting = [i for i in cuts if i <= n and len(name) - i <= n]
    best = min(fitting or cuts or [n], key=lambda i: abs(i - len(name) / 2))
    lines = [name[:best].strip(), name[best:].strip()]
    return "\n".join(x if len(x) <= n else x[:n - 1] + "…" for x in lines), 12


def map_elements(analysis: Mapping[str, Any], color_by: str = "p95",
                 selected: str | None = None) -> list[dict[str, Any]]:
    """Cytoscape elements (nodes with preset positions, then edges) for an analysis."""
    nodes = analysis.get("nodes") or []
    edges = analysis.get("edges") or []
    ids = {n["id"] for n in nodes}
    edges = [e for e in edges if e.get("source") in ids and e.get("target") in ids]
    layout = widen(layered_layout([n["id"] for n in nodes],
                                  [(e["source"], e["target"]) for e in edges], dx=215, dy=88),
                   MAP_ASPECT, NODE_W, NODE_H)
    pos = layout.positions
    fan_out = Counter(e["source"] for e in edges)
    fan_in = Counter(e["target"] for e in edges)
    counts = [e.get("count") or 0 for e in edges]
    top = max(counts, default=0)
    colors = edge_colors(edges, color_by)
    out: list[dict[str, Any]] = []
    for n in nodes:
        x, y = pos[n["id"]]
        kind = n.get("type") if n.get("type") in NODE_STYLE else "external"
        name = str(n.get("name") or n["id"])
        text, size = node_text(name)
        out.append({
            "data": {"id": n["id"], "label": name, "type": kind, "text": text,
                     "font": size},
            "position": {"x": x, "y": y},
            "classes": kind + (" picked" if n["id"] == selected else ""),
        })
    for e in edges:
        c = e.get("count") or 0
        width = 1.5 + 7.0 * (math.log1p(c) / math.log1p(top) if top else 0.0)
        classes = [e.get("type") or "call"]
        if e.get("broken_context_count"):
            classes.append("broken")
        if e["id"] == selected:
            classes.append("picked")
        if fan_out[e["source"]] >= HUB_EDGES and fan_out[e["source"]] > fan_in[e["target"]]:
            # (the labels of a hub's many edges would pile up at their midpoints, near the
            # hub: each goes near its own end instead)
            classes.append("label-end")
        data = {"id": e["id"], "source": e["source"], "target": e["target"],
                "label": edge_label(e, color_by), "width": round(width, 2),
                "color": colors[e["id"]], "count": c}
        bends = layout.edge_bends(e["source"], e["target"])
        if bends:
            data.update(bends)
            classes.append("bent")
        out.append({"data": data, "classes": " ".join(classes)})
    return out


def stylesheet() -> list[dict[str, Any]]:
    """Cytoscape styles: shapes by node type, data-driven edge width/colour, broken dashed."""
    base = [
        {"selector": "node", "style": {
            "label": "data(text)", "text-valign": "center", "text-halign": "center",
            "font-size": "data(font)", "width": NODE_W, "height": NODE_H,
            "border-width": 1.5, "border-color": "#546E7A", "text-wrap": "wrap",
            "text-max-width": NODE_W - 8,
            "line-height": 1.05}},
        {"selector": "edge", "style": {
            "width": "data(width)", "line-color": "data(color)",
            "target-arrow-color": "data(color)", "target-arrow-shape": "triangle",
            "curve-style": "bezier", "label": "data(label)", "font-size": 10,
            # (a big map fitted to the screen draws its edges' numbers too small to read,
            # an unreadable smear over the edges: they appear as one zooms in)
            "min-zoomed-font-size": 6,
            "text-margin-y": -7,
            "text-rotation": "autorotate", "text-background-color": "#ffffff",
            "text-background-opacity": 0.85, "text-background-padding": 2,
            "color": "#37474F"}},
        # (an edge crossing columns goes round the nodes in them, by the lanes the layout
        # kept for it: dashboard.layered)
        {"selector": "edge.bent", "style": {
            "curve-style": "unbundled-bezier", "edge-distances": "node-position",
            "control-point-distances": "data(cpd)", "control-point-weights": "data(cpw)"}},
        {"selector": "edge.label-end", "style": {
            "label": "", "target-label": "data(label)", "target-text-offset": 75,
            "target-text-rotation": "autorotate", "target-text-margin-y": -7}},
        {"selector": ".consume", "style": {"line-style": "solid"}},
        {"selector": ".route", "style": {"line-style": "dotted"}},
        {"selector": ".broken", "style": {"line-style": "dashed", "line-dash-pattern": [8, 5],
                                          "source-arrow-shape": "tee",
                                          "source-arrow-color": "#B71C1C"}},
        {"selector": ".picked", "style": {"border-width": 4, "border-color": "#FF3D00",
                                          "underlay-color": "#FF3D00", "underlay-opacity": 0.25,
                                          "underlay-padding": 6}},
        {"selector": "edge.picked", "style": {"underlay-color": "#FF3D00",
                                              "underlay-opacity": 0.3, "underlay-padding": 5}},
    ]
    for kind, (shape, fill) in NODE_STYLE.items():
        style = {"shape": shape, "background-color": fill}
        if kind == "external":
            style["border-style"] = "dashed"
        base.append({"selector": f".{kind}", "style": style})
    return base


def legend(color_by: str) -> html.Div:
    """How to read the map."""
    stops = [ramp(t / 4) for t in range(5)]
    scale = ("fastest → slowest p95 among these edges" if color_by != "errors"
             else "0% → ≥10% errors")
    return html.Div(className="legend", children=[
        html.Span([html.Span(className="sw", style={"background": c}) for c in stops]),
        html.Span(f" colour: {scale}; width: throughput; "),
        html.Span("▭ service  ▱ topic/queue  ⬡ external; dashed edge: trace context lost "
                  "(consumers not linked to their producer, or publishes starting a flow of "
                  "their own in a service that consumes); dotted edge: the broker routes "
                  "messages on (exchange → queue)"),
    ])


def timeseries_figure(points: Sequence[Mapping[str, Any]], step_s: int = 60) -> go.Figure:
    """Count per ``step_s`` seconds (bars, errors stacked red) and p95 (line) of one
    element."""
    xs = [p.get("t") for p in points]
    dated = bool(xs) and isinstance(xs[0], str)
    ok = [(p.get("count") or 0) - (p.get("errors") or 0) for p in points]
    # (a bar is its step wide, not as wide as the axis when it is alone: date axes are in ms)
    width = [step_s * 1000 * 0.9] * len(xs) if dated else None
    fig = go.Figure([
        go.Bar(x=xs, y=ok, name="ok", marker_color="#90A4AE", width=width),
        go.Bar(x=xs, y=[p.get("errors") or 0 for p in points], name="errors",
               marker_color="#C62828", width=width),
        go.Scatter(x=xs, y=[p.get("p95_ms") for p in points], name="p95 ms", yaxis="y2",
                   mode="lines+markers", line=dict(color="#EF6C00")),
    ])
    fig.update_layout(barmode="stack", height=190, margin=dict(l=35, r=40, t=10, b=25),
                      legend=dict(orientation="h", y=-0.25), plot_bgcolor="white",
                      yaxis=dict(title=None, gridcolor="#eee"),
                      yaxis2=dict(overlaying="y", side="right", showgrid=False, rangemode="tozero"),
                      xaxis=dict(type="date" if dated else "-",
                                 tickformat="%H:%M:%S" if step_s < 60 else
                                 "%H:%M" if step_s < 3600 else "%b %d %H:%M"))
    return fig


# (in reading order: how many, how many failed, how often, how long, how long queued)
_HEAD_KEYS = ("count", "error_count", "error_rate", "rate_per_s", "p50_ms", "p95_ms",
              "p99_ms", "queue_p50_ms", "queue_p95_ms", "queue_p99_ms", "message_count",
              "broken_context_count")


def detail_panel(element_id: str, detail: Mapping[str, Any] | None,
                 filters: Mapping[str, str | None]) -> html.Div:
    """Stats of one node or edge (``analyzer.edge_detail`` output) with example flows."""
    if not detail:
        return html.Div(f"No traffic through {element_id} in this window.", className="muted")
    stats: list[tuple[str, str]] = []
    fmts = {"count": fmt_count, "error_count": fmt_count, "error_rate": fmt_pct,
            "rate_per_s": fmt_rate, "message_count": fmt_count,
            "broken_context_count": fmt_count}
    for k in _HEAD_KEYS:
        if k in detail and detail[k] is not None:
            stats.append((label(k), fmts.get(k, fmt_ms)(detail[k])))
    skip = set(_HEAD_KEYS) | {"timeseries", "timeseries_step_s", "slowest_trace_ids",
                              "failed_trace_ids", "id",
                              "source", "target", "type", "name"} | \
        {f"by_{dim}_total" for dim, _ in BREAKDOWNS}
    extra = [(label(k), fmt_value(k, v)) for k, v in detail.items()
             if k not in skip and not isinstance(v, list) and not k.endswith("_ns")]
    series = detail.get("timeseries") or []
    return html.Div(className="detail", id="map-detail-body", children=[
        html.H3(element_title(element_id), className="detail-title"),
        html.Div(as_text(detail.get("type") or ""), className="muted"),
        kv_table(stats + extra, class_name="kv stats"),
        dcc.Graph(figure=timeseries_figure(series, detail.get("timeseries_step_s") or 60),
                  config={"displayModeBar": False})
        if series else html.Div("no time series", className="muted"),
        *breakdowns(detail),
        html.H4("Slowest flows"),
        html.Div(trace_links(detail.get("slowest_trace_ids"), filters)),
        html.H4("Failed flows"),
        html.Div(trace_links(detail.get("failed_trace_ids"), filters)),
    ])


# A delivery edge's breakdowns (analyzer.detail._breakdown): key, and its column's name.
BREAKDOWNS = (("partition", "partition"), ("instance", "consumer instance"))


def breakdowns(detail: Mapping[str, Any]) -> list[Any]:
    """A delivery edge's deliveries by partition and by consumer instance, a service's work
    by instance, where there are two or more: the longest queues (else durations) first, so
    a hot partition or a slow pod is on top."""
    delivery = detail.get("type") == "consume"
    out: list[Any] = []
    for dim, name in BREAKDOWNS:
        rows = detail.get(f"by_{dim}") or []
        if not rows:
            continue
        name = name if delivery else dim
        total = detail.get(f"by_{dim}_total") or len(rows)
        slowest = "longest queues" if delivery else "slowest"
        shown = f" (the {len(rows)} of {total} {slowest})" if total > len(rows) else ""
        header = [name, "deliveries" if delivery else "spans"] + \
            (["queue p95"] if delivery else []) + ["p95", "errors"]
        out += [html.H4(f"By {name}{shown}"),
                md_table(header, [
                    (r["key"], fmt_count(r["count"]),
                     *([fmt_ms(r["queue_p95_ms"])] if delivery else []),
                     fmt_ms(r["p95_ms"]), fmt_count(r["error_count"])) for r in rows],
                    class_name="grid breakdown", id=f"map-by-{dim}")]
    return out


class FlowMapPage:
    """Layout and callbacks of the flow map, as plain methods."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def layout(self, params: Mapping[str, str], query: Mapping[str, str]) -> html.Div:
        return html.Div(className="flow-map", children=[
            dcc.Store(id="map-selected", data=query.get("select")),
            dcc.Store(id="map-sig"), dcc.Store(id="map-detail-sig"),
            html.Div(className="toolbar", children=[
                html.H2("Flow map"),
                dcc.RadioItems(id="map-color", value=query.get("color", "p95"), inline=True,
                               options=[{"label": " colour by p95 latency", "value": "p95"},
                                        {"label": " colour by error rate", "value": "errors"}]),
            ]),
            html.Div(id="map-message"),
            html.Div(className="split", children=[
                html.Div(className="main-col", children=[
                    cyto.Cytoscape(id="map-graph", elements=[], stylesheet=stylesheet(),
                                   layout={"name": "preset", "fit": True, "padding": 30},
                                   style={"width": "100%", "height": MAP_HEIGHT},
                                   minZoom=0.2, maxZoom=3, boxSelectionEnabled=False),
                    html.Div(id="map-legend"),
                ]),
                html.Aside(id="map-detail", className="side-col", children=html.Div(
                    "Click a service, topic or edge (or a row below) for its stats.",
                    className="muted hint")),
            ]),
            html.H3("Edges"),
            html.Div(id="map-edges"),
            more_button("map-more"),
        ])

    def update(self, filters: dict | None, tick: int | None, color_by: str | None,
               selected: str | None, more_clicks: int | None) -> tuple[Any, ...]:
        """The callback: :meth:`elements`, and the "Show all" button's label and style."""
        show_all = bool(more_clicks)
        out = self.elements(filters, tick, color_by, selected, show_all)
        try:
            n = len(self.deps.analysis(filters or filters_from_query({})).get("edges") or [])
        except ParamError:
            n = 0
        return (*out, *more_state(not show_all and n > SHOWN, f"Show all {n} edges"))

    def elements(self, filters: dict | None, _tick: int | None, color_by: str | None,
                 selected: str | None, show_all: bool = False) -> tuple[Any, Any, Any, Any]:
        """Elements, legend, edge table and message (empty state or error)."""
        f = filters or filters_from_query({})
        color_by = color_by or "p95"
        try:
            analysis = self.deps.analysis(f)
        except ParamError as exc:
            return [], None, None, error_box(str(exc))
        els = map_elements(analysis, color_by, selected)
        if not els:
            return [], None, None, empty_state(data.store_extent(self.deps.store), f, "/map",
                                               "services or topics")
        return els, legend(color_by), edge_table(analysis, f, None if show_all else SHOWN,
                                                 selected), None

    def select(self, node: dict | None, edge: dict | None, _picks: list[Any]) -> Any:
        """The id of whatever was clicked last: a node, an edge, or a table row."""
        trig = ctx.triggered_id
        if trig == "map-graph":
            prop = ctx.triggered[0]["prop_id"].split(".")[-1]
            picked = node if prop == "tapNodeData" else edge
            return (picked or {}).get("id", no_update)
        if isinstance(trig, dict) and ctx.triggered and ctx.triggered[0].get("value"):
            return trig.get("index")
        return no_update

    def detail(self, selected: str | None, filters: dict | None, _tick: int | None) -> Any:
        """The stats panel of the selected element."""
        if not selected:
            return no_update
        f = filters or filters_from_query({})
        try:
            detail = self.deps.edge(selected, f)
        except (ParamError, ValueError) as exc:  # a bad window, or a mangled ?select= id
            return error_box(str(exc))
        return detail_panel(selected, detail, f)

    def url(self, selected: str | None, color_by: str | None, search: str | None) -> Any:
        """Keep ``select`` and ``color`` in the URL so the view can be shared."""
        q = parse_query(search)
        q.pop("select", None)
        q.pop("color", None)
        if selected:
            q["select"] = selected
        if color_by and color_by != "p95":
            q["color"] = color_by
        out = build_query(q)
        return out if out != (search or "") else no_update


def edge_table(analysis: Mapping[str, Any], f: Mapping[str, str | None],
               shown: int | None = None, selected: str | None = None) -> html.Table:
    """Each edge (the ``shown`` busiest and the selected one, or all) as a row whose button
    selects it (same effect as clicking it on the map)."""
    names = _node_labels(analysis.get("nodes") or [])
    edges = sorted(analysis.get("edges") or [], key=lambda e: -(e.get("count") or 0))
    edges = first_rows(edges, shown, keep=lambda e: e["id"] == selected)
    rows = []
    for e in edges:
        rows.append([
            html.Button(f"{names.get(e['source'], e['source'])} → "
                        f"{names.get(e['target'], e['target'])}",
                        id={"type": "map-pick", "index": e["id"]}, className="linkish",
                        title=e["id"]),
            e.get("type") or "", _count_cell(e), fmt_rate(e.get("rate_per_s")),
            fmt_ms(e.get("p50_ms")), fmt_ms(e.get("p95_ms")), fmt_pct(error_rate(e)),
            fmt_ms(e.get("queue_p95_ms")) if e.get("queue_p95_ms") is not None else "—",
            fmt_count(e.get("broken_context_count") or 0),
        ])
    return table(["edge", "type", "count", "rate", "p50", "p95", "errors", "queue p95",
                  "lost context"], rows, class_name="grid edges")


def _node_labels(nodes: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Node id -> the name shown; a name that several nodes share (a service and the topic
    named after it) gets its node's type, so "orders → orders" reads which is which."""
    labels = {n["id"]: str(n.get("name") or n["id"]) for n in nodes}
    seen: dict[str, int] = {}
    for label_ in labels.values():
        seen[label_] = seen.get(label_, 0) + 1
    return {nid: f"{lab} ({nid.split(':', 1)[0]})" if seen[lab] > 1 else lab
            for nid, lab in labels.items()}


def _count_cell(e: Mapping[str, Any]) -> str:
    """Deliveries, and the messages they carried when batches carried more than one each."""
    n, msgs = e.get("count"), e.get("message_count")
    if e.get("type") == "consume" and msgs and n and msgs > n:
        return f"{fmt_count(n)} ({fmt_count(msgs)} messages)"
    return fmt_count(n)


def register(app: Any, deps: Deps) -> FlowMapPage:
    """Wire the flow map's callbacks into ``app``."""
    page = FlowMapPage(deps)
    app.callback(Output("map-graph", "elements"), Output("map-legend", "children"),
                 Output("map-edges", "children"), Output("map-message", "children"),
                 Output("map-more", "children"), Output("map-more", "style"),
                 Output("map-sig", "data"),
                 Input("filters", "data"), Input("tick", "n_intervals"),
                 Input("map-color", "value"), Input("map-selected", "data"),
                 Input("map-more", "n_clicks"),
                 State("map-sig", "data"))(unless_unchanged(page.update, 6, filters_at=0))
    app.callback(Output("map-selected", "data"), Input("map-graph", "tapNodeData"),
                 Input("map-graph", "tapEdgeData"),
                 Input({"type": "map-pick", "index": ALL}, "n_clicks"),
                 prevent_initial_call=True)(page.select)
    app.callback(Output("map-detail", "children"), Output("map-detail-sig", "data"),
                 Input("map-selected", "data"), Input("filters", "data"),
                 Input("tick", "n_intervals"),
                 State("map-detail-sig", "data"))(unless_unchanged(page.detail, 1, filters_at=1))
    app.callback(Output("url", "search", allow_duplicate=True), Input("map-selected", "data"),
                 Input("map-color", "value"), State("url", "search"),
                 prevent_initial_call=True)(page.url)
    return page

