"""Search (``/search?service=&operation=&attr_key=&attr_value=&min_ms=&max_ms=&errors=1``
``&limit=``).

Finds traces with a span matching every filter (SQL with bound parameters, see
``dashboard_search_traces``) in the global time window; each result opens the flow view.
The form's state is the URL, so a search is shareable. Flow types whose signature mentions
the searched service or operation are listed above the traces, from the cached analysis.

Every trace found (up to the form's limit, ``data.SEARCH_LIMIT`` by default) is listed in
one Markdown table (``components.md_table``): as a component per cell, 200 rows took ~3-4 s
to appear in the browser (Dash's renderer), as Markdown ~0.3 s.
"""

from __future__ import annotations

from typing import Any, Mapping

from dash import Input, Output, State, dcc, html, no_update

from analyzer.flow_names import flow_title
from dashboard import data
from dashboard.components import (MdLink, as_text, error_box, fmt_count, fmt_ms, fmt_pct,
                                  md_table, table)
from dashboard.data import SearchForm
from dashboard.deps import Deps
from dashboard.params import (FILTER_KEYS, ParamError, build_query, filters_from_query,
                              format_time, href, parse_query)

FIELDS = ("trace", "operation", "attr_key", "attr_value", "min_ms", "max_ms")


class SearchPage:
    """Layout and callbacks of the search page, as plain methods."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def layout(self, params: Mapping[str, str], query: Mapping[str, str]) -> html.Div:
        def field(name: str, label: str, placeholder: str, kind: str = "text") -> html.Label:
            return html.Label(className="field", children=[
                label, dcc.Input(id=f"s-{name}", type=kind, value=query.get(name, ""),
                                 placeholder=placeholder, debounce=True,
                                 style={"width": "120px" if kind == "number" else "190px"})])

        return html.Div(className="search", children=[
            html.H2("Search flows and traces"),
            html.Div(className="search-form", children=[
                field("trace", "Trace id", "or its first digits"),
                field("operation", "Operation", "span name contains…"),
                field("attr_key", "Attribute", "key, e.g. order.id"),
                field("attr_value", "equals", "value"),
                field("min_ms", "Min duration (ms)", "0", "number"),
                field("max_ms", "Max duration (ms)", "∞", "number"),
                field("limit", "Limit", str(data.SEARCH_LIMIT), "number"),
                dcc.Checklist(id="s-errors", options=[{"label": " errors only",
                                                       "value": "1"}],
                              value=["1"] if query.get("errors") else [], inline=True),
                html.Button("Search", id="s-run", n_clicks=0, className="primary"),
            ]),
            html.Div("Service and time range come from the filters at the top (a trace id is "
                     "looked up in the whole store).", className="muted hint"),
            html.Div(id="s-results"),
        ])

    def form(self, filters: Mapping[str, str | None], values: Mapping[str, Any]) -> SearchForm:
        """The form from the global filters (service) and the fields' values."""
        q = {k: ("" if v is None else str(v)) for k, v in values.items()}
        q["service"] = filters.get("service") or ""
        return SearchForm.from_query(q)

    def results(self, _clicks: int, filters: dict | None, trace: Any, operation: Any,
                attr_key: Any, attr_value: Any, min_ms: Any, max_ms: Any,
                errors: list[str] | None, limit: Any = None) -> Any:
        """The callback: the result tables for the current form and filters."""
        f = filters or filters_from_query({})
        try:
            form = self.form(f, {"trace": trace, "operation": operation, "attr_key": attr_key,
                                 "attr_value": attr_value, "min_ms": min_ms, "max_ms": max_ms,
                                 "errors": "1" if errors else "", "limit": limit})
            window = self.deps.window(f)
        except ParamError as exc:
            return error_box(str(exc))
        rows = data.search_traces(self.deps.store, form, window)
        return html.Div([self._flow_types(form, f),
                         _trace_table(rows, f, form.rows)])

    def url(self, _clicks: int, search: str | None, trace: Any, operation: Any, attr_key: Any,
            attr_value: Any, min_ms: Any, max_ms: Any, errors: list[str] | None,
            limit: Any = None) -> Any:
        """The URL query for the form (the global filters' keys kept as they are)."""
        q = {k: v for k, v in parse_query(search).items() if k in FILTER_KEYS}
        for k, v in (("trace", trace), ("operation", operation), ("attr_key", attr_key),
                     ("attr_value", attr_value), ("min_ms", min_ms), ("max_ms", max_ms),
                     ("limit", limit)):
            if v not in (None, ""):
                q[k] = str(v)
        if errors:
            q["errors"] = "1"
        out = build_query(q)
        return out if out != (search or "") else no_update

    def _flow_types(self, form: SearchForm, f: Mapping[str, str | None]) -> Any:
        needles = [n.lower() for n in (form.service, form.operation) if n]
        if not needles:
            return None
        try:
            flows = self.deps.analysis(f).get("flows") or []
        except ParamError:
            return None
        hits = [fl for fl in flows
                if all(n in str(fl.get("signature", "")).lower() for n in needles)]
        if not hits:
            return None
        return html.Div([
            html.H3(f"Flow types ({len(hits)})"),
            table(["flow type", "count", "p95", "errors"], [
                [dcc.Link(as_text(flow_title(fl)), href=href(f"/flows/{fl['id']}", f),
                          title=as_text(fl.get("signature") or "")),
                 fmt_count(fl.get("count")), fmt_ms(fl.get("e2e_p95_ms")),
                 fmt_pct(fl.get("error_rate"))] for fl in hits[:20]]),
        ])


def _trace_table(rows: list[dict[str, Any]], f: Mapping[str, str | None],
                 limit: int) -> html.Div:
    if not rows:
        return html.Div("No trace matches.", className="empty", id="s-none")
    more = len(rows) >= limit
    return html.Div([
        html.H3(f"Traces ({len(rows)}{'+' if more else ''})"),
        html.Div(f"The newest {limit}: narrow the search, or raise its limit (up to "
                 f"{data.MAX_SEARCH_LIMIT}), for the others.", className="muted hint")
        if more else None,
        md_table(["trace", "first span", "services", "started (UTC)", "duration", "spans",
                  "errors", "matching"], [
            [MdLink(r["trace_id"][:16], href(f"/flow/{r['trace_id']}", f), r["trace_id"]),
             r.get("root") or "", ", ".join(r["services"] or []),
             format_time(r["start_ns"]), fmt_ms(r["duration_ms"]), fmt_count(r["span_count"]),
             fmt_count(r["error_count"]), fmt_count(r["matched_spans"])] for r in rows],
            class_name="results", id="s-table"),
    ])


def register(app: Any, deps: Deps) -> SearchPage:
    """Wire the search page's callbacks into ``app``."""
    page = SearchPage(deps)
    fields = [State(f"s-{n}", "value") for n in FIELDS] + [State("s-errors", "value"),
                                                            State("s-limit", "value")]
    app.callback(Output("s-results", "children"), Input("s-run", "n_clicks"),
                 Input("filters", "data"), *fields)(page.results)
    app.callback(Output("url", "search", allow_duplicate=True), Input("s-run", "n_clicks"),
                 State("url", "search"), *fields, prevent_initial_call=True)(page.url)
    return page
