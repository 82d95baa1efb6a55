"""Save a PNG of every dashboard page, made from the sample (demo) data, for the README.

    python -m dashboard.screenshots --out docs/screenshots

Loads ``sample_traces/data/<scenario>.jsonl`` into a temporary store, serves the dashboard on
a free port and drives headless Chromium (``/usr/bin/chromium`` + ``chromedriver``) through
the pages, waiting for each page's data before taking its picture.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from choreoscope.store import Store
from collector.decode import decode_request
from collector.otlp_json import parse_json_request
from dashboard.params import build_query

ROOT = Path(__file__).resolve().parent.parent
CHROMEDRIVER = "/usr/bin/chromedriver"


def load_scenario(store: Store, name: str) -> int:
    """Write a sample scenario (OTLP JSON Lines) into ``store``; returns spans stored."""
    stored = 0
    with open(ROOT / "sample_traces" / "data" / f"{name}.jsonl", "rb") as fh:
        for line in fh:
            if line.strip():
                stored += store.write(decode_request(parse_json_request(line))).stored
    return stored


def headless_chromium(width: int, height: int, *, hide_scrollbars: bool = True,
                      console_log: bool = False) -> Any:
    """A headless Chromium (the system's, through chromedriver) for screenshots, the
    dashboard benchmark's page timings and the browser tests.

    Its profile lives in a temporary directory that ``driver.quit()`` removes: Chromium
    writes ~16 MB there, and one left behind per run adds up in ``/tmp``.
    ``console_log`` keeps the page's console messages for ``driver.get_log("browser")``.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", f"--window-size={width},{height}"]
    if hide_scrollbars:
        flags.append("--hide-scrollbars")
    for flag in flags:
        opts.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="choreoscope-chrome-")
    opts.add_argument(f"--user-data-dir={profile}")
    if console_log:
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    except BaseException:
        shutil.rmtree(profile, ignore_errors=True)
        raise
    quit_browser = driver.quit

    def quit_and_remove_profile() -> None:
        try:
            quit_browser()
        finally:
            shutil.rmtree(profile, ignore_errors=True)

    driver.quit = quit_and_remove_profile
    return driver


def _wait(fn: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception:
            pass
        time.sleep(0.25)
    raise TimeoutError("page did not render in time")


def pages(analysis: dict[str, Any], flow_of: Callable[[str], dict[str, Any] | None]) \
        -> list[tuple[str, str, str]]:
    """``(file name, path with query, CSS selector that appears once data is shown)``."""
    q = {"window": "all"}
    slow = max(analysis["edges"], key=lambda e: e.get("queue_p95_ms") or 0)
    flow = analysis["flows"][0]
    example = flow["example_trace_ids"][0]
    # In the flow view, open the span that waited longest in a queue on the critical path.
    instance = flow_of(example) or {"spans": []}
    waited = [s for s in instance["spans"] if s.get("on_critical_path")]
    span = max(waited, key=lambda s: s.get("queue_wait_ms") or 0)["span_id"] if waited else None
    return [
        ("map.png", "/map" + build_query({**q, "select": slow["id"]}), "#map-detail-body"),
        ("flows.png", f"/flows/{flow['id']}" + build_query(q), "#fl-detail-body"),
        ("flow.png", f"/flow/{example}" + build_query({**q, "span": span}), "#span-panel"),
        ("bottlenecks.png", "/bottlenecks" + build_query(q), "#bn-list"),
        ("search.png", "/search" + build_query({**q, "attr_key": "messaging.system",
                                                "attr_value": "kafka", "min_ms": "1000"}),
         ".results table"),
    ]


def take(out: Path, scenario: str = "choreography", width: int = 1500, height: int = 1000) \
        -> list[Path]:
    """Write one PNG per page into ``out``; returns their paths."""
    from selenium.webdriver.common.by import By

    from dashboard.server import start_ui

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="choreoscope-shots-") as tmp:
        store = Store.open(Path(tmp) / "shots.duckdb")
        ui = None
        driver = None
        try:
            load_scenario(store, scenario)
            ui = start_ui(store, port=0, refresh_ms=60_000)
            analysis = ui.app.deps.analysis({"window": "all"})
            driver = headless_chromium(width, height)
            saved = []
            for name, path, ready in pages(analysis, ui.app.deps.flow):
                driver.get(ui.url.rstrip("/") + path)
                _wait(lambda: driver.find_element(By.CSS_SELECTOR, ready))
                if name == "flow.png":  # open the details of the first span on the path
                    _wait(lambda: driver.execute_script(
                        "const g = document.querySelector('#fv-waterfall .js-plotly-plot');"
                        "return g && g.data && g.data.length;"))
                time.sleep(1.5)  # let cytoscape and plotly finish drawing
                target = out / name
                driver.save_screenshot(str(target))
                saved.append(target)
            return saved
        finally:
            if driver is not None:
                driver.quit()
            if ui is not None:
                ui.shutdown()
            store.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--scenario", default="choreography",
                    choices=["choreography", "orchestration", "hybrid"])
    ap.add_argument("--width", type=int, default=1500)
    ap.add_argument("--height", type=int, default=1000)
    args = ap.parse_args(argv)
    for p in take(Path(args.out), args.scenario, args.width, args.height):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
