"""All SQL of choreoscope lives in this folder.

``schema.sql`` is the DDL. Every other ``*.sql`` file holds named queries::

    -- name: edge_stats
    SELECT ... WHERE start_time_unix_nano >= $since

Named parameters (``$since``) are bound by DuckDB, never formatted into the text, so UI and
API input can't change a query. Keeping SQL here, behind :class:`choreoscope.store.Store`,
is what lets the same queries run on another DuckDB-SQL engine (DuckLake) later.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", re.M)
_COMPRESSION = re.compile(r"\s+USING\s+COMPRESSION\s+\w+", re.I)


def schema_sql(compression: bool = True) -> str:
    """The DDL, applied by the store when it opens a database.

    ``compression=False`` drops the columns' ``USING COMPRESSION`` clauses, for databases
    that cannot honour them: DuckLake refuses them, and a file in a storage format older
    than DuckDB 1.2 would store such a column uncompressed.
    """
    text = resources.files(__package__).joinpath("schema.sql").read_text()
    return text if compression else _COMPRESSION.sub("", text)


@lru_cache(maxsize=1)
def named_queries() -> dict[str, str]:
    """Every named query of every ``*.sql`` file but the schema, by name."""
    out: dict[str, str] = {}
    for entry in sorted(resources.files(__package__).iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".sql") or entry.name == "schema.sql":
            continue
        text = entry.read_text()
        marks = list(_NAME.finditer(text))
        for i, m in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
            name = m.group(1)
            if name in out:
                raise ValueError(f"duplicate query name {name!r} in {entry.name}")
            out[name] = text[m.end():end].strip().rstrip(";")
    return out
