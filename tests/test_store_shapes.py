"""The `spans` view over span rows and de-duplicated span shapes, and the upgrade to it.

What every span of one operation repeats (service, name, kind, status, normalised messaging
and peer columns) is stored once in ``span_shapes``; these tests check that users still see
each span's own values through ``spans``, that shapes are stored once however and whenever
their spans arrive, and that no choice of names can make two different shapes share a row.
"""

from __future__ import annotations

import duckdb
import pytest

from choreoscope.store import Store, StoreError
from collector.decode import decode_request
from tests.builders import SpanSet

_SHAPE = ("service_name", "name", "kind", "status_code", "msg_destination", "peer_service")


def _rows(store: Store, sql: str) -> list[tuple]:
    with store.cursor() as cur:
        return cur.execute(sql).fetchall()


def test_each_span_keeps_its_own_values_and_shapes_are_stored_once(tmp_path):
    b = SpanSet()
    for i in range(60):
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=i,
                      status="ERROR" if i % 3 == 0 else "OK")
        b.producer("orders", "order-placed", parent=root, start_ms=i + 1, message_id=f"m{i}")
        b.client_call("orders", "payments", parent=root, start_ms=i + 2)
    req = b.request()
    db = tmp_path / "s.duckdb"
    store = Store.open(db)
    half = len(req.resource_spans) // 2
    for part in (req.resource_spans[:half], req.resource_spans[half:]):
        one = type(req)()
        one.resource_spans.extend(part)
        store.write(decode_request(one))
    store.close()
    # A restarted writer no longer remembers which shapes it stored; the SQL must.
    store = Store.open(db)
    again = type(req)()
    again.resource_spans.extend(req.resource_spans[:5])
    res = store.write(decode_request(again))
    assert (res.stored, res.duplicates) == (0, 5)

    expected = {(s.service, s.name, s.kind, s.status) for s in b.spans}
    got = _rows(store, "SELECT service_name, name, kind, status_code FROM span_shapes")
    assert sorted(got) == sorted(expected)  # one row per distinct shape, none repeated
    n = len(b.spans)
    assert _rows(store, "SELECT count(*) FROM span_rows") == [(n,)]
    by_id = {r[0]: r[1:] for r in _rows(
        store, "SELECT span_id, service_name, name, kind, status_code FROM spans")}
    assert len(by_id) == n
    for s in b.spans:
        assert by_id[s.ref.span_id] == (s.service, s.name, s.kind, s.status)
    store.close()


def test_names_that_look_like_separators_never_share_a_shape():
    # With a naive join these pairs would produce the same key: a separator or null marker
    # inside a value, or a value equal to the null marker.
    tricky = [
        ("svc", "a\x1eb", None), ("svc\x1ea", "b", None),
        ("svc", "x\u00fey", None), ("svc\u00fex", "y", None),
        ("svc", "n", "\u00ff"), ("svc", "n", None), ("svc", "n", ""),
        ("svc", "\x00", None), ("svc", "", "\x00"),
    ]
    b = SpanSet()
    for service, name, peer in tricky:
        b.span(service, name, kind="CLIENT", attrs={"peer.service": peer} if peer is not None
               else {})
    store = b.store()
    shapes = _rows(store, "SELECT shape_id, service_name, name, peer_service FROM span_shapes")
    assert len({s[0] for s in shapes}) == len(shapes) == len(tricky)
    got = {r[1:] for r in _rows(store, "SELECT span_id, service_name, name, peer_service "
                                       "FROM spans")}
    assert got == set(tricky)
    store.close()


def test_spans_view_has_the_documented_columns_in_order():
    store = SpanSet().store()
    cols = [r[0] for r in _rows(store, "SELECT column_name FROM information_schema.columns "
                                       "WHERE table_name = 'spans' ORDER BY ordinal_position")]
    assert cols[:10] == ["trace_id", "span_id", "parent_span_id", "trace_state", "flags",
                         "name", "kind", "start_time_unix_nano", "end_time_unix_nano",
                         "status_code"]
    assert set(_SHAPE) <= set(cols) and "shape_id" not in cols
    store.close()


def _as_schema_1(db) -> None:
    """Rewrite a store into schema 1's layout: one wide spans table, version 1."""
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE spans_wide AS SELECT * FROM spans")
    con.execute("DROP VIEW spans_full")
    con.execute("DROP VIEW spans")
    con.execute("DROP TABLE span_rows")
    con.execute("DROP TABLE span_shapes")
    con.execute("ALTER TABLE spans_wide RENAME TO spans")
    con.execute("CREATE VIEW spans_full AS SELECT s.* FROM spans s")
    con.execute("UPDATE schema_meta SET value = '1' WHERE key = 'schema_version'")
    con.close()


def test_a_schema_1_store_is_upgraded_in_place_and_keeps_every_span(tmp_path):
    b = SpanSet()
    for i in range(20):
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=i,
                      status="ERROR" if i % 4 == 0 else "UNSET")
        pub = b.producer("orders", "order-placed", parent=root, start_ms=i + 1,
                         message_id=f"m{i}")
        b.consumer("billing", "order-placed", link=pub, start_ms=i + 5, message_id=f"m{i}")
    req = b.request()
    db = tmp_path / "old.duckdb"
    with Store.open(db) as st:
        st.write(decode_request(req))
        before = _rows(st, "SELECT * FROM spans ORDER BY span_id")
        links = _rows(st, "SELECT * FROM span_links ORDER BY span_id")
    _as_schema_1(db)

    with pytest.raises(StoreError, match="older choreoscope.*upgrade it in place"):
        Store.open(db, read_only=True)

    with Store.open(db) as st:  # opening for writing upgrades
        assert _rows(st, "SELECT value FROM schema_meta") == [("2",)]
        assert _rows(st, "SELECT * FROM spans ORDER BY span_id") == before
        assert _rows(st, "SELECT * FROM span_links ORDER BY span_id") == links
        assert len(_rows(st, "SELECT * FROM spans_full")) == len(before)
        shapes = _rows(st, "SELECT count(*) FROM span_shapes")
        # Retried spans are still recognised, and new spans of known shapes reuse them.
        res = st.write(decode_request(req))
        assert (res.stored, res.duplicates) == (0, len(before))
        more = SpanSet(seed=2)
        more.span("orders", "POST /orders", kind="SERVER", status="UNSET")
        assert st.write(decode_request(more.request())).stored == 1
        assert _rows(st, "SELECT count(*) FROM span_shapes") == shapes
    with Store.open(db, read_only=True) as st:  # and it stays upgraded
        assert st.count_spans() == len(before) + 1
