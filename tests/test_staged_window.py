"""A window staged once and analysed per service filter (analyzer.StagedWindow), the store's
kept read sessions it lives on, and the dashboard's policy for keeping it (StagedWindows).

Why: the staging is most of a cold analysis and no service filter changes it, so choosing a
service on the window shown should cost only the analysis's last stages.
"""

from __future__ import annotations

import json
import threading

import pytest

from analyzer import StagedWindow, analyze
from choreoscope.store import Interrupted, Store
from collector.decode import decode_request
from collector.otlp_json import parse_json_request
from dashboard.cache import StagedWindows
from dashboard.params import Window
from sample_traces import ground_truth as gt
from tests.builders import SpanSet


def _load(scenario: str, path=":memory:") -> Store:
    st = Store.open(path)
    with open(gt.data_path(scenario), "rb") as fh:
        for line in fh:
            if line.strip():
                st.write(decode_request(parse_json_request(line)))
    return st


def _json(a) -> str:
    d = a.to_dict()
    d.pop("timings", None)
    return json.dumps(d, sort_keys=True, default=str)


@pytest.fixture(scope="module")
def hybrid():
    st = _load("hybrid")
    yield st
    st.close()


def _services(store: Store) -> list[str]:
    return sorted(n["id"].split(":", 1)[1] for n in analyze(store).to_dict()["nodes"]
                  if n["type"] == "service")


# ------------------------------------------------------------------------ read sessions
def test_a_read_session_keeps_its_temp_tables_and_reads_only_while_in_use(tmp_path):
    store = Store.open(tmp_path / "s.duckdb", threads=2)
    try:
        s = store.session()
        with s.use() as cur:
            cur.execute("CREATE TEMP TABLE kept AS SELECT 42 AS x")
            assert store._readers == {cur}
        assert store._readers == set()  # idle: not a reader (the writer keeps one thread)
        assert int(store._conn.execute("SELECT current_setting('threads')").fetchone()[0]) == 1
        with s.use() as cur:
            assert cur.execute("SELECT x FROM kept").fetchone() == (42,)
        s.close()
        with pytest.raises(Interrupted):
            with s.use():
                pass
    finally:
        store.close()


def test_closing_the_store_closes_its_idle_sessions_and_refuses_new_ones(tmp_path):
    store = Store.open(tmp_path / "s.duckdb")
    s = store.session()
    with s.use() as cur:
        cur.execute("CREATE TEMP TABLE kept AS SELECT 1")
    store.close()
    assert s.closed
    with pytest.raises(Interrupted):
        with s.use():
            pass
    with pytest.raises(Interrupted):
        store.session()


def test_the_store_version_changes_with_every_write_and_is_unknown_for_no_store(tmp_path):
    store = Store.open(tmp_path / "v.duckdb")
    try:
        v0 = store.version
        b = SpanSet()
        b.span("svc", "op")
        store.write(decode_request(b.request()))
        v1 = store.version
        assert v1 != v0
        store.delete_before(0).result()  # a retention run may delete: a change too
        assert store.version != v1
    finally:
        store.close()


# ------------------------------------------------------------------------ StagedWindow
def test_each_service_on_one_staged_window_equals_its_own_analysis(hybrid):
    services = _services(hybrid)
    assert len(services) >= 4
    with StagedWindow(hybrid) as w:
        # filters in any order, the unfiltered one between and after: the staged tables
        # come back from each filter as they were
        for service in [services[2], None, *services, None]:
            assert _json(w.analyze(service)) == _json(analyze(hybrid, service=service)), \
                service


def test_a_staged_window_with_bounds_equals_the_windowed_analysis(hybrid):
    whole = analyze(hybrid).to_dict()["summary"]
    mid = (whole["start_ns"] + whole["end_ns"]) // 2
    service = _services(hybrid)[0]
    with StagedWindow(hybrid, mid, None) as w:
        got = w.analyze(service)
        assert _json(got) == _json(analyze(hybrid, since_ns=mid, service=service))
        assert got.summary["since_ns"] == mid
        assert "analyzer_hops" not in got.timings  # only the stages after the staging ran
        assert "analyzer_hops" in w.timings


# what an edge's detail says of it, by the names the analysis' edge uses
_SAME = ("count", "error_count", "error_rate", "rate_per_s", "p50_ms", "p95_ms", "p99_ms",
         "queue_p50_ms", "queue_p95_ms", "queue_p99_ms", "message_count", "first_ns",
         "last_ns")


def _as_edge(detail: dict) -> dict:
    got = {k: detail[k] for k in _SAME if k in detail}
    got["example_trace_ids"] = detail["slowest_trace_ids"]
    got["failed_trace_ids"] = detail["failed_trace_ids"]
    return got


def _edge_numbers(edge: dict, detail: dict) -> dict:
    return {k: edge[k] for k in _as_edge(detail)}


def _check_details(w: StagedWindow, a, service=None) -> None:
    """Every edge's detail read from the staging says what the analysis' edge says."""
    assert a.edges
    for e in a.edges:
        d = w.detail(e["id"], service)
        assert (d["type"], d["source"], d["target"]) == (e["type"], e["source"], e["target"])
        assert _as_edge(d) == _edge_numbers(e, d), e["id"]
        assert sum(x["count"] for x in d["timeseries"]) == e["count"]


def test_an_edge_detail_read_from_the_staging_is_the_maps_edge(hybrid):
    services = _services(hybrid)
    with StagedWindow(hybrid) as w:
        whole = w.analyze()
        _check_details(w, whole)
        consume = [e for e in whole.edges if e["type"] == "consume"]
        assert consume and all(w.detail(e["id"])["message_count"] == e["message_count"]
                               for e in consume)
        # a service filter keeps the flows touching it, as the filtered analysis does (the
        # spans' reading keeps the traces that touch it: fewer deliveries of some edges)
        filtered = w.analyze(services[-1])
        _check_details(w, filtered, services[-1])
        assert {e["id"]: e["count"] for e in filtered.edges} != \
            {e["id"]: e["count"] for e in whole.edges}
        # ... and leaves the staging as it was
        assert _json(w.analyze()) == _json(analyze(hybrid))
        with pytest.raises(ValueError):
            w.detail("service:order-service")  # a node: read from the spans
        with pytest.raises(ValueError):
            w.detail("external:x->service:order-service")


def test_edge_details_from_the_staging_agree_with_the_map_on_damaged_traces():
    # (seeds whose damage makes the spans' second reading count one delivery differently)
    from tests.test_analyzer_chaos import _load as load_requests, damaged

    st = load_requests(damaged("hybrid", 22))
    try:
        with StagedWindow(st) as w:
            _check_details(w, w.analyze())
    finally:
        st.close()


def test_a_staged_window_is_a_snapshot_and_closing_it_frees_it(tmp_path):
    store = _load("choreography", tmp_path / "c.duckdb")
    try:
        w = StagedWindow(store)
        before = w.analyze().summary["flow_instance_count"]
        b = SpanSet(base_ns=10**18)
        root = b.span("late-service", "POST /late", kind="SERVER")
        b.producer("late-service", "late.topic", parent=root)
        store.write(decode_request(b.request()))
        again = w.analyze()
        assert again.summary["flow_instance_count"] == before
        assert "service:late-service" not in {n["id"] for n in again.to_dict()["nodes"]}
        assert "service:late-service" in {n["id"] for n in analyze(store).to_dict()["nodes"]}
        w.close()
        assert w.closed
        with pytest.raises(Interrupted):
            w.analyze()
    finally:
        store.close()


# ------------------------------------------------------------ StagedWindows (dashboard)
class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class Counted:
    """The real StagedWindow, with what was staged recorded (and optionally a gate that
    holds an analysis inside it)."""

    def __init__(self):
        self.made: list[StagedWindow] = []
        self.gate: threading.Event | None = None
        self.inside = threading.Event()
        self.details = 0

    def __call__(self, store, since_ns, until_ns):
        w = StagedWindow(store, since_ns, until_ns)
        self.made.append(w)
        outer = self

        class Gated:
            closed = property(lambda _self: w.closed)

            def analyze(self, service, now_ns=None):
                if outer.gate is not None:
                    outer.inside.set()
                    outer.gate.wait(10)
                return w.analyze(service, now_ns=now_ns)

            def detail(self, element_id, service):
                outer.details += 1
                return w.detail(element_id, service)

            def close(self):
                w.close()

        return Gated()


ALL = Window(None, None)


def _kept(store, **kw):
    clock, timers, stage = Clock(), [], Counted()
    kept = StagedWindows(store, stage, fresh_s=5, keep_s=60, clock=clock,
                         timer=lambda delay, fn: timers.append((delay, fn)), **kw)
    return kept, clock, timers, stage


def test_service_filters_on_the_kept_window_skip_its_staging(hybrid):
    kept, clock, _, stage = _kept(hybrid)
    services = _services(hybrid)
    first = kept.analyze(("all",), ALL, None, fixed=True)
    assert _json(first) == _json(analyze(hybrid))
    for i, service in enumerate(services):
        clock.t = 1 + i / 10  # within the refresh interval
        assert _json(kept.analyze(("all",), ALL, service, fixed=True)) == \
            _json(analyze(hybrid, service=service))
    assert kept.stagings == 1 and len(stage.made) == 1
    kept.close()
    assert stage.made[0].closed


def test_a_window_of_fixed_bounds_is_kept_while_the_store_does_not_change(tmp_path):
    store = _load("orchestration", tmp_path / "o.duckdb")
    try:
        kept, clock, _, stage = _kept(store)
        kept.analyze(("all",), ALL, None, fixed=True)
        clock.t = 30  # long past the refresh interval, nothing written: still the same spans
        kept.analyze(("all",), ALL, None, fixed=True)
        assert kept.stagings == 1
        # a window relative to now moves with the clock: staged again
        kept.analyze(("all",), ALL, None, fixed=False)
        assert kept.stagings == 2
        clock.t = 31
        b = SpanSet(base_ns=10**18)
        b.span("late-service", "GET /late", kind="SERVER")
        store.write(decode_request(b.request()))
        clock.t = 40  # written since, and older than the refresh interval: staged again
        got = kept.analyze(("all",), ALL, None, fixed=True)
        assert kept.stagings == 3
        assert "service:late-service" in {n["id"] for n in got.to_dict()["nodes"]}
        assert stage.made[0].closed and stage.made[1].closed and not stage.made[2].closed
        kept.close()
    finally:
        store.close()


def test_an_edge_is_read_from_the_kept_staging_of_its_window_only(tmp_path):
    store = _load("orchestration", tmp_path / "o.duckdb")
    try:
        kept, clock, timers, stage = _kept(store)
        shown = kept.analyze(("1h",), ALL, None, fixed=False)
        edge = shown.edges[0]
        clock.t = 30  # long past the refresh interval: the map on screen is still this one
        b = SpanSet(base_ns=10**18)
        b.span("late-service", "GET /late", kind="SERVER")
        store.write(decode_request(b.request()))
        got = kept.detail(("1h",), edge["id"], None)
        assert got["count"] == edge["count"] and stage.details == 1
        assert kept.detail(("6h",), edge["id"], None) is None  # another window's: none
        assert kept.stagings == 1
        clock.t = 100
        timers.pop()[1]()  # idle past keep_s: dropped, and nothing to read any more
        assert kept.detail(("1h",), edge["id"], None) is None and stage.details == 1
    finally:
        store.close()


def test_another_window_replaces_the_kept_one_and_idle_windows_expire(hybrid):
    kept, clock, timers, stage = _kept(hybrid)
    whole = analyze(hybrid).to_dict()["summary"]
    mid = Window((whole["start_ns"] + whole["end_ns"]) // 2, None)
    kept.analyze(("all",), ALL, None, fixed=True)
    assert _json(kept.analyze(("range", mid.since_ns), mid, None, fixed=True)) == \
        _json(analyze(hybrid, since_ns=mid.since_ns))
    assert kept.stagings == 2 and stage.made[0].closed and not stage.made[1].closed
    # one expiry check is pending; run it before the window was idle for keep_s: it stays
    assert len(timers) == 1
    clock.t = 59
    timers.pop()[1]()
    assert not stage.made[1].closed and len(timers) == 1
    clock.t = 61
    timers.pop()[1]()
    assert stage.made[1].closed and timers == []
    kept.analyze(("all",), ALL, None, fixed=True)  # and is staged again when asked for
    assert kept.stagings == 3


def test_a_window_replaced_while_analysed_is_closed_when_that_analysis_ends(hybrid):
    kept, clock, _, stage = _kept(hybrid)
    kept.analyze(("all",), ALL, None, fixed=True)
    stage.gate = threading.Event()
    out = {}
    t = threading.Thread(target=lambda: out.setdefault(
        "a", kept.analyze(("all",), ALL, _services(hybrid)[0], fixed=True)))
    t.start()
    assert stage.inside.wait(10)
    stage.gate.set()  # (the new window's own analysis must not wait)
    clock.t = 10
    whole = analyze(hybrid).to_dict()["summary"]
    kept.analyze(("range",), Window(whole["start_ns"] + 1, None), None, fixed=True)
    t.join(10)
    assert out["a"].summary["service"] == _services(hybrid)[0]
    assert stage.made[0].closed and not stage.made[1].closed
    kept.close()


def test_the_dashboard_analyses_a_service_on_the_window_it_staged(tmp_path):
    from dashboard.deps import AnalyzerAPI, Deps

    store = _load("hybrid", tmp_path / "h.duckdb")
    try:
        deps = Deps(store, AnalyzerAPI.default(), refresh_ms=60_000)
        service = _services(store)[1]
        deps.analysis({"window": "all"})
        got = deps.analysis({"window": "all", "service": service})
        assert deps.staged.stagings == 1
        want = analyze(store, service=service).to_dict()
        got.pop("timings", None), want.pop("timings", None)
        assert got == want
    finally:
        store.close()


def test_a_click_on_an_edge_reads_the_kept_staging_and_never_stages(tmp_path):
    from analyzer import edge_detail
    from dashboard.deps import AnalyzerAPI, Deps

    store = _load("hybrid", tmp_path / "h.duckdb")
    try:
        deps = Deps(store, AnalyzerAPI.default(), refresh_ms=60_000)
        service = _services(store)[-1]
        f = {"window": "all", "service": service}
        a = deps.analysis(f)
        for e in a["edges"]:
            d = deps.edge(e["id"], f)
            assert _as_edge(d) == _edge_numbers(e, d), e["id"]
        assert deps.staged.stagings == 1
        # a node is read from the spans, as is an edge once no staging is kept (nor is
        # one staged for a click)
        node = next(n["id"] for n in a["nodes"] if n["type"] == "service")
        assert deps.edge(node, f) == edge_detail(store, node, service=service)
        deps.staged.close()
        e = a["edges"][0]["id"]
        assert deps.edge(e, f) == edge_detail(store, e, service=service)
        assert deps.staged.stagings == 1
    finally:
        store.close()


def test_a_service_chosen_on_a_live_window_is_answered_from_its_staging_then_refreshed(
        tmp_path):
    """On a store still written to, the window's staging is soon older than the refresh
    interval. A service chosen then is analysed on it at once (not after a new staging, the
    seconds of a big window's cold analysis); that answer counts as old as the staging, so
    the next ask refreshes it in the background on a new staging, spans written since
    included."""
    import time

    from dashboard.deps import AnalyzerAPI, Deps

    store = _load("hybrid", tmp_path / "h.duckdb")
    try:
        clock = Clock()
        deps = Deps(store, AnalyzerAPI.default(), refresh_ms=5000, clock=clock)
        service = _services(store)[1]
        deps.analysis({"window": "all"})
        b = SpanSet(base_ns=10**18)
        b.span(service, "GET /late", kind="SERVER")
        store.write(decode_request(b.request()))  # (the store moves on)
        clock.t = 20  # the staging is 20 s old: past the refresh interval
        f = {"window": "all", "service": service}
        first = deps.analysis(f)
        assert deps.staged.stagings == 1  # answered from the staging the map was drawn from
        deps.analysis(f)  # stale: served, and refreshed in the background
        deadline = time.monotonic() + 60
        while deps.analyses.computations < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert deps.staged.stagings == 2
        assert deps.analysis(f)["summary"]["span_count"] == first["summary"]["span_count"] + 1
    finally:
        deps.staged.close()
        store.close()
