"""Flows (``/flows`` and ``/flows/<flow_id>``): flow types, and one type's DAG.

The table lists the flow types of the window (name and variant, the signature on hover,
count, coordination style, end-to-end p50/p95, error rate, bottleneck), the ``SHOWN`` most
frequent first and the rest behind a "Show all" button (Dash's renderer slows down faster
than linearly with the rows of a table, and a big system can have hundreds of types).
Selecting one (its URL is ``/flows/<id>``) shows its DAG, laid out left to right, with the
critical path highlighted and each hop's share of the critical-path time as a bar chart.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import dash_cytoscape as cyto
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html

from analyzer.flow_names import flow_title
from analyzer.model import across_services_first, element_title, node_name
from dashboard import data
from dashboard.components import (as_text, empty_state, error_box, first_rows, fmt_count,
                                  fmt_ms, fmt_pct, more_button, more_state, table,
                                  trace_links)
from dashboard.deps import Deps
from dashboard.layered import layered_layout, widen
from dashboard.live import unless_unchanged
from dashboard.pages.flow_map import NODE_W, node_text, stylesheet
from dashboard.params import ParamError, filters_from_query, href
from dashboard.waterfall import esc

CRIT = "#D84315"
SHOWN = 50
# Hops below this share of the critical-path time are drawn as ordinary hops: a hop that
# was on some instance's path for a millisecond is not what "the critical path" means.
CRIT_MIN_SHARE = 0.005
# The DAG's box: 380 px high, taller for a DAG of many rows (up to 600 px, about 3/4 of
# its drawing's height), about 1,000 px wide; a DAG taller than its box for its width is
# spread wider to fill it.
DAG_HEIGHT_PX = (380, 600)
DAG_WIDTH_PX = 1000
DAG_NODE_H = 46  # (px: a name on two lines and its share on a third)


def _node_type(node_id: str) -> str:
    kind = node_id.split(":", 1)[0]
    return kind if kind in ("service", "topic", "external") else "external"


def critical_hops(flow: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The flow's critical path as ``[{"hop", "kind", "share", "ms"}]``, biggest share first.

    Accepts the analyzer's list of hop dicts; a bare list of hop ids counts each equally.
    """
    cp = flow.get("critical_path") or []
    out: list[dict[str, Any]] = []
    for item in cp:
        if isinstance(item, str):
            out.append({"hop": item, "kind": "", "share": 1.0 / len(cp), "ms": None})
        elif isinstance(item, Mapping):
            out.append({"hop": item.get("hop") or item.get("id") or "?",
                        "kind": item.get("kind") or "",
                        "share": item.get("share"),
                        "ms": item.get("ms", item.get("p50_ms", item.get("mean_ms")))})
    return sorted(out, key=lambda h: -(h["share"] or 0))


def flow_edges(flow: Mapping[str, Any]) -> list[str]:
    """Edge ids (``a->b``) making up a flow type's DAG."""
    for key in ("edges", "hops", "path"):
        v = flow.get(key)
        if isinstance(v, list) and v:
            ids = [x if isinstance(x, str) else (x.get("id") or x.get("hop")) for x in v]
            return [i for i in ids if isinstance(i, str) and "->" in i]
    return [h["hop"] for h in critical_hops(flow) if "->" in h["hop"]]


def dag_elements(flow: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Cytoscape elements of a flow type's DAG; critical-path hops get the ``crit`` class."""
    return dag_view(flow)[0]


def dag_view(flow: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """:func:`dag_elements`, and the height in px of the box to draw them in."""
    crit = {h["hop"]: h for h in critical_hops(flow)
            if (h["share"] or 0) >= CRIT_MIN_SHARE and h["kind"] != "wait"}
    edges = []
    for eid in dict.fromkeys(flow_edges(flow)):
        src, dst = eid.split("->", 1)
        edges.append((eid, src, dst))
    nodes = list(dict.fromkeys([e[1] for e in edges] + [e[2] for e in edges]))
    layout = layered_layout(nodes, [(s, d) for _, s, d in edges], dx=200, dy=90)
    ys = [y for _, y in layout.positions.values()] or [0.0]
    low, high = DAG_HEIGHT_PX
    height = int(min(high, max(low, 0.75 * (max(ys) - min(ys) + DAG_NODE_H) + 50)))
    layout = widen(layout, height / DAG_WIDTH_PX, NODE_W, DAG_NODE_H)
    pos = layout.positions
    out: list[dict[str, Any]] = []
    for n in nodes:
        x, y = pos[n]
        share = crit.get(n, {}).get("share")
        label = node_name(n) + (f"\n{fmt_pct(share)}" if share else "")
        text, size = node_text(node_name(n))
        text += f"\n{fmt_pct(share)}" if share else ""
        out.append({"data": {"id": n, "label": label, "text": text,
                             "font": 12 if "\n" in text else size},
                    "position": {"x": x, "y": y},
                    "classes": _node_type(n) + (" crit" if n in crit else "")})
    for eid, s, d in edges:
        share = crit.get(eid, {}).get("share")
        data = {"id": eid, "source": s, "target": d, "label": fmt_pct(share) if share else "",
                "width": round(2.0 + 12.0 * (share or 0), 2),
                "color": CRIT if eid in crit else "#90A4AE"}
        classes = ["crit"] if eid in crit else []
        bends = layout.edge_bends(s, d)
        if bends:
            data.update(bends)
            classes.append("bent")
        out.append({"data": data, "classes": " ".join(classes)})
    return out, height


def dag_stylesheet() -> list[dict[str, Any]]:
    return stylesheet() + [
        {"selector": "node", "style": {"height": DAG_NODE_H}},
        {"selector": "node.crit", "style": {"border-color": CRIT, "border-width": 3}},
        {"selector": "edge.crit", "style": {"width": 5}},
    ]


def share_figure(hops: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Horizontal bars: each hop's share of the critical path."""
    hops = [h for h in hops if h.get("share")][:12]
    labels = [esc(f"{element_title(h['hop'])} ({h.get('kind') or 'time'})") for h in hops]
    top = max((h["share"] * 100 for h in hops), default=1.0)
    fig = go.Figure(go.Bar(
        x=[h["share"] * 100 for h in hops], y=labels, orientation="h", marker_color=CRIT,
        text=[fmt_pct(h["share"]) for h in hops], textposition="outside", cliponaxis=False,
        hovertext=[f"{fmt_pct(h['share'])} of the path · {fmt_ms(h.get('ms'))} per flow"
                   for h in hops], hoverinfo="text"))
    fig.update_layout(height=max(160, 50 + 24 * len(hops)), margin=dict(l=10, r=10, t=10, b=40),
                      xaxis=dict(title="%", range=[0, top * 1.6],
                                 gridcolor="#eee"),
                      yaxis=dict(autorange="reversed", automargin=True), plot_bgcolor="white")
    return fig


def _scope(fl: Mapping[str, Any]) -> str:
    """``4 services · 3 topics · 1.5 traces per flow`` for a flow type."""
    parts = []
    for key, word in (("services", "service"), ("topics", "topic"), ("hops", "hop")):
        if fl.get(key):
            n = len(fl[key])
            parts.append(f"{n} {word}{'' if n == 1 else 's'}")
    if fl.get("traces_per_flow"):
        per = fl["traces_per_flow"]
        parts.append(f"{per:g} {'trace' if per == 1 else 'traces'} per flow")
    return " · ".join(parts) + (f" · {fl['id']}" if fl.get("id") else "")


def flow_table(flows: Sequence[Mapping[str, Any]], f: Mapping[str, str | None],
               selected: str | None) -> html.Table:
    """The flow-type table; each signature links to that type's page."""
    rows = []
    for fl in flows:
        bn = fl.get("bottleneck")
        bn_text = (element_title(bn.get("hop", "")) + (f" ({bn.get('kind')})" if bn.get("kind")
                                                     else "")) if isinstance(bn, Mapping) \
            else (element_title(bn) if isinstance(bn, str) else "—")
        rows.append([
            html.Div([
                dcc.Link(as_text(flow_title(fl)), href=href(f"/flows/{fl['id']}", f),
                         className="sig" + (" current" if fl["id"] == selected else ""),
                         title=as_text(fl.get("signature") or "")),
                html.Div(_scope(fl), className="muted small")]),
            fmt_count(fl.get("count")),
            as_text(fl.get("style") or "—") if fl.get("hops") else "within its service",
            fmt_ms(fl.get("e2e_p50_ms")), fmt_ms(fl.get("e2e_p95_ms")),
            fmt_pct(fl.get("error_rate")), bn_text,
        ])
    return table(["flow type", "count", "style", "p50", "p95", "errors", "bottleneck"], rows,
                 class_name="grid flows")


class FlowsPage:
    """Layout and callbacks of the flows page, as plain methods."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def layout(self, params: Mapping[str, str], query: Mapping[str, str]) -> html.Div:
        return html.Div(className="flows", children=[
            dcc.Store(id="fl-selected", data=params.get("flow_id")), dcc.Store(id="fl-sig"),
            html.H2("Flow types"),
            html.Div(id="fl-table"),
            more_button("fl-more"),
            html.Div(id="fl-detail"),
        ])

    def update(self, selected: str | None, filters: dict | None, tick: int | None,
               more_clicks: int | None) -> tuple[Any, Any, str, dict[str, str]]:
        """The callback: the table (the ``SHOWN`` most frequent types until "Show all" is
        clicked: the browser's cost of a table grows faster than its rows), the detail,
        and the button."""
        show_all = bool(more_clicks)
        table_, detail = self.body(selected, filters, tick, show_all)
        try:
            n = len(self.deps.analysis(filters or filters_from_query({})).get("flows") or [])
        except ParamError:
            n = 0
        return (table_, detail,
                *more_state(not show_all and n > SHOWN, f"Show all {n} flow types"))

    def body(self, selected: str | None, filters: dict | None, _tick: int | None,
             show_all: bool = False) -> tuple[Any, Any]:
        """The table (all types, or the ``SHOWN`` most frequent and the selected one), and
        the selected type's DAG and hop shares."""
        f = filters or filters_from_query({})
        try:
            analysis = self.deps.analysis(f)
        except ParamError as exc:
            return error_box(str(exc)), None
        flows = across_services_first(analysis.get("flows") or [])
        cut = partial_flows_note(analysis.get("summary") or {})
        if not flows:
            return (cut or empty_state(data.store_extent(self.deps.store), f, "/flows",
                                       "flows")), None
        detail = None
        if selected:
            flow = next((x for x in flows if x.get("id") == selected), None)
            detail = flow_detail(flow, f) if flow else html.Div(
                className="empty", children=f"Flow type {selected} has no instance in this "
                                            f"window.")
        shown = first_rows(flows, None if show_all else SHOWN,
                           keep=lambda x: x.get("id") == selected)
        table_ = flow_table(shown, f, selected)
        return (html.Div([table_, cut]) if cut else table_), detail


def partial_flows_note(summary: Mapping[str, Any]) -> html.Div | None:
    """What the window left out of the flow types: the flows under way when it began (only
    their end is in it, entering wherever the window cut them) and those still under way
    at its end (a message not delivered yet); their hops are on the map all the same."""
    parts = []
    # (the end is "its" after the start names the window, "the window's" alone)
    for key, when in (("flows_begun_before", "when the window began"),
                      ("flows_under_way", "at its end" if summary.get("flows_begun_before")
                       else "at the window's end")):
        n = summary.get(key) or 0
        if n:
            parts.append(f"{fmt_count(n)} flow{'s were' if n != 1 else ' was'} under way "
                         f"{when}")
    if not parts:
        return None
    return html.Div(" and ".join(parts) + ": left out of the flow types (the window holds "
                    "only part of them); their hops are on the map.", className="muted hint",
                    id="fl-partial")


def flow_detail(flow: Mapping[str, Any], f: Mapping[str, str | None]) -> html.Div:
    """One flow type: headline numbers, DAG with the critical path, hop shares, examples."""
    hops = critical_hops(flow)
    elements, height = dag_view(flow)
    return html.Div(className="flow-detail", id="fl-detail-body", children=[
        html.H3(as_text(flow_title(flow))),
        html.Details([html.Summary("signature"),
                      html.Pre(as_text(flow.get("signature") or ""), className="sig-text")]),
        html.Div(as_text(flow.get("style_explanation") or ""), className="muted"),
        html.Div(className="facts", children=[
            html.Span(f"{fmt_count(flow.get('count'))} flows"),
            html.Span(f"style: {as_text(flow.get('style') or '—')}"),
            html.Span(f"p50 {fmt_ms(flow.get('e2e_p50_ms'))} · p95 "
                      f"{fmt_ms(flow.get('e2e_p95_ms'))} end to end"),
            html.Span(f"{fmt_pct(flow.get('error_rate'))} errors"),
        ]),
        html.Div(className="split", children=[
            html.Div(className="main-col", children=[
                cyto.Cytoscape(id="fl-dag", elements=elements,
                               stylesheet=dag_stylesheet(),
                               layout={"name": "preset", "fit": True, "padding": 25},
                               style={"width": "100%", "height": f"{height}px"},
                               userZoomingEnabled=True, minZoom=0.3, maxZoom=2.5),
                html.Div("Orange: the critical path; labels give each hop's share of it.",
                         className="muted hint"),
            ]),
            html.Div(className="side-col", children=[
                html.H4("Share of the critical path"),
                dcc.Graph(figure=share_figure(hops), config={"displayModeBar": False})
                if hops else html.Div("no critical path computed", className="muted"),
            ]),
        ]),
        html.Div(["Example flows: ", *trace_links(flow.get("example_trace_ids"), f)]),
        html.Div(["Failed flows: ", *trace_links(flow.get("failed_trace_ids"), f)]),
    ])


def register(app: Any, deps: Deps) -> FlowsPage:
    """Wire the page's callbacks into ``app``."""
    page = FlowsPage(deps)
    app.callback(Output("fl-table", "children"), Output("fl-detail", "children"),
                 Output("fl-more", "children"), Output("fl-more", "style"),
                 Output("fl-sig", "data"),
                 Input("fl-selected", "data"), Input("filters", "data"),
                 Input("tick", "n_intervals"), Input("fl-more", "n_clicks"),
                 State("fl-sig", "data"))(unless_unchanged(page.update, 4, filters_at=1))
    return page
