"""DuckDB's worker threads follow the store's readers: one for the writer alone, all for reads.

Why: the writer's small appends and commits lose to a second DuckDB thread on a busy
2-core machine, while an analysis needs every core (see ``choreoscope.store._ReadParallelism``).
"""

from __future__ import annotations

import threading

from choreoscope.store import Store
from collector.decode import decode_request
from tests.builders import SpanSet


def _threads(store: Store) -> int:
    # The setting is global to the database: any connection sees the current value.
    return int(store._conn.execute("SELECT current_setting('threads')").fetchone()[0])


def test_writer_alone_runs_on_one_thread_and_readers_get_all_of_them(tmp_path):
    store = Store.open(tmp_path / "t.duckdb", threads=3)
    try:
        assert _threads(store) == 1
        with store.cursor() as a:
            assert int(a.execute("SELECT current_setting('threads')").fetchone()[0]) == 3
            with store.cursor():  # a second reader keeps them, and so does its exit
                pass
            assert _threads(store) == 3
        assert _threads(store) == 1
        # Writes still work on one thread and are seen by the next reader.
        ss = SpanSet()
        ss.span("svc", "op")
        store.write(decode_request(ss.request()))
        assert store.count_spans() == 1
        assert _threads(store) == 1
    finally:
        store.close()


def test_concurrent_readers_leave_one_thread_only_when_the_last_is_done(tmp_path):
    store = Store.open(tmp_path / "t.duckdb", threads=2)
    inside = threading.Barrier(5)
    release = threading.Event()
    seen: list[int] = []

    def reader() -> None:
        with store.cursor() as cur:
            inside.wait()
            seen.append(int(cur.execute("SELECT current_setting('threads')").fetchone()[0]))
            release.wait()

    try:
        ts = [threading.Thread(target=reader) for _ in range(4)]
        for t in ts:
            t.start()
        inside.wait()
        release.set()
        for t in ts:
            t.join()
        assert seen == [2, 2, 2, 2]
        assert _threads(store) == 1
    finally:
        store.close()


def test_a_read_only_store_keeps_every_thread(tmp_path):
    Store.open(tmp_path / "t.duckdb").close()
    ro = Store.open(tmp_path / "t.duckdb", read_only=True, threads=2)
    try:
        assert _threads(ro) == 2
    finally:
        ro.close()
