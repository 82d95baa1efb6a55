"""Small shared building blocks: number formatting, key/value tables, links, empty states.

Everything here renders data as Dash component *children strings*, which React escapes: a
span attribute holding markup shows as that markup's text. Nothing builds HTML strings.
The one exception is :func:`md_table`, for long lists: one Markdown component instead of a
component per cell (Dash's renderer takes ~1.5 ms per component: 200 rows of 8 cells took
~3 s to appear, the same table as Markdown ~0.2 s). Its text is written as character
references for every ASCII punctuation character, so nothing in it is markup, and Markdown's
own raw HTML is off.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

from dash import dcc, html
from dash.development.base_component import Component

from dashboard.params import format_time, href


def fmt_ms(v: Any) -> str:
    """Milliseconds for humans: ``0.42 ms``, ``12 ms``, ``1.4 s``, ``3.1 h``, ``—`` when
    unknown (sums of critical-path time over many flows run into hours)."""
    if v is None:
        return "—"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "—"
    if x != x:  # NaN
        return "—"
    if x >= 3_600_000:
        return f"{x / 3_600_000:.1f} h"
    if x >= 600_000:
        return f"{x / 60_000:.0f} min"
    if x >= 10_000:
        return f"{x / 1000:.0f} s"
    if x >= 1000:
        return f"{x / 1000:.1f} s"
    if x >= 10:
        return f"{x:.0f} ms"
    return f"{x:.2g} ms" if x < 1 else f"{x:.1f} ms"


def fmt_rate(v: Any) -> str:
    """Events per second: ``3.2/s``, or per minute when slow (``4/min``)."""
    if v is None:
        return "—"
    x = float(v)
    if x == 0:
        return "0/s"
    if x < 0.1:
        return f"{x * 60:.2g}/min"
    return f"{x:.3g}/s" if x < 100 else f"{x:.0f}/s"


def fmt_pct(v: Any) -> str:
    """A 0..1 ratio as a percentage."""
    if v is None:
        return "—"
    x = float(v) * 100
    return "0%" if x == 0 else (f"{x:.2g}%" if x < 10 else f"{x:.0f}%")


def fmt_count(v: Any) -> str:
    return "—" if v is None else f"{int(v):,}"


def as_text(v: Any) -> str:
    """Any attribute value as display text (lists and maps as compact JSON)."""
    if isinstance(v, str):
        return v
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


def fmt_value(key: str, v: Any) -> str:
    """A value formatted by what its key says it is (``*_ms``, ``*share``, ``*count``...)."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        if key.endswith("_ms"):
            return fmt_ms(v)
        if key.endswith(("share", "_rate")):
            return fmt_pct(v)
        if key.endswith("per_s"):
            return fmt_rate(v)
        if isinstance(v, int) or float(v).is_integer():
            return f"{int(v):,}"
        return f"{v:.4g}"
    if isinstance(v, dict):  # (unknown parts left out: "queue p95 —" on a call says nothing)
        return " · ".join(f"{label(k)} {fmt_value(k, x)}" for k, x in v.items()
                          if x is not None)
    if isinstance(v, list):
        return ", ".join(as_text(x) for x in v)
    return as_text(v)


def label(key: str) -> str:
    """``queue_p95_ms`` -> ``queue p95``: a field name for humans."""
    k = key[:-3] if key.endswith("_ms") else key
    return k.replace("_", " ")


def kv_table(pairs: Mapping[str, Any] | Iterable[tuple[str, Any]], *,
             class_name: str = "kv", empty: str = "none") -> Component:
    """A two-column table of keys and values, all rendered as text."""
    items = list(pairs.items() if isinstance(pairs, Mapping) else pairs)
    if not items:
        return html.Div(empty, className="muted")
    return html.Table(className=class_name, children=html.Tbody([
        html.Tr([html.Th(str(k)), html.Td(as_text(v))]) for k, v in items]))


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, class_name: str = "grid",
          row_ids: Sequence[Any] | None = None) -> html.Table:
    """A plain data table; cells may be strings or components."""
    body = []
    for i, r in enumerate(rows):
        cells = [c if isinstance(c, html.Td) else
                 html.Td(c if isinstance(c, (Component, list)) else as_text(c)) for c in r]
        kw = {"id": row_ids[i]} if row_ids else {}
        body.append(html.Tr(cells, **kw))
    return html.Table(className=class_name, children=[
        html.Thead(html.Tr([html.Th(h) for h in header])), html.Tbody(body)])


class MdLink(NamedTuple):
    """A link cell of :func:`md_table` (``href`` is an app path, e.g. from :func:`href`)."""
    label: str
    href: str
    title: str = ""


_MD_PUNCT = re.compile(r"[!-/:-@\[-`{-~]")


def md_text(value: Any) -> str:
    """``value`` as Markdown that renders as its text on one line: every ASCII punctuation
    character becomes a numeric character reference (so no emphasis, link, autolink, HTML
    or table pipe can start), and runs of whitespace, line breaks too, one space (as HTML
    shows them anyway)."""
    text = " ".join(as_text(value).split())
    return _MD_PUNCT.sub(lambda m: f"&#{ord(m.group())};", text)


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]], *,
             class_name: str = "grid", id: str | None = None) -> dcc.Markdown:
    """A table of text and :class:`MdLink` cells as one Markdown component (see the module
    docstring). Links to app paths navigate inside the app (``assets/links.js``)."""
    def cell(c: Any) -> str:
        if isinstance(c, MdLink):
            # (the path is the app's own: percent-encode what could end the destination)
            dest = re.sub(r"[\s()<>\\]", lambda m: "%%%02X" % ord(m.group()), c.href)
            title = f' "{md_text(c.title)}"' if c.title else ""
            return f"[{md_text(c.label)}]({dest}{title})"
        return md_text(c) or " "

    lines = ["| " + " | ".join(md_text(h) for h in header) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    kw = {"id": id} if id else {}
    return dcc.Markdown("\n".join(lines), className=f"md-table {class_name}",
                        dangerously_allow_html=False, **kw)


def flow_link(trace_id: str, filters: Mapping[str, str | None], label: str | None = None,
              **extra: object) -> dcc.Link:
    """A link to the flow view of the flow containing ``trace_id``."""
    return dcc.Link(label or trace_id[:16], href=href(f"/flow/{trace_id}", filters, **extra),
                    className="mono", title=trace_id)


def map_link(element_id: str, filters: Mapping[str, str | None], label: str = "on the map") \
        -> dcc.Link:
    """A link to the flow map with ``element_id`` (node or edge) selected."""
    return dcc.Link(label, href=href("/map", filters, select=element_id))


def trace_links(trace_ids: Iterable[str] | None, filters: Mapping[str, str | None],
                limit: int = 5) -> list[Any]:
    """Up to ``limit`` flow-view links, separated by spaces."""
    out: list[Any] = []
    for t in list(trace_ids or [])[:limit]:
        if out:
            out.append(" ")
        out.append(flow_link(t, filters))
    return out or ["—"]


def empty_state(extent: Mapping[str, Any], filters: Mapping[str, str | None],
                path: str, what: str = "spans") -> html.Div:
    """Why a page is empty, and a link that shows everything when the window is the cause."""
    if not extent.get("spans"):
        return html.Div(className="empty", children=[
            html.H3("No spans stored yet"),
            html.P("Point an OpenTelemetry OTLP exporter at the collector "
                   "(gRPC :4317, HTTP :4318; Zipkin reporters: HTTP :4318/api/v2/spans), "
                   "`choreoscope load` a file of OTLP, Jaeger or Zipkin JSON, or run "
                   "`choreoscope demo`; this page updates as spans arrive."),
        ])
    all_filters = dict(filters)
    all_filters.update({"window": "all", "from": None, "to": None})
    return html.Div(className="empty", children=[
        html.H3(f"No {what} in this window"),
        html.P(f"The store holds {extent['spans']:,} spans from "
               f"{format_time(extent.get('start_ns'))} to {format_time(extent.get('end_ns'))} "
               f"UTC."),
        dcc.Link("Show all of them", href=href(path, all_filters)),
    ])


def error_box(message: str) -> html.Div:
    """A visible, text-only error message (bad URL parameter, missing analysis)."""
    return html.Div(message, className="error-box", role="alert")


# Long lists: Dash's renderer slows down faster than linearly with the components on a page
# (1,000 take ~0.9 s to appear in headless Chromium here, 3,000 ~7 s), so pages show the top
# of a long list and a "Show all" button that is hidden while nothing is cut.
_HIDDEN = {"display": "none"}


def more_button(id_: str) -> html.Button:
    """A page's "Show all" button, hidden until :func:`more_state` says a list is cut."""
    return html.Button("Show all", id=id_, n_clicks=0, className="more", style=_HIDDEN)


def more_state(cut: bool, label: str) -> tuple[str, dict[str, str]]:
    """The button's label and style: ``label`` while a list is cut, hidden otherwise."""
    return (label, {}) if cut else ("", _HIDDEN)


def first_rows(items: Sequence[Any], n: int | None,
               keep: Callable[[Any], bool] = lambda _: False) -> list[Any]:
    """The first ``n`` items (all when ``n`` is None), and any later one ``keep`` asks for
    (the selected row stays visible)."""
    if n is None:
        return list(items)
    return [x for i, x in enumerate(items) if i < n or keep(x)]
