"""A small per-key result cache with stale-while-revalidate, owned by one app instance.

Analysing a big store takes seconds, but every page and every refresh tick wants the analysis
of the current window. So the app keeps the last result per filter key: within ``ttl_s`` it is
returned as is; after that the stale result is still returned at once while one background
thread recomputes it (up to ``stale_s``, after which callers wait for a fresh one). Pages stay
fast and the numbers are at most one refresh interval plus one analysis old.

An analysis that takes longer than the refresh interval would otherwise run back to back and
keep a core busy forever, so a value also stays fresh for ``duty`` times as long as it took
to compute: at most about 1/duty of one core goes to background refreshes.

A value that is ``final`` (the caller says which: an analysis of fixed bounds with nothing
left pending) stays fresh for as long as the store's ``version`` has not changed, however
old: on a store nobody writes to (a file of traces loaded to be explored) a big window is
analysed once, not again each time its page is opened after the stale limit.

Someone waiting for a value the cache does not hold (a service chosen on a big window) may
be given an older one fast: ``compute`` may answer from the window's kept staging however
old, returning it as :class:`Dated`; the value then counts from that time, so it is
refreshed in the background (by ``refresh``, which stages afresh) at the next ask.

Below that cache, :class:`StagedWindows` keeps the last window's staged tables, so choosing
a service filter on the window shown costs the analysis's last stages only, and a click on
one of its edges reads that edge's hop instances from them.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Generic, Hashable, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Dated(Generic[T]):
    """What a computation returns when its value is made of data older than the computation:
    the value, and when that data dates from (the cache's clock)."""

    value: T
    at: float


@dataclass
class _Entry(Generic[T]):
    value: T
    at: float          # clock() when the value was computed
    cost: float = 0.0  # seconds the computation took
    refreshing: bool = False
    version: Hashable | None = None  # the store's version when the computation began
    final: bool = False  # the same for as long as that version is the store's


class RevalidatingCache(Generic[T]):
    """Cache ``compute(key)`` results; thread-safe, one computation per key at a time."""

    def __init__(self, compute: Callable[[Hashable], T | Dated[T]], ttl_s: float,
                 stale_s: float = 60.0,
                 max_entries: int = 16, clock: Callable[[], float] = time.monotonic,
                 spawn: Callable[[Callable[[], None]], None] | None = None,
                 duty: float = 4.0, version: Callable[[], Hashable | None] | None = None,
                 final: Callable[[Hashable, T], bool] | None = None,
                 refresh: Callable[[Hashable], T | Dated[T]] | None = None) -> None:
        self._compute = compute
        self._refresh = refresh or compute  # (how a background refresh computes)
        # (the store's version, None where it cannot tell; whether a value is final)
        self._version = version or (lambda: None)
        self._final = final or (lambda _key, _value: False)
        self.ttl_s = ttl_s
        self.stale_s = max(stale_s, ttl_s)
        self._max = max_entries
        self.duty = duty
        self._clock = clock
        # How background refreshes run: a daemon thread, or whatever a test passes in.
        self._spawn = spawn or _thread_spawn
        self._entries: "OrderedDict[Hashable, _Entry[T]]" = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self.computations = 0  # how many times compute ran (tests, diagnostics)

    def get(self, key: Hashable) -> T:
        """The cached value for ``key``: fresh, stale while refreshing, or computed now."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                if self._unchanged(entry):
                    return entry.value
                age = now - entry.at
                fresh_for = self._fresh_for(entry)
                if age < fresh_for:
                    return entry.value
                if age < max(self.stale_s, fresh_for * 3):
                    if not entry.refreshing:
                        entry.refreshing = True
                        self._spawn_refresh(key)
                    return entry.value
        return self._compute_locked(key)

    def _fresh_for(self, entry: "_Entry[T]") -> float:
        return max(self.ttl_s, entry.cost * self.duty)

    def _unchanged(self, entry: "_Entry[T]") -> bool:
        """A final value of a store that has not changed since it was computed."""
        return entry.final and entry.version is not None and entry.version == self._version()

    def invalidate(self) -> None:
        """Forget every cached value."""
        with self._lock:
            self._entries.clear()

    # ------------------------------------------------------------------------- internals
    def _spawn_refresh(self, key: Hashable) -> None:
        self._spawn(lambda: self._safe_compute(key))

    def _safe_compute(self, key: Hashable) -> None:
        try:
            self._compute_locked(key, force=True)
        except Exception:
            # A failed refresh keeps the stale value; the next caller past stale_s will see
            # the error itself, raised by its own synchronous computation.
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    entry.refreshing = False

    def _compute_locked(self, key: Hashable, force: bool = False) -> T:
        with self._lock:
            klock = self._key_locks.setdefault(key, threading.Lock())
        with klock:
            if not force:
                # Someone else may have computed it while we waited for the key lock.
                with self._lock:
                    entry = self._entries.get(key)
                    if entry is not None and (self._unchanged(entry) or self._clock() - entry.at
                                              < self._fresh_for(entry)):
                        return entry.value
            # (the version before computing: a write while it runs makes the value older)
            version, started = self._version(), self._clock()
            result = (self._refresh if force else self._compute)(key)
            value, dated = (result.value, result.at) if isinstance(result, Dated) \
                else (result, None)
            # (made of older data: as old as that, and no version describes it)
            older = dated is not None and dated < started
            final = not older and self._final(key, value)
            with self._lock:
                self.computations += 1
                done = self._clock()
                self._entries[key] = _Entry(value, dated if older else done,
                                            cost=done - started,
                                            version=None if older else version, final=final)
                self._entries.move_to_end(key)
                while len(self._entries) > self._max:
                    old, _ = self._entries.popitem(last=False)
                    self._key_locks.pop(old, None)
            return value


def _thread_spawn(fn: Callable[[], None]) -> None:
    threading.Thread(target=fn, daemon=True, name="dashboard-refresh").start()


@dataclass
class _Staged:
    key: Hashable      # the window's filter key (window, from, to)
    window: Any        # analyzer.StagedWindow
    at: float          # clock() when its staging started
    version: int | None  # Store.version then
    users: int = 0     # analyses running on it
    used: float = 0.0  # clock() of the last use
    retired: bool = False  # replaced: closed once its last user is done


class StagedWindows:
    """The last staged analysis window, kept so that a service filter on it skips the
    staging (``analyzer.StagedWindow``: most of a cold analysis; bench/RESULTS.md).

    It answers for its window while younger than ``fresh_s`` (the refresh interval: a page's
    numbers are that old at most anyway), or, for a window of fixed bounds, for as long as
    the store has not changed (``Store.version``). Only one is kept, its tables holding
    ~0.3 GB per 1M spans, and it is dropped after ``keep_s`` without use. One staging runs
    at a time, so two filters of a new window asked at once stage it once. A window
    replaced while an analysis still runs on it is closed when that analysis ends.
    """

    def __init__(self, store: Any, stage: Callable[..., Any] | None, fresh_s: float,
                 keep_s: float, clock: Callable[[], float] = time.monotonic,
                 timer: Callable[[float, Callable[[], None]], None] | None = None) -> None:
        self._store = store
        self._stage = stage
        self.fresh_s = fresh_s
        self.keep_s = keep_s
        self._clock = clock
        self._timer = timer or _daemon_timer  # how expire() gets called later (tests: none)
        self._lock = threading.Lock()  # guards _entry and every entry's users
        self._staging = threading.Lock()
        self._entry: _Staged | None = None
        self._expiry_pending = False
        self.stagings = 0  # how many windows were staged (tests, diagnostics)

    def analyze(self, key: Hashable, window: Any, service: str | None,
                fixed: bool) -> Any:
        """The analysis of ``window`` (resolved bounds of ``key``) for ``service``, on the
        kept staging if it answers for ``key``, else on a new one that is then kept."""
        return self.analyze_dated(key, window, service, fixed)[0]

    def analyze_dated(self, key: Hashable, window: Any, service: str | None, fixed: bool,
                      stale_ok: bool = False,
                      now_ns: int | None = None) -> tuple[Any, float | None]:
        """:meth:`analyze`, and, when it was made on a staging that no longer answers for
        the window but was used all the same (``stale_ok``: someone is waiting, and a
        service chosen on the window shown gets its flows at once, from the spans the map
        was drawn from, rather than after a new staging), the clock time that staging
        began; None when the analysis is as current as :meth:`analyze`'s. ``now_ns`` is
        the analysis' present (``analyzer.analyze``'s; None: the clock's)."""
        entry, stale = self._acquire(key, window, fixed, stale_ok)
        try:
            return entry.window.analyze(service, now_ns=now_ns), (entry.at if stale else None)
        finally:
            self._release(entry)

    def detail(self, key: Hashable, element_id: str, service: str | None) -> Any | None:
        """One edge's detail read from the kept staging of ``key``'s window
        (``analyzer.StagedWindow.detail``), else None: a click never stages a window, the
        caller reads the spans instead. The kept staging is the one the window's latest
        analysis was made on, the map on screen, however old: its edge's numbers are the
        ones the map shows, where the spans of a store still written to have moved on."""
        with self._lock:
            e = self._entry
            if e is None or e.key != key or e.window.closed:
                return None
            e.users += 1
        try:
            return e.window.detail(element_id, service)
        finally:
            self._release(e)

    def expire(self) -> None:
        """Drop the kept window if unused for ``keep_s``; else check again when it may be."""
        with self._lock:
            self._expiry_pending = False
            e = self._entry
            if e is None:
                return
            idle = self._clock() - e.used
            if e.users == 0 and idle >= self.keep_s:
                self._entry = None
            else:
                self._schedule_locked(max(self.keep_s - idle, 0.1))
                return
        e.window.close()

    def close(self) -> None:
        """Drop the kept window (its last user closes it if one is running)."""
        with self._lock:
            e, self._entry = self._entry, None
        if e is not None:
            self._retire(e)

    # ------------------------------------------------------------------------- internals
    def _answers(self, e: _Staged, key: Hashable, fixed: bool) -> bool:
        if e.key != key or e.window.closed:
            return False
        if self._clock() - e.at < self.fresh_s:
            return True
        return fixed and e.version is not None and e.version == self._store.version

    def _acquire(self, key: Hashable, window: Any, fixed: bool,
                 stale_ok: bool = False) -> tuple[_Staged, bool]:
        """The staging to analyse ``key``'s window on, and whether it is one that no
        longer answers for it, taken because ``stale_ok``."""
        with self._staging:
            with self._lock:
                e = self._entry
                if e is not None and self._answers(e, key, fixed):
                    e.users += 1
                    return e, False
                if stale_ok and e is not None and e.key == key and not e.window.closed:
                    e.users += 1
                    return e, True
            # (the version before staging: a write while it runs makes it older, not newer)
            version, at = self._store.version, self._clock()
            new = _Staged(key, self._stage(self._store, window.since_ns, window.until_ns),
                          at, version, users=1, used=at)
            with self._lock:
                old, self._entry = self._entry, new
                self.stagings += 1
                self._schedule_locked(self.keep_s)
        if old is not None:
            self._retire(old)
        return new, False

    def _release(self, e: _Staged) -> None:
        with self._lock:
            e.users -= 1
            e.used = self._clock()
            done = e.retired and e.users == 0
        if done:
            e.window.close()

    def _retire(self, e: _Staged) -> None:
        with self._lock:
            e.retired = True
            done = e.users == 0
        if done:
            e.window.close()

    def _schedule_locked(self, delay: float) -> None:
        if not self._expiry_pending:
            self._expiry_pending = True
            self._timer(delay, self.expire)


def _daemon_timer(delay: float, fn: Callable[[], None]) -> None:
    t = threading.Timer(delay, fn)
    t.daemon = True
    t.start()
