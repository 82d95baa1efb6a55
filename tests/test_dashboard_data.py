"""The dashboard's own queries: search with bound parameters, span details, filters."""

import pytest

from choreoscope.store import Store
from collector.fastdecode import decode_bytes
from dashboard.data import (SearchForm, json_needle, json_path, search_traces, services,
                            span_detail, store_extent)
from dashboard.demo import SCRIPT_TEXT, _request, _span, demo_span_id, demo_trace_ids, \
    load_demo
from dashboard.params import ParamError, Window

ALL = Window(None, None)


@pytest.fixture(scope="module")
def store():
    s = Store.open(":memory:")
    load_demo(s, orders=6)
    # A span whose attribute keys and values try to break out of the JSON path and the SQL,
    # stored through the collector's own (compiled) decoder as real exports are.
    s.write(decode_bytes(_request("evil-service", [
        _span("evil-1", "odd keys", "INTERNAL", 1_750_000_000 * 10**9, 5, attrs={
            'we"ird': "quote key", "back\\slash": "bs", "x') OR 1=1 --": "inject",
            "plain": 'say "hi"', "unicode": "café ☕ a/b\ttab <x>"}),
    ]).SerializeToString()))
    yield s
    s.close()


def test_attribute_search_matches_exact_values_only(store):
    hits = search_traces(store, SearchForm(attr_key="payment.note", attr_value=SCRIPT_TEXT), ALL)
    assert {h["trace_id"] for h in hits} == set(demo_trace_ids()["payment"])
    assert search_traces(store, SearchForm(attr_key="payment.note", attr_value="<script>"),
                         ALL) == []
    # integers are matched by their text
    assert search_traces(store, SearchForm(attr_key="order.id", attr_value="o-3"), ALL)[0][
        "trace_id"] == demo_trace_ids()["order"][3]


def test_attribute_keys_with_quotes_and_sql_are_data_not_syntax(store):
    for key, value in (('we"ird', "quote key"), ("back\\slash", "bs"),
                       ("x') OR 1=1 --", "inject"), ("plain", 'say "hi"'),
                       ("unicode", "café ☕ a/b\ttab <x>")):
        hits = search_traces(store, SearchForm(attr_key=key, attr_value=value), ALL)
        assert [h["root"] for h in hits] == ["evil-service odd keys"], key
    assert search_traces(store, SearchForm(attr_key="x') OR 1=1 --", attr_value="nope"),
                         ALL) == []
    assert json_path('a"b') == '$."a\\"b"'
    assert json_needle('say "hi"') == 'say \\"hi\\"'


def test_key_only_and_value_only_attribute_search(store):
    with_key = search_traces(store, SearchForm(attr_key="order.id"), ALL)
    assert {h["trace_id"] for h in with_key} == set(demo_trace_ids()["order"])
    by_value = search_traces(store, SearchForm(attr_value="api.bank.example"), ALL)
    assert {h["trace_id"] for h in by_value} == set(demo_trace_ids()["payment"])


def test_service_operation_error_and_duration_filters(store):
    pay = search_traces(store, SearchForm(service="payment-service"), ALL)
    assert len(pay) == 6 and all(h["services"] == ["payment-service"] for h in pay)
    assert len(search_traces(store, SearchForm(operation="CHARGE"), ALL)) == 6
    errs = search_traces(store, SearchForm(errors=True), ALL)
    assert {h["trace_id"] for h in errs} == {demo_trace_ids()["shipping"][i] for i in (2, 5)}
    assert all(h["error_count"] == 1 for h in errs)
    # Trace durations: order 60 ms, payment 70 ms, shipping 35 ms.
    slow = search_traces(store, SearchForm(min_ms=65), ALL)
    assert {h["duration_ms"] for h in slow} == {70.0}
    fast = search_traces(store, SearchForm(max_ms=40, service="shipping-service"), ALL)
    assert len(fast) == 6
    assert search_traces(store, SearchForm(min_ms=61, max_ms=65), ALL) == []


def test_time_window_bounds_the_search(store):
    extent = store_extent(store)
    everything = search_traces(store, SearchForm(), ALL)
    assert len(everything) == 19  # 18 demo traces + the odd one
    recent = search_traces(store, SearchForm(), Window(extent["end_ns"] - 30_000 * 10**6, None))
    assert 0 < len(recent) < len(everything)
    assert all(h["start_ns"] >= extent["end_ns"] - 30_000 * 10**6 for h in recent)
    assert len(search_traces(store, SearchForm(), ALL, limit=5)) == 5


def test_search_form_round_trips_through_the_url():
    form = SearchForm(service="a", operation="send", attr_key="k", attr_value="v",
                      min_ms=1.5, max_ms=None, errors=True)
    assert SearchForm.from_query(form.to_query()) == form
    assert SearchForm().is_empty()
    with pytest.raises(ParamError):
        SearchForm.from_query({"min_ms": "fast"})
    with pytest.raises(ParamError):
        SearchForm.from_query({"max_ms": "-1"})


def test_span_detail_has_attributes_events_and_links_both_ways(store):
    ids = demo_trace_ids()
    consumer = span_detail(store, ids["payment"][0], demo_span_id("payment-0", "process orders"))
    assert consumer["attributes"]["payment.note"] == SCRIPT_TEXT
    assert consumer["resource_attributes"]["service.name"] == "payment-service"
    assert consumer["scope_name"] == "choreoscope.demo"
    assert [(link["linked_trace_id"], link["linked_service"], link["linked_name"])
            for link in consumer["links_out"]] == [(ids["order"][0], "order-service",
                                                   "send orders")]
    producer = span_detail(store, ids["order"][0], demo_span_id("order-0", "send orders"))
    assert [(link["trace_id"], link["linking_name"]) for link in producer["links_in"]] == [
        (ids["payment"][0], "process orders")]
    failed = span_detail(store, ids["shipping"][2], demo_span_id("shipping-2", "process payments"))
    assert failed["status_code"] == "ERROR"
    assert failed["events"][0]["name"] == "exception"
    assert failed["events"][0]["attributes"]["exception.message"] == "carrier timeout"
    assert span_detail(store, ids["order"][0], "0" * 16) is None


def test_services_and_extent(store):
    assert services(store, ALL) == ["evil-service", "order-service", "payment-service",
                                    "shipping-service"]
    extent = store_extent(store)
    assert extent["spans"] == 37
    assert services(store, Window(extent["end_ns"] + 1, None)) == []
