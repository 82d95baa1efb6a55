"""The span store: one DuckDB database, one writer, cursors for readers.

Every write goes through :meth:`Store.submit`, which hands the batch to the single writer
(:mod:`choreoscope.writer`: one thread, group commit). A submitter's future resolves only
after COMMIT returned, which is what lets the collector acknowledge an export only once it
is durable.

Readers never touch the write connection: :meth:`Store.cursor` hands out a DuckDB cursor
(its own connection to the same database) that sees committed data.

All SQL comes from ``choreoscope/sql`` (see :mod:`choreoscope.sql`).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import duckdb
import pyarrow as pa

from choreoscope import migrate
from choreoscope.envelopes import SHAPE_COLS, Prepared, shape_table, split_envelopes
from choreoscope.sql import named_queries, schema_sql
from choreoscope.writer import WriteResult, Writer

# Bump when schema.sql changes incompatibly; an older or newer file is refused, not migrated
# by guesswork.
SCHEMA_VERSION = 2

# The DuckDB file format the store asks for when it creates a file: 1.2 or later keeps a
# column compressed as the schema says (zstd for the attribute JSON, see schema.sql). Files
# in an older format keep working, with DuckDB's default compression.
STORAGE_VERSION = "v1.5.0"

__all__ = ["Store", "StoreError", "Interrupted", "ReadSession", "WriteResult",
           "SCHEMA_VERSION", "SHAPE_COLS", "shape_table", "split_envelopes", "now_ns"]


class StoreError(RuntimeError):
    """A database that cannot be opened or used; the message is meant for the user."""


# What a read raises when Store.close() stopped it (the server is stopping).
Interrupted = duckdb.InterruptException


class Store:
    """A DuckDB-backed span store. Create with :meth:`open`; close with :meth:`close`."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, path: str, read_only: bool,
                 lake: bool = False, read_threads: int = 1) -> None:
        self._conn = conn
        self.path = path
        self.read_only = read_only
        self._queries = named_queries()
        self._closed = False
        self._write_lock = threading.Lock()  # serialises close() with submitters
        self._lake = lake  # attached to a DuckLake catalog instead of a local file
        # A local file is DuckDB-locked to this process; a DuckLake catalog may be shared.
        self._writer = None if read_only else Writer(conn, self._queries, exclusive=not lake)
        self._threads = _ReadParallelism(conn, read_threads,
                                         adaptive=not read_only and not lake)
        # Open read cursors: DuckDB runs on every core while there is one, and close() stops
        # the queries still running on them.
        self._readers: set[duckdb.DuckDBPyConnection] = set()
        self._readers_cv = threading.Condition()
        self._sessions: set[ReadSession] = set()  # kept read connections, closed with the store

    # ----------------------------------------------------------------- opening and closing
    @classmethod
    def open(cls, path: str | os.PathLike[str], read_only: bool = False,
             memory_limit: str | None = None, threads: int | None = None) -> "Store":
        """Open (creating if needed) the database at ``path`` and check its schema version.

        ``:memory:`` gives a throw-away in-memory store (tests). ``threads`` is DuckDB's
        parallelism for reads (default: every core); a writable store runs DuckDB on one
        thread while no read cursor is open (see :class:`_ReadParallelism`).
        """
        p = str(path)
        lake = p.startswith("ducklake:")
        new_file = not lake and p != ":memory:" and not Path(p).exists()
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
        read_threads = threads or os.cpu_count() or 1
        config["threads"] = read_threads
        if new_file:
            config["storage_compatibility_version"] = STORAGE_VERSION
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
            # Only a file the store created is in a format that honours the schema's column
            # compression; an older file, DuckLake and an in-memory store get the default.
            cls._check_and_apply_schema(conn, p, read_only, compression=new_file)
        except Exception:
            conn.close()
            raise
        return cls(conn, p, read_only, lake=lake, read_threads=read_threads)

    @staticmethod
    def _check_and_apply_schema(conn: duckdb.DuckDBPyConnection, path: str,
                                read_only: bool, compression: bool) -> None:
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
                migrate.upgrade(conn, found, SCHEMA_VERSION, compression=compression)
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
        conn.execute(schema_sql(compression=compression))
        conn.execute("INSERT INTO schema_meta VALUES ('schema_version', ?)",
                     [str(SCHEMA_VERSION)])
        conn.execute("COMMIT")

    def close(self) -> None:
        """Stop the reads still running, write everything queued, checkpoint, and close.
        Idempotent."""
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
        self._stop_readers()
        with self._readers_cv:
            sessions, self._sessions = list(self._sessions), set()
        for session in sessions:
            session.close()
        if self._writer is not None:
            self._writer.stop()
            with self._readers_cv:  # (a reader that outlived _stop_readers switches too)
                self._threads.close()
            try:
                self._conn.execute("CHECKPOINT")
            except duckdb.Error:
                pass  # the WAL still holds everything; the next open replays it
        self._conn.close()

    def _stop_readers(self, timeout_s: float = 10.0) -> None:
        """Interrupt the queries on every open read cursor and wait (up to ``timeout_s``)
        until their users have closed them.

        A reader may be a daemon thread (the dashboard's background analysis): left inside
        DuckDB when the process exits, it is torn down mid-call and the process aborts.
        Interrupting makes its query raise at once. It is repeated while waiting, because a
        reader between two statements starts the next one after the first interrupt.
        """
        deadline = time.monotonic() + timeout_s
        with self._readers_cv:
            while self._readers and time.monotonic() < deadline:
                for cur in list(self._readers):
                    try:
                        cur.interrupt()
                    except duckdb.Error:
                        pass
                self._readers_cv.wait(0.05)

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------- writes
    def submit(self, batch: Any) -> "Future[WriteResult]":
        """Queue a :class:`collector.decode.SpanBatch`, or a batch already split into a
        :class:`~choreoscope.envelopes.Prepared`; the future resolves after COMMIT."""
        fut: "Future[WriteResult]" = Future()
        if self._writer is None:
            fut.set_exception(StoreError("store opened read-only"))
            return fut
        with self._write_lock:
            if self._closed:
                fut.set_exception(StoreError("store is closed"))
                return fut
            # Split and measure in the caller's thread: submitters run in parallel with the
            # writer's DuckDB work, the writer is the one serial stage. (Splitting outside
            # this lock, eight submitters at once, measured no faster: they hold the GIL.)
            return self._writer.submit(
                batch if isinstance(batch, Prepared) else Prepared.of(batch))

    def write(self, batch: Any, timeout: float | None = None) -> WriteResult:
        """Submit a batch and wait until it is committed."""
        return self.submit(batch).result(timeout)

    def run_write(self, fn: Callable[[duckdb.DuckDBPyConnection], Any],
                  transaction: bool = True) -> "Future[Any]":
        """Run ``fn(conn)`` on the writer thread, in a transaction unless told otherwise."""
        with self._write_lock:
            if self._closed or self._writer is None:
                fut: "Future[Any]" = Future()
                fut.set_exception(StoreError("store is closed or read-only"))
                return fut
            return self._writer.run(fn, transaction)

    def checkpoint(self) -> "Future[Any]":
        """Fold the WAL into the database file (frees space deleted rows held)."""
        return self.run_write(lambda c: c.execute("CHECKPOINT"), transaction=False)

    @property
    def pending(self) -> int:
        """Number of writes waiting for the writer thread."""
        return self._writer.pending if self._writer is not None else 0

    @property
    def commits(self) -> int:
        """Write transactions committed so far (observability of group commit)."""
        return self._writer.commits if self._writer is not None else 0

    @property
    def version(self) -> int | None:
        """A number that changes whenever the stored data may have (every write this process
        ran). ``None`` when other processes may write too (a DuckLake catalog); a read-only
        file cannot change while this process has it open."""
        if self._lake:
            return None
        return self._writer.version if self._writer is not None else 0

    # ----------------------------------------------------------------------------- reads
    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read cursor (its own connection to this database), closed on exit. Raises
        :data:`Interrupted` once the store is closing."""
        cur = self._new_cursor()
        try:
            with self._reading(cur):
                yield cur
        finally:
            cur.close()

    def session(self) -> "ReadSession":
        """A read connection kept between uses (see :class:`ReadSession`); the store closes
        it when it closes."""
        with self._readers_cv:
            if self._closed:
                raise Interrupted("the store is closed")
            s = ReadSession(self)
            self._sessions.add(s)
            return s

    def _new_cursor(self) -> duckdb.DuckDBPyConnection:
        with self._readers_cv:
            if self._closed:  # (a read that starts while close() stops the others)
                raise Interrupted("the store is closed")
            cur = self._conn.cursor()
        try:
            if self._lake:
                cur.execute("USE lake")  # a cursor starts in the in-memory default catalog
        except BaseException:
            cur.close()
            raise
        return cur

    @contextmanager
    def _reading(self, cur: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """Count ``cur`` as a reader while the block runs: DuckDB uses every core, and
        close() interrupts its query."""
        with self._readers_cv:
            if self._closed:
                raise Interrupted("the store is closed")
            if not self._readers:
                self._threads.reading(True)  # (if this fails, no reader was counted)
            self._readers.add(cur)
        try:
            yield
        finally:
            with self._readers_cv:
                self._readers.discard(cur)
                if not self._readers:
                    self._threads.reading(False)
                self._readers_cv.notify_all()

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


class ReadSession:
    """A read connection kept between uses, so the TEMP tables one analysis staged on it are
    still there for the next (``analyzer.StagedWindow``).

    It counts as a reader, running DuckDB on every core and interrupted by
    :meth:`Store.close`, only while :meth:`use` runs: kept idle, it neither slows the writer
    nor holds up closing. One user at a time (a DuckDB connection is not for two threads
    at once): a second :meth:`use` waits for the first.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cur: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()
        self.closed = False

    @contextmanager
    def use(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The session's connection for the block. Raises :data:`Interrupted` once it or
        the store is closed."""
        with self._lock:
            if self.closed:
                raise Interrupted("the read session is closed")
            if self._cur is None:
                self._cur = self._store._new_cursor()
            with self._store._reading(self._cur):
                yield self._cur

    def close(self) -> None:
        """Drop the connection and everything staged on it (waits for a running use).
        Idempotent."""
        with self._lock:
            self.closed = True
            if self._cur is not None:
                self._cur.close()
                self._cur = None
        with self._store._readers_cv:
            self._store._sessions.discard(self)


class _ReadParallelism:
    """DuckDB's worker threads: one while only the writer works, every core while anyone reads.

    DuckDB's ``threads`` is a setting of the whole database, not of a connection. The
    writer's small appends, probes and commits gain nothing from a second DuckDB thread and
    lose to it on a machine whose cores are busy decoding exports: with one thread the
    collector stored ~10% more spans per second for ~15% less CPU per span
    (bench/RESULTS.md, "Ingest"), while an analysis of 1M spans ran 1.5x slower. So the
    store switches between the two as its first read cursor opens and its last one closes
    (``SET threads`` takes a few ms and is safe while other connections run queries); the
    store serialises the calls.
    """

    def __init__(self, conn: duckdb.DuckDBPyConnection, read_threads: int,
                 adaptive: bool) -> None:
        self._n = read_threads
        # A connection of its own: the write connection belongs to the writer thread.
        self._cur = conn.cursor() if adaptive and read_threads > 1 else None
        self._set(1)

    def reading(self, on: bool) -> None:
        """Every thread while someone reads, one when nobody does."""
        if not on:
            try:
                self._set(1)
            except duckdb.Error:
                pass  # only slower writes until the next reader leaves
            return
        self._set(self._n)

    def close(self) -> None:
        """Give every thread back (the final checkpoint may use them) and drop the cursor."""
        if self._cur is None:
            return
        self._set(self._n)
        self._cur.close()
        self._cur = None

    def _set(self, n: int) -> None:
        if self._cur is not None:
            self._cur.execute(f"SET threads = {int(n)}")


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


def now_ns() -> int:
    """The collector clock, in the unit every timestamp of the schema uses."""
    return time.time_ns()
