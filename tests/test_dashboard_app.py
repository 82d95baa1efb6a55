"""The dashboard app on a real store and the real analyzer: routing, filters, page callbacks
called as plain functions, the JSON API and token auth (Flask test client, no browser)."""

from __future__ import annotations

import html as html_lib
import json
import re
from pathlib import Path
from typing import Any, Iterator

import pytest
from dash import dcc, no_update

from choreoscope.store import Store
from dashboard import data
from collector.decode import decode_request
from collector.otlp_json import parse_json_request
from dashboard.app import create_app, route, sync_filters
from dashboard.auth import COOKIE, cookie_value
from dashboard.demo import SCRIPT_TEXT, demo_span_id, demo_trace_ids, load_demo
from dashboard.pages.bottlenecks import BottlenecksPage
from dashboard.pages.flow_map import FlowMapPage
from dashboard.pages.flow_view import FlowViewPage
from dashboard.pages.flows import FlowsPage
from dashboard.pages.search import SearchPage
from dashboard.span_view import span_panel
from sample_traces import ground_truth

SAMPLE = Path(__file__).resolve().parent.parent / "sample_traces" / "data" / "choreography.jsonl"
ALL = {"window": "all", "from": None, "to": None, "service": None}


_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def text_of(component: Any) -> str:
    """All text a component tree renders (what a user would read)."""
    if component is None or component is no_update:
        return ""
    if isinstance(component, (str, int, float)):
        return str(component)
    if isinstance(component, dcc.Markdown):
        # (md_table: links' labels, table syntax, text as character references)
        md = _MD_LINK.sub(r"\1", component.children)
        rows = [line.strip("|").split(" | ") for line in md.splitlines()
                if not line.startswith("|---")]
        return " ".join(html_lib.unescape(c.strip()) for r in rows for c in r)
    if isinstance(component, (list, tuple)):
        return " ".join(text_of(c) for c in component)
    children = getattr(component, "children", None)
    return text_of(children)


def find_ids(component: Any, out: set | None = None) -> set:
    out = set() if out is None else out
    if isinstance(component, (list, tuple)):
        for c in component:
            find_ids(c, out)
    elif hasattr(component, "to_plotly_json"):
        cid = getattr(component, "id", None)
        if cid is not None:
            out.add(cid if isinstance(cid, str) else str(cid))
        find_ids(getattr(component, "children", None), out)
    return out


def find_all(component: Any, type_name: str) -> list:
    """Every component of the type named ``type_name`` in a tree, in document order."""
    if isinstance(component, (list, tuple)):
        return [f for c in component for f in find_all(c, type_name)]
    if not hasattr(component, "to_plotly_json"):
        return []
    mine = [component] if type(component).__name__ == type_name else []
    return mine + find_all(getattr(component, "children", None), type_name)


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    s = Store.open(":memory:")
    with open(SAMPLE, "rb") as fh:
        for line in fh:
            if line.strip():
                s.write(decode_request(parse_json_request(line)))
    load_demo(s, orders=3)
    yield s
    s.close()


@pytest.fixture(scope="module")
def app(store: Store) -> Any:
    return create_app(store, refresh_ms=60_000)


def test_routes():
    assert route("/") == ("map", {})
    assert route("/map") == ("map", {})
    assert route("/flows") == ("flows", {})
    assert route("/flows/flow:abc") == ("flows", {"flow_id": "flow:abc"})
    assert route("/flow/ABCDEF") == ("flow", {"trace_id": "abcdef"})
    assert route("/bottlenecks") == ("bottlenecks", {})
    assert route("/search") == ("search", {})
    assert route("/flow") == ("404", {})
    assert route("/nope/x") == ("404", {})


def test_url_and_filter_controls_stay_in_step(app: Any):
    deps = app.deps
    # a shared link sets the controls and the filter store, and leaves the URL alone
    out = sync_filters("url", "?window=15m&service=payment-service&select=x", None, None,
                       None, None, None, deps)
    assert out[:4] == ("15m", None, None, "payment-service")
    assert out[4] is no_update
    assert out[5] == {"window": "15m", "from": None, "to": None, "service": "payment-service"}
    # changing a control rewrites the filter keys of the URL and keeps the page's own keys
    out = sync_filters("f-window", "?window=15m&select=x", "all", None, None, "a", out[5], deps)
    assert out[4] == "?select=x&window=all&service=a"
    assert out[5]["window"] == "all"
    # a bad range is reported, not raised
    out = sync_filters("url", "?window=range&from=tomorrow", None, None, None, None, None, deps)
    assert "Time window" in text_of(out[6])
    assert out[7] == {"display": "inline-flex"}


def test_flow_map_callback_shows_the_scenarios_nodes(app: Any):
    page = FlowMapPage(app.deps)
    elements, legend, edges, message = page.elements(ALL, 0, "p95", None)
    assert message is None
    labels = {e["data"]["label"] for e in elements if "source" not in e["data"]}
    truth = ground_truth.CHOREOGRAPHY
    for node in truth["services"] + list(truth["topics"]):
        assert node.split(":", 1)[1] in labels
    edge_ids = {e["data"]["id"] for e in elements if "source" in e["data"]}
    for src, dst, _ in truth["edges"]:
        if not dst.startswith("external:"):
            assert f"{src}->{dst}" in edge_ids
    lost = next(e for e in elements if e["data"].get("id") ==
                "topic:order.placed->service:seller-notification-service")
    assert "broken" in lost["classes"]
    # the edge table lists the same edges as buttons that select them
    assert {f"{{'type': 'map-pick', 'index': '{i}'}}" for i in edge_ids} <= find_ids(edges)
    # a window with no spans explains itself and offers "all"
    empty = {"window": "range", "from": "2001-01-01", "to": "2001-01-02"}
    _, _, _, message = page.elements(empty, 0, "p95", None)
    assert "Show all of them" in text_of(message)


def test_live_refresh_sends_a_page_again_only_when_it_changed():
    """The registered callbacks are wrapped by dashboard.live.unless_unchanged: a tick
    that renders what the browser already has sends nothing (no_update everywhere); new
    spans, or another choice, send the page again."""
    from dashboard.live import unless_unchanged
    from tests.builders import SpanSet

    local = Store.open(":memory:")
    with open(SAMPLE, "rb") as fh:
        for line in fh:
            if line.strip():
                local.write(decode_request(parse_json_request(line)))
    deps = create_app(local, refresh_ms=1000).deps
    update = unless_unchanged(FlowMapPage(deps).update, 6, filters_at=0)
    assert update(None, 0, "p95", None, None, None) == (no_update,) * 7  # not loaded yet
    first = update(ALL, 1, "p95", None, None, None)
    assert len(first) == 7 and first[0] and isinstance(first[-1], str)
    again = update(ALL, 2, "p95", None, None, first[-1])
    assert again == (no_update,) * 7
    other = update(ALL, 3, "errors", None, None, first[-1])  # colour by error rate
    assert other[0] is not no_update and other[-1] != first[-1]
    late = SpanSet()
    late.client_call("late-service", "order-service",
                     parent=late.span("late-service", "GET /late", kind="SERVER"))
    local.write(decode_request(late.request()))
    deps.forget()
    fresh = update(ALL, 4, "p95", None, None, first[-1])
    assert fresh[-1] != first[-1]
    assert "late-service" in {e["data"]["label"] for e in fresh[0] if "source" not in e["data"]}
    local.close()


def test_flow_map_edge_table_lists_the_busiest_edges_and_the_selected_one(app: Any):
    import dashboard.pages.flow_map as map_page
    page = FlowMapPage(app.deps)
    edges = sorted(app.deps.analysis(ALL)["edges"], key=lambda e: -e["count"])
    assert page.update(ALL, 0, "p95", None, 0)[5] == {"display": "none"}  # few: no button
    old, map_page.SHOWN = map_page.SHOWN, 2
    try:
        out = page.update(ALL, 0, "p95", edges[-1]["id"], 0)
        picks = {i for i in find_ids(out[2]) if "map-pick" in i}
        assert picks == {f"{{'type': 'map-pick', 'index': '{e['id']}'}}"
                         for e in (edges[0], edges[1], edges[-1])}
        assert out[4] == f"Show all {len(edges)} edges" and out[5] == {}
        assert len(out[0]) == len(page.update(ALL, 0, "p95", None, 1)[0])  # the map: all
        assert len([i for i in find_ids(page.update(ALL, 0, "p95", None, 1)[2])
                    if "map-pick" in i]) == len(edges)
    finally:
        map_page.SHOWN = old


def test_flow_map_shows_the_messages_of_batch_deliveries():
    from dashboard.pages.flow_map import detail_panel, edge_table
    eid = "topic:orders->service:billing"
    consume = {"id": eid, "source": "topic:orders", "target": "service:billing",
               "type": "consume", "count": 2, "message_count": 6, "rate_per_s": 0.1}
    single = {**consume, "id": "topic:refunds->service:billing", "source": "topic:refunds",
              "count": 3, "message_count": 3}
    text = text_of(edge_table({"nodes": [], "edges": [consume, single]}, ALL))
    assert "2 (6 messages)" in text and "3 (3 messages)" not in text
    panel = text_of(detail_panel(eid, {**consume, "p50_ms": 4.0}, ALL))
    assert "message count" in panel and "6" in panel



def test_flow_map_detail_lists_its_stats_in_reading_order():
    """Counts, then failures, rate, latency, queue time and messages: an edge's error rate
    beside its error count, its queue p99 beside the other queue percentiles, whatever
    order the detail's keys come in."""
    from dashboard.pages.flow_map import detail_panel
    detail = {"id": "topic:orders->service:billing", "type": "consume", "queue_p99_ms": 9.0,
              "message_count": 6, "error_rate": 0.25, "p99_ms": 7.0, "queue_p50_ms": 1.0,
              "count": 4, "p50_ms": 3.0, "rate_per_s": 0.5, "error_count": 1,
              "queue_p95_ms": 2.0, "p95_ms": 5.0, "broken_context_count": 0}
    rows = [text_of(r.children[0]) for r in find_all(detail_panel(detail["id"], detail, ALL),
                                                     "Tr")]
    assert rows == ["count", "error count", "error rate", "rate per s", "p50", "p95", "p99",
                    "queue p50", "queue p95", "queue p99", "message count",
                    "broken context count"]
    assert "error rate 25%" in text_of(detail_panel(detail["id"], detail, ALL))


def test_flow_map_names_a_service_and_its_namesake_topic_apart():
    from dashboard.pages.flow_map import edge_table, element_title
    nodes = [{"id": "service:orders", "name": "orders"}, {"id": "topic:orders", "name": "orders"},
             {"id": "service:billing", "name": "billing"}]
    edges = [{"id": "service:orders->topic:orders", "source": "service:orders",
              "target": "topic:orders", "type": "publish", "count": 3},
             {"id": "topic:orders->service:billing", "source": "topic:orders",
              "target": "service:billing", "type": "consume", "count": 3}]
    text = text_of(edge_table({"nodes": nodes, "edges": edges}, ALL))
    assert "orders (service) → orders (topic)" in text
    assert "orders (topic) → billing" in text
    assert element_title("service:orders->topic:orders") == "orders (service) → orders (topic)"
    assert element_title("topic:orders->service:billing") == "orders → billing"


def test_flow_map_detail_of_an_edge(app: Any):
    page = FlowMapPage(app.deps)
    eid = "topic:payment.completed->service:logistics-service"
    edge = next(e for e in app.deps.analysis(ALL)["edges"] if e["id"] == eid)
    text = text_of(page.detail(eid, ALL, 0))
    assert f"{edge['count']:,}" in text
    assert "queue p95" in text
    assert "Slowest flows" in text


def test_flows_page_table_and_selected_dag(app: Any):
    flows = app.deps.analysis(ALL)["flows"]
    page = FlowsPage(app.deps)
    table, detail = page.body(flows[0]["id"], ALL, 0)
    assert all(f["name"] in text_of(table) for f in flows)
    assert "choreography" in text_of(table)
    assert "Share of the critical path" in text_of(detail)
    _, missing = page.body("flow:nope", ALL, 0)
    assert "no instance" in text_of(missing)


def test_flow_view_joins_traces_and_shows_span_details_as_text(app: Any):
    ids = demo_trace_ids(3)
    page = FlowViewPage(app.deps)
    fig, header = page.waterfall(ids["shipping"][0], None, ALL)
    traces = {c[1] for t in fig.data if t.type == "bar" for c in t.customdata}
    assert traces == {ids["order"][0], ids["payment"][0], ids["shipping"][0]}
    assert "3 traces joined" in text_of(header)
    span = demo_span_id("payment-0", "process orders")
    panel = page.detail(span, ids["shipping"][0], ALL)
    assert SCRIPT_TEXT in text_of(panel)  # as a text child, which React escapes
    assert "order-service · send orders" in text_of(panel)
    assert page.select({"points": [{"customdata": [span, ids["payment"][0]]}]}) == span
    assert page.url(span, "?window=all&span=old") == f"?window=all&span={span}"
    assert page.url(span, f"?window=all&span={span}") is no_update
    fig, header = page.waterfall("f" * 32, None, ALL)
    assert "Unknown trace" in text_of(header)


def test_flow_view_downloads_the_flow_as_otlp_json(app: Any):
    """The flow view's download link gives every span of the flow's traces as OTLP/JSON,
    the <script> attribute as the text it was (a JSON string, not markup)."""
    ids = demo_trace_ids(3)
    _fig, header = FlowViewPage(app.deps).waterfall(ids["shipping"][1], None, ALL)
    link = next(a for a in find_all(header, "A") if a.id == "fv-download")
    flow = app.deps.flow(ids["shipping"][1])
    assert link.href == f"/api/flow/{flow['flow_id']}/otlp"
    assert link.download == f"flow-{flow['flow_id']}.json"
    r = app.server.test_client().get(link.href)
    assert r.status_code == 200 and r.mimetype == "application/json"
    doc = r.get_json()
    spans = [sp for rs in doc["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]]
    assert {sp["traceId"] for sp in spans} == set(flow["trace_ids"])
    assert sorted(sp["spanId"] for sp in spans) == sorted(s["span_id"] for s in flow["spans"])
    values = [a["value"].get("stringValue") for sp in spans for a in sp.get("attributes", ())]
    assert SCRIPT_TEXT in values
    services = {a["value"]["stringValue"] for rs in doc["resourceSpans"]
                for a in rs["resource"]["attributes"] if a["key"] == "service.name"}
    assert services == {s["service_name"] for s in flow["spans"]}


def test_span_panel_names_a_retrys_wait_apart_from_a_queues(store: Store):
    ids = demo_trace_ids(3)
    span = data.span_detail(store, ids["payment"][0], demo_span_id("payment-0", "process orders"))
    queued = text_of(span_panel(span, ALL, queue_wait_ms=12.0))
    retried = text_of(span_panel(span, ALL, queue_wait_ms=12.0, retry_wait=True))
    assert "queue wait before it" in queued and "retry wait" not in queued
    assert "retry wait before it" in retried and "queue wait" not in retried
    assert "never received" not in queued
    assert "never received" in text_of(span_panel(span, ALL, parent_missing=True))


def test_bottlenecks_and_search_pages(app: Any):
    body = BottlenecksPage(app.deps).body(ALL, 0)
    text = text_of(body)
    slow = ground_truth.CHOREOGRAPHY["slow_hop"]["edge"]
    assert f"{slow[0].split(':')[1]} → {slow[1].split(':')[1]}" in text
    assert "broken_context" in text and "on the map" in text
    page = SearchPage(app.deps)
    results = page.results(1, ALL, None, None, "payment.note", SCRIPT_TEXT, None, None, [])
    assert text_of(results).count("payment-service process orders") == 3
    bad = page.results(1, ALL, None, None, None, None, "fast", None, [])
    assert "not a number" in text_of(bad)


def test_search_looks_a_trace_id_up_in_the_whole_store(app: Any):
    """By its full id or first digits, whatever the window (it comes from a log line)."""
    page = SearchPage(app.deps)
    trace = demo_trace_ids(3)["payment"][0]
    old = {**ALL, "window": "range", "from": "2001-01-01T00:00:00",
           "to": "2001-01-01T01:00:00"}  # a window holding no span
    for key in (trace, trace[:10].upper(), f" {trace} "):
        out = page.results(1, old, key, None, None, None, None, None, [])
        assert count_links(out) == 1 and trace[:16] in text_of(out), key
    assert "No trace matches" in text_of(page.results(1, ALL, "f" * 32, *[None] * 5, []))
    assert "not a trace id" in text_of(page.results(1, ALL, "xyz", *[None] * 5, []))
    assert page.url(1, "?window=all", trace, None, None, None, None, None, []) == \
        f"?window=all&trace={trace}"


class _CannedDeps:
    """What BottlenecksPage reads of its deps: one analysis with many findings."""

    def __init__(self, n_bottlenecks: int, n_anomalies: int) -> None:
        self.store = None
        self._a = {
            "nodes": [{"id": "service:a"}],
            "bottlenecks": [{"hop": f"service:s{i}", "kind": "processing",
                             "share": 0.5 / (i + 1), "critical_path_ms": 4_000_000.0,
                             "flows_on_path": 10 + i, "example_trace_ids": ["ab" * 16]}
                            for i in range(n_bottlenecks)],
            "anomalies": [{"type": "redelivery", "where": f"topic:t{i}->service:a",
                           "count": i + 1, "messages": 3} for i in range(n_anomalies)],
        }

    def analysis(self, _filters: Any) -> dict:
        return self._a


def count_components(component: Any) -> int:
    if isinstance(component, (list, tuple)):
        return sum(count_components(c) for c in component)
    if component is None or isinstance(component, (str, int, float)):
        return 0
    return 1 + count_components(getattr(component, "children", None))


def test_bottlenecks_page_cuts_long_lists_and_keeps_evidence_to_one_line():
    from dashboard.pages.bottlenecks import SHOWN
    page = BottlenecksPage(_CannedDeps(SHOWN + 25, 3))  # type: ignore[arg-type]
    body, label, style = page.update(ALL, 0, False, 0)
    text = text_of(body)
    assert f"Bottlenecks ({SHOWN + 25})" in text and "Anomalies (3)" in text
    assert f"s{SHOWN - 1} " in text + " " and f"s{SHOWN} " not in text + " "
    assert "service:s0" not in text and "t0 → a" in text  # (ids as people read them)
    assert label == f"Show all {SHOWN + 25} bottlenecks and 3 anomalies" and style == {}
    # evidence is a line of text, hours where a sum of critical-path time runs into them
    assert "critical path: 1.1 h · flows on path: 10" in text
    # the browser's cost grows faster than the component count: a cut page stays small
    assert count_components(body) < 20 * (SHOWN + 3)
    for full in (page.update(ALL, 0, True, 0), page.update(ALL, 0, False, 1)):
        assert f"s{SHOWN + 24}" in text_of(full[0])
        assert full[2] == {"display": "none"}
    few = BottlenecksPage(_CannedDeps(3, 2))  # type: ignore[arg-type]
    assert few.update(ALL, 0, False, 0)[2] == {"display": "none"}


def test_a_reply_finding_lists_its_paths_as_people_read_them():
    from dashboard.pages.bottlenecks import anomaly_item
    paths = ["service:a -> topic:ask -> service:b -> topic:ok -> service:a",
             "service:a -> topic:ask -> service:b -> topic:failed -> service:a"]
    item = anomaly_item({"type": "cycle", "where": paths[0], "count": 7, "loops": 0,
                         "nodes": ["service:a"], "edges": ["service:a->topic:ask"],
                         "paths": paths, "detail": "flows come back along 2 paths"}, ALL)
    text = text_of(item)
    assert "paths: a → ask → b → ok → a; a → ask → b → failed → a" in text
    assert "service:" not in text.replace(paths[0], "")  # (ids only in the hover title)


def test_search_lists_every_trace_found_in_one_markdown_table(app: Any):
    """Every trace found is a row of one Markdown component (a component per cell made 200
    rows take seconds to appear), each linking to its flow view, and what spans carry
    (a root span named with markup) is text, not markup."""
    from dashboard.components import md_text
    page = SearchPage(app.deps)
    everything = (None, None, None, None, None, None, [])  # no criteria: every trace, newest first
    out = page.results(1, ALL, *everything)
    found = data.search_traces(app.deps.store, data.SearchForm(), app.deps.window(ALL))
    assert len(found) == data.SEARCH_LIMIT and f"Traces ({len(found)}+)" in text_of(out)
    assert count_links(out) == len(found) and count_components(out) < 10
    md = next(c for c in walk(out) if isinstance(c, dcc.Markdown))
    assert not md.dangerously_allow_html
    assert f"(/flow/{found[0]['trace_id']}?window=all \"" in md.children
    assert md_text("<b>*x*</b> | [a](javascript:y)\nz") == \
        "&#60;b&#62;&#42;x&#42;&#60;&#47;b&#62; &#124; &#91;a&#93;&#40;javascript&#58;y&#41; z"
    assert "<" not in md.children and "|" not in md_text(SCRIPT_TEXT)


def test_search_lists_as_many_traces_as_its_limit_says(app: Any):
    """50 traces unless the form's limit (in the URL, shareable) asks for more or fewer; a
    limit that is no whole number from 1 to 1000 is refused with a message."""
    page = SearchPage(app.deps)
    everything = (None, None, None, None, None, None, [])
    default = text_of(page.results(1, ALL, *everything))
    assert "Traces (50+)" in default and "raise its limit" in default
    more = page.results(1, ALL, *everything, 120)
    assert count_links(more) == 120 and "Traces (120+)" in text_of(more)
    assert count_links(page.results(1, ALL, *everything, 3)) == 3
    for bad in (0, 2.5, 5000, "x"):
        assert "limit: " in text_of(page.results(1, ALL, *everything, bad)), bad
    assert page.url(1, "?window=all", *everything, 120) == "?window=all&limit=120"
    # a search that finds fewer than its limit says nothing of it
    few = text_of(page.results(1, ALL, None, "charge", None, None, None, None, [], 1000))
    assert "+)" not in few and "raise its limit" not in few


def count_links(component: Any) -> int:
    from dash import dcc
    if isinstance(component, (list, tuple)):
        return sum(count_links(c) for c in component)
    if component is None or isinstance(component, (str, int, float)):
        return 0
    if isinstance(component, dcc.Markdown):
        return len(_MD_LINK.findall(component.children))
    return int(isinstance(component, dcc.Link)) + count_links(
        getattr(component, "children", None))


def walk(component: Any) -> Iterator[Any]:
    """Every component of a tree."""
    if isinstance(component, (list, tuple)):
        for c in component:
            yield from walk(c)
    elif component is not None and not isinstance(component, (str, int, float)):
        yield component
        yield from walk(getattr(component, "children", None))


def test_flows_table_lists_the_most_frequent_types_and_the_selected_one(app: Any):
    import dashboard.pages.flows as flows_page
    page = FlowsPage(app.deps)
    types = app.deps.analysis(ALL)["flows"]
    assert len(types) > 2
    everything = page.update(None, ALL, 0, 0)
    assert everything[3] == {"display": "none"}   # few types: no button
    old, flows_page.SHOWN = flows_page.SHOWN, 1
    try:
        last = types[-1]["id"]
        table_, detail, label, style = page.update(last, ALL, 0, 0)
        assert label == f"Show all {len(types)} flow types" and style == {}
        assert count_links(table_) == 2                 # the most frequent and the selected
        assert count_links(page.update(None, ALL, 0, 1)[0]) == len(types)
    finally:
        flows_page.SHOWN = old



def test_flows_table_puts_flows_across_services_before_local_work():
    """A worker's housekeeping traces (BullMQ's, every few seconds) outnumber the orders:
    the order flow still heads the table, and the local work says what it is."""
    class Deps:
        store = None

        def analysis(self, _f: Any) -> dict:
            return {"flows": [
                {"id": "ft-tick", "name": "moveStalledJobsToWait emails (mailer)",
                 "count": 400, "style": "none", "hops": []},
                {"id": "ft-order", "name": "POST /signup (signup-api)", "count": 12,
                 "style": "choreography",
                 "hops": ["service:signup-api->topic:emails", "topic:emails->service:mailer"]},
                {"id": "ft-health", "name": "GET /health (signup-api)", "count": 90,
                 "style": "none", "hops": []}]}

    table_, _detail = FlowsPage(Deps()).body(None, ALL, 0)  # type: ignore[arg-type]
    rows = [text_of(r) for r in find_all(table_, "Tr")][1:]
    assert [r.split(" (")[0] for r in rows] == ["POST /signup", "moveStalledJobsToWait emails",
                                               "GET /health"]
    assert "choreography" in rows[0] and "within its service" in rows[1]


def test_flows_page_says_how_many_flows_the_window_holds_part_of():
    """A window starting at a time cuts the flows under way then, and one ending (or the
    present) those under way at its end: the page says how many it left out of the flow
    types, under the table, or instead of it when that is all."""
    class Deps:
        store = None

        def __init__(self, flows: list, cut: int, under_way: int = 0) -> None:
            self.a = {"flows": flows, "summary": {"flows_begun_before": cut,
                                                  "flows_under_way": under_way}}

        def analysis(self, _f: Any) -> dict:
            return self.a

    order = {"id": "ft-order", "name": "POST /orders (orders)", "count": 12,
             "style": "choreography", "hops": ["service:orders->topic:placed"]}
    table_, _ = FlowsPage(Deps([order], 3)).body(None, ALL, 0)  # type: ignore[arg-type]
    assert len([r for r in find_all(table_, "Tr")]) == 2
    assert "3 flows were under way when the window began" in text_of(table_)
    only, _ = FlowsPage(Deps([], 1)).body(None, ALL, 0)  # type: ignore[arg-type]
    assert text_of(only).startswith("1 flow was under way when the window began")
    table_, _ = FlowsPage(Deps([order], 0)).body(None, ALL, 0)  # type: ignore[arg-type]
    assert "under way" not in text_of(table_)
    table_, _ = FlowsPage(Deps([order], 0, 2)).body(None, ALL, 0)  # type: ignore[arg-type]
    assert "2 flows were under way at the window's end: left out of the flow types" \
        in text_of(table_)
    table_, _ = FlowsPage(Deps([order], 1, 1)).body(None, ALL, 0)  # type: ignore[arg-type]
    assert ("1 flow was under way when the window began and 1 flow was under way at its "
            "end") in text_of(table_)


def test_durations_read_in_the_unit_that_fits():
    from dashboard.components import fmt_ms, fmt_value
    assert [fmt_ms(v) for v in (0.42, 12, 1400, 12_000, 900_000, 112_361_000, None)] == [
        "0.42 ms", "12 ms", "1.4 s", "12 s", "15 min", "31.2 h", "—"]
    # a nested record leaves its unknown parts out
    assert fmt_value("evidence", {"count": 3, "p50_ms": 2.5, "queue_p95_ms": None}) == \
        "count 3 · p50 2.5 ms"


def test_api_endpoints(app: Any):
    client = app.server.test_client()
    health = client.get("/api/health")
    assert health.status_code == 200 and health.get_json()["spans"] > 3000
    full = client.get("/api/analysis?since=all").get_json()
    assert {"summary", "nodes", "edges", "flows", "bottlenecks", "anomalies"} <= set(full)
    only = client.get("/api/analysis?since=all&service=email-service").get_json()
    assert only["summary"]["span_count"] < full["summary"]["span_count"]
    bad = client.get("/api/analysis?since=yesterday")
    assert bad.status_code == 400 and "not a time" in bad.get_json()["error"]
    assert client.get("/api/analysis?sinse=5m").status_code == 400
    ids = demo_trace_ids(3)
    flow = client.get(f"/api/flow/{ids['order'][2]}").get_json()
    assert set(flow["trace_ids"]) == {ids["order"][2], ids["payment"][2], ids["shipping"][2]}
    assert client.get(f"/api/flow/{'0' * 32}").status_code == 404
    assert client.get("/api/flow/not-hex").status_code == 400
    assert client.get(f"/api/flow/{'0' * 32}/otlp").status_code == 404
    assert client.get("/api/flow/not-hex/otlp").status_code == 400
    # every span of the store, streamed as OTLP/JSON Lines
    export = client.get("/api/export?since=all")
    assert export.status_code == 200 and export.mimetype == "application/x-ndjson"
    docs = [json.loads(line) for line in export.data.splitlines()]
    assert sum(len(ss["spans"]) for d in docs for rs in d["resourceSpans"]
               for ss in rs["scopeSpans"]) == health.get_json()["spans"]
    assert client.get("/api/export?since=yesterday").status_code == 400
    assert "unknown parameter" in client.get("/api/export?service=x").get_json()["error"]
    # an API that is not there answers 404 in JSON, not the dashboard's page
    for path in ("/api/flows", "/api/edge/x", "/api/"):
        r = client.get(path)
        assert r.status_code == 404 and "no API" in r.get_json()["error"], path
    for method, path, status in (("post", "/api/analysis", 405), ("delete", "/api/health", 405),
                                 ("put", f"/api/flow/{'0' * 32}", 405),
                                 ("post", f"/api/flow/{'0' * 32}/otlp", 405),
                                 ("post", "/api/nothing", 404)):
        r = getattr(client, method)(path)
        assert r.status_code == status and r.get_json()["error"], (method, path)


def test_api_analysis_answers_from_the_pages_cache_unless_asked_fresh():
    """A window a page offers answers from the pages' cache (as current as a page, a
    refresh interval); fresh=1, or an end a duration ago, analyses the store as it is."""
    from dashboard.api import page_filters
    s = Store.open(":memory:")
    try:
        load_demo(s, orders=2)
        app = create_app(s, refresh_ms=60_000)
        client = app.server.test_client()
        first = client.get("/api/analysis?since=all").get_json()
        before = first["summary"]["span_count"]
        load_demo(s, orders=1)  # (new spans, within the refresh interval)
        cached = client.get("/api/analysis").get_json()  # (no since: every span, "all")
        assert cached["summary"]["span_count"] == before
        # the page's own window shares that answer
        assert client.get("/api/analysis?since=all&fresh=0").get_json() == cached
        now = client.get("/api/analysis?since=all&fresh=1").get_json()
        assert now["summary"]["span_count"] > before
        moving = client.get("/api/analysis?since=all&until=1s").get_json()
        assert moving["summary"]["span_count"] == now["summary"]["span_count"]
        assert client.get("/api/analysis?fresh=maybe").status_code == 400
    finally:
        s.close()
    assert page_filters("15M", None, "x") == {"window": "15m", "from": None, "to": None,
                                               "service": "x"}
    assert page_filters("0", "", None)["window"] == "all"
    assert page_filters("2024-05-01T00:00:00Z", "2024-05-02", None) == {
        "window": "range", "from": "2024-05-01T00:00:00Z", "to": "2024-05-02",
        "service": None}
    assert page_filters(None, "5m", None) is None
    assert page_filters("1h", "2024-05-02", None) is None


def test_api_element_gives_a_node_or_an_edge_as_the_map_panel_does(app: Any):
    client = app.server.test_client()
    analysis = client.get("/api/analysis?since=all").get_json()
    edge = max(analysis["edges"], key=lambda e: e["count"])
    got = client.get("/api/element", query_string={"id": edge["id"], "since": "all"})
    assert got.status_code == 200
    detail = got.get_json()
    # (the pages' own answer: the map's count for the edge, and the panel's other stats)
    assert detail == app.deps.edge(edge["id"], {"window": "all"})
    assert detail["count"] == edge["count"] and detail["p95_ms"] == edge["p95_ms"]
    assert "timeseries" in detail and detail["slowest_trace_ids"]
    node = client.get("/api/element", query_string={"id": edge["source"], "fresh": "1"})
    assert node.status_code == 200 and node.get_json()["type"] == edge["source"].split(":")[0]
    for bad in ({"id": "nonsense"}, {}, {"id": edge["id"], "since": "yesterday"},
                {"id": edge["id"], "window": "all"}):
        r = client.get("/api/element", query_string=bad)
        assert r.status_code == 400 and r.get_json()["error"], bad


def test_a_request_interrupted_by_a_stopping_server_answers_503(store: Store):
    from choreoscope.store import Interrupted
    from dashboard.deps import AnalyzerAPI

    def interrupted(*_a: Any, **_k: Any) -> Any:
        raise Interrupted("INTERRUPT Error: Interrupted!")

    real = AnalyzerAPI.default()
    app = create_app(store, refresh_ms=60_000, analyzer_api=AnalyzerAPI(
        analyze=interrupted, flow_for_trace=real.flow_for_trace, edge_detail=real.edge_detail))
    r = app.server.test_client().get("/api/analysis?since=all")
    assert r.status_code == 503 and "stopping" in r.get_json()["error"]


def test_token_auth_guards_pages_callbacks_and_api(store: Store):
    app = create_app(store, refresh_ms=60_000, auth_token="s3cret")
    client = app.server.test_client()
    for path in ("/api/health", "/map", "/_dash-layout", "/_dash-dependencies",
                 "/assets/style.css"):
        r = client.get(path)
        assert r.status_code == 401, path
    assert client.get("/api/health").get_json()["error"].startswith("authentication")
    assert client.get("/api/health", headers={"Authorization": "Bearer wrong"}
                      ).status_code == 401
    assert client.get("/api/health", headers={"Authorization": "Bearer s3cret"}
                      ).status_code == 200
    # A browser opens a page with ?token=..., gets an HttpOnly cookie and a clean URL.
    r = client.get("/flows?window=all&token=s3cret")
    assert r.status_code == 303
    assert r.headers["Location"].endswith("/flows?window=all")
    cookie = r.headers["Set-Cookie"]
    assert f"{COOKIE}={cookie_value('s3cret')}" in cookie and "HttpOnly" in cookie
    assert "s3cret" not in cookie
    for path in ("/flows", "/_dash-layout", "/api/health"):
        assert client.get(path).status_code == 200, path
    other = app.server.test_client()
    other.set_cookie(COOKIE, "forged")
    assert other.get("/map").status_code == 401
    assert other.get("/map?token=nope").status_code == 401
