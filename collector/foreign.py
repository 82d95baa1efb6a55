"""Traces in Jaeger's and Zipkin's JSON, as OTLP/JSON requests (pure functions, no I/O).

Teams moving from Jaeger or Zipkin have traces in those formats: a trace downloaded from
Jaeger's UI or read from its API (``{"data": [trace, ...]}``), or Zipkin's v2 JSON (a list
of spans, what its API returns and what Zipkin reporters send to ``/api/v2/spans``); Jaeger's
``api/v3`` answers OTLP already, inside ``{"result": ...}``, which is unwrapped. Each is
turned into the OTLP/JSON request the OpenTelemetry Collector's own translators would make
of it (``pkg/translator/jaeger`` and ``zipkin``), so everything after (the decoders, the
store, the analysis) sees OTLP:

* Jaeger: a process is a resource (``serviceName`` is ``service.name``, its tags the other
  attributes); the first ``CHILD_OF`` reference in the span's own trace is its parent, else
  its first ``FOLLOWS_FROM`` there, and every other reference a link (a message consumed
  in another trace is joined by it), carrying ``opentracing.ref_type``; the tags ``span.kind``,
  ``otel.status_code``/``otel.status_description``, ``error``, ``otel.scope.name`` (or
  ``otel.library.name``) and ``w3c.tracestate`` become the span's fields; a log is an event
  named by its ``event`` field; 64-bit trace ids are padded to 128 bits.
* Zipkin v2: ``localEndpoint.serviceName`` is the resource's ``service.name``, the remote
  endpoint ``peer.service`` and ``network.peer.address``/``port``; the tag ``error`` (or
  ``otel.status_code``) sets the status; an annotation is an event. Zipkin's tags are all
  strings, and stay so. A server span ``shared`` with its client keeps the client's span id,
  as Zipkin's B3 propagation made it: the store keeps both halves (``Store``). A shared half
  may leave its time to the client's half: its first annotation's is taken, and one with
  neither is left out (it says nothing a flow could place).

Timestamps are microseconds in both; a document that is neither format is told so, with the
keys it had.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

_HEX = re.compile(r"[0-9a-fA-F]+")
_KINDS = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
_STATUS = {"OK": 1, "ERROR": 2}


class NotForeign(ValueError):
    """The document is neither Jaeger's nor Zipkin's JSON."""


def kind_of(doc: Any) -> str | None:
    """``"jaeger"``, ``"jaeger-v3"`` (OTLP inside ``result``), ``"zipkin"`` or None: which
    foreign format a parsed JSON document is."""
    if isinstance(doc, dict):
        result = doc.get("result")
        if isinstance(result, dict) and ("resourceSpans" in result
                                         or "resource_spans" in result):
            return "jaeger-v3"  # (Jaeger's api/v3 answers OTLP, inside "result")
        if isinstance(doc.get("data"), list) and all(
                isinstance(t, dict) and "spans" in t for t in doc["data"]):
            return "jaeger"
        if "spans" in doc and "processes" in doc:
            return "jaeger"  # (one trace, as the UI's own trace JSON holds it)
    if isinstance(doc, list) and doc and all(
            isinstance(s, dict) and "traceId" in s and "id" in s for s in doc):
        return "zipkin"
    return None


def to_otlp(doc: Any) -> tuple[str, list[dict[str, Any]]]:
    """The document's format (as :func:`kind_of` says) and its OTLP/JSON requests
    (``ExportTraceServiceRequest`` as JSON): one per Jaeger trace, one for a list of Zipkin
    spans. :class:`NotForeign` if it is neither; ``ValueError`` (naming the format, the
    span and what is wrong) for a span that cannot be read."""
    kind = kind_of(doc)
    try:
        if kind == "jaeger-v3":
            return kind, [doc["result"]]
        if kind == "jaeger":
            traces = doc["data"] if "data" in doc else [doc]
            return kind, [_jaeger_trace(t) for t in traces if t.get("spans")]
        if kind == "zipkin":
            return kind, [zipkin_request(doc)]
    except ValueError as exc:
        raise ValueError(f"{kind} JSON: {exc}") from None
    raise NotForeign("neither OTLP, Jaeger nor Zipkin JSON")


# -------------------------------------------------------------------------------- values
def _hex(value: Any, size: int, what: str) -> str:
    """An id as ``size`` lowercase hex characters (Jaeger's UI drops leading zeros, and
    64-bit trace ids are padded as the Collector pads them)."""
    if not isinstance(value, str) or not value or len(value) > size:
        raise ValueError(f"{what} {value!r} is not a hex id of up to {size} characters")
    if _HEX.fullmatch(value) is None:
        raise ValueError(f"{what} {value!r} is not a hex id")
    return value.lower().rjust(size, "0")


def _ns(us: Any, what: str) -> str:
    if isinstance(us, bool) or not isinstance(us, (int, float)):
        raise ValueError(f"{what} {us!r} is not a number of microseconds")
    return str(int(round(us * 1000)))


def _any(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": "" if value is None else str(value)}


def _attr(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "value": _any(value)}


def _jaeger_value(tag: dict[str, Any]) -> Any:
    """A Jaeger tag's value, by its type (``binary`` is base64 text, kept as bytes)."""
    t, v = tag.get("type", "string"), tag.get("value")
    if t == "bool":
        return v if isinstance(v, bool) else str(v).lower() == "true"
    if t == "int64":
        try:
            return int(v)
        except (TypeError, ValueError):
            return str(v)
    if t == "float64":
        try:
            return float(v)
        except (TypeError, ValueError):
            return str(v)
    if t == "binary" and isinstance(v, str):
        try:
            return base64.b64decode(v, validate=True)
        except ValueError:
            return v
    return v


def _jaeger_attrs(tags: Any) -> list[tuple[str, Any]]:
    return [(str(t["key"]), _jaeger_value(t)) for t in tags or ()
            if isinstance(t, dict) and "key" in t]


def _kv(pairs: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for k, v in pairs:
        if isinstance(v, bytes):
            out.append({"key": k, "value": {"bytesValue": base64.b64encode(v).decode()}})
        else:
            out.append(_attr(k, v))
    return out


# -------------------------------------------------------------------------------- Jaeger
def _jaeger_trace(trace: dict[str, Any]) -> dict[str, Any]:
    processes = trace.get("processes") or {}
    procs: dict[str, dict[str, Any]] = {}  # process id -> the process, in first-seen order
    scopes: dict[tuple[str, tuple[str, str]], list[dict[str, Any]]] = {}
    for i, sp in enumerate(trace["spans"]):
        if not isinstance(sp, dict):
            raise ValueError(f"span {i + 1} is not an object")
        # (Jaeger's API puts the processes beside the spans, its storage's JSON one in each
        # span)
        embedded = sp.get("process") if isinstance(sp.get("process"), dict) else None
        pid = str(sp.get("processID") or "")
        if not pid and embedded is not None:
            pid = "_" + str(embedded.get("serviceName", ""))
        procs.setdefault(pid, processes.get(pid) or embedded or {})
        span, scope = _jaeger_span(sp, f"span {i + 1} ({sp.get('spanID', '?')})")
        scopes.setdefault((pid, scope), []).append(span)
    resource_spans = []
    for pid, proc in procs.items():
        attrs = [("service.name", str(proc.get("serviceName") or "unknown_service"))]
        attrs += [(k, v) for k, v in _jaeger_attrs(proc.get("tags")) if k != "service.name"]
        resource_spans.append({
            "resource": {"attributes": _kv(attrs)},
            "scopeSpans": [{"scope": {"name": name, "version": version}, "spans": spans}
                           for (p, (name, version)), spans in scopes.items() if p == pid]})
    return {"resourceSpans": resource_spans}


def _jaeger_span(sp: dict[str, Any], where: str) -> tuple[dict[str, Any], tuple[str, str]]:
    trace_id = _hex(sp.get("traceID"), 32, f"{where}: traceID")
    span_id = _hex(sp.get("spanID"), 16, f"{where}: spanID")
    start = _ns(sp.get("startTime"), f"{where}: startTime")
    end = str(int(start) + int(_ns(sp.get("duration") or 0, f"{where}: duration")))
    attrs = _jaeger_attrs(sp.get("tags"))
    fields = dict(attrs)
    out: dict[str, Any] = {"traceId": trace_id, "spanId": span_id,
                           "name": str(sp.get("operationName", "")),
                           "startTimeUnixNano": start, "endTimeUnixNano": end}
    kind = _KINDS.get(str(fields.get("span.kind", "")).lower())
    if kind:
        out["kind"] = kind
    status = _status(fields)
    if status:
        out["status"] = status
    if fields.get("w3c.tracestate"):
        out["traceState"] = str(fields["w3c.tracestate"])
    scope = (str(fields.get("otel.scope.name", fields.get("otel.library.name", ""))),
             str(fields.get("otel.scope.version", fields.get("otel.library.version", ""))))
    special = {"span.kind", "otel.status_code", "otel.status_description", "error",
               "w3c.tracestate", "otel.scope.name", "otel.scope.version",
               "otel.library.name", "otel.library.version", "internal.span.format"}
    out["attributes"] = _kv([(k, v) for k, v in attrs if k not in special])
    refs = [(_hex(ref.get("traceID"), 32, f"{where}: a reference's traceID"),
             _hex(ref.get("spanID"), 16, f"{where}: a reference's spanID"),
             str(ref.get("refType") or "CHILD_OF").upper())
            for ref in sp.get("references") or () if isinstance(ref, dict)]
    # (Jaeger's own rule: the first CHILD_OF in the span's trace, else its first
    # FOLLOWS_FROM there, as an OpenTracing Kafka consumer's to its producer; every other
    # reference, and a FOLLOWS_FROM parent too, is a link, as the Collector makes them)
    same = [r for r in refs if r[0] == trace_id]
    parent = next((r for r in same if r[2] == "CHILD_OF"),
                  next((r for r in same if r[2] == "FOLLOWS_FROM"), None))
    if parent is not None:
        out["parentSpanId"] = parent[1]
    links = [{"traceId": t, "spanId": sid, "attributes": [
        _attr("opentracing.ref_type", ref_type.lower())]}
        for t, sid, ref_type in refs if not (parent is not None and ref_type == "CHILD_OF"
                                             and sid == parent[1])]
    if links:
        out["links"] = links
    events = []
    for log in sp.get("logs") or ():
        pairs = _jaeger_attrs(log.get("fields"))
        name = next((str(v) for k, v in pairs if k == "event"), "")
        events.append({"timeUnixNano": _ns(log.get("timestamp"), f"{where}: a log's timestamp"),
                       "name": name, "attributes": _kv([(k, v) for k, v in pairs
                                                        if k != "event"])})
    if events:
        out["events"] = events
    return out, scope


def _status(fields: dict[str, Any]) -> dict[str, Any] | None:
    """The span's status from its tags: ``otel.status_code`` first, else an ``error`` tag
    that is true (Zipkin's: any text, which is the message)."""
    code = _STATUS.get(str(fields.get("otel.status_code", "")).upper())
    message = fields.get("otel.status_description")
    err = fields.get("error")
    failed = err is not None and err is not False and str(err).lower() != "false"
    if code is None:
        if not failed:
            return None
        code = 2
    if message is None and failed and isinstance(err, str) and err.lower() != "true":
        message = err  # (Zipkin's error tag holds the message: the OTel SDK's exporter's too)
    out: dict[str, Any] = {"code": code}
    if message:
        out["message"] = str(message)
    return out


# -------------------------------------------------------------------------------- Zipkin
def zipkin_request(spans: list[Any]) -> dict[str, Any]:
    """The OTLP/JSON request of a list of Zipkin v2 spans (``ValueError`` saying which
    span is wrong, and how)."""
    if not isinstance(spans, list):
        raise ValueError("Zipkin v2 JSON is a list of spans")
    by_service: dict[tuple[str, tuple[str, str]], list[dict[str, Any]]] = {}
    for i, sp in enumerate(spans):
        if not isinstance(sp, dict):
            raise ValueError(f"span {i + 1} is not an object")
        where = f"span {i + 1} ({sp.get('id', '?')})"
        if "binaryAnnotations" in sp:
            raise ValueError(f"{where} is Zipkin's v1 JSON (binaryAnnotations); only v2 is read")
        local = sp.get("localEndpoint") or {}
        service = str(local.get("serviceName") or "unknown_service")
        converted = _zipkin_span(sp, where)
        if converted is not None:
            span, scope = converted
            by_service.setdefault((service, scope), []).append(span)
    services = list(dict.fromkeys(s for s, _ in by_service))
    return {"resourceSpans": [{
        "resource": {"attributes": [_attr("service.name", service)]},
        "scopeSpans": [{"scope": {"name": name, "version": version}, "spans": group}
                       for (s, (name, version)), group in by_service.items() if s == service]}
        for service in services]}


def _zipkin_span(sp: dict[str, Any], where: str
                 ) -> tuple[dict[str, Any], tuple[str, str]] | None:
    """The OTLP/JSON span of a Zipkin span and its scope, or None for a span with no time at
    all (no timestamp, no annotation: a shared half that only names itself)."""
    tags = sp.get("tags") or {}
    if not isinstance(tags, dict):
        raise ValueError(f"{where}: tags is not an object")
    tags = {str(k): "" if v is None else str(v) for k, v in tags.items()}
    out: dict[str, Any] = {
        "traceId": _hex(sp.get("traceId"), 32, f"{where}: traceId"),
        "spanId": _hex(sp.get("id"), 16, f"{where}: id"),
        "name": str(sp.get("name") or "")}
    if sp.get("parentId"):
        out["parentSpanId"] = _hex(sp["parentId"], 16, f"{where}: parentId")
    timestamp = sp.get("timestamp")
    if timestamp is None:
        # (Zipkin lets the half of a span shared with its client leave its time to the
        # client's; its annotations, if any, still say when it ran)
        timestamp = min((a["timestamp"] for a in sp.get("annotations") or ()
                         if isinstance(a, dict) and isinstance(a.get("timestamp"), (int, float))),
                        default=None)
        if timestamp is None:
            return None
    start = _ns(timestamp, f"{where}: timestamp")
    end = str(int(start) + int(_ns(sp.get("duration") or 0, f"{where}: duration")))
    out["startTimeUnixNano"], out["endTimeUnixNano"] = start, end
    kind = _KINDS.get(str(sp.get("kind") or "").lower())
    if kind:
        out["kind"] = kind
    status = _status(tags)
    if status:
        out["status"] = status
    scope = (tags.get("otel.scope.name", tags.get("otel.library.name", "")),
             tags.get("otel.scope.version", tags.get("otel.library.version", "")))
    special = {"otel.status_code", "otel.status_description", "error", "otel.scope.name",
               "otel.scope.version", "otel.library.name", "otel.library.version"}
    attrs: list[tuple[str, Any]] = [(k, v) for k, v in tags.items() if k not in special]
    remote = sp.get("remoteEndpoint") or {}
    if isinstance(remote, dict):
        have = {k for k, _ in attrs}
        for key, value in (("peer.service", remote.get("serviceName")),
                           ("network.peer.address", remote.get("ipv4") or remote.get("ipv6")),
                           ("network.peer.port", remote.get("port"))):
            if value not in (None, "") and key not in have:
                attrs.append((key, value))
    out["attributes"] = _kv(attrs)
    events = [{"timeUnixNano": _ns(a.get("timestamp"), f"{where}: an annotation's timestamp"),
               **_annotation(str(a.get("value", "")))}
              for a in sp.get("annotations") or () if isinstance(a, dict)]
    if events:
        out["events"] = events
    return out, scope


def _annotation(value: str) -> dict[str, Any]:
    """An annotation as an event: its text is the name, unless it is what OpenTelemetry's
    Zipkin exporters make of an event with attributes (``{"name": {"key": value}}``)."""
    if value.startswith("{") and value.endswith("}"):
        try:
            doc = json.loads(value)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and len(doc) == 1:
            (name, attrs), = doc.items()
            if isinstance(attrs, dict):
                return {"name": name, "attributes": [_attr(str(k), v) for k, v in attrs.items()
                                                     if isinstance(v, (str, int, float, bool))]}
    return {"name": value}
