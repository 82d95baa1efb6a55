"""Render an :class:`~analyzer.model.Analysis` as text, JSON, Mermaid, DOT or GraphML.

Text is the default report of ``choreoscope analyze``; the diagram formats let teams put the
observed architecture into their docs. Pure functions: analysis in, string out.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Callable

import networkx as nx
import orjson

from analyzer.flow_names import flow_title
from analyzer.model import Analysis, across_services_first

FORMATS = ("text", "json", "mermaid", "dot", "graphml")


def render(analysis: Analysis, fmt: str = "text") -> str:
    """The analysis in ``fmt`` (one of :data:`FORMATS`)."""
    try:
        fn: Callable[[Analysis], str] = _RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}") from None
    return fn(analysis)


# --------------------------------------------------------------------------------- json
def to_json(a: Analysis) -> str:
    return orjson.dumps(a.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n"


# --------------------------------------------------------------------------------- text
def _fmt_ms(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v / 1000:.2f} s"
    if v >= 10:
        return f"{v:.0f} ms"
    return f"{v:.1f} ms"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _when(ns: int | None) -> str:
    if ns is None:
        return "-"
    return _dt.datetime.fromtimestamp(ns / 1e9, _dt.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S UTC")


def _partial_flows(s: dict) -> str:
    """The flows the window holds only part of, in no flow type."""
    parts = [f"{s[k]} {what}" for k, what in (("flows_begun_before", "began before the window"),
                                              ("flows_under_way", "under way at its end"))
             if s.get(k)]
    return f" (and {' and '.join(parts)}: in no type)" if parts else ""


def to_text(a: Analysis) -> str:
    s = a.summary
    out: list[str] = []
    w = out.append
    if not s.get("span_count"):
        return ("choreoscope analysis: no spans in this window"
                + (f" for service {s['service']}" if s.get("service") else "") + ".\n")
    w(f"choreoscope analysis: {s['span_count']} spans, {s['trace_count']} traces, "
      f"{s['flow_instance_count']} flow instances of {s['flow_count']} types"
      + _partial_flows(s))
    w(f"  from {_when(s['start_ns'])} to {_when(s['end_ns'])} ({s['duration_s']} s)"
      + (f"; flows involving {s['service']}" if s.get("service") else ""))
    w("")
    w(f"Flow map: {len([n for n in a.nodes if n['type'] == 'service'])} services, "
      f"{len([n for n in a.nodes if n['type'] == 'topic'])} topics, "
      f"{len([n for n in a.nodes if n['type'] == 'external'])} externals, "
      f"{len(a.edges)} edges")
    order = {"publish": 0, "route": 1, "consume": 2, "call": 3}
    for e in sorted(a.edges, key=lambda e: (order.get(e["type"], 9), e["source"], e["target"])):
        line = (f"  {e['type']:<8} {e['source']} -> {e['target']}: {e['count']} "
                f"({e['rate_per_s']}/s), p50 {_fmt_ms(e['p50_ms'])}, p95 {_fmt_ms(e['p95_ms'])}")
        if e["type"] == "consume" and e.get("queue_p95_ms") is not None:
            line += f", queue p50 {_fmt_ms(e['queue_p50_ms'])} p95 {_fmt_ms(e['queue_p95_ms'])}"
        if e["error_count"]:
            line += f", errors {e['error_count']} ({_pct(e['error_rate'])})"
        w(line)
    w("")
    w(f"Flows ({len(a.flows)} types)")
    for f in across_services_first(a.flows):
        local = not f.get("hops")
        w(f"  [{'within its service' if local else f['style']}] {flow_title(f)}: "
          f"{f['count']} instances, end-to-end p50 "
          f"{_fmt_ms(f['e2e_p50_ms'])} p95 {_fmt_ms(f['e2e_p95_ms'])}, "
          f"errors {_pct(f['error_rate'])}")
        if local:
            continue
        w(f"      style: {f['style_explanation']}")
        steps = [c for c in f["critical_path"] if c["share"] >= 0.01 and c["kind"] != "wait"]
        if steps:
            w("      critical path: " + " > ".join(
                f"{c['hop']} {c['kind']} {_pct(c['share'])}" for c in steps))
        if f["bottleneck"]:
            b = f["bottleneck"]
            w(f"      bottleneck: {b['hop']} ({b['kind']}, {_pct(b['share'])} of the "
              f"critical path)")
        if f["example_trace_ids"]:
            w(f"      slowest trace: {f['example_trace_ids'][0]}")
    w("")
    time_bn = [b for b in a.bottlenecks if b["kind"] != "error"]
    err_bn = [b for b in a.bottlenecks if b["kind"] == "error"]
    w("Bottlenecks (share of all critical-path time)")
    for i, b in enumerate(time_bn[:10], 1):
        w(f"  {i:>2}. {b['hop']} [{b['kind']}] {_pct(b['share'])}, p50 {_fmt_ms(b['p50_ms'])} "
          f"p95 {_fmt_ms(b['p95_ms'])} per flow"
          + (f"; e.g. trace {b['example_trace_ids'][0]}" if b["example_trace_ids"] else ""))
    if not time_bn:
        w("  none")
    w("")
    w("Errors (share of failed flows in which the hop failed)")
    for i, b in enumerate(err_bn[:10], 1):
        w(f"  {i:>2}. {b['hop']}: {b['error_count']} errors in {b['failed_flows']} flows "
          f"({_pct(b['share'])})"
          + (f", error rate {_pct(b['error_rate'])}" if b.get("error_rate") is not None else "")
          + (f"; e.g. trace {b['example_trace_ids'][0]}" if b["example_trace_ids"] else ""))
    if not err_bn:
        w("  none")
    w("")
    w("Anomalies")
    for x in a.anomalies:
        share = f" ({_pct(x['share'])})" if x.get("share") is not None else ""
        detail = f": {x['detail']}" if x.get("detail") else ""
        w(f"  {x['type']} at {x['where']}: {x['count']}{share}{detail}")
        for path in (x.get("paths") or [])[1:]:  # (a reply's other paths)
            w(f"      and {path}")
    if not a.anomalies:
        w("  none")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------ mermaid
def _mm_label(text: str) -> str:
    return text.replace('"', "#quot;")


def to_mermaid(a: Analysis) -> str:
    ids = {n["id"]: f"n{i}" for i, n in enumerate(a.nodes)}
    out = ["flowchart LR"]
    for n in a.nodes:
        label = _mm_label(n["name"])
        if n["type"] == "topic":
            shape = f'[/"{label}"/]'
        elif n["type"] == "external":
            shape = f'[("{label}")]'
        else:
            shape = f'["{label}"]'
        out.append(f"    {ids[n['id']]}{shape}")
    for e in a.edges:
        label = f"{e['type']} {e['count']}"
        if e["error_count"]:
            label += f", {e['error_count']} err"
        arrow = "-.->" if e["type"] == "consume" else ("==>" if e["type"] == "call" else "-->")
        out.append(f'    {ids[e["source"]]} {arrow}|"{_mm_label(label)}"| {ids[e["target"]]}')
    out.append("    classDef topic fill:#fff5d6,stroke:#c9a227")
    out.append("    classDef external fill:#eeeeee,stroke:#888888")
    for typ in ("topic", "external"):
        members = [ids[n["id"]] for n in a.nodes if n["type"] == typ]
        if members:
            out.append(f"    class {','.join(members)} {typ}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------- dot
def _dot_q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(a: Analysis) -> str:
    shapes = {"service": "box", "topic": "cds", "external": "cylinder"}
    out = ["digraph choreoscope {", "    rankdir=LR;", "    node [fontname=\"Helvetica\"];"]
    for n in a.nodes:
        out.append(f"    {_dot_q(n['id'])} [label={_dot_q(n['name'])}, "
                   f"shape={shapes.get(n['type'], 'ellipse')}];")
    for e in a.edges:
        label = f"{e['type']} {e['count']}"
        if e.get("queue_p95_ms") is not None:
            label += f"\\nqueue p95 {_fmt_ms(e['queue_p95_ms'])}"
        if e["error_count"]:
            label += f"\\n{e['error_count']} errors"
        style = {"consume": "dashed", "call": "bold"}.get(e["type"], "solid")
        color = ', color="red"' if e["error_count"] else ""
        # labels keep \n as DOT's own line break, so only quotes are escaped here
        out.append(f"    {_dot_q(e['source'])} -> {_dot_q(e['target'])} "
                   f"[label=\"{label.replace(chr(34), '')}\", style={style}{color}];")
    out.append("}")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------ graphml
def to_graphml(a: Analysis) -> str:
    g = nx.DiGraph()
    for n, attrs in a.graph.nodes(data=True):
        g.add_node(n, **{k: _str_attr(v) for k, v in attrs.items()})
    for u, v, attrs in a.graph.edges(data=True):
        g.add_edge(u, v, **{k: _str_attr(x) for k, x in attrs.items()})
    return "\n".join(nx.generate_graphml(g)) + "\n"


def _str_attr(v: Any) -> str:
    """GraphML attribute values as strings: numbers and booleans as JSON, lists and dicts as
    JSON text, None as empty (one type per key, whatever the values of one element)."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    return orjson.dumps(v).decode()


_RENDERERS: dict[str, Callable[[Analysis], str]] = {
    "text": to_text, "json": to_json, "mermaid": to_mermaid, "dot": to_dot,
    "graphml": to_graphml,
}
