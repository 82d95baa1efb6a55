"""Flow view (``/flow/<trace_id>?span=<span_id>``): one flow instance across all its traces.

The waterfall (:mod:`dashboard.waterfall`) beside the selected span's details
(:mod:`dashboard.span_view`); the header names every trace the flow joined.
"""

from __future__ import annotations

from typing import Any, Mapping

import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html, no_update

from dashboard import data
from dashboard.components import error_box, fmt_count, fmt_ms
from dashboard.deps import Deps
from dashboard.live import unless_unchanged
from dashboard.params import build_query, filters_from_query, format_time, href, parse_query
from dashboard.span_view import span_panel
from dashboard.waterfall import waterfall_figure


class FlowViewPage:
    """Layout and callbacks of the flow view, as plain methods (tests and bench call them)."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def layout(self, params: Mapping[str, str], query: Mapping[str, str]) -> html.Div:
        return html.Div(className="flow-view", children=[
            dcc.Store(id="fv-trace", data=params["trace_id"]),
            dcc.Store(id="fv-span", data=query.get("span")), dcc.Store(id="fv-sig"),
            html.Div(id="fv-header", className="page-head"),
            html.Div(className="split", children=[
                html.Div(className="main-col", children=[
                    dcc.Loading(dcc.Graph(id="fv-waterfall", figure=go.Figure(),
                                          config={"displaylogo": False,
                                                  "modeBarButtonsToRemove": ["lasso2d",
                                                                             "select2d"]}),
                                delay_show=400)]),
                html.Aside(id="fv-detail", className="side-col"),
            ]),
        ])

    def waterfall(self, trace_id: str, selected: str | None, filters: dict | None,
                  _tick: int | None = None) -> tuple[Any, Any]:
        """The figure and the header for the flow containing ``trace_id``."""
        f = filters or filters_from_query({})
        flow = self.deps.flow(trace_id)
        if flow is None:
            return go.Figure(), html.Div(className="empty", children=[
                html.H3("Unknown trace"),
                html.P(f"No span of trace {trace_id} is stored (yet). It may still be on its "
                       f"way, or retention removed it; this page updates as spans arrive."),
                dcc.Link("Search traces", href=href("/search", f))])
        return waterfall_figure(flow, selected), flow_header(flow, f)

    def select(self, click: dict | None) -> Any:
        """The span id of a clicked bar."""
        try:
            return click["points"][0]["customdata"][0]
        except (TypeError, KeyError, IndexError):
            return no_update

    def url(self, selected: str | None, search: str | None) -> Any:
        """Keep ``span`` in the URL so the selected span can be shared."""
        q = parse_query(search)
        q.pop("span", None)
        if selected:
            q["span"] = selected
        out = build_query(q)
        return out if out != (search or "") else no_update

    def detail(self, selected: str | None, trace_id: str, filters: dict | None) -> Any:
        """The span panel of the selected span (looked up in the flow, which spans traces)."""
        f = filters or filters_from_query({})
        if not selected:
            return span_panel(None, f)
        flow = self.deps.flow(trace_id) or {}
        match = next((s for s in flow.get("spans") or [] if s.get("span_id") == selected), None)
        span_trace = match["trace_id"] if match else trace_id
        span = data.span_detail(self.deps.store, span_trace, selected)
        if span is None:
            return error_box(f"Span {selected} is not part of this flow's stored spans.")
        m = match or {}
        return span_panel(span, f, queue_wait_ms=m.get("queue_wait_ms"),
                          retry_wait=bool(m.get("retry_wait")),
                          parent_missing=bool(m.get("parent_missing")))


def flow_header(flow: dict[str, Any], filters: Mapping[str, str | None]) -> html.Div:
    """Summary of one flow instance: its type, duration, errors and the traces it joined."""
    traces = list(flow.get("trace_ids") or [])
    spans = flow.get("spans") or []
    errors = flow.get("errors")
    n_errors = len(errors) if isinstance(errors, list) else int(errors or 0)
    fid = str(flow.get("flow_id") or (traces[0] if traces else ""))
    per_trace: dict[str, set[str]] = {}
    for s in spans:
        per_trace.setdefault(s["trace_id"], set()).add(s.get("service_name") or "?")
    return html.Div([
        html.H2(["Flow ", html.Span(str(flow.get("flow_id") or "—"), className="mono")]),
        html.Div(className="facts", children=[
            html.Span(f"{fmt_ms(flow.get('duration_ms'))} end to end"),
            html.Span(f"{fmt_count(len(spans))} spans"),
            html.Span(f"{len(traces)} traces joined", id="fv-trace-count"),
            html.Span(f"{n_errors} errors", className="bad" if n_errors else ""),
            html.Span(f"started {format_time(flow.get('start_ns'))} UTC"),
            # (a plain link, not a callback: the browser downloads it, with the dashboard's
            # auth cookie when a token is set)
            html.A("Download OTLP/JSON", id="fv-download", href=f"/api/flow/{fid}/otlp",
                   download=f"flow-{fid}.json",
                   title="Every span of this flow's traces as one OTLP/JSON document: "
                         "choreoscope load and other OTLP tools read it"),
        ]),
        error_box("This flow is larger than the view's limit; only part of it is shown.")
        if flow.get("truncated") else None,
        html.Ul(className="trace-list", id="fv-traces", children=[
            html.Li([html.Span(t, className="mono trace-id"), " ",
                     html.Span(", ".join(sorted(per_trace.get(t, ()))), className="muted")])
            for t in traces]),
        html.Div("Bars outlined in black are on the critical path; dotted gaps are queue "
                 "waits; purple arrows are span links across traces. Click a bar for details.",
                 className="muted hint"),
    ])


def register(app: Any, deps: Deps) -> FlowViewPage:
    """Wire the flow view's callbacks into ``app``."""
    page = FlowViewPage(deps)
    app.callback(Output("fv-waterfall", "figure"), Output("fv-header", "children"),
                 Output("fv-sig", "data"),
                 Input("fv-trace", "data"), Input("fv-span", "data"),
                 Input("filters", "data"), Input("tick", "n_intervals"),
                 State("fv-sig", "data"))(unless_unchanged(page.waterfall, 2, filters_at=2))
    app.callback(Output("fv-span", "data"), Input("fv-waterfall", "clickData"),
                 prevent_initial_call=True)(page.select)
    app.callback(Output("url", "search", allow_duplicate=True), Input("fv-span", "data"),
                 State("url", "search"), prevent_initial_call=True)(page.url)
    app.callback(Output("fv-detail", "children"), Input("fv-span", "data"),
                 State("fv-trace", "data"), Input("filters", "data"))(page.detail)
    return page
