"""The store's single writer: one thread, one write connection, group commit.

Every write goes through :meth:`Writer.submit`, which queues it for the writer thread. The
writer drains whatever is queued and appends it in one transaction (group commit): many
concurrent exports share one fsync, so durability costs little throughput. A submitter's
future resolves only after COMMIT returned, which is what lets the collector acknowledge
an export only once it is durable.

Why one transaction at a time: appending the next group on a second connection while the
previous one commits was measured (bench/RESULTS.md, "Ingest"): no more spans per second
and about a fifth more CPU per span: on two cores already busy decoding and appending, a
second transaction added work instead of filling idle time.
"""

from __future__ import annotations

import atexit
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from choreoscope.envelopes import Prepared, span_keys

# A group commit stops collecting more batches past this many spans, to bound the memory
# and latency of one transaction.
MAX_GROUP_SPANS = 50_000

# Envelope ids the writer remembers as stored, per table; a table holding more is not read
# at start, and the shapes it learns past this are forgotten (span names with ids in them
# make a shape per span).
MAX_KNOWN_IDS = 100_000


class _Envelope(NamedTuple):
    """One envelope table and how the writer fills it."""

    id_col: str        # content-hash id column
    attr: str          # the Prepared attribute holding a batch's rows
    view: str          # name the rows are registered under for insert_sql
    insert_sql: str    # named query: insert the rows not stored yet
    table: str
    ids_sql: str       # named query: the ids stored (read at start)


_ENVELOPES = (
    _Envelope("resource_id", "resources", "_batch_resources", "insert_batch_resources",
              "resources", "stored_resource_ids"),
    _Envelope("scope_id", "scopes", "_batch_scopes", "insert_batch_scopes", "scopes",
              "stored_scope_ids"),
    _Envelope("shape_id", "shapes", "_batch_shapes", "insert_batch_shapes", "span_shapes",
              "stored_shape_ids"),
)

_STOP = object()

# Writers whose thread is running. The thread is a daemon (a forgotten store must not keep
# the process alive), and it checkpoints when it goes idle: if the interpreter exits while
# it is inside DuckDB, the thread is torn down mid-call and the process aborts ("terminate
# called without an active exception"). So at exit every running writer is stopped first.
_RUNNING: "set[Writer]" = set()
_RUNNING_LOCK = threading.Lock()


@atexit.register
def _stop_running_writers() -> None:
    with _RUNNING_LOCK:
        writers = list(_RUNNING)
    for w in writers:
        w.stop()


@dataclass(frozen=True)
class WriteResult:
    """What one submitted batch turned into once committed."""

    stored: int       # new spans written
    duplicates: int   # spans already stored (exporter retries) and skipped


class Writer:
    """Owns the write connection and the thread that uses it."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, queries: dict[str, str],
                 exclusive: bool = False) -> None:
        """``exclusive``: no other process writes this database (a local DuckDB file, which
        DuckDB locks), so the envelope ids read at start stay complete."""
        self._conn = conn
        self._q = queries
        self._queue: "queue.Queue[Any]" = queue.Queue()
        # Envelope ids known to be stored (writer thread only), and whether that is every id
        # the table holds: then a new id can be appended without asking the table.
        self._known: dict[str, set[int]] = {e.id_col: set() for e in _ENVELOPES}
        self._exact: dict[str, bool] = {e.id_col: False for e in _ENVELOPES}
        if exclusive:
            self._load_known()
        self._columns_of: dict[str, list[str]] = {}
        self.commits = 0  # write transactions committed (observability of group commit)
        # ... and any other write run (retention, checkpoints): what readers that keep
        # results ask to know whether the data may have changed (Store.version)
        self.version = 0
        self._thread = threading.Thread(target=self._run, name="choreoscope-writer",
                                        daemon=True)
        with _RUNNING_LOCK:
            _RUNNING.add(self)
        self._thread.start()

    # ------------------------------------------------------------------------ interface
    def submit(self, batch: Prepared) -> "Future[WriteResult]":
        """Queue a prepared batch; the future resolves after its COMMIT."""
        fut: "Future[WriteResult]" = Future()
        self._queue.put(("batch", batch, fut))
        return fut

    def run(self, fn: Callable[[duckdb.DuckDBPyConnection], Any],
            transaction: bool = True) -> "Future[Any]":
        """Run ``fn(conn)`` on the writer thread, in a transaction unless told otherwise."""
        fut: "Future[Any]" = Future()
        self._queue.put(("fn" if transaction else "fn_bare", fn, fut))
        return fut

    @property
    def pending(self) -> int:
        """Number of writes waiting for the writer thread."""
        return self._queue.qsize()

    def stop(self) -> None:
        """Write and commit everything queued, then stop the thread. Idempotent."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    # ------------------------------------------------------------------------ the loop
    def _run(self) -> None:
        try:
            self._write_loop()
        finally:
            with _RUNNING_LOCK:
                _RUNNING.discard(self)

    def _write_loop(self) -> None:
        conn = self._conn
        dirty = False
        while True:
            try:
                # Idle for a moment with uncheckpointed writes: fold the WAL in now, while
                # nobody waits, rather than inside a later commit.
                item = self._queue.get(timeout=1.0 if dirty else None)
            except queue.Empty:
                try:
                    conn.execute("CHECKPOINT")
                except duckdb.Error:
                    pass  # e.g. a reader holds an old snapshot; the next idle moment retries
                dirty = False
                continue
            if item is _STOP:
                return
            dirty = True
            group = [item]
            spans = _span_count(item)
            stop = False
            while spans < MAX_GROUP_SPANS:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                group.append(nxt)
                spans += _span_count(nxt)
            batches = [g for g in group if g[0] == "batch"]
            if batches:
                self._write_batches(batches)
            for kind, fn, fut in (g for g in group if g[0] != "batch"):
                self._run_fn(fn, fut, bare=kind == "fn_bare")
            if stop:
                return

    def _run_fn(self, fn: Callable[[duckdb.DuckDBPyConnection], Any], fut: "Future[Any]",
                bare: bool) -> None:
        conn = self._conn
        self.version += 1  # (before: a failed bare fn may have changed something)
        try:
            if not bare:
                conn.execute("BEGIN")
            out = fn(conn)
            if not bare:
                conn.execute("COMMIT")
            fut.set_result(out)
        except Exception as exc:
            if not bare:
                _rollback(conn)
            fut.set_exception(exc)

    def _write_batches(self, batches: list[Any]) -> None:
        try:
            results = self._insert([b[1] for b in batches])
        except Exception as exc:
            if len(batches) == 1:
                batches[0][2].set_exception(exc)
                return
            # One bad batch must not fail its neighbours: each on its own, in order.
            for _, batch, fut in batches:
                try:
                    fut.set_result(self._insert([batch])[0])
                except Exception as exc1:
                    fut.set_exception(exc1)
            return
        for (_, _, fut), res in zip(batches, results):
            fut.set_result(res)

    def _insert(self, batches: list[Prepared]) -> list[WriteResult]:
        """Insert batches in one transaction, skipping spans already stored or repeated.

        Duplicates are rare (exporter retries), so the common path is a cheap key probe and
        a straight Arrow insert; only when the probe finds some do we filter in Arrow.
        """
        total = sum(b.rows for b in batches)
        if total == 0:
            return [WriteResult(0, 0) for _ in batches]
        conn, q = self._conn, self._q
        spans = _concat([b.spans for b in batches])
        events = _concat([b.events for b in batches])
        links = _concat([b.links for b in batches])
        lo = min(b.lo for b in batches if b.rows)
        hi = max(b.hi for b in batches if b.rows)
        # Resources, scopes and shapes repeat across exports; skip the ones this writer
        # already stored (their SQL still skips rows stored before a restart).
        envelopes = {e.id_col: _new_rows([getattr(b, e.attr) for b in batches], e.id_col,
                                         self._known[e.id_col])
                     for e in _ENVELOPES}
        conn.execute("BEGIN")
        try:
            conn.register("_batch_spans", spans)
            try:
                stored_dups = conn.execute(q["stored_duplicate_keys"],
                                           {"lo": lo, "hi": hi}).to_arrow_table()
            finally:
                conn.unregister("_batch_spans")
            keep = _first_unseen(spans, stored_dups)
            if keep is not None:
                spans = spans.filter(keep)
                new_keys = span_keys(spans)
                events = events.filter(pc.is_in(span_keys(events), new_keys))
                links = links.filter(pc.is_in(span_keys(links), new_keys))
            for e in _ENVELOPES:
                table = envelopes[e.id_col]
                if not table.num_rows:
                    continue
                if self._exact[e.id_col]:
                    # every stored id is in _known, so these rows are new: a plain append
                    # (~1 ms less per commit than the NOT EXISTS insert)
                    conn.from_arrow(table.select(self._columns(e.table))).insert_into(e.table)
                    continue
                conn.register(e.view, table)
                try:
                    conn.execute(q[e.insert_sql])
                finally:
                    conn.unregister(e.view)
            # Span rows, events and links are plain appends: the relational insert costs
            # about 1.5 ms less per table and commit than register + INSERT ... SELECT.
            for table, target in ((spans, "span_rows"), (events, "span_events"),
                                  (links, "span_links")):
                if table.num_rows:
                    conn.from_arrow(table.select(self._columns(target))).insert_into(target)
            conn.execute("COMMIT")
        except Exception:
            _rollback(conn)
            raise
        self.commits += 1
        self.version += 1
        if len(self._known["shape_id"]) > MAX_KNOWN_IDS:
            # Span names with ids in them make a shape per span; forget rather than grow
            # without bound (the SQL still skips shapes already stored).
            self._known["shape_id"].clear()
            self._exact["shape_id"] = False
        for e in _ENVELOPES:
            self._known[e.id_col].update(envelopes[e.id_col].column(e.id_col).to_pylist())
        return _attribute(batches, total - spans.num_rows)

    def _load_known(self) -> None:
        """Read the envelope ids already stored, when there are few enough to remember.

        This runs before the writer thread starts, and every later write goes through this
        writer, so a table read here stays exactly known until its set is cleared."""
        for e in _ENVELOPES:
            ids = self._conn.execute(self._q[e.ids_sql], {"limit": MAX_KNOWN_IDS + 1}).fetchall()
            if len(ids) > MAX_KNOWN_IDS:
                continue
            self._known[e.id_col] = {r[0] for r in ids}
            self._exact[e.id_col] = True

    def _columns(self, table: str) -> list[str]:
        """The columns of ``table`` in schema order (positional appends need it)."""
        cols = self._columns_of.get(table)
        if cols is None:
            cols = self._columns_of[table] = self._conn.table(table).columns
        return cols


def _attribute(batches: list[Prepared], duplicates: int) -> list[WriteResult]:
    """Attribute duplicates to batches in order: exact when a batch commits alone (the usual
    case under low load), and the totals are always exact."""
    results = []
    remaining = duplicates
    for b in batches:
        d = min(b.rows, remaining)
        remaining -= d
        results.append(WriteResult(b.rows - d, d))
    return results


def _copy_keys(table: pa.Table) -> pa.Array:
    """What makes two span rows copies of one span: trace id, span id and start time.

    A retry repeats a span byte for byte. Two spans that only share their ids are two spans:
    Zipkin's instrumentation (Brave, Sleuth) gives an RPC's server span its client span's id
    by default (B3's "join"), and both must be kept, whichever export they arrive in.
    """
    return pc.binary_join_element_wise(
        span_keys(table), pc.cast(table.column("start_time_unix_nano"), pa.string()), ":")


def _first_unseen(spans: pa.Table, stored: pa.Table) -> pa.ChunkedArray | None:
    """A mask keeping the first copy of each span not already stored; None if all are new."""
    keys = _copy_keys(spans)
    if stored.num_rows == 0 and pc.count_distinct(keys).as_py() == spans.num_rows:
        return None
    idx = pa.table({"k": keys, "i": pa.array(range(spans.num_rows), pa.int64())})
    first = idx.group_by("k", use_threads=False).aggregate([("i", "min")]).column("i_min")
    mask = pc.is_in(pa.array(range(spans.num_rows), pa.int64()), first)
    if stored.num_rows:
        mask = pc.and_(mask, pc.invert(pc.is_in(keys, _copy_keys(stored))))
    return mask


def _new_rows(tables: list[pa.Table], id_col: str, known: set[int]) -> pa.Table:
    """Rows whose id is neither in ``known`` nor repeated earlier in ``tables``."""
    keep: list[pa.Table] = []
    seen: set[int] = set()
    for t in tables:
        if not t.num_rows:
            continue
        ids = t.column(id_col).to_pylist()
        rows = [i for i, v in enumerate(ids) if v not in seen and v not in known]
        seen.update(ids)
        if rows:
            keep.append(t.take(pa.array(rows, pa.int64())))
    return pa.concat_tables(keep) if keep else tables[0].slice(0, 0)


def _concat(tables: list[pa.Table]) -> pa.Table:
    tables = [t for t in tables if t.num_rows] or tables[:1]
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _rollback(conn: duckdb.DuckDBPyConnection) -> None:
    try:
        conn.execute("ROLLBACK")
    except duckdb.Error:
        pass


def _span_count(item: Any) -> int:
    return item[1].rows if item[0] == "batch" else 0
