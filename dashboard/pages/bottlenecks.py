"""Bottlenecks and anomalies (``/bottlenecks``): the analyzer's ranked findings with evidence.

Each entry links to example flows (the flow view) and to its place on the flow map.

The browser's cost of a page grows faster than its number of components (Dash's renderer:
300 plain components render in ~0.2 s, 1,000 in ~0.9 s, 3,000 in ~7 s on the benchmark
machine), and a big store easily has dozens of findings. So an entry's evidence is one line
of text, not a table of cells, and each list shows its first ``SHOWN`` entries with a link
to all of them (the page's "Show all" button, or ``?all=1`` in its URL).
"""

from __future__ import annotations

from typing import Any, Mapping

from dash import Input, Output, State, dcc, html

from dashboard import data
from analyzer.model import element_title
from dashboard.components import (as_text, empty_state, error_box, fmt_count, fmt_pct,
                                  fmt_value, label, map_link, more_button, more_state,
                                  trace_links)
from dashboard.deps import Deps
from dashboard.live import unless_unchanged
from dashboard.params import ParamError, filters_from_query

# Entries shown per list before "show all" (the top of a ranking is what is read).
SHOWN = 15

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


def _evidence(entry: Mapping[str, Any]) -> html.Div | None:
    """The entry's other fields as one line of text ("label value · label value")."""
    parts = [f"{label(k)}: {_value(k, v)}" for k, v in entry.items()
             if k not in _SHOWN and v is not None and v != [] and v != {}]
    return html.Div(" · ".join(parts), className="evidence") if parts else None


def _where(v: Any) -> str:
    """Where a finding is, as people read it (an element id; anything else as text)."""
    return element_title(v) if isinstance(v, str) else as_text(v)


def _value(key: str, v: Any) -> str:
    """An evidence value; the map elements a finding names (a service's ``entered_by``
    edges) as people read them."""
    if isinstance(v, list) and v and all(isinstance(x, str) and _element_of(x) for x in v):
        # (paths, "a → b → a", apart by more than their own commas would be)
        sep = "; " if any(" -> " in x for x in v) else ", "
        return sep.join(element_title(x) for x in v)
    return fmt_value(key, v)


def bottleneck_item(rank: int, b: Mapping[str, Any], f: Mapping[str, str | None]) -> html.Li:
    """One ranked bottleneck: where, what kind, its share of critical paths, evidence."""
    element = _element_of(b.get("hop"))
    share = b.get("share")
    return html.Li(className="finding", children=[
        html.Div(className="finding-head", children=[
            html.Span(f"#{rank}", className="rank"),
            html.Span(_where(b.get("hop")), className="where",
                      title=as_text(b.get("hop"))),
            html.Span(as_text(b.get("kind") or ""), className="tag"),
            html.Span(f"{fmt_pct(share)} of critical-path time" if share is not None else "",
                      className="share"),
            map_link(element, f) if element else None,
        ]),
        html.Div(as_text(b.get("detail") or b.get("message") or ""), className="why"),
        _evidence(b),
        html.Div(["Example flows: ", *trace_links(b.get("example_trace_ids"), f)]),
    ])


def anomaly_item(a: Mapping[str, Any], f: Mapping[str, str | None]) -> html.Li:
    """One anomaly: its type, where, how often, evidence and examples."""
    element = _element_of(a.get("where"))
    examples = a.get("example_trace_ids") or a.get("failed_trace_ids")
    return html.Li(className="finding", children=[
        html.Div(className="finding-head", children=[
            html.Span(as_text(a.get("type")), className="tag warn"),
            html.Span(_where(a.get("where")), className="where",
                      title=as_text(a.get("where"))),
            html.Span(f"{fmt_count(a.get('count'))}×" if a.get("count") is not None else ""),
            map_link(element, f) if element else None,
        ]),
        html.Div(as_text(a.get("detail") or a.get("message") or ""), className="why"),
        _evidence(a),
        html.Div(["Example flows: ", *trace_links(examples, f)]) if examples else None,
    ])


class BottlenecksPage:
    """Layout and callbacks of the bottlenecks page, as plain methods."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def layout(self, params: Mapping[str, str], query: Mapping[str, str]) -> html.Div:
        return html.Div(className="findings", children=[
            html.H2("Bottlenecks and anomalies"),
            dcc.Store(id="bn-all", data=query.get("all") == "1"), dcc.Store(id="bn-sig"),
            html.Div(id="bn-body"),
            more_button("bn-more"),
        ])

    def body(self, filters: dict | None, _tick: int | None, show_all: bool = False) -> Any:
        """Both ranked lists for the current filters (the first ``SHOWN`` of each, or all)."""
        f = filters or filters_from_query({})
        try:
            analysis = self.deps.analysis(f)
        except ParamError as exc:
            return error_box(str(exc))
        bns = analysis.get("bottlenecks") or []
        anomalies = analysis.get("anomalies") or []
        if not bns and not anomalies and not analysis.get("nodes"):
            return empty_state(data.store_extent(self.deps.store), f, "/bottlenecks", "flows")
        shown = None if show_all else SHOWN
        return html.Div([
            html.H3(f"Bottlenecks ({len(bns)})"),
            html.Ol([bottleneck_item(i + 1, b, f) for i, b in enumerate(bns[:shown])],
                    className="ranked", id="bn-list") if bns else
            html.Div("No bottleneck stands out in this window.", className="muted"),
            html.H3(f"Anomalies ({len(anomalies)})"),
            html.Ul([anomaly_item(a, f) for a in anomalies[:shown]], className="ranked",
                    id="an-list") if anomalies else
            html.Div("No anomalies in this window.", className="muted"),
        ])

    def more(self, filters: dict | None, show_all: bool) -> tuple[str, dict[str, str]]:
        """The "Show all" button's label and style: shown only while a list is cut."""
        try:
            analysis = self.deps.analysis(filters or filters_from_query({}))
        except ParamError:
            return more_state(False, "")
        n_b = len(analysis.get("bottlenecks") or [])
        n_a = len(analysis.get("anomalies") or [])
        return more_state(not show_all and max(n_b, n_a) > SHOWN,
                          f"Show all {n_b} bottlenecks and {n_a} anomalies")

    def update(self, filters: dict | None, tick: int | None, all_in_url: bool | None,
               clicks: int | None) -> tuple[Any, str, dict[str, str]]:
        """The callback: both lists and the button, cut unless the URL or a click says all."""
        show_all = bool(all_in_url) or bool(clicks)
        return (self.body(filters, tick, show_all), *self.more(filters, show_all))


def register(app: Any, deps: Deps) -> BottlenecksPage:
    """Wire the page's callbacks into ``app``."""
    page = BottlenecksPage(deps)
    app.callback(Output("bn-body", "children"), Output("bn-more", "children"),
                 Output("bn-more", "style"), Output("bn-sig", "data"),
                 Input("filters", "data"), Input("tick", "n_intervals"),
                 Input("bn-all", "data"), Input("bn-more", "n_clicks"),
                 State("bn-sig", "data"))(unless_unchanged(page.update, 3, filters_at=0))
    return page

