"""The JSON API on the dashboard's Flask server: analysis, one flow, health.

``GET /api/analysis?since=15m&until=&service=x`` takes the same filters as
``choreoscope analyze``; ``GET /api/flow/<trace_id>`` returns the flow containing a trace
(404 when unknown); ``GET /api/health`` says the server is up and how much it holds. Bad
parameters answer 400 with ``{"error": ...}``; a request still running when the server
stops (its reads interrupted by ``Store.close``) answers 503, on the pages' callbacks too.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from flask import Flask, Response, request

from choreoscope.store import Interrupted
from dashboard.deps import Deps
from dashboard.params import ParamError, resolve_since

_TRACE_ID = re.compile(r"[0-9a-f]{32}")


def _json(payload: Any, status: int = 200) -> Response:
    body = orjson.dumps(payload, default=str,
                        option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    return Response(body, status=status, mimetype="application/json")


def register_api(server: Flask, deps: Deps) -> None:
    """Add the ``/api/*`` routes to ``server``, answering from ``deps``."""

    @server.errorhandler(Interrupted)
    def _stopping(_exc: Exception) -> Response:
        return _json({"error": "the server is stopping; try again when it is back"}, 503)

    @server.get("/api/health")
    def _health() -> Response:
        return _json({"status": "ok", "spans": deps.store.count_spans()})

    @server.get("/api/analysis")
    def _analysis() -> Response:
        args = request.args
        unknown = set(args) - {"since", "until", "service", "token"}
        if unknown:
            return _json({"error": f"unknown parameter(s): {', '.join(sorted(unknown))}; "
                                   f"use since, until, service"}, 400)
        try:
            w = resolve_since(args.get("since"), args.get("until"), deps.clock_ns())
        except ParamError as exc:
            return _json({"error": str(exc)}, 400)
        service = args.get("service") or None
        result = deps.analyzer.analyze(deps.store, since_ns=w.since_ns, until_ns=w.until_ns,
                                       service=service)
        return _json(result.to_dict() if hasattr(result, "to_dict") else result)

    @server.get("/api/flow/<trace_id>")
    def _flow(trace_id: str) -> Response:
        tid = trace_id.strip().lower()
        if not _TRACE_ID.fullmatch(tid):
            return _json({"error": "a trace id is 32 hexadecimal characters"}, 400)
        flow = deps.flow(tid)
        if flow is None:
            return _json({"error": f"no trace {tid} in the store"}, 404)
        return _json(flow)
