"""The span store: one DuckDB database, one writer thread, cursors for readers.

Every write goes through :meth:`Store.submit`, which queues the batch for a single writer
thread that owns the write connection. The writer drains whatever is queued, inserts it in
one transaction and commits (group commit): many concurrent exports share one fsync, so
durability costs little throughput. A submitter's future resolves only after COMMIT
returned, which is what lets the collector acknowledge an export only once it is durable.

Readers never touch the write connection: :meth:`Store.cursor` hands out a DuckDB cursor
(its own connection to the same database) that sees committed data.

All SQL comes from ``choreoscope/sql`` (see :mod:`choreoscope.sql`).
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import time
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from choreoscope import migrate
from choreoscope.sql import named_queries, schema_sql

# Bump when schema.sql changes incompatibly; an older or newer file is refused, not migrated
# by guesswork.
SCHEMA_VERSION = 2

# A group commit stops collecting more batches past this many spans, to bound the memory
# and latency of one transaction.
_MAX_GROUP_SPANS = 50_000

# Shape ids the writer remembers as stored; past this it starts again from empty.
_MAX_KNOWN_SHAPES = 100_000


class StoreError(RuntimeError):
    """A database that cannot be opened or used; the message is meant for the user."""


@dataclass(frozen=True)
class WriteResult:
    """What one submitted batch turned into once committed."""

    stored: int       # new spans written
    duplicates: int   # spans already stored (exporter retries) and skipped


_STOP = object()


class Store:
    """A DuckDB-backed span store. Create with :meth:`open`; close with :meth:`close`."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, path: str, read_only: bool) -> None:
        self._conn = conn
        self.path = path
        self.read_only = read_only
        self._queries = named_queries()
        self._queue: "queue.Queue[Any]" = queue.Queue()
        self._closed = False
        self._write_lock = threading.Lock()  # serialises close() with submitters
        self._writer: threading.Thread | None = None
        self._lake = False  # attached to a DuckLake catalog instead of a local file
        self.commits = 0  # number of write transactions (observability of group commit)
        self._known_resources: set[int] = set()  # writer thread only
        self._known_scopes: set[int] = set()
        self._known_shapes: set[int] = set()
        self._append_columns: dict[str, list[str]] = {}  # writer thread only
        if not read_only:
            self._writer = threading.Thread(target=self._write_loop, name="choreoscope-writer",
                                            daemon=True)
            self._writer.start()

    # ----------------------------------------------------------------- opening and closing
    @classmethod
    def open(cls, path: str | os.PathLike[str], read_only: bool = False,
             memory_limit: str | None = None, threads: int | None = None) -> "Store":
        """Open (creating if needed) the database at ``path`` and check its schema version.

        ``:memory:`` gives a throw-away in-memory store (tests).
        """
        p = str(path)
        lake = p.startswith("ducklake:")
        if p != ":memory:" and not lake:
            if read_only and not Path(p).exists():
                raise StoreError(f"no database at {p}; run `choreoscope serve` or "
                                 f"`choreoscope load` first")
            Path(p).parent.mkdir(parents=True, exist_ok=True)
        # DuckDB checkpoints (compresses the WAL into the file) inside whichever COMMIT
        # crosses this threshold. At the 16MB default that is every ~16k spans, and many
        # small checkpoints cost twice what fewer big ones do. Until then the rows also
        # stay in memory uncompressed: 128MB held ~150MB more at peak than 64MB did, for
        # no measurable throughput. The writer also checkpoints whenever it goes idle
        # (see _write_loop), so the WAL stays short in practice.
        config: dict[str, Any] = {"checkpoint_threshold": "64MB"}
        if memory_limit:
            config["memory_limit"] = memory_limit
        if threads:
            config["threads"] = threads
        try:
            if lake:
                conn = _attach_ducklake(p, config)
            else:
                conn = duckdb.connect(p, read_only=read_only and p != ":memory:",
                                      config=config)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower():
                raise StoreError(
                    f"{p} is in use by another process (is `choreoscope serve` running on "
                    f"it?). Stop it, or use the running server: send data with "
                    f"`choreoscope replay FILE`, read results at GET /api/analysis") from None
            raise StoreError(f"cannot open {p}: {text}") from None
        except duckdb.Error as exc:
            raise StoreError(f"cannot open {p}: {exc}") from None
        try:
            cls._check_and_apply_schema(conn, p, read_only)
        except Exception:
            conn.close()
            raise
        store = cls(conn, p, read_only)
        store._lake = lake
        return store

    @staticmethod
    def _check_and_apply_schema(conn: duckdb.DuckDBPyConnection, path: str,
                                read_only: bool) -> None:
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_catalog = current_database()"
        ).fetchall()}
        if "schema_meta" in tables:
            row = conn.execute(
                "SELECT value FROM schema_meta WHERE key='schema_version'").fetchone()
            found = int(row[0]) if row else None
            if found is not None and found < SCHEMA_VERSION and found in migrate.UPGRADABLE:
                if read_only:
                    raise StoreError(
                        f"{path} was written by an older choreoscope (schema version "
                        f"{found}); open it once for writing (`choreoscope serve --db {path}` "
                        f"or `choreoscope load FILE --db {path}`) to upgrade it in place")
                migrate.upgrade(conn, found, SCHEMA_VERSION)
                return
            if found != SCHEMA_VERSION:
                raise StoreError(
                    f"{path} has choreoscope schema version {found}, this choreoscope needs "
                    f"version {SCHEMA_VERSION}. Use a new --db file, or the choreoscope "
                    f"release that wrote it.")
            return
        if tables:
            raise StoreError(f"{path} is a DuckDB database but not a choreoscope store "
                             f"(tables: {', '.join(sorted(tables)[:5])}); use another --db")
        if read_only:
            raise StoreError(f"{path} is empty; nothing has been stored in it yet")
        conn.execute("BEGIN")
        conn.execute(schema_sql())
        conn.execute("INSERT INTO schema_meta VALUES ('schema_version', ?)",
                     [str(SCHEMA_VERSION)])
        conn.execute("COMMIT")

    def close(self) -> None:
        """Write everything queued, checkpoint, and close. Idempotent."""
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
        if self._writer is not None:
            self._queue.put(_STOP)
            self._writer.join()
            try:
                self._conn.execute("CHECKPOINT")
            except duckdb.Error:
                pass  # the WAL still holds everything; the next open replays it
        self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------- writes
    def submit(self, batch: Any) -> "Future[WriteResult]":
        """Queue a :class:`collector.decode.SpanBatch`; the future resolves after COMMIT."""
        fut: "Future[WriteResult]" = Future()
        if self.read_only:
            fut.set_exception(StoreError("store opened read-only"))
            return fut
        with self._write_lock:
            if self._closed:
                fut.set_exception(StoreError("store is closed"))
                return fut
            # Split and measure in the caller's thread: submitters run in parallel with the
            # writer's DuckDB work, the writer is the one serial stage.
            self._queue.put(("batch", _Prepared.of(batch), fut))
        return fut

    def write(self, batch: Any, timeout: float | None = None) -> WriteResult:
        """Submit a batch and wait until it is committed."""
        return self.submit(batch).result(timeout)

    def run_write(self, fn: Callable[[duckdb.DuckDBPyConnection], Any],
                  transaction: bool = True) -> "Future[Any]":
        """Run ``fn(conn)`` on the writer thread, in a transaction unless told otherwise."""
        fut: "Future[Any]" = Future()
        with self._write_lock:
            if self._closed or self.read_only:
                fut.set_exception(StoreError("store is closed or read-only"))
                return fut
            self._queue.put(("fn" if transaction else "fn_bare", fn, fut))
        return fut

    def checkpoint(self) -> "Future[Any]":
        """Fold the WAL into the database file (frees space deleted rows held)."""
        return self.run_write(lambda c: c.execute("CHECKPOINT"), transaction=False)

    @property
    def pending(self) -> int:
        """Number of writes waiting for the writer thread."""
        return self._queue.qsize()

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
            while spans < _MAX_GROUP_SPANS:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                group.append(nxt)
                spans += _span_count(nxt)
            self._commit_group(conn, group)
            if stop:
                return

    def _commit_group(self, conn: duckdb.DuckDBPyConnection, group: list[Any]) -> None:
        batches = [g for g in group if g[0] == "batch"]
        fns = [g for g in group if g[0] in ("fn", "fn_bare")]
        if batches:
            try:
                results = self._insert(conn, [b[1] for b in batches])
                for (_, _, fut), res in zip(batches, results):
                    fut.set_result(res)
            except Exception as exc:  # one bad batch must not fail its neighbours
                if len(batches) == 1:
                    batches[0][2].set_exception(exc)
                else:
                    for b in batches:
                        try:
                            b[2].set_result(self._insert(conn, [b[1]])[0])
                        except Exception as exc1:
                            b[2].set_exception(exc1)
        for kind, fn, fut in fns:
            bare = kind == "fn_bare"
            try:
                if not bare:
                    conn.execute("BEGIN")
                out = fn(conn)
                if not bare:
                    conn.execute("COMMIT")
                fut.set_result(out)
            except Exception as exc:
                if not bare:
                    try:
                        conn.execute("ROLLBACK")
                    except duckdb.Error:
                        pass
                fut.set_exception(exc)

    def _insert(self, conn: duckdb.DuckDBPyConnection, batches: list[Any]) -> list[WriteResult]:
        """Insert batches in one transaction, skipping spans already stored or repeated.

        Duplicates are rare (exporter retries), so the common path is a cheap key probe and
        a straight Arrow insert; only when the probe finds some do we filter in Arrow.
        """
        total = sum(b.rows for b in batches)
        if total == 0:
            return [WriteResult(0, 0) for _ in batches]
        spans = _concat([b.spans for b in batches])
        events = _concat([b.events for b in batches])
        links = _concat([b.links for b in batches])
        lo = min(b.lo for b in batches if b.rows)
        hi = max(b.hi for b in batches if b.rows)
        # Resources and scopes repeat across exports; skip the ones this writer already
        # stored (the SQL still guards against duplicates after a restart).
        resources = _new_rows([b.resources for b in batches], "resource_id", self._known_resources)
        scopes = _new_rows([b.scopes for b in batches], "scope_id", self._known_scopes)
        shapes = _new_rows([b.shapes for b in batches], "shape_id", self._known_shapes)
        q = self._queries
        try:
            conn.execute("BEGIN")
            conn.register("_batch_spans", spans)
            stored_dups = conn.execute(q["stored_duplicate_keys"],
                                       {"lo": lo, "hi": hi}).to_arrow_table()
            conn.unregister("_batch_spans")
            keep = _first_unseen(spans, stored_dups)
            if keep is not None:
                spans = spans.filter(keep)
                new_keys = _keys(spans)
                events = events.filter(pc.is_in(_keys(events), new_keys))
                links = links.filter(pc.is_in(_keys(links), new_keys))
            # Envelopes go through their SQL, which skips rows stored before a restart
            # (they are usually all known and skipped here already).
            for name, table, sql in (("_batch_resources", resources, "insert_batch_resources"),
                                     ("_batch_scopes", scopes, "insert_batch_scopes"),
                                     ("_batch_shapes", shapes, "insert_batch_shapes")):
                if table.num_rows:
                    conn.register(name, table)
                    try:
                        conn.execute(q[sql])
                    finally:
                        conn.unregister(name)
            # Span rows, events and links are plain appends: the relational insert costs
            # about 1.5 ms less per table and commit than register + INSERT ... SELECT.
            for table, target in ((spans, "span_rows"), (events, "span_events"),
                                  (links, "span_links")):
                if table.num_rows:
                    conn.from_arrow(table.select(self._columns(conn, target))).insert_into(target)
            conn.execute("COMMIT")
            self.commits += 1
            self._known_resources.update(resources.column("resource_id").to_pylist())
            self._known_scopes.update(scopes.column("scope_id").to_pylist())
            if len(self._known_shapes) > _MAX_KNOWN_SHAPES:
                # Span names with ids in them make a shape per span; forget rather than
                # grow without bound (the SQL still skips shapes already stored).
                self._known_shapes.clear()
            self._known_shapes.update(shapes.column("shape_id").to_pylist())
        except Exception:
            try:
                conn.execute("ROLLBACK")
            except duckdb.Error:
                pass
            raise
        stored = spans.num_rows
        # Attribute duplicates to batches in order: exact when a batch commits alone (the
        # usual case under low load), and the totals are always exact.
        results = []
        remaining_dups = total - stored
        for b in batches:
            n = b.rows
            d = min(n, remaining_dups)
            remaining_dups -= d
            results.append(WriteResult(n - d, d))
        return results

    def _columns(self, conn: duckdb.DuckDBPyConnection, table: str) -> list[str]:
        """The columns of ``table`` in schema order (positional appends need it)."""
        cols = self._append_columns.get(table)
        if cols is None:
            cols = self._append_columns[table] = conn.table(table).columns
        return cols

    # ----------------------------------------------------------------------------- reads
    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read cursor (its own connection to this database), closed on exit."""
        cur = self._conn.cursor()
        if self._lake:
            cur.execute("USE lake")  # a cursor starts in the in-memory default catalog
        try:
            yield cur
        finally:
            cur.close()

    def sql(self, name: str) -> str:
        """The text of a named query from ``choreoscope/sql``."""
        try:
            return self._queries[name]
        except KeyError:
            raise KeyError(f"no SQL query named {name!r} in choreoscope/sql") from None

    def query(self, name: str, params: dict[str, Any] | None = None) -> pa.Table:
        """Run a named read query with bound parameters and return an Arrow table."""
        with self.cursor() as cur:
            return cur.execute(self.sql(name), params or {}).to_arrow_table()

    def query_rows(self, name: str, params: dict[str, Any] | None = None) -> list[tuple]:
        """Run a named read query and return plain tuples (small results)."""
        with self.cursor() as cur:
            return cur.execute(self.sql(name), params or {}).fetchall()

    def count_spans(self) -> int:
        """Number of spans stored."""
        return int(self.query_rows("count_spans")[0][0])

    # ------------------------------------------------------------------------- retention
    def delete_before(self, cutoff_unix_nano: int) -> "Future[Any]":
        """Drop spans (and their events and links) that started before the cutoff."""
        q = self._queries

        def run(conn: duckdb.DuckDBPyConnection) -> int:
            n = conn.execute(q["delete_spans_before"], {"cutoff": cutoff_unix_nano}).fetchone()
            conn.execute(q["delete_events_orphaned"])
            conn.execute(q["delete_links_orphaned"])
            return int(n[0]) if n else 0

        return self.run_write(run)

    def file_size(self) -> int:
        """Bytes on disk of the database file and its WAL (0 for in-memory)."""
        if self.path == ":memory:" or self._lake:
            return 0
        total = 0
        for p in (self.path, self.path + ".wal"):
            try:
                total += os.path.getsize(p)
            except OSError:
                pass
        return total


_RESOURCE_COLS = ("resource_attributes", "resource_schema_url",
                  "resource_dropped_attributes_count")
_SCOPE_COLS = ("scope_name", "scope_version", "scope_attributes", "scope_schema_url",
               "scope_dropped_attributes_count")
# What the spans of one operation repeat (see span_shapes in schema.sql).
SHAPE_COLS = ("service_name", "name", "kind", "status_code", "msg_system", "msg_destination",
              "msg_destination_kind", "msg_operation_type", "msg_operation_name",
              "msg_consumer_group", "peer_service", "server_address", "db_system")


def _content_key(parts: list[pa.ChunkedArray]) -> pa.Array:
    r"""One byte string per row that is equal for two rows exactly when all their parts are.

    Parts are joined with the byte 0xFE and NULL becomes 0xFF: neither byte ever occurs in
    UTF-8 (the decoder only lets valid UTF-8 through, as OTLP requires), so no value can
    make two different rows look alike. A client must not be able to make its spans share
    another service's shape by choosing names.
    """
    as_bytes = []
    for p in parts:
        a = p.combine_chunks()
        if not pa.types.is_string(a.type):
            a = pc.cast(a, pa.string())
        as_bytes.append(a.view(pa.binary()))
    return pc.binary_join_element_wise(*as_bytes, b"\xfe", null_handling="replace",
                                       null_replacement=b"\xff")


def _content_id(key: bytes) -> int:
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _envelope(spans: pa.Table, cols: tuple[str, ...], id_name: str,
              out_names: list[str]) -> tuple[pa.Array, pa.Table]:
    """Dictionary-encode columns: a per-span content id and one row per distinct value."""
    key = _content_key([spans.column(c) for c in cols])
    enc = pc.dictionary_encode(key)
    ids = pa.array([_content_id(k) for k in enc.dictionary.to_pylist()], pa.int64())
    # The first row of each distinct value, in dictionary order so it lines up with ``ids``.
    firsts = pc.index_in(enc.dictionary, key)
    table = spans.select(list(cols)).take(firsts).rename_columns(out_names)
    return pc.take(ids, enc.indices), table.add_column(0, id_name, ids)


def shape_table(distinct: pa.Table) -> pa.Table:
    """``span_shapes`` rows, with their content ids, for distinct rows of :data:`SHAPE_COLS`."""
    return _envelope(distinct, SHAPE_COLS, "shape_id", list(SHAPE_COLS))[1]


def split_envelopes(spans: pa.Table) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    """Split decoded spans into span rows and de-duplicated resources, scopes and shapes."""
    res_ids, resources = _envelope(
        spans, ("service_name", *_RESOURCE_COLS), "resource_id",
        ["service_name", "attributes", "schema_url", "dropped_attributes_count"])
    scope_ids, scopes = _envelope(spans, _SCOPE_COLS, "scope_id",
                                  ["name", "version", "attributes", "schema_url",
                                   "dropped_attributes_count"])
    shape_ids, shapes = _envelope(spans, SHAPE_COLS, "shape_id", list(SHAPE_COLS))
    rows = spans.drop_columns(list(_RESOURCE_COLS + _SCOPE_COLS + SHAPE_COLS))
    rows = (rows.append_column("resource_id", res_ids).append_column("scope_id", scope_ids)
            .append_column("shape_id", shape_ids))
    return rows, resources, scopes, shapes


def _attach_ducklake(path: str, config: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    """Open a DuckLake catalog (``ducklake:<catalog>``) as the store's database.

    The same schema and queries run unchanged; the catalog can be a local DuckDB file or,
    with the postgres extension, a PostgreSQL database (``ducklake:postgres:dbname=...``),
    with data files under the catalog's default data path.
    """
    conn = duckdb.connect(":memory:", config=config)
    _load_extension(conn, "ducklake")
    if path.startswith("ducklake:postgres:"):
        _load_extension(conn, "postgres")
    # ATTACH takes no bound parameters; the path comes from the operator's --db, and
    # quotes are doubled so it stays one literal.
    conn.execute("ATTACH '{}' AS lake".format(path.replace("'", "''")))
    conn.execute("USE lake")
    return conn


def _load_extension(conn: duckdb.DuckDBPyConnection, name: str) -> None:
    """LOAD an extension, preferring the offline copy shipped by its PyPI wheel."""
    import importlib.util

    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec and spec.submodule_search_locations:
        base = Path(list(spec.submodule_search_locations)[0])
        found = sorted(base.glob(f"extensions/v{duckdb.__version__}/*/{name}.duckdb_extension"))
        found += sorted(base.glob(f"extensions/v{duckdb.__version__}/{name}.duckdb_extension"))
        if found:
            conn.execute("LOAD '{}'".format(str(found[0]).replace("'", "''")))
            return
    conn.execute(f"INSTALL {name}")
    conn.execute(f"LOAD {name}")


def _keys(table: pa.Table) -> pa.Array:
    """trace_id + span_id as one string column, for set operations in Arrow."""
    return pc.binary_join_element_wise(table.column("trace_id"), table.column("span_id"), "")


def _first_unseen(spans: pa.Table, stored: pa.Table) -> pa.Array | None:
    """A mask keeping the first copy of each span not already stored; None if all are new."""
    keys = _keys(spans)
    if stored.num_rows == 0 and pc.count_distinct(keys).as_py() == spans.num_rows:
        return None
    idx = pa.table({"k": keys, "i": pa.array(range(spans.num_rows), pa.int64())})
    first = idx.group_by("k", use_threads=False).aggregate([("i", "min")]).column("i_min")
    mask = pc.is_in(pa.array(range(spans.num_rows), pa.int64()), first)
    if stored.num_rows:
        mask = pc.and_(mask, pc.invert(pc.is_in(keys, _keys(stored))))
    return mask


@dataclass(frozen=True)
class _Prepared:
    """A batch made ready for the writer: envelopes split off, time range measured."""

    spans: pa.Table
    resources: pa.Table
    scopes: pa.Table
    shapes: pa.Table
    events: pa.Table
    links: pa.Table
    rows: int
    lo: int
    hi: int

    @staticmethod
    def of(batch: Any) -> "_Prepared":
        n = batch.spans.num_rows
        if n == 0:
            empty = batch.spans
            return _Prepared(empty, empty, empty, empty, batch.events, batch.links, 0, 0, 0)
        rows, resources, scopes, shapes = split_envelopes(batch.spans)
        mm = pc.min_max(batch.spans.column("start_time_unix_nano")).as_py()
        return _Prepared(rows, resources, scopes, shapes, batch.events, batch.links, n,
                         mm["min"], mm["max"])


def _concat(tables: list[pa.Table]) -> pa.Table:
    tables = [t for t in tables if t.num_rows] or tables[:1]
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _new_rows(tables: list[pa.Table], id_col: str, known: set[int]) -> pa.Table:
    """Rows whose id is neither in ``known`` nor repeated earlier in ``tables``."""
    keep: list[pa.Table] = []
    seen = set(known)
    for t in tables:
        if not t.num_rows:
            continue
        ids = t.column(id_col).to_pylist()
        rows = [i for i, v in enumerate(ids) if v not in seen]
        seen.update(ids)
        if rows:
            keep.append(t.take(pa.array(rows, pa.int64())))
    return pa.concat_tables(keep) if keep else tables[0].slice(0, 0)


def _span_count(item: Any) -> int:
    if item[0] == "batch":
        return item[1].rows
    return 0


def now_ns() -> int:
    """The collector clock, in the unit every timestamp of the schema uses."""
    return time.time_ns()
