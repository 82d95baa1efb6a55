"""How the store's files are stored: zstd for the attribute JSON where the format allows it."""

from __future__ import annotations

import duckdb

from choreoscope.sql import schema_sql
from choreoscope.store import Store
from collector.decode import decode_request
from tests.otlp_fixtures import simple_request


def _attr_compression(path) -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {r[0] for r in con.execute(
            "SELECT DISTINCT compression FROM pragma_storage_info('span_rows') "
            "WHERE column_name = 'attributes' AND segment_type = 'VARCHAR'").fetchall()}
    finally:
        con.close()


def _fill(store: Store) -> None:
    attrs = {"order.note": "x" * 40, "http.route": "/orders/{id}"}
    for _ in range(3):
        store.write(decode_request(simple_request(2000, attrs=attrs)))


def test_a_new_store_keeps_attributes_with_zstd(tmp_path):
    path = tmp_path / "new.duckdb"
    with Store.open(path) as store:
        _fill(store)
    assert _attr_compression(path) == {"ZSTD"}
    with Store.open(path, read_only=True) as store:  # and reads them back
        assert store.count_spans() == 6000
        with store.cursor() as cur:
            got = cur.execute("SELECT DISTINCT json_extract_string(attributes, "
                              "'$.\"http.route\"') FROM spans").fetchall()
        assert got == [("/orders/{id}",)]


def test_a_file_in_an_older_format_is_not_left_uncompressed(tmp_path):
    path = tmp_path / "old.duckdb"
    duckdb.connect(str(path)).close()  # an empty file in DuckDB's default (older) format
    with Store.open(path) as store:
        _fill(store)
    comp = _attr_compression(path)
    assert comp and "Uncompressed" not in comp and "ZSTD" not in comp


def test_the_schema_without_compression_clauses_is_the_same_schema():
    plain = schema_sql(compression=False)
    assert "USING COMPRESSION" not in plain
    assert plain.count("CREATE") == schema_sql().count("CREATE")
    assert "attributes                VARCHAR," in plain


def test_envelopes_are_stored_once_across_restarts(tmp_path):
    """The writer appends new resources, scopes and shapes without asking the table, because
    it read every stored id at start: restarting must not store any of them twice."""
    path = tmp_path / "env.duckdb"
    req = simple_request(50, service="checkout")
    with Store.open(path) as store:
        store.write(decode_request(req))
    for _ in range(2):
        with Store.open(path) as store:  # a new writer: same resource, scope and shapes
            store.write(decode_request(simple_request(50, service="checkout")))
            store.write(decode_request(simple_request(50, service="billing")))
    with Store.open(path, read_only=True) as store, store.cursor() as cur:
        for table, key in (("resources", "resource_id"), ("scopes", "scope_id"),
                           ("span_shapes", "shape_id")):
            n, distinct = cur.execute(
                f"SELECT count(*), count(DISTINCT {key}) FROM {table}").fetchone()
            assert n == distinct, table
        assert cur.execute("SELECT count(*) FROM resources").fetchone()[0] == 2
        assert cur.execute("SELECT count(*) FROM spans_full").fetchone()[0] == 250
