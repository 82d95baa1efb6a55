"""Stored spans written back as OTLP/JSON: a flow's (`choreoscope export TRACE_ID`, the flow
view's download, ``GET /api/flow/<trace_id>/otlp``) or a window's (`choreoscope export
--since`).

The document is one ``ExportTraceServiceRequest`` in the OTLP/JSON encoding (hex ids,
integer enums, 64-bit integers as strings: https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding),
so it can be attached to a bug report, loaded into another store with ``choreoscope load``
or into any tool that reads OTLP/JSON. A flow's holds every trace the flow view of the
trace shows, each whole; a window's is a sequence of such documents (OTLP/JSON Lines).

What the store kept is what comes back: every span, event, link, resource and scope with
its attributes, counts and schema URLs. Two things the store does not keep are not
restored: an attribute's type beyond what JSON tells (a bytes value comes back as the
base64 text the store keeps), and which of two spans sharing one id (Zipkin's client and
server halves) an event or link belonged to: they go with the first.
"""

from __future__ import annotations

from contextlib import closing
from typing import Any, Iterable, Iterator, Mapping

import orjson

from analyzer.staging import MAX_NS, MIN_NS, Stager
from analyzer.trace_flow import flow_trace_ids
from choreoscope.sql import named_queries

# A window's export goes out in documents of about this many spans (whole traces): a line
# of a few MB, as the Collector's file exporter writes, that `choreoscope load` reads one
# at a time.
SPANS_PER_DOCUMENT = 5000
# Chunks read by one query: its sort holds ~100k spans, not the window (a 1M-span window
# in one query took 1.25 GB at peak).
CHUNKS_PER_QUERY = 20
STREAM_ROWS = 10_000  # rows fetched at a time

# The OTLP enums' numbers (opentelemetry/proto/trace/v1/trace.proto).
SPAN_KINDS = {"UNSPECIFIED": 0, "INTERNAL": 1, "SERVER": 2, "CLIENT": 3, "PRODUCER": 4,
              "CONSUMER": 5}
STATUS_CODES = {"UNSET": 0, "OK": 1, "ERROR": 2}


def flow_otlp(store: Any, trace_id: str) -> dict[str, Any] | None:
    """The OTLP/JSON document of the flow containing ``trace_id`` (the traces the flow view
    shows), None if none of them has a stored span."""
    ids, _truncated = flow_trace_ids(store, trace_id)
    with closing(_documents(store, "export_flow_chunks", {"ids": ids})) as docs:
        return next(docs, None)  # (one chunk: closing ends its read at once)


def window_otlp(store: Any, since_ns: int | None = None, until_ns: int | None = None,
                spans_per_document: int = SPANS_PER_DOCUMENT) -> Iterator[dict[str, Any]]:
    """Every trace with a span that started in the window, whole, as OTLP/JSON documents of
    about ``spans_per_document`` spans each (whole traces, in the order they began: a file
    of them, one per line, is OTLP/JSON Lines). Read in one snapshot, a few documents at a
    time."""
    return _documents(store, "export_window_chunks", {
        "since": MIN_NS if since_ns is None else since_ns,
        "until": MAX_NS if until_ns is None else until_ns,
        "per_chunk": max(1, spans_per_document)})


def _documents(store: Any, chunks: str, params: Mapping[str, Any]
               ) -> Iterator[dict[str, Any]]:
    """One document per chunk that the named query ``chunks`` puts the traces in
    (``x_chunks``), every chunk read in one transaction (one snapshot)."""
    with store.cursor() as cur:
        st = Stager(cur, named_queries())
        cur.execute("BEGIN TRANSACTION")
        try:
            resources = st.rows("export_all_resources")
            scopes = st.rows("export_all_scopes")
            st.run(chunks, dict(params))
            n_chunks = st.run("export_chunk_count").fetchone()[0]
            for lo in range(0, n_chunks, CHUNKS_PER_QUERY):
                res = st.run("export_chunk_spans", {"lo": lo, "hi": lo + CHUNKS_PER_QUERY})
                cols = [d[0] for d in res.description]
                chunk: list[dict[str, Any]] = []
                at = None
                while rows := res.fetchmany(STREAM_ROWS):
                    for r in rows:
                        sp = dict(zip(cols, r))
                        if sp["chunk"] != at and chunk:
                            yield otlp_document(chunk, resources, scopes)
                            chunk = []
                        at = sp["chunk"]
                        chunk.append(sp)
                if chunk:
                    yield otlp_document(chunk, resources, scopes)
        finally:
            cur.execute("ROLLBACK")


def otlp_document(spans: Iterable[Mapping[str, Any]], resources: Iterable[Mapping[str, Any]],
                  scopes: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Stored rows (as the ``export_*`` queries name their columns; a span's ``events`` and
    ``links``, if any, as lists of rows) as one OTLP/JSON ``ExportTraceServiceRequest``:
    spans grouped by resource, then scope, in the order given. ``resources`` and
    ``scopes`` may hold more than the spans use."""
    res_of = {r["resource_id"]: r for r in resources}
    scope_of = {s["scope_id"]: s for s in scopes}
    grouped: dict[Any, dict[Any, list[dict[str, Any]]]] = {}
    for s in spans:
        out = _span(s, [_event(e) for e in s.get("events") or ()],
                    [_link(lk) for lk in s.get("links") or ()])
        grouped.setdefault(s["resource_id"], {}).setdefault(s["scope_id"], []).append(out)
    resource_spans = []
    for rid, per_scope in grouped.items():
        r = res_of.get(rid) or {}
        rs: dict[str, Any] = {"resource": _with_dropped(
            {"attributes": _attributes(r.get("attributes"))}, r.get("dropped_attributes_count"))}
        scope_spans = []
        for sid, out in per_scope.items():
            c = scope_of.get(sid) or {}
            scope = {k: v for k, v in (("name", c.get("name")), ("version", c.get("version")))
                     if v}
            attrs = _attributes(c.get("attributes"))
            if attrs:
                scope["attributes"] = attrs
            ss: dict[str, Any] = {"scope": _with_dropped(scope, c.get("dropped_attributes_count")),
                                  "spans": out}
            if c.get("schema_url"):
                ss["schemaUrl"] = c["schema_url"]
            scope_spans.append(ss)
        rs["scopeSpans"] = scope_spans
        if r.get("schema_url"):
            rs["schemaUrl"] = r["schema_url"]
        resource_spans.append(rs)
    return {"resourceSpans": resource_spans}


def otlp_json_bytes(doc: Mapping[str, Any]) -> bytes:
    """The document as one line of JSON (so the file is OTLP/JSON Lines too)."""
    return orjson.dumps(doc)


def _span(s: Mapping[str, Any], events: list[dict[str, Any]],
          links: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"traceId": s["trace_id"], "spanId": s["span_id"]}
    if s.get("trace_state"):
        out["traceState"] = s["trace_state"]
    if s.get("parent_span_id"):
        out["parentSpanId"] = s["parent_span_id"]
    if s.get("flags"):
        out["flags"] = int(s["flags"])
    out["name"] = s["name"]
    out["kind"] = SPAN_KINDS.get(s["kind"], 0)
    out["startTimeUnixNano"] = str(s["start_time_unix_nano"])
    out["endTimeUnixNano"] = str(s["end_time_unix_nano"])
    attrs = _attributes(s.get("attributes"))
    if attrs:
        out["attributes"] = attrs
    for col, key in (("dropped_attributes_count", "droppedAttributesCount"),
                     ("dropped_events_count", "droppedEventsCount"),
                     ("dropped_links_count", "droppedLinksCount")):
        if s.get(col):
            out[key] = int(s[col])
    if events:
        out["events"] = events
    if links:
        out["links"] = links
    status: dict[str, Any] = {}
    if s.get("status_message"):
        status["message"] = s["status_message"]
    code = STATUS_CODES.get(s.get("status_code") or "UNSET", 0)
    if code:
        status["code"] = code
    out["status"] = status
    return out


def _event(e: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": e.get("name") or ""}
    if e.get("time_unix_nano") is not None:
        out["timeUnixNano"] = str(e["time_unix_nano"])
    attrs = _attributes(e.get("attributes"))
    if attrs:
        out["attributes"] = attrs
    return _with_dropped(out, e.get("dropped_attributes_count"))


def _link(lk: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"traceId": lk["linked_trace_id"], "spanId": lk["linked_span_id"]}
    if lk.get("trace_state"):
        out["traceState"] = lk["trace_state"]
    attrs = _attributes(lk.get("attributes"))
    if attrs:
        out["attributes"] = attrs
    if lk.get("flags"):
        out["flags"] = int(lk["flags"])
    return _with_dropped(out, lk.get("dropped_attributes_count"))


def _with_dropped(d: dict[str, Any], dropped: int | None) -> dict[str, Any]:
    if dropped:
        d["droppedAttributesCount"] = int(dropped)
    return d


def _attributes(text: str | None) -> list[dict[str, Any]]:
    """A stored attributes column (JSON object text) as OTLP ``KeyValue``s."""
    if not text:
        return []
    # (most values are strings: converted inline, as a window's million spans' ~9 million
    # values made this the export's largest cost)
    return [{"key": k, "value": {"stringValue": v} if type(v) is str else any_value(v)}
            for k, v in orjson.loads(text).items()]


def any_value(v: Any) -> dict[str, Any]:
    """A JSON value of a stored attribute as an OTLP/JSON ``AnyValue`` (the inverse of the
    collector's decoding, but for the types JSON does not keep)."""
    t = type(v)  # (JSON gives exactly these types; a bool's type is bool, not int)
    if t is str:
        return {"stringValue": v}
    if t is int:
        return {"intValue": str(v)}
    if t is float:
        return {"doubleValue": v}
    if t is bool:
        return {"boolValue": v}
    if v is None:
        return {}
    if isinstance(v, list):
        return {"arrayValue": {"values": [any_value(x) for x in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": any_value(x)}
                                           for k, x in v.items()]}}
    return {"stringValue": str(v)}
