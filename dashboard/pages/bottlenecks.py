"""Bottlenecks and anomalies (``/bottlenecks``): the analyzer's ranked findings with evidence.

Each entry links to example flows (the flow view) and to its place on the flow map.
"""

from __future__ import annotations

from typing import Any, Mapping

from dash import Input, Output, html

from dashboard import data
from dashboard.components import (as_text, empty_state, error_box, fmt_count, fmt_pct,
                                  fmt_value, kv_table, label, map_link, trace_links)
from dashboard.deps import Deps
from dashboard.params import ParamError, filters_from_query

# Fields shown in an entry's headline or as links; everything else is listed as evidence.
_SHOWN = {"hop", "kind", "share", "example_trace_ids", "failed_trace_ids", "type", "where",
          "count", "rank", "message", "summary", "detail", "edges", "nodes"}


def _element_of(where: Any) -> str | None:
    """The map element (node or edge id) a finding is about, when it names one."""
    if isinstance(where, str) and " -> " in where:  # a cycle: "a -> b -> a"
        return where.split(" -> ", 1)[0]
    if isinstance(where, str) and (where.startswith(("service:", "topic:", "external:"))):
        return where
    if isinstance(where, dict):
        for k in ("edge", "node", "hop", "id"):
            if isinstance(where.get(k), str):
                return where[k]
    return None


def _evidence(entry: Mapping[str, Any]) -> list[tuple[str, Any]]:
    out = []
    for k, v in entry.items():
        if k in _SHOWN or v is None or v == [] or v == {}:
            continue
        out.append((label(k), fmt_value(k, v)))
    return out


def bottleneck_item(rank: int, b: Mapping[str, Any], f: Mapping[str, str | None]) -> html.Li:
    """One ranked bottleneck: where, what kind, its share of critical paths, evidence."""
    element = _element_of(b.get("hop"))
    share = b.get("share")
    return html.Li(className="finding", children=[
        html.Div(className="finding-head", children=[
            html.Span(f"#{rank}", className="rank"),
            html.Span(as_text(b.get("hop")), className="mono where"),
            html.Span(as_text(b.get("kind") or ""), className="tag"),
            html.Span(f"{fmt_pct(share)} of critical-path time" if share is not None else "",
                      className="share"),
            map_link(element, f) if element else None,
        ]),
        html.Div(as_text(b.get("detail") or b.get("message") or ""), className="why"),
        kv_table(_evidence(b), empty="", class_name="kv evidence"),
        html.Div(["Example flows: ", *trace_links(b.get("example_trace_ids"), f)]),
    ])


def anomaly_item(a: Mapping[str, Any], f: Mapping[str, str | None]) -> html.Li:
    """One anomaly: its type, where, how often, evidence and examples."""
    element = _element_of(a.get("where"))
    examples = a.get("example_trace_ids") or a.get("failed_trace_ids")
    return html.Li(className="finding", children=[
        html.Div(className="finding-head", children=[
            html.Span(as_text(a.get("type")), className="tag warn"),
            html.Span(as_text(a.get("where")), className="mono where"),
            html.Span(f"{fmt_count(a.get('count'))}×" if a.get("count") is not None else ""),
            map_link(element, f) if element else None,
        ]),
        html.Div(as_text(a.get("detail") or a.get("message") or ""), className="why"),
        kv_table(_evidence(a), empty="", class_name="kv evidence"),
        html.Div(["Example flows: ", *trace_links(examples, f)]) if examples else None,
    ])


class BottlenecksPage:
    """Layout and callbacks of the bottlenecks page, as plain methods."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def layout(self, params: Mapping[str, str], query: Mapping[str, str]) -> html.Div:
        return html.Div(className="findings", children=[
            html.H2("Bottlenecks and anomalies"),
            html.Div(id="bn-body"),
        ])

    def body(self, filters: dict | None, _tick: int | None) -> Any:
        """Both ranked lists for the current filters."""
        f = filters or filters_from_query({})
        try:
            analysis = self.deps.analysis(f)
        except ParamError as exc:
            return error_box(str(exc))
        bns = analysis.get("bottlenecks") or []
        anomalies = analysis.get("anomalies") or []
        if not bns and not anomalies and not analysis.get("nodes"):
            return empty_state(data.store_extent(self.deps.store), f, "/bottlenecks", "flows")
        return html.Div([
            html.H3(f"Bottlenecks ({len(bns)})"),
            html.Ol([bottleneck_item(i + 1, b, f) for i, b in enumerate(bns)],
                    className="ranked", id="bn-list") if bns else
            html.Div("No bottleneck stands out in this window.", className="muted"),
            html.H3(f"Anomalies ({len(anomalies)})"),
            html.Ul([anomaly_item(a, f) for a in anomalies], className="ranked",
                    id="an-list") if anomalies else
            html.Div("No anomalies in this window.", className="muted"),
        ])


def register(app: Any, deps: Deps) -> BottlenecksPage:
    """Wire the page's callbacks into ``app``."""
    page = BottlenecksPage(deps)
    app.callback(Output("bn-body", "children"), Input("filters", "data"),
                 Input("tick", "n_intervals"))(page.body)
    return page

