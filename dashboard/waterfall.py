"""The flow view's waterfall figure, built from ``analyzer.flow_for_trace`` output (pure).

One row per span, rows grouped by service (services in order of first activity, spans in
start order inside a group, indented by depth), bars on a millisecond axis from the flow's
start (in seconds when the flow lasts 2 s or more: "14k ms" reads badly). Queue waits are drawn as dotted gaps before the consuming span with their duration;
span links (and message-id joins) as arrows from the producing span's end to the consumer's
start, so a flow that crosses traces reads as one picture; the critical path is outlined.
Plotly interprets a few HTML-like tags in text, so every span-derived string is escaped.
"""

from __future__ import annotations

import html as htmllib
from typing import Any, Sequence

import plotly.graph_objects as go

PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#B279A2", "#9D755D", "#72B7B2", "#EECA3B",
           "#FF9DA6", "#79706E", "#BAB0AC")
CRITICAL = "#111111"
SELECTED = "#FF3D00"
ROW_PX = 26
MAX_ARROWS = 300  # past this many links the arrows hide the bars; the detail panel lists all


def esc(text: Any) -> str:
    """Text safe to put in a Plotly label: shown literally, never interpreted."""
    return htmllib.escape(str(text), quote=False)


def service_colors(services: Sequence[str]) -> dict[str, str]:
    """A stable colour per service, in order of appearance."""
    return {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(services)}


def order_rows(spans: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Spans in display order: services by first start, then each service's spans by start."""
    first: dict[str, int] = {}
    for s in spans:
        svc = s.get("service_name") or "?"
        t = int(s["start_time_unix_nano"])
        if svc not in first or t < first[svc]:
            first[svc] = t
    return sorted(spans, key=lambda s: (first[s.get("service_name") or "?"],
                                        s.get("service_name") or "?",
                                        int(s["start_time_unix_nano"]),
                                        s.get("depth") or 0, s["span_id"]))


# A flow lasting this long or more is drawn on an axis of seconds.
SECONDS_FROM_MS = 2000.0


def _ms(ns: int, t0: int) -> float:
    return (int(ns) - t0) / 1e6


def _unit(spans: Sequence[dict[str, Any]], t0: int) -> tuple[float, str]:
    """(milliseconds per axis unit, the axis' name) for a flow's extent."""
    extent = max(_ms(s["end_time_unix_nano"], t0) for s in spans)
    if extent >= SECONDS_FROM_MS:
        return 1000.0, "s since the flow started"
    return 1.0, "ms since the flow started"


def waterfall_figure(flow: dict[str, Any], selected_span: str | None = None) -> go.Figure:
    """The waterfall of one flow (see the module docstring)."""
    spans = order_rows(flow.get("spans") or [])
    fig = go.Figure()
    if not spans:
        fig.update_layout(height=200, annotations=[dict(text="no spans", showarrow=False)])
        return fig
    t0 = int(flow.get("start_ns") or min(int(s["start_time_unix_nano"]) for s in spans))
    services = list(dict.fromkeys(s.get("service_name") or "?" for s in spans))
    colors = service_colors(services)
    row_of = {s["span_id"]: i for i, s in enumerate(spans)}
    per, axis_title = _unit(spans, t0)

    # Bars: one trace per service so the legend names the services.
    for svc in services:
        rows = [(i, s) for i, s in enumerate(spans) if (s.get("service_name") or "?") == svc]
        starts = [_ms(s["start_time_unix_nano"], t0) for _, s in rows]
        durs = [max(_ms(s["end_time_unix_nano"], t0) - st, 0.0)
                for (_, s), st in zip(rows, starts)]
        line_colors = [SELECTED if s["span_id"] == selected_span else
                       (CRITICAL if s.get("on_critical_path") else colors[svc]) for _, s in rows]
        line_widths = [3 if (s["span_id"] == selected_span or s.get("on_critical_path")) else 0.5
                       for _, s in rows]
        patterns = ["x" if s.get("status_code") == "ERROR" else "" for _, s in rows]
        hover = [_hover(s, d) for (_, s), d in zip(rows, durs)]
        fig.add_trace(go.Bar(
            name=esc(svc), orientation="h", showlegend=False, y=[i for i, _ in rows],
            x=[d / per for d in durs], base=[st / per for st in starts],
            marker=dict(color=colors[svc], line=dict(color=line_colors, width=line_widths),
                        pattern=dict(shape=patterns, fgcolor="#B00020", solidity=0.3)),
            customdata=[[s["span_id"], s["trace_id"]] for _, s in rows],
            hovertext=hover, hoverinfo="text", width=0.7))

    _add_queue_gaps(fig, spans, t0, per)
    arrows = _link_arrows(flow.get("links") or [], spans, row_of, t0, per)

    # Service bands behind the rows, and each band's name at its top left.
    shapes, notes = [], []
    i = 0
    while i < len(spans):
        svc = spans[i].get("service_name") or "?"
        j = i
        while j + 1 < len(spans) and (spans[j + 1].get("service_name") or "?") == svc:
            j += 1
        shapes.append(dict(type="rect", xref="paper", x0=0, x1=1, yref="y", y0=i - 0.5,
                           y1=j + 0.5, fillcolor=colors[svc], opacity=0.08, line_width=0,
                           layer="below"))
        notes.append(dict(text=f"<b>{esc(svc)}</b>", xref="paper", x=0.995, xanchor="right",
                          yref="y", y=i - 0.45, yanchor="top", showarrow=False,
                          font=dict(color=colors[svc], size=12),
                          # (readable over the bars of a flow's last moments)
                          bgcolor="rgba(255,255,255,0.85)"))
        i = j + 1

    ticks = [("\u2002" * min(int(s.get("depth") or 0), 6)) + esc(_short(s.get("name"), 42))
             for s in spans]
    fig.update_layout(
        barmode="overlay", height=max(240, 90 + ROW_PX * len(spans)),
        margin=dict(l=10, r=20, t=10, b=40), plot_bgcolor="white", showlegend=False,
        shapes=shapes, annotations=notes + arrows, hovermode="closest",
        xaxis=dict(title=axis_title, gridcolor="#eee", zeroline=False),
        yaxis=dict(tickvals=list(range(len(spans))), ticktext=ticks, autorange="reversed",
                   automargin=True, showgrid=False),
        clickmode="event", dragmode="zoom", uirevision=flow.get("flow_id") or "flow",
    )
    return fig


def _short(text: Any, n: int) -> str:
    t = str(text or "")
    return t if len(t) <= n else t[: n - 1] + "…"


def _hover(s: dict[str, Any], dur_ms: float) -> str:
    lines = [f"<b>{esc(s.get('name'))}</b>",
             f"{esc(s.get('service_name'))} · {esc(s.get('kind'))} · {dur_ms:.2f} ms",
             f"status {esc(s.get('status_code'))}",
             f"trace {esc(s.get('trace_id'))}"]
    if s.get("queue_wait_ms"):
        what = "waited for its retry" if s.get("retry_wait") else "queued"
        lines.append(f"{what} {float(s['queue_wait_ms']):.1f} ms before it started")
    if s.get("on_critical_path"):
        lines.append("on the critical path")
    if s.get("parent_missing"):
        lines.append("its parent span never arrived")
    return "<br>".join(lines)


def _add_queue_gaps(fig: go.Figure, spans: Sequence[dict[str, Any]], t0: int,
                    per: float = 1.0) -> None:
    xs: list[float | None] = []
    ys: list[float | None] = []
    lx, ly, lt = [], [], []
    for i, s in enumerate(spans):
        q = s.get("queue_wait_ms")
        if not q or float(q) <= 0:
            continue
        start = _ms(s["start_time_unix_nano"], t0)
        xs += [(start - float(q)) / per, start / per, None]
        ys += [i, i, None]
        lx.append((start - float(q) / 2) / per)
        ly.append(i)
        # (a retry's wait, as the critical path tells it: not the queue's)
        what = "retry wait" if s.get("retry_wait") else "queue"
        lt.append(f"{what} {float(q):.1f} ms" if float(q) < 1000 else
                  f"{what} {float(q) / 1000:.2f} s")
    if not lt:
        return
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="queue wait", showlegend=False,
                             line=dict(color="#888", dash="dot", width=2), hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=lx, y=ly, mode="text", text=lt, textposition="top center",
                             showlegend=False, hoverinfo="skip",
                             textfont=dict(size=10, color="#555")))


def _link_arrows(links: Sequence[dict[str, Any]], spans: Sequence[dict[str, Any]],
                 row_of: dict[str, int], t0: int, per: float = 1.0) -> list[dict[str, Any]]:
    by_id = {s["span_id"]: s for s in spans}
    out = []
    for link in links:
        if link.get("type") == "parent" and not link.get("cross_trace"):
            continue  # parent/child inside a trace is the rows' order; arrows would clutter
        a, b = by_id.get(link.get("from_span")), by_id.get(link.get("to_span"))
        if a is None or b is None:
            continue
        out.append(dict(
            x=_ms(b["start_time_unix_nano"], t0) / per, y=row_of[b["span_id"]],
            ax=_ms(a["end_time_unix_nano"], t0) / per, ay=row_of[a["span_id"]],
            xref="x", yref="y", axref="x", ayref="y", showarrow=True, arrowhead=2,
            arrowsize=1, arrowwidth=1.5, text="",
            arrowcolor="#6A1B9A" if link.get("cross_trace") else "#999"))
        if len(out) >= MAX_ARROWS:
            break
    return out
