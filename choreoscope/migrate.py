"""In-place upgrades of databases written by older choreoscope releases.

A store opened for writing on an older schema version is upgraded in one transaction, so
a user who upgrades choreoscope keeps the spans already collected; a crash halfway leaves
the old file as it was. Read-only opens never upgrade (they are refused with a message
saying how to upgrade). The SQL is in ``choreoscope/sql/migrate.sql``.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from choreoscope.sql import named_queries, schema_sql

# Versions this release can upgrade from, to the current one.
UPGRADABLE = (1,)


def upgrade(conn: duckdb.DuckDBPyConnection, found: int, current: int,
            compression: bool = False) -> None:
    """Upgrade the database behind ``conn`` from schema ``found`` to ``current``.

    ``compression``: whether the file honours the schema's column compression clauses."""
    if found not in UPGRADABLE:
        raise ValueError(f"no upgrade from schema version {found}")
    q = named_queries()
    conn.execute("BEGIN")
    try:
        _v1_to_v2(conn, q, compression)
        conn.execute(q["migrate_set_version"], {"version": str(current)})
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("CHECKPOINT")


def _v1_to_v2(conn: duckdb.DuckDBPyConnection, q: dict[str, str], compression: bool) -> None:
    """Schema 2 split the wide ``spans`` table into ``span_rows`` and ``span_shapes``."""
    from choreoscope.envelopes import SHAPE_COLS, shape_table

    conn.execute(q["migrate_1_set_aside"])
    conn.execute(q["migrate_1_drop_views"])
    # creates the new tables and views; old ones are kept
    conn.execute(schema_sql(compression=compression))
    distinct: pa.Table = conn.execute(q["migrate_1_shapes"]).to_arrow_table()
    # The same content ids the writer computes, so new spans of a known shape share its row.
    conn.register("_migrate_shapes", shape_table(distinct.select(list(SHAPE_COLS))))
    try:
        conn.execute(q["migrate_1_insert_shapes"])
        conn.execute(q["migrate_1_rows"])
    finally:
        conn.unregister("_migrate_shapes")
    conn.execute(q["migrate_1_drop_old"])
