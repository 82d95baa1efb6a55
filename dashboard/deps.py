"""What the dashboard's callbacks depend on, handed to every page's ``register`` function.

The store and the analyzer's functions are given to :func:`dashboard.app.create_app` and
closed over here; nothing is a module global, so two apps on two stores can live in one
process (tests do that). Analyses are cached per filter for about one refresh interval (see
:mod:`dashboard.cache`): every page of every open browser tab reads the same result.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterator, Mapping

from dashboard.cache import Dated, RevalidatingCache, StagedWindows
from dashboard.params import Window, filter_key, fixed_bounds, resolve_window


@dataclass
class AnalyzerAPI:
    """The analyzer functions the dashboard calls (see ``analyzer/``)."""

    analyze: Callable[..., Any]
    flow_for_trace: Callable[[Any, str], dict | None]
    edge_detail: Callable[..., dict]
    # (store, since_ns, until_ns) -> a window staged once, ``.analyze(service)`` per filter
    # (analyzer.StagedWindow); None: every analysis stages its window afresh
    stage_window: Callable[..., Any] | None = None
    # (store, trace_id) -> the flow's stored spans as an OTLP/JSON document, or None
    flow_otlp: Callable[[Any, str], dict | None] | None = None
    # (store, since_ns, until_ns) -> the window's traces as OTLP/JSON documents
    window_otlp: Callable[..., Iterator[dict]] | None = None

    @classmethod
    def default(cls) -> "AnalyzerAPI":
        """The real analyzer package."""
        import analyzer
        from analyzer.export import flow_otlp, window_otlp

        return cls(analyze=analyzer.analyze, flow_for_trace=analyzer.flow_for_trace,
                   edge_detail=analyzer.edge_detail, stage_window=analyzer.StagedWindow,
                   flow_otlp=flow_otlp, window_otlp=window_otlp)


def _to_dict(result: Any) -> dict[str, Any]:
    return result.to_dict() if hasattr(result, "to_dict") else dict(result)


@dataclass
class Deps:
    """The store, the analyzer, and the caches built on them, for one app instance."""

    store: Any
    analyzer: AnalyzerAPI
    refresh_ms: int = 5000
    clock_ns: Callable[[], int] = time.time_ns
    clock: Callable[[], float] = time.monotonic  # (the analysis and flow caches' ages)
    analyses: RevalidatingCache[dict] = field(init=False)
    flows: RevalidatingCache[dict | None] = field(init=False)
    staged: StagedWindows = field(init=False)
    _oldest: tuple[float, int | None] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        ttl = max(self.refresh_ms / 1000.0, 1.0)
        # (a page waiting for an analysis not cached may get it from the window's kept
        # staging however old; it is then as old as that staging, and refreshed in the
        # background from a new one: dashboard.cache)
        self.analyses = RevalidatingCache(
            lambda key: self._compute_analysis(key, waiting=True), ttl_s=ttl,
            stale_s=ttl * 12, version=lambda: self.store.version, final=self._final_analysis,
            clock=self.clock, refresh=lambda key: self._compute_analysis(key, waiting=False))
        self.flows = RevalidatingCache(self._compute_flow, ttl_s=ttl, stale_s=ttl * 12,
                                       max_entries=64, clock=self.clock)
        self.staged = StagedWindows(self.store, self.analyzer.stage_window, fresh_s=ttl,
                                    keep_s=ttl * 12, clock=self.clock)

    # ------------------------------------------------------------------------ resolution
    def window(self, filters: Mapping[str, str | None]) -> Window:
        """The nanosecond bounds of the filters' window, as of now."""
        return resolve_window(filters.get("window"), filters.get("from"), filters.get("to"),
                              now_ns=self.clock_ns())

    def analysis(self, filters: Mapping[str, str | None]) -> dict[str, Any]:
        """``analyze(...).to_dict()`` for the filters (cached; see module docstring)."""
        w = self.window(filters)  # raise ParamError here, not in a background thread
        return self.analyses.get(self._shared_key(filter_key(filters), w))

    def warm(self, filters: Mapping[str, str | None]) -> None:
        """Compute in the background the analysis a first visit with ``filters`` will ask
        for (under the key it shares with "all" when it reaches past the oldest span), and
        when that window holds none of the store's spans (a trace file loaded hours after
        it was recorded), the analysis of them all that its empty page offers."""
        def run() -> None:
            try:
                first = self.analysis(filters)
                if not (first.get("summary") or {}).get("span_count") \
                        and self._oldest_start() is not None:
                    self.analysis({"window": "all"})
            except Exception:
                pass  # (the page asking next computes it again and shows the error)
        threading.Thread(target=run, daemon=True, name="dashboard-warm").start()

    def flow(self, trace_id: str) -> dict[str, Any] | None:
        """``flow_for_trace`` for a trace id (cached briefly; flows may still be growing)."""
        return self.flows.get(trace_id)

    def flow_otlp(self, trace_id: str) -> dict[str, Any] | None:
        """The stored spans of the flow containing ``trace_id`` as an OTLP/JSON document
        (read now, not cached: a download), None if none is stored."""
        if self.analyzer.flow_otlp is None:
            raise LookupError("this dashboard's analyzer exports no flows")
        return self.analyzer.flow_otlp(self.store, trace_id)

    def window_otlp(self, w: Window) -> Iterator[dict[str, Any]]:
        """Every trace with a span that started in the window, whole, as OTLP/JSON
        documents (read in one snapshot as they are consumed)."""
        if self.analyzer.window_otlp is None:
            raise LookupError("this dashboard's analyzer exports no windows")
        return self.analyzer.window_otlp(self.store, w.since_ns, w.until_ns)

    def edge(self, element_id: str, filters: Mapping[str, str | None]) -> dict[str, Any]:
        """``edge_detail`` of a node or edge under the filters (not cached: one per click).

        An edge of a window whose staging is kept (the map shown was analysed on it) is
        read from that staging: the same hop instances as the map's edge, so the panel's
        count, percentiles, queue time and examples are the map's own, in milliseconds,
        even on a store written to since.
        Otherwise (a node, or no staging kept for the window) the spans are read: a second
        reading of the analysis' rules, which may differ from the map by the odd span
        the staged stages treat otherwise, and which keeps the traces that touch a filtered
        service rather than their whole flows."""
        w = self.window(filters)
        service = filters.get("service")
        if "->" in element_id and self.analyzer.stage_window is not None:
            window, since, until, _ = self._shared_key(filter_key(filters), w)
            d = self.staged.detail((window, since, until), element_id, service)
            if d is not None:
                return d
        return self.edge_now(element_id, w, service)

    def analysis_now(self, w: Window, service: str | None,
                     now_ns: int | None = None) -> dict[str, Any]:
        """The analysis of the window's spans as the store holds them now (not cached);
        ``now_ns`` (default: ``clock_ns()``) is its present."""
        return _to_dict(self.analyzer.analyze(
            self.store, since_ns=w.since_ns, until_ns=w.until_ns, service=service,
            now_ns=self.clock_ns() if now_ns is None else now_ns))

    def edge_now(self, element_id: str, w: Window, service: str | None) -> dict[str, Any]:
        """``edge_detail`` read from the window's spans (no staging, not cached)."""
        return self.analyzer.edge_detail(self.store, element_id, w.since_ns, w.until_ns,
                                         service)

    def forget(self) -> None:
        """Forget every cached analysis and flow and the kept staging: the next ask
        computes afresh from the store as it is now."""
        self.analyses.invalidate()
        self.flows.invalidate()
        self.staged.close()

    # ------------------------------------------------------------------------- internals
    def _shared_key(self, key: tuple[str | None, ...], w: Window) -> tuple[str | None, ...]:
        """The cache key of the analysis that answers ``key``.

        A preset window ("last 6 hours") that reaches back past the oldest stored span
        selects every span, exactly as "all" does, and an open-ended window's rates use
        the spans' own time extent: the two analyses are identical, so they share one
        cache entry. Switching between such presets (every preset, on a store younger than
        the default hour) shows the already computed analysis instead of waiting seconds
        for a big store's cold one.
        """
        window, _, _, service = key
        if fixed_bounds(window):
            return key
        oldest = self._oldest_start()
        if w.since_ns is not None and w.until_ns is None and oldest is not None \
                and oldest >= w.since_ns:
            return ("all", None, None, service)
        return key

    def _oldest_start(self) -> int | None:
        """The oldest stored span's start, re-read at most once per refresh interval."""
        now = time.monotonic()
        if self._oldest is None or now - self._oldest[0] > self.refresh_ms / 1000.0:
            self._oldest = (now, self.store.query_rows("time_range")[0][0])
        return self._oldest[1]

    def _compute_analysis(self, key: Hashable, waiting: bool) -> dict[str, Any] | Dated[dict]:
        window, since, until, service = key  # type: ignore[misc]
        now = self.clock_ns()  # (the window's and the analysis' present alike)
        w = resolve_window(window, since, until, now_ns=now)
        if self.analyzer.stage_window is None:
            return self.analysis_now(w, service, now)
        # (fixed bounds: the same spans for as long as the store does not change)
        result, staged_at = self.staged.analyze_dated(
            (window, since, until), w, service, fixed=fixed_bounds(window),
            stale_ok=waiting, now_ns=now)
        # (None: as current as a new staging)
        return _to_dict(result) if staged_at is None else Dated(_to_dict(result), staged_at)

    def _final_analysis(self, key: Hashable, value: Mapping[str, Any]) -> bool:
        """Whether an analysis stays right for as long as the store does not change: a
        window of fixed bounds (every span, or a range) in which nothing waits on the clock,
        no flow under way at its end and no publish too recent to tell whether anything
        consumed it (those settle as time passes). A range that ended in the past waits on
        nothing: its end is its own, not the present's."""
        window, since, until, _ = key  # type: ignore[misc]
        if not fixed_bounds(window):
            return False
        now = self.clock_ns()
        w = resolve_window(window, since, until, now_ns=now)
        if w.until_ns is not None and w.until_ns <= now:
            return True
        summary = value.get("summary") or {}
        return not summary.get("flows_under_way") and not any(
            a.get("pending") for a in value.get("anomalies") or ())

    def _compute_flow(self, key: Hashable) -> dict[str, Any] | None:
        return self.analyzer.flow_for_trace(self.store, str(key))
