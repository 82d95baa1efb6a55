"""The dashboard in real headless Chromium, on a store loaded with the choreography scenario.

Few and end to end: what the unit tests can't see is whether the pages actually render and
react in a browser. Skipped only when chromedriver is absent (CI installs it).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from choreoscope.store import Store
from collector.decode import decode_request
from collector.otlp_json import parse_json_request
from dashboard.demo import SCRIPT_TEXT, demo_span_id, demo_trace_ids, load_demo
from dashboard.screenshots import CHROMEDRIVER, headless_chromium
from dashboard.server import UIServer, start_ui
from sample_traces import ground_truth
from tests.builders import SpanSet

SAMPLE = Path(__file__).resolve().parent.parent / "sample_traces" / "data" / "choreography.jsonl"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMEDRIVER),
                       reason=f"{CHROMEDRIVER} not installed (apt-get install chromium-driver)"),
]


def chrome(width: int = 1500, height: int = 1000) -> Any:
    """A headless Chromium that keeps the page's console log; ``quit()`` removes its
    profile directory."""
    driver = headless_chromium(width, height, hide_scrollbars=False, console_log=True)
    driver.set_page_load_timeout(30)
    return driver


def wait_for(fn: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``fn`` until it returns something truthy (exceptions count as not yet)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as exc:  # element not there yet, stale, ...
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last error: {last!r})")


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    db = tmp_path_factory.mktemp("ui") / "browser.duckdb"
    store = Store.open(db)
    with open(SAMPLE, "rb") as fh:
        for line in fh:
            if line.strip():
                store.write(decode_request(parse_json_request(line)))
    load_demo(store, orders=3)  # adds the <script> attribute and a linked 3-trace flow
    # (live refresh every second: the pages must stay usable while it ticks)
    server = start_ui(store, port=0, refresh_ms=1000)
    try:
        yield server
    finally:
        server.shutdown()
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = chrome()
    try:
        yield driver
    finally:
        driver.quit()


def settled_map(browser: Any) -> None:
    """Wait until the map's viewport stops moving (its layout has fitted the graph)."""
    view = ("const c = document.querySelector('#map-graph');"
            "const reg = c && (c._cyreg || (c.firstChild || {})._cyreg);"
            "if (!reg || reg.cy.nodes().empty()) return null;"
            "return [reg.cy.zoom(), reg.cy.pan().x, reg.cy.pan().y];")
    seen: list[Any] = []

    def still() -> bool:
        seen.append(browser.execute_script(view))
        return len(seen) >= 3 and seen[-1] is not None and seen[-1] == seen[-2] == seen[-3]

    wait_for(still, what="the map to settle")


def page(ui: UIServer, path: str) -> str:
    sep = "&" if "?" in path else "?"
    return ui.url.rstrip("/") + path + sep + "window=all"


def test_flow_map_shows_the_scenarios_services_and_topics(ui: UIServer, browser: Any) -> None:
    browser.get(page(ui, "/map"))
    truth = ground_truth.CHOREOGRAPHY
    want = {n.split(":", 1)[1] for n in truth["services"]} | \
        {n.split(":", 1)[1] for n in truth["topics"]}

    def labels() -> set[str]:
        return set(browser.execute_script(
            "const c = document.querySelector('#map-graph');"
            "const cy = c && (c._cyreg || (c.firstChild || {})._cyreg);"
            "return cy ? cy.cy.nodes().map(n => n.data('label')) : [];"))

    got = wait_for(lambda: labels() if want <= labels() else None, what="map nodes")
    assert want <= got
    # node shapes by type
    shapes = browser.execute_script(
        "const c = document.querySelector('#map-graph');"
        "const cy = (c._cyreg || c.firstChild._cyreg).cy;"
        "return Object.fromEntries(cy.nodes().map(n => [n.data('label'), n.style('shape')]));")
    assert shapes["order-service"] == "round-rectangle"
    assert shapes["order.placed"] == "rhomboid"
    # Live refresh leaves a page whose data did not change alone: the same table elements
    # stay in the document (not rebuilt under a user reading or selecting them), and the
    # user's zoom and pan of the map stay.
    view = "const cy = (c => c._cyreg || c.firstChild._cyreg)(" \
        "document.querySelector('#map-graph')).cy;"
    settled_map(browser)
    browser.execute_script(view + "cy.zoom(1.7); cy.pan({x: 11, y: 22});"
                           "window.edgeTable = document.querySelector('#map-edges table');")
    time.sleep(3.5)  # three ticks or more
    assert browser.execute_script(view + "return [cy.zoom(), cy.pan().x, cy.pan().y,"
                                  "window.edgeTable.isConnected];") == [1.7, 11, 22, True]
    # ... and shows what arrives: a new service appears without a reload.
    late = SpanSet()
    root = late.span("late-service", "GET /late", kind="SERVER")
    late.client_call("late-service", "order-service", parent=root)
    ui.app.deps.store.write(decode_request(late.request()))
    wait_for(lambda: "late-service" in labels(), timeout=30, what="the new service")


def test_clicking_an_edge_shows_its_stats(ui: UIServer, browser: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    edge_id = "topic:payment.completed->service:logistics-service"
    analysis = ui.app.deps.analysis({"window": "all"})
    count = next(e["count"] for e in analysis["edges"] if e["id"] == edge_id)
    browser.get(page(ui, "/map"))
    settled_map(browser)
    # Click the edge where cytoscape draws it on the canvas.
    point = wait_for(lambda: browser.execute_script(
        "const c = document.querySelector('#map-graph');"
        "const reg = c._cyreg || (c.firstChild || {})._cyreg; if (!reg) return null;"
        "const e = reg.cy.getElementById(arguments[0]); if (e.empty()) return null;"
        "const m = e.renderedMidpoint(); const box = reg.cy.container().getBoundingClientRect();"
        "return [m.x, m.y, box.width, box.height];", edge_id), what="edge on the canvas")
    canvas = browser.find_element(By.CSS_SELECTOR, "#map-graph")
    x, y, w, h = point
    ActionChains(browser).move_to_element_with_offset(canvas, x - w / 2, y - h / 2).click() \
        .perform()
    panel = wait_for(lambda: browser.find_element(By.ID, "map-detail-body"),
                     what="the stats panel")
    assert wait_for(lambda: f"{count:,}" in panel.text, what="the edge's count")
    assert "p95" in panel.text and "queue p95" in panel.text
    assert f"select={edge_id}".replace(">", "%3E").replace(":", "%3A") in browser.current_url
    # The accessible edge table selects the same way.
    other = "service:order-service->topic:order.placed"
    other_count = next(e["count"] for e in analysis["edges"] if e["id"] == other)
    row = browser.find_element(By.CSS_SELECTOR, f"button[title='{other}']")
    row.click()
    assert wait_for(lambda: f"{other_count:,}" in browser.find_element(
        By.ID, "map-detail-body").text and "order.placed" in browser.find_element(
        By.ID, "map-detail-body").text, what="the other edge's stats")


def test_flow_waterfall_joins_the_traces_of_a_flow(ui: UIServer, browser: Any) -> None:
    from urllib.parse import urlencode

    from selenium.webdriver.common.by import By

    ids = demo_trace_ids(3)
    # Found by search: the results are one Markdown table (dashboard.components.md_table)
    # whose links open the flow view without reloading the app (assets/links.js).
    browser.get(page(ui, "/search?" + urlencode({"attr_key": "payment.note",
                                                 "attr_value": SCRIPT_TEXT})))
    rows = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#s-table tbody tr"),
                    what="search results")
    assert len(rows) == 3
    links = {a.text: a for a in browser.find_elements(By.CSS_SELECTOR, "#s-table a")}
    assert set(links) == {t[:16] for t in ids["payment"]}
    browser.execute_script("window.stillHere = true")
    links[ids["payment"][1][:16]].click()

    def traces_in_figure() -> set[str]:
        return set(browser.execute_script(
            "const g = document.querySelector('#fv-waterfall .js-plotly-plot');"
            "if (!g || !g.data) return [];"
            "return g.data.filter(t => t.type === 'bar')"
            "  .flatMap(t => t.customdata.map(c => c[1]));"))

    got = wait_for(lambda: traces_in_figure() if len(traces_in_figure()) >= 3 else None,
                   what="bars from three traces")
    assert f"/flow/{ids['payment'][1]}" in browser.current_url
    assert browser.execute_script("return window.stillHere") is True  # no reload
    assert got == {ids["order"][1], ids["payment"][1], ids["shipping"][1]}
    header = browser.find_element(By.ID, "fv-traces").text
    assert all(t in header for t in got)
    assert "3 traces joined" in browser.find_element(By.ID, "fv-trace-count").text
    # The header's download link gives the flow's spans, every trace of it, as OTLP/JSON.
    link = browser.find_element(By.ID, "fv-download")
    assert link.text == "Download OTLP/JSON"
    assert link.get_attribute("download") == f"flow-{min(got)}.json"
    browser.set_script_timeout(20)
    doc = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(document.getElementById('fv-download').href)"
        "  .then(r => r.json()).then(done, e => done(String(e)));")
    assert {sp["traceId"] for rs in doc["resourceSpans"] for ss in rs["scopeSpans"]
            for sp in ss["spans"]} == got
    # Clicking a bar opens that span's details and puts it in the URL.
    from selenium.webdriver.common.action_chains import ActionChains

    bar = browser.find_element(By.CSS_SELECTOR, "#fv-waterfall .bars path")
    ActionChains(browser).move_to_element(bar).click().perform()  # plotly's drag layer
    panel = wait_for(lambda: browser.find_element(By.ID, "span-panel"), what="span details")
    assert "trace id" in panel.text
    assert wait_for(lambda: "span=" in browser.current_url, what="span in the URL")
    # A flow of the sample scenario renders too, and joins more than one trace.
    flow = ui.app.deps.analysis({"window": "all"})["flows"][0]
    browser.get(page(ui, f"/flow/{flow['example_trace_ids'][0]}"))
    assert len(wait_for(lambda: traces_in_figure() if len(traces_in_figure()) > 1 else None,
                        what="a multi-trace sample flow")) > 1


def test_span_attribute_with_markup_is_shown_as_text(ui: UIServer, browser: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    ids = demo_trace_ids(3)
    span = demo_span_id("payment-0", "process orders")
    browser.get(page(ui, f"/flow/{ids['payment'][0]}?span={span}"))
    panel = wait_for(lambda: browser.find_element(By.ID, "span-panel"), what="span panel")
    cell = wait_for(lambda: next(td for td in panel.find_elements(By.CSS_SELECTOR, "td")
                                 if td.text == SCRIPT_TEXT), what="the attribute as text")
    assert cell.get_attribute("innerHTML") == "&lt;script&gt;alert(1)&lt;/script&gt;"
    injected = browser.execute_script(
        "return [...document.querySelectorAll('script')].filter("
        "s => s.textContent.includes('alert(1)')).length;")
    assert injected == 0
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text
    # Links are followable both ways: this consumer's producer is one click away.
    link = panel.find_element(By.CSS_SELECTOR, "a.follow-link")
    assert "order-service" in link.text and ids["order"][0] in link.get_attribute("href")

