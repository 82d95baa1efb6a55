"""A small per-key result cache with stale-while-revalidate, owned by one app instance.

Analysing a big store takes seconds, but every page and every refresh tick wants the analysis
of the current window. So the app keeps the last result per filter key: within ``ttl_s`` it is
returned as is; after that the stale result is still returned at once while one background
thread recomputes it (up to ``stale_s``, after which callers wait for a fresh one). Pages stay
fast and the numbers are at most one refresh interval plus one analysis old.

An analysis that takes longer than the refresh interval would otherwise run back to back and
keep a core busy forever, so a value also stays fresh for ``duty`` times as long as it took
to compute: at most about 1/duty of one core goes to background refreshes.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Generic, Hashable, TypeVar

T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    value: T
    at: float          # clock() when the value was computed
    cost: float = 0.0  # seconds the computation took
    refreshing: bool = False


class RevalidatingCache(Generic[T]):
    """Cache ``compute(key)`` results; thread-safe, one computation per key at a time."""

    def __init__(self, compute: Callable[[Hashable], T], ttl_s: float, stale_s: float = 60.0,
                 max_entries: int = 16, clock: Callable[[], float] = time.monotonic,
                 spawn: Callable[[Callable[[], None]], None] | None = None,
                 duty: float = 4.0) -> None:
        self._compute = compute
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

    def prefetch(self, key: Hashable) -> None:
        """Start computing ``key`` in the background (warms the cache at start-up)."""
        self._spawn(lambda: self._safe_compute(key))

    def _fresh_for(self, entry: "_Entry[T]") -> float:
        return max(self.ttl_s, entry.cost * self.duty)

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
                    if entry is not None and self._clock() - entry.at < self._fresh_for(entry):
                        return entry.value
            started = self._clock()
            value = self._compute(key)
            with self._lock:
                self.computations += 1
                done = self._clock()
                self._entries[key] = _Entry(value, done, cost=done - started)
                self._entries.move_to_end(key)
                while len(self._entries) > self._max:
                    old, _ = self._entries.popitem(last=False)
                    self._key_locks.pop(old, None)
            return value


def _thread_spawn(fn: Callable[[], None]) -> None:
    threading.Thread(target=fn, daemon=True, name="dashboard-refresh").start()
