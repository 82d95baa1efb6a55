"""Splitting decoded spans into span rows and the envelopes they share.

Every span of an export repeats its resource and scope, and every span of one operation
repeats its shape (service, name, kind, status, normalised messaging and peer columns).
Each distinct envelope is stored once, under a 64-bit content hash, and the span rows
reference it (see ``span_shapes``, ``resources`` and ``scopes`` in ``sql/schema.sql``).
This runs in the submitting threads, outside the single writer, so it costs the writer
nothing. Pure functions over Arrow tables: no I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

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


def span_keys(table: pa.Table) -> pa.Array:
    """trace_id + span_id as one string column, for set operations in Arrow."""
    return pc.binary_join_element_wise(table.column("trace_id"), table.column("span_id"), "")


@dataclass(frozen=True)
class Prepared:
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
    def of(batch: Any) -> "Prepared":
        """Prepare a :class:`collector.decode.SpanBatch`."""
        n = batch.spans.num_rows
        if n == 0:
            empty = batch.spans
            return Prepared(empty, empty, empty, empty, batch.events, batch.links, 0, 0, 0)
        rows, resources, scopes, shapes = split_envelopes(batch.spans)
        mm = pc.min_max(batch.spans.column("start_time_unix_nano")).as_py()
        return Prepared(rows, resources, scopes, shapes, batch.events, batch.links, n,
                        mm["min"], mm["max"])
