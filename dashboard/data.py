"""Data access of the dashboard that is not the analyzer's: search, span details, filters.

Each function runs one or a few named queries of ``choreoscope/sql/dashboard.sql`` with bound
parameters and returns plain dicts, so pages and tests never see SQL or cursors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any, Mapping

import orjson

from analyzer.critical_path import stored_span_id
from dashboard.params import ParamError, Window

# Traces a search lists unless asked for more (Jaeger's and Tempo's default is 20): a 1M
# store's 200 rows took ~0.5 s more to draw in the browser than 50 (bench/RESULTS.md).
SEARCH_LIMIT = 50
MAX_SEARCH_LIMIT = 1000


@dataclass(frozen=True)
class SearchForm:
    """The search page's fields, exactly as they appear in its URL."""

    service: str | None = None
    trace: str | None = None   # a trace id, or its first characters (hex)
    operation: str | None = None
    attr_key: str | None = None
    attr_value: str | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    errors: bool = False
    limit: int | None = None  # (None: SEARCH_LIMIT)

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> "SearchForm":
        """Read the form from a parsed query string; raises :class:`ParamError`."""
        def num(key: str) -> float | None:
            v = query.get(key)
            if v is None or str(v).strip() == "":
                return None
            try:
                out = float(v)
            except ValueError:
                raise ParamError(f"{key}: not a number: {v!r}") from None
            if out < 0:
                raise ParamError(f"{key}: must not be negative")
            return out

        def text(key: str) -> str | None:
            v = query.get(key)
            return v.strip() if v and v.strip() else None

        trace = text("trace")
        if trace is not None:
            trace = trace.lower()
            if not re.fullmatch(r"[0-9a-f]{1,32}", trace):
                raise ParamError(f"trace: not a trace id (up to 32 hex digits): {trace!r}")
        limit = num("limit")
        if limit is not None and not (limit == int(limit) and 1 <= limit <= MAX_SEARCH_LIMIT):
            raise ParamError(f"limit: a whole number of traces from 1 to {MAX_SEARCH_LIMIT}")
        return cls(service=text("service"), trace=trace, operation=text("operation"),
                   attr_key=text("attr_key"), attr_value=query.get("attr_value") or None,
                   min_ms=num("min_ms"), max_ms=num("max_ms"),
                   errors=str(query.get("errors", "")).lower() in ("1", "true", "on", "yes"),
                   limit=None if limit is None else int(limit))

    @property
    def rows(self) -> int:
        """How many traces the search lists at most."""
        return self.limit or SEARCH_LIMIT

    def to_query(self) -> dict[str, str]:
        """The non-empty fields as query-string values (inverse of :meth:`from_query`)."""
        out: dict[str, str] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None or v is False:
                continue
            out[f.name] = "1" if v is True else (f"{v:g}" if isinstance(v, float) else str(v))
        return out

    def is_empty(self) -> bool:
        return not self.to_query()


def json_path(key: str) -> str:
    """A DuckDB JSON path selecting the top-level ``key`` verbatim (dots are not nesting).

    The key is quoted (``$."http.route"``) with backslashes and quotes escaped, so no key can
    change the path's meaning; the path itself is then a bound parameter.
    """
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def json_needle(value: str) -> str:
    """``value`` as it appears inside the attributes' JSON text (for the substring prefilter).

    Numbers and booleans are stored unquoted, strings JSON-escaped; the escaped body of the
    value matches both.
    """
    return orjson.dumps(value).decode()[1:-1]


def search_traces(store: Any, form: SearchForm, window: Window,
                  limit: int | None = None) -> list[dict[str, Any]]:
    """Traces matching ``form`` in ``window``, newest first, as dicts: ``limit`` of them,
    else the form's, else ``SEARCH_LIMIT``. A trace id (or its first characters) is looked
    up in the whole store, whatever the window, as Jaeger's lookup by trace id is: it
    usually comes from a log line, not from this window."""
    limit = limit or form.rows
    needle = None
    path = None
    if form.attr_key:
        path = json_path(form.attr_key)
        needle = json_needle(form.attr_value) if form.attr_value is not None else \
            json_needle(form.attr_key)
    elif form.attr_value is not None:
        needle = json_needle(form.attr_value)  # value alone: any attribute containing it
    params = {
        "since": None if form.trace else window.since_ns,
        "until": None if form.trace else window.until_ns, "service": form.service,
        "trace": form.trace,
        "operation": form.operation, "attr_needle": needle, "attr_path": path,
        "attr_value": form.attr_value if form.attr_key else None,
        "errors_only": bool(form.errors), "min_ms": form.min_ms, "max_ms": form.max_ms,
        "limit": int(limit),
    }
    table = store.query("dashboard_search_traces", params)
    return table.to_pylist()


def services(store: Any, window: Window) -> list[str]:
    """Service names seen in ``window`` (the service filter's options)."""
    rows = store.query_rows("dashboard_services",
                            {"since": window.since_ns, "until": window.until_ns})
    return [r[0] for r in rows]


def store_extent(store: Any) -> dict[str, int | None]:
    """How many spans the store holds and the time they cover."""
    n, lo, hi = store.query_rows("dashboard_time_range")[0]
    return {"spans": int(n), "start_ns": lo, "end_ns": hi}


def _loads(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        v = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"(unparsed)": text}
    return v if isinstance(v, dict) else {"(value)": v}


def span_detail(store: Any, trace_id: str, span_id: str) -> dict[str, Any] | None:
    """Everything one span carries: columns, parsed attributes, events, links both ways.

    ``<id>:server`` is the server span sharing its client's id ``<id>`` (Zipkin's B3 "join",
    as the flow view keys it); ``<id>`` alone is then the client span. (Events and links
    are stored by id: such a pair shows both spans' events and links.)"""
    stored = stored_span_id(span_id)
    key = {"trace_id": trace_id, "span_id": stored}
    rows = store.query("dashboard_span", {**key, "server": stored != span_id}).to_pylist()
    if not rows:
        return None
    span = rows[0]
    for col in ("attributes", "resource_attributes", "scope_attributes"):
        span[col] = _loads(span.get(col))
    events = store.query("dashboard_span_events", key).to_pylist()
    for e in events:
        e["attributes"] = _loads(e.get("attributes"))
    links_out = store.query("dashboard_span_links_out", key).to_pylist()
    links_in = store.query("dashboard_span_links_in", key).to_pylist()
    for link in links_out + links_in:
        link["attributes"] = _loads(link.get("attributes"))
    span["events"] = events
    span["links_out"] = links_out
    span["links_in"] = links_in
    return span
