"""The Dash app: the page shell, the URL router, global filters and live refresh.

One app, one ``dcc.Location``; every page is a path (``/map``, ``/flows/<flow_id>``,
``/flow/<trace_id>``, ``/bottlenecks``, ``/search``) and its shareable state is in the query
string (see :mod:`dashboard.params`). A router instead of Dash's page registry because that
registry is process-global, and the store must be closed over per app, not found in a global.

Live updates: one ``dcc.Interval`` ("tick") drives every page's data callbacks; its period
and a pause switch are in the header. Pages update in place; nothing reloads.
"""

from __future__ import annotations

from typing import Any, Callable

import dash
from dash import Input, Output, State, ctx, dcc, html, no_update

from dashboard import data
from dashboard.api import register_api
from dashboard.auth import install_auth
from dashboard.components import error_box, fmt_count
from dashboard.deps import AnalyzerAPI, Deps
from dashboard.live import unless_unchanged
from dashboard.pages import bottlenecks, flow_map, flow_view, flows, search
from dashboard.params import (DEFAULT_WINDOW, FILTER_KEYS, WINDOW_CHOICES, ParamError,
                              build_query, filters_from_query, format_time, href, parse_query)

REFRESH_CHOICES = ((2000, "2 s"), (5000, "5 s"), (10_000, "10 s"), (30_000, "30 s"),
                   (60_000, "1 min"))
NAV = (("/map", "Flow map"), ("/flows", "Flows"), ("/bottlenecks", "Bottlenecks & anomalies"),
       ("/search", "Search"))


def route(pathname: str | None) -> tuple[str, dict[str, str]]:
    """``/flows/abc`` -> ``("flows", {"flow_id": "abc"})``; unknown paths -> ``("404", {})``."""
    parts = [p for p in (pathname or "/").split("/") if p]
    if not parts or parts == ["map"]:
        return "map", {}
    if parts[0] == "flows" and len(parts) <= 2:
        return "flows", {"flow_id": parts[1]} if len(parts) == 2 else {}
    if parts[0] == "flow" and len(parts) == 2:
        return "flow", {"trace_id": parts[1].lower()}
    if parts == ["bottlenecks"]:
        return "bottlenecks", {}
    if parts == ["search"]:
        return "search", {}
    return "404", {}


def shell_layout(refresh_ms: int) -> html.Div:
    """The page frame: header with navigation, filters and live controls; the page slot."""
    refresh_values = [v for v, _ in REFRESH_CHOICES]
    if refresh_ms not in refresh_values:
        refresh_values.append(refresh_ms)
    return html.Div(className="shell", children=[
        dcc.Location(id="url", refresh="callback-nav"),
        dcc.Store(id="filters", data=None), dcc.Store(id="status-sig"),
        dcc.Interval(id="tick", interval=refresh_ms, n_intervals=0),
        html.Header(className="top", children=[
            html.Div(className="brand", children=[dcc.Link("choreoscope", href="/map")]),
            html.Nav(className="nav", children=[
                dcc.Link(label, href=path, id=f"nav-{path.strip('/')}", className="nav-link")
                for path, label in NAV]),
            html.Div(className="controls", children=[
                html.Label(["Window ", dcc.Dropdown(
                    id="f-window", options=[{"label": lab, "value": v}
                                            for v, lab in WINDOW_CHOICES],
                    value=DEFAULT_WINDOW, clearable=False, searchable=False,
                    className="dd dd-window")]),
                html.Span(id="f-range", className="range", style={"display": "none"},
                          children=[
                              dcc.Input(id="f-from", type="text", debounce=True,
                                        placeholder="from 2024-05-01 12:00", size="18"),
                              dcc.Input(id="f-to", type="text", debounce=True,
                                        placeholder="to (UTC)", size="18")]),
                html.Label(["Service ", dcc.Dropdown(
                    id="f-service", options=[], value=None, placeholder="all services",
                    className="dd dd-service")]),
                html.Label(["Refresh ", dcc.Dropdown(
                    id="live-interval", value=refresh_ms, clearable=False, searchable=False,
                    options=[{"label": dict(REFRESH_CHOICES).get(v, f"{v / 1000:g} s"),
                              "value": v} for v in sorted(refresh_values)],
                    className="dd dd-refresh")]),
                dcc.Checklist(id="live-pause", options=[{"label": " pause", "value": "pause"}],
                              value=[], className="pause", inline=True),
                html.Span(id="live-status", className="status muted"),
            ]),
        ]),
        html.Div(id="filter-error"),
        html.Main(id="page", className="page"),
    ])


def not_found(pathname: str) -> html.Div:
    return html.Div(className="empty", children=[
        html.H3("Page not found"),
        html.P(f"Nothing lives at {pathname}."),
        dcc.Link("Go to the flow map", href="/map")])


def register_shell(app: dash.Dash, deps: Deps,
                   pages: dict[str, Callable[[dict[str, str], dict[str, str]], Any]]) -> None:
    """Router, filter/URL synchronisation, live-refresh controls and the status line."""

    @app.callback(Output("page", "children"), Input("url", "pathname"), State("url", "search"))
    def _route(pathname: str | None, search: str | None) -> Any:
        name, params = route(pathname)
        if name == "404":
            return not_found(pathname or "/")
        return pages[name](params, parse_query(search))

    @app.callback(
        Output("f-window", "value"), Output("f-from", "value"), Output("f-to", "value"),
        Output("f-service", "value"), Output("url", "search"), Output("filters", "data"),
        Output("filter-error", "children"), Output("f-range", "style"),
        Input("url", "search"), Input("f-window", "value"), Input("f-from", "value"),
        Input("f-to", "value"), Input("f-service", "value"), State("filters", "data"))
    def _sync(search: str | None, window: str | None, since: str | None, until: str | None,
              service: str | None, current: dict | None) -> tuple:
        return sync_filters(ctx.triggered_id, search, window, since, until, service, current,
                            deps)

    @app.callback(Output("tick", "interval"), Output("tick", "disabled"),
                  Input("live-interval", "value"), Input("live-pause", "value"))
    def _live(interval: int | None, pause: list[str] | None) -> tuple[int, bool]:
        return int(interval or deps.refresh_ms), bool(pause)

    def _status(filters: dict | None, _n: int) -> tuple:
        return status_line(filters, deps)

    app.callback(Output("f-service", "options"), Output("live-status", "children"),
                 [Output(f"nav-{p.strip('/')}", "href") for p, _ in NAV],
                 Output("status-sig", "data"),
                 Input("filters", "data"), Input("tick", "n_intervals"),
                 State("status-sig", "data"))(unless_unchanged(_status, 2 + len(NAV)))


def sync_filters(trigger: Any, search: str | None, window: str | None, since: str | None,
                 until: str | None, service: str | None, current: dict | None,
                 deps: Deps) -> tuple:
    """Keep the filter controls, the URL's query and the ``filters`` store in step.

    A URL change (first load, a followed link, back/forward) sets the controls; a control
    change rewrites the URL's filter keys (keeping the page's own keys). Returns the eight
    outputs of the ``_sync`` callback.
    """
    query = parse_query(search)
    if trigger in (None, "url"):
        filters = filters_from_query(query)
        controls = (filters["window"], filters["from"], filters["to"], filters["service"])
        url_out: Any = no_update
    else:
        filters = {"window": window or DEFAULT_WINDOW, "from": since or None,
                   "to": until or None, "service": service or None}
        if filters["window"] != "range":
            filters["from"] = filters["to"] = None
        controls = (no_update,) * 4
        merged = {k: v for k, v in query.items() if k not in FILTER_KEYS}
        merged.update({k: v for k, v in filters.items() if v})
        url_out = build_query(merged) or ""
        if url_out == (search or ""):
            url_out = no_update
    try:
        deps.window(filters)
        err: Any = None
    except ParamError as exc:
        err = error_box(f"Time window: {exc}")
    range_style = {"display": "inline-flex" if filters["window"] == "range" else "none"}
    store_out = filters if filters != current else no_update
    return (*controls, url_out, store_out, err, range_style)


def status_line(filters: dict | None, deps: Deps) -> tuple:
    """Service choices, the "live" status text and the nav links carrying the filters."""
    f = filters or filters_from_query({})
    try:
        w = deps.window(f)
    except ParamError:
        w = deps.window(filters_from_query({}))
    names = data.services(deps.store, w)
    if f.get("service") and f["service"] not in names:
        names.append(f["service"])  # keep a shared link's service selectable
    extent = data.store_extent(deps.store)
    status = (f"{fmt_count(extent['spans'])} spans stored · latest "
              f"{format_time(extent['end_ns'])[11:19] or '—'} UTC")
    navs = [href(p, f) for p, _ in NAV]
    return ([{"label": n, "value": n} for n in names], status, *navs)


def create_app(store: Any, *, refresh_ms: int = 5000, auth_token: str | None = None,
               analyzer_api: AnalyzerAPI | None = None) -> dash.Dash:
    """The dashboard and JSON API for ``store``; serve ``app.server`` with any WSGI server."""
    deps = Deps(store=store, analyzer=analyzer_api or AnalyzerAPI.default(),
                refresh_ms=refresh_ms)
    app = dash.Dash(__name__, title="choreoscope", update_title=None,
                    suppress_callback_exceptions=True, serve_locally=True)
    app.layout = shell_layout(refresh_ms)
    pages = {
        "map": flow_map.register(app, deps).layout,
        "flows": flows.register(app, deps).layout,
        "flow": flow_view.register(app, deps).layout,
        "bottlenecks": bottlenecks.register(app, deps).layout,
        "search": search.register(app, deps).layout,
    }
    register_shell(app, deps, pages)
    register_api(app.server, deps)
    if auth_token:
        install_auth(app.server, auth_token)
    app.deps = deps  # type: ignore[attr-defined]  # for the bench and tests
    # Warm the default view's analysis so the first page load doesn't pay for it.
    deps.warm({"window": DEFAULT_WINDOW})
    return app
