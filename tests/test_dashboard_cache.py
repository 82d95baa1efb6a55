"""The dashboard's per-app analysis cache: fresh, stale-while-revalidate, one compute per key."""

import threading
import time

import pytest

from dashboard.cache import RevalidatingCache


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_fresh_values_are_reused_and_keys_are_separate():
    calls = []
    cache = RevalidatingCache(lambda k: calls.append(k) or f"v{len(calls)}", ttl_s=5,
                              clock=Clock())
    assert cache.get("a") == "v1"
    assert cache.get("a") == "v1"
    assert cache.get("b") == "v2"
    assert calls == ["a", "b"]


def test_stale_value_is_served_while_one_refresh_runs_in_the_background():
    clock = Clock()
    spawned = []
    n = {"i": 0}

    def compute(key):
        n["i"] += 1
        return n["i"]

    cache = RevalidatingCache(compute, ttl_s=5, stale_s=60, clock=clock, spawn=spawned.append)
    assert cache.get("k") == 1
    clock.t = 10  # past the TTL, within the stale limit
    assert cache.get("k") == 1  # stale value at once...
    assert cache.get("k") == 1
    assert len(spawned) == 1  # ...and exactly one refresh scheduled
    spawned[0]()
    assert cache.get("k") == 2
    clock.t = 100  # past the stale limit: the caller waits for a fresh value
    assert cache.get("k") == 3
    assert len(spawned) == 1


def test_failed_refresh_keeps_the_stale_value_and_allows_another_try():
    clock = Clock()
    spawned = []
    state = {"fail": False, "n": 0}

    def compute(key):
        if state["fail"]:
            raise RuntimeError("db busy")
        state["n"] += 1
        return state["n"]

    cache = RevalidatingCache(compute, ttl_s=1, stale_s=30, clock=clock, spawn=spawned.append)
    cache.get("k")
    clock.t = 2
    state["fail"] = True
    assert cache.get("k") == 1
    spawned.pop()()  # the refresh fails quietly
    assert cache.get("k") == 1
    assert len(spawned) == 1  # a new refresh was scheduled after the failure
    clock.t = 100
    with pytest.raises(RuntimeError):
        cache.get("k")


def test_concurrent_callers_share_one_computation():
    started = threading.Event()
    count = {"n": 0}

    def slow(key):
        count["n"] += 1
        started.set()
        time.sleep(0.2)
        return key * 2

    cache = RevalidatingCache(slow, ttl_s=30)
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(21))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [42] * 6
    assert count["n"] == 1


def test_least_recently_used_entries_are_evicted():
    calls = []
    cache = RevalidatingCache(lambda k: calls.append(k) or k, ttl_s=100, max_entries=2,
                              clock=Clock())
    cache.get(1)
    cache.get(2)
    cache.get(1)  # 1 is now the most recent
    cache.get(3)  # evicts 2
    cache.get(1)
    cache.get(2)
    assert calls == [1, 2, 3, 2]


def test_slow_computations_stay_fresh_longer():
    clock = Clock()
    spawned = []

    def compute(key):
        clock.t += 10.0  # the computation itself takes 10 s
        return clock.t

    cache = RevalidatingCache(compute, ttl_s=5, stale_s=20, clock=clock, spawn=spawned.append,
                              duty=4)
    first = cache.get("k")
    clock.t += 30  # past the TTL, but within 4 x the 10 s it took
    assert cache.get("k") == first and spawned == []
    clock.t += 15  # 45 s old: stale, refreshed in the background (stale limit is 3 x 40 s)
    assert cache.get("k") == first and len(spawned) == 1


# ---------------------------------------------------------------- windows sharing one analysis
def _orders_store(base_ns: int):
    from tests.builders import SpanSet

    b = SpanSet(base_ns=base_ns)
    for i in range(5):
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=i * 1000)
        pub = b.producer("orders", "order-placed", parent=root, start_ms=i * 1000 + 2,
                         message_id=f"m{i}")
        b.consumer("billing", "order-placed", link=pub, start_ms=i * 1000 + 40,
                   message_id=f"m{i}")
    return b.store()


def test_presets_reaching_past_the_oldest_span_share_the_all_analysis():
    from dashboard.deps import AnalyzerAPI, Deps

    base = 1_700_000_000 * 10**9
    now = base + 30 * 60 * 10**9  # the oldest span started 30 minutes ago
    store = _orders_store(base)
    calls = []

    def analyze(_store, since_ns=None, until_ns=None, service=None, now_ns=None):
        assert now_ns == now  # (the dashboard's clock is the analysis' present)
        calls.append((since_ns, until_ns, service))
        return {"since_ns": since_ns}

    deps = Deps(store, AnalyzerAPI(analyze, lambda *_: None, lambda *_: {}),
                clock_ns=lambda: now)
    for window in ("1h", "6h", "all", "24h"):
        deps.analysis({"window": window})
    assert calls == [(None, None, None)]  # computed once, for every span
    deps.analysis({"window": "15m"})  # starts after the oldest span: a narrower set
    assert calls[-1] == (now - 15 * 60 * 10**9, None, None)
    deps.analysis({"window": "1h", "service": "billing"})
    deps.analysis({"window": "all", "service": "billing"})
    assert calls[-1] == (None, None, "billing") and len(calls) == 3
    store.close()


def test_a_window_covering_every_span_gives_the_same_analysis_as_all():
    # The premise of sharing: with the real analyzer, only the echoed bounds differ.
    import analyzer

    base = 1_700_000_000 * 10**9
    store = _orders_store(base)
    whole = analyzer.analyze(store).to_dict()
    hour = analyzer.analyze(store, since_ns=base - 3600 * 10**9).to_dict()
    assert hour["summary"].pop("since_ns") == base - 3600 * 10**9
    assert whole["summary"].pop("since_ns") is None
    hour.pop("timings", None), whole.pop("timings", None)
    assert hour == whole and whole["edges"]
    store.close()


# ------------------------------------------------------------ final values of an unchanged store
def test_a_final_value_is_kept_while_the_store_is_unchanged():
    clock, spawned, calls = Clock(), [], []
    store = {"version": 1}
    cache = RevalidatingCache(lambda k: calls.append(k) or len(calls), ttl_s=5, stale_s=60,
                              clock=clock, spawn=spawned.append,
                              version=lambda: store["version"], final=lambda k, _v: k == "all")
    assert cache.get("all") == 1 and cache.get("1h") == 2
    clock.t = 3600  # an hour later, far past the stale limit
    assert cache.get("all") == 1 and spawned == []  # kept: nothing changed
    assert cache.get("1h") == 3  # not final: computed again, as before
    store["version"] = 2  # a write: the hour-old value is past the stale limit
    assert cache.get("all") == 4
    assert calls == ["all", "1h", "1h", "all"]


def test_a_value_computed_while_the_store_changes_is_not_kept():
    clock, store = Clock(), {"version": 1}

    def compute(key):
        store["version"] += 1  # a write lands while the analysis runs
        return "v"

    cache = RevalidatingCache(compute, ttl_s=5, stale_s=60, clock=clock,
                              version=lambda: store["version"], final=lambda *_: True)
    cache.get("all")
    clock.t = 3600
    cache.get("all")
    assert cache.computations == 2


def _settled_deps(store, now_ns):
    from dashboard.deps import AnalyzerAPI, Deps

    clock = Clock()
    deps = Deps(store, AnalyzerAPI.default(), clock_ns=lambda: now_ns, clock=clock)
    return deps, clock


def test_a_store_nobody_writes_to_is_analysed_once_per_window():
    """A file of traces loaded to be explored: its whole window, opened again an hour later,
    is the analysis already made, until a span is written."""
    from collector.decode import decode_request
    from tests.builders import SpanSet

    base = 1_700_000_000 * 10**9
    store = _orders_store(base)
    deps, clock = _settled_deps(store, now_ns=base + 3600 * 10**9)
    first = deps.analysis({"window": "all"})
    assert first["summary"]["flows_under_way"] == 0 and first["edges"]
    clock.t = 3600
    assert deps.analysis({"window": "all"}) is first
    # (a service chosen an hour on: on the window's staging, kept as the store is unchanged;
    # its analysis is as final as the window's)
    billing = deps.analysis({"window": "all", "service": "billing"})
    clock.t += 3600
    assert deps.analysis({"window": "all", "service": "billing"}) is billing
    assert deps.analyses.computations == 2
    ranged = {"window": "range", "from": "2023-11-14T22:00:00Z", "to": "2023-11-14T23:00:00Z"}
    deps.analysis(ranged)
    clock.t += 3600
    deps.analysis(ranged)
    assert deps.analyses.computations == 3
    b = SpanSet(base_ns=base + 60 * 10**9)
    b.span("orders", "GET /health", kind="SERVER")
    store.write(decode_request(b.request()))
    assert deps.analysis({"window": "all"})["summary"]["span_count"] == \
        first["summary"]["span_count"] + 1
    store.close()


def test_a_window_with_a_flow_under_way_is_not_kept_however_still_the_store():
    """A publish at the window's end may yet be delivered (a flow under way): as the clock
    moves on, the same spans give another analysis, so it is computed again."""
    from tests.builders import SpanSet

    base = 1_700_000_000 * 10**9  # (the analysis' present is the dashboard's clock_ns)
    b = SpanSet(base_ns=base)
    for i in range(3):
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=i * 1000)
        pub = b.producer("orders", "order-placed", parent=root, start_ms=i * 1000 + 2)
        if i < 2:
            b.consumer("billing", "order-placed", parent=pub, start_ms=i * 1000 + 40)
    store = b.store()
    deps, clock = _settled_deps(store, now_ns=base + 3 * 10**9)  # 1 s after the last publish
    assert deps.analysis({"window": "all"})["summary"]["flows_under_way"] == 1
    clock.t = 3600
    deps.analysis({"window": "all"})
    assert deps.analyses.computations == 2
    store.close()


# ----------------------------------------------------------------------- warmed at start-up
def _wait_for_computations(deps, n: int) -> None:
    deadline = time.monotonic() + 30
    while deps.analyses.computations < n and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # (and no more than n)
    assert deps.analyses.computations == n


def test_the_first_page_of_a_store_younger_than_the_default_window_is_warm():
    """The default hour reaches past the oldest span, so its page asks for the analysis of
    every span: that is the one warmed at start-up (it warmed the hour's own key, which no
    page asks for, and the first page load paid a cold analysis all the same)."""
    from dashboard.app import create_app

    store = _orders_store(time.time_ns() - 600 * 10**9)  # spans from 10 minutes ago
    deps = create_app(store).deps
    _wait_for_computations(deps, 1)
    deps.analysis({"window": "1h"})
    deps.analysis({"window": "all"})
    assert deps.analyses.computations == 1
    store.close()


def test_a_store_older_than_the_default_window_has_all_its_spans_warmed():
    """A trace file loaded hours after it was recorded: the default hour is empty, and the
    analysis of every span, which that empty page offers, is warmed too."""
    from dashboard.app import create_app

    store = _orders_store(time.time_ns() - 3 * 3600 * 10**9)
    deps = create_app(store).deps
    _wait_for_computations(deps, 2)
    assert deps.analysis({"window": "1h"})["summary"]["span_count"] == 0
    assert deps.analysis({"window": "all"})["summary"]["span_count"] == 15
    assert deps.analyses.computations == 2
    store.close()
