"""The JSON API on the dashboard's Flask server: analysis, an element's detail, one flow,
health.

``GET /api/analysis?since=15m&until=&service=x`` takes the same filters as
``choreoscope analyze``. A window the dashboard also offers (a duration ago to now, every
span, a range of absolute times) answers from the pages' cache, as current as a page is (a
refresh interval), so scripts polling it cost the server no more than an open page does;
``fresh=1``, or an ``until`` given as a duration ago, analyses afresh as
``choreoscope analyze`` does. ``GET /api/element?id=...`` (same filters) gives a node's
or an edge's detail, as a click on the map does: counts, percentiles, queue time, a time
series, the slowest and failed flows. ``GET /api/flow/<trace_id>`` returns the flow
containing a trace (404 when unknown), and ``GET /api/flow/<trace_id>/otlp`` its stored
spans as an OTLP/JSON document (``choreoscope load`` reads it); ``GET /api/export?since=1h``
streams every trace of a window as OTLP/JSON Lines, as ``choreoscope export`` writes them
(the server holds the store's file while it runs); ``GET /api/health`` says the server is up and how
much it holds. Bad parameters answer 400 with ``{"error": ...}``; a request still running
when the server stops (its reads interrupted by ``Store.close``) answers 503, on the
pages' callbacks too.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import orjson
from flask import Flask, Response, request

from choreoscope.config import time_bound
from choreoscope.store import Interrupted
from dashboard.deps import Deps
from dashboard.params import ParamError, Window, resolve_since

_TRACE_ID = re.compile(r"[0-9a-f]{32}")
# The API's paths under /api/ (every one answers GET only).
ENDPOINTS = ("analysis", "element", "flow/<trace_id>", "flow/<trace_id>/otlp", "export",
             "health")


def _json(payload: Any, status: int = 200) -> Response:
    body = orjson.dumps(payload, default=str,
                        option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    return Response(body, status=status, mimetype="application/json")


def page_filters(since: str | None, until: str | None,
                 service: str | None) -> dict[str, str | None] | None:
    """The dashboard's filters for the API's ``since``/``until`` (already validated by
    :func:`resolve_since`), or None when no page window is the same (an ``until`` a
    duration ago moves with the clock; no page offers that)."""
    (lo_kind, lo), (hi_kind, hi) = time_bound(since), time_bound(until)
    if hi_kind == "ago":
        return None
    if hi_kind == "open" and lo_kind != "at":
        return {"window": lo or "all", "from": None, "to": None, "service": service}
    if lo_kind == "ago":
        return None  # (a duration ago up to a fixed time: no page offers that either)
    return {"window": "range", "from": lo, "to": hi, "service": service}


def register_api(server: Flask, deps: Deps) -> None:
    """Add the ``/api/*`` routes to ``server``, answering from ``deps``."""

    @server.errorhandler(Interrupted)
    def _stopping(_exc: Exception) -> Response:
        return _json({"error": "the server is stopping; try again when it is back"}, 503)

    @server.get("/api/health")
    def _health() -> Response:
        return _json({"status": "ok", "spans": deps.store.count_spans()})

    def _bounds(extra: set[str]) -> Window:
        """The request's ``since``/``until`` (its only parameters with ``extra``, and the
        auth ``token``); ParamError on a bad one."""
        args = request.args
        allowed = {"since", "until", "token"} | extra
        unknown = set(args) - allowed
        if unknown:
            raise ParamError(f"unknown parameter(s): {', '.join(sorted(unknown))}; use "
                             f"{', '.join(sorted(allowed - {'token'}))}")
        return resolve_since(args.get("since"), args.get("until"), deps.clock_ns())

    def _window(extra: set[str]) -> tuple[Window, dict[str, str | None] | None, bool]:
        """The request's window, the page filters naming the same one (None: no page
        offers it) and whether it asks for a fresh answer; ParamError on a bad one."""
        args = request.args
        w = _bounds({"service", "fresh"} | extra)
        fresh = args.get("fresh", "0").strip().lower()
        if fresh not in ("0", "1", "true", "false", ""):
            raise ParamError("fresh is 1 (analyse afresh) or 0")
        filters = page_filters(args.get("since"), args.get("until"),
                               args.get("service") or None)
        return w, filters, fresh in ("1", "true")

    @server.get("/api/analysis")
    def _analysis() -> Response:
        try:
            w, filters, fresh = _window(set())
        except ParamError as exc:
            return _json({"error": str(exc)}, 400)
        if filters is not None and not fresh:
            return _json(deps.analysis(filters))
        return _json(deps.analysis_now(w, request.args.get("service") or None))

    @server.get("/api/export")
    def _export() -> Response:
        try:
            w = _bounds(set())
        except ParamError as exc:
            return _json({"error": str(exc)}, 400)
        docs = deps.window_otlp(w)
        # (streamed as read: a window of a million spans is most of a GB of JSON)
        return Response((orjson.dumps(d) + b"\n" for d in docs),
                        mimetype="application/x-ndjson")

    @server.get("/api/element")
    def _element() -> Response:
        try:
            w, filters, fresh = _window({"id"})
        except ParamError as exc:
            return _json({"error": str(exc)}, 400)
        element = (request.args.get("id") or "").strip()
        if not element:
            return _json({"error": "id names a node (service:orders, topic:orders.placed) "
                                   "or an edge (service:orders->topic:orders.placed)"}, 400)
        service = request.args.get("service") or None
        try:
            if filters is not None and not fresh:
                return _json(deps.edge(element, filters))
            return _json(deps.edge_now(element, w, service))
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]

    @server.route("/api", defaults={"rest": ""}, methods=methods)
    @server.route("/api/", defaults={"rest": ""}, methods=methods)
    @server.route("/api/<path:rest>", methods=methods)
    def _unknown(rest: str) -> Response:
        # (not the dashboard's page, which any other path gets: a script asking for an API
        # that is not there, or writing to one, is told so)
        if request.method != "GET" and any(
                rest == e or ("<" in e and rest.startswith(e.split("<")[0]))
                for e in ENDPOINTS):
            return _json({"error": f"/api/{rest} only answers GET"}, 405)
        names = [f"/api/{e}" for e in ENDPOINTS]
        return _json({"error": f"no API /api/{rest}; there are {', '.join(names[:-1])} "
                               f"and {names[-1]}"}, 404)

    def _by_trace(trace_id: str, read: Callable[[str], Any]) -> Response:
        """``read``'s answer for a trace id: 400 for a bad id, 404 when it has none."""
        tid = trace_id.strip().lower()
        if not _TRACE_ID.fullmatch(tid):
            return _json({"error": "a trace id is 32 hexadecimal characters"}, 400)
        value = read(tid)
        if value is None:
            return _json({"error": f"no trace {tid} in the store"}, 404)
        return _json(value)

    @server.get("/api/flow/<trace_id>")
    def _flow(trace_id: str) -> Response:
        return _by_trace(trace_id, deps.flow)

    @server.get("/api/flow/<trace_id>/otlp")
    def _flow_otlp(trace_id: str) -> Response:
        return _by_trace(trace_id, deps.flow_otlp)
