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
