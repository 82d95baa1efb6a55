"""The span detail panel: everything one span carries, as text (see ``data.span_detail``).

Attributes, resource and scope, events (exceptions set apart with their stack trace), and
links in both directions, each a link to the flow view of the span at the other end, so a
chain of messages can be followed forwards and backwards across traces.
"""

from __future__ import annotations

from typing import Any, Mapping

from dash import dcc, html

from dashboard.components import as_text, fmt_ms, kv_table
from dashboard.params import format_time, href


def span_panel(span: dict[str, Any] | None, filters: Mapping[str, str | None],
               queue_wait_ms: float | None = None, retry_wait: bool = False,
               parent_missing: bool = False) -> html.Div:
    """The panel for one span (``None``: a hint to click a bar); ``retry_wait``: its queue
    wait was a retry's (the flow's critical path says so); ``parent_missing``: its parent
    span never arrived."""
    if span is None:
        return html.Div("Click a span in the waterfall to see everything it carries.",
                        className="muted hint")
    start, end = span["start_time_unix_nano"], span["end_time_unix_nano"]
    facts = [
        ("service", span.get("service_name")), ("kind", span.get("kind")),
        ("status", span.get("status_code") + (f": {span['status_message']}"
                                              if span.get("status_message") else "")),
        ("duration", fmt_ms((end - start) / 1e6)),
        ("start", format_time(start) + " UTC"),
        ("trace id", span.get("trace_id")), ("span id", span.get("span_id")),
        ("parent span id", (span.get("parent_span_id") or "— (root)") + (
            " — never received (not exported, or left open)" if parent_missing else "")),
    ]
    if queue_wait_ms:
        facts.append(("retry wait before it" if retry_wait else "queue wait before it",
                      fmt_ms(queue_wait_ms)))
    for k in ("msg_system", "msg_destination", "msg_operation_type", "msg_message_id",
              "msg_consumer_group", "peer_service", "server_address", "db_system"):
        if span.get(k) is not None:
            facts.append((k.replace("msg_", "messaging "), span[k]))
    dropped = {k: span.get(k) for k in ("dropped_attributes_count", "dropped_events_count",
                                        "dropped_links_count") if span.get(k)}
    exceptions = [e for e in span.get("events") or [] if e.get("name") == "exception"]
    return html.Div(className="span-panel", id="span-panel", children=[
        html.H3(as_text(span.get("name")), className="span-title"),
        kv_table(facts),
        *([html.Div(className="exceptions", children=[
            html.H4("Exceptions"), *[_exception(e, start) for e in exceptions]])]
          if exceptions else []),
        html.H4("Attributes"), kv_table(span.get("attributes") or {}, class_name="kv attrs"),
        html.H4(f"Events ({len(span.get('events') or [])})"),
        _events(span.get("events") or [], start),
        html.H4(f"Links to producers ({len(span.get('links_out') or [])})"),
        _links(span.get("links_out") or [], filters, outgoing=True),
        html.H4(f"Linked from consumers ({len(span.get('links_in') or [])})"),
        _links(span.get("links_in") or [], filters, outgoing=False),
        html.Details([html.Summary("Resource and instrumentation scope"),
                      kv_table(span.get("resource_attributes") or {}),
                      kv_table([("scope", span.get("scope_name")),
                                ("scope version", span.get("scope_version")),
                                ("schema", span.get("scope_schema_url")
                                 or span.get("resource_schema_url")),
                                *dropped.items()])]),
    ])


def _exception(e: dict[str, Any], start: int) -> html.Div:
    a = e.get("attributes") or {}
    return html.Div(className="exception", children=[
        html.Div([html.B(as_text(a.get("exception.type", "exception"))), ": ",
                  as_text(a.get("exception.message", ""))]),
        html.Pre(as_text(a.get("exception.stacktrace", ""))) if a.get("exception.stacktrace")
        else None,
    ])


def _events(events: list[dict[str, Any]], start: int) -> html.Div:
    if not events:
        return html.Div("none", className="muted")
    items = []
    for e in events:
        t = e.get("time_unix_nano")
        at = f"+{fmt_ms((t - start) / 1e6)}" if t else ""
        items.append(html.Li([html.Span(as_text(e.get("name")), className="ev-name"), " ",
                              html.Span(at, className="muted"),
                              kv_table(e.get("attributes") or {}, empty="")]))
    return html.Ul(items, className="events")


def _links(links: list[dict[str, Any]], filters: Mapping[str, str | None], outgoing: bool) \
        -> html.Div:
    if not links:
        return html.Div("none", className="muted")
    items = []
    for link in links:
        if outgoing:
            tid, sid = link["linked_trace_id"], link["linked_span_id"]
            who = (link.get("linked_service"), link.get("linked_name"))
        else:
            tid, sid = link["trace_id"], link["span_id"]
            who = (link.get("linking_service"), link.get("linking_name"))
        label = f"{who[0]} · {who[1]}" if who[0] else f"{tid[:8]}…/{sid} (not stored)"
        items.append(html.Li([
            dcc.Link(label, href=href(f"/flow/{tid}", filters, span=sid),
                     className="follow-link"),
            html.Span(f" message {link['msg_message_id']}" if link.get("msg_message_id")
                      else "", className="muted"),
            kv_table(link.get("attributes") or {}, empty="")]))
    return html.Ul(items, className="links")
