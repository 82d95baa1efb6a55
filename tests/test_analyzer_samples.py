"""The analyzer against the committed sample scenarios and their ground truth."""

from __future__ import annotations

import pytest

from analyzer import analyze, edge_detail, flow_for_trace
from choreoscope.store import Store
from collector.decode import decode_request
from collector.otlp_json import parse_json_request
from sample_traces import ground_truth as gt

SCENARIOS = ("choreography", "orchestration", "hybrid")


def _load(scenario: str) -> Store:
    st = Store.open(":memory:")
    with open(gt.data_path(scenario), "rb") as fh:
        for line in fh:
            if line.strip():
                st.write(decode_request(parse_json_request(line)))
    return st


@pytest.fixture(scope="module")
def loaded():
    stores = {s: _load(s) for s in SCENARIOS}
    results = {s: analyze(st) for s, st in stores.items()}
    yield stores, results
    for st in stores.values():
        st.close()


def _edge_id(e: tuple[str, str, str]) -> str:
    return f"{e[0]}->{e[1]}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_edges_and_nodes_match_ground_truth(loaded, scenario):
    a = loaded[1][scenario]
    got = {(e["source"], e["target"], e["type"]) for e in a.edges}
    assert got == gt.edges(scenario)
    assert {n["id"] for n in a.nodes} == gt.nodes(scenario)
    systems = {n["id"]: n.get("system") for n in a.nodes if n["type"] == "topic"}
    assert systems == gt.SCENARIOS[scenario]["topics"]
    assert set(a.graph.edges) == {(s, t) for s, t, _ in gt.edges(scenario)}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_style_of_the_main_flow(loaded, scenario):
    a = loaded[1][scenario]
    main = max(a.flows, key=lambda f: f["count"])
    assert main["entry_service"] == gt.SCENARIOS[scenario]["entry"].split(":", 1)[1]
    assert main["style"] == gt.SCENARIOS[scenario]["style"]
    assert main["style_explanation"]
    # every flow type that coordinates anything agrees with the scenario
    styles = {f["style"] for f in a.flows if f["style"] != "none"}
    assert styles == {gt.SCENARIOS[scenario]["style"]}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_slow_hop_ranked_first(loaded, scenario):
    a = loaded[1][scenario]
    slow = gt.SCENARIOS[scenario]["slow_hop"]
    edge = _edge_id(slow["edge"])
    top = [b for b in a.bottlenecks if b["kind"] != "error"][0]
    if slow["metric"] == "queue_time":
        assert (top["hop"], top["kind"]) == (edge, "queue")
        # the slow consumer's backlog: the longest queue-time tail of all deliveries
        others = [x["queue_p95_ms"] for x in a.edges
                  if x["type"] == "consume" and x["id"] != edge and x["queue_p95_ms"] is not None]
        assert others and a.edge(edge)["queue_p95_ms"] > max(others)
    else:
        # a slow synchronous call: the callee's own processing dominates the path
        callee = slow["edge"][1]
        assert top["hop"] in (edge, callee)
        assert edge in top.get("entered_by", [edge])
        assert a.edge(edge)["p50_ms"] == max(x["p50_ms"] for x in a.edges if x["type"] == "call")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_failing_hop_error_rate(loaded, scenario):
    a = loaded[1][scenario]
    fail = gt.SCENARIOS[scenario]["failing_hop"]
    e = a.edge(_edge_id(fail["edge"]))
    assert abs(e["error_rate"] - fail["failure_rate"]) <= 0.03
    assert e["failed_trace_ids"]
    errs = [b for b in a.bottlenecks if b["kind"] == "error"]
    assert errs[0]["hop"] == e["id"]
    # the other hops do not fail
    assert all(x["error_count"] == 0 for x in a.edges if x["id"] != e["id"])


@pytest.mark.parametrize("scenario", ["choreography", "hybrid"])
def test_redeliveries_found(loaded, scenario):
    a = loaded[1][scenario]
    fail = gt.SCENARIOS[scenario]["failing_hop"]
    red = [x for x in a.anomalies if x["type"] == "redelivery"]
    assert [x["where"] for x in red] == [_edge_id(fail["edge"])]
    e = a.edge(_edge_id(fail["edge"]))
    # every failed attempt below the last one is redelivered
    assert 0 < red[0]["count"] <= e["error_count"]


def test_lost_context_found_and_stitched(loaded):
    a = loaded[1]["choreography"]
    lost = _edge_id(gt.CHOREOGRAPHY["lost_context"]["edge"])
    broken = [x for x in a.anomalies if x["type"] == "broken_context"]
    assert [x["where"] for x in broken] == [lost]
    e = a.edge(lost)
    assert broken[0]["share"] == 1.0 and broken[0]["count"] == e["count"]
    assert e["broken_context_count"] == e["count"] == e["stitched_count"]
    assert e["queue_p50_ms"] is not None
    # stitched consumers belong to the order's flow, not to flows of their own
    main = max(a.flows, key=lambda f: f["count"])
    assert lost in main["hops"]


def test_link_only_consumers_are_not_lost_context(loaded):
    a = loaded[1]["hybrid"]
    for edge in gt.HYBRID["link_only_consumers"]:
        e = a.edge(_edge_id(edge))
        assert e["broken_context_count"] == 0
        assert e["joined_by"]["context"] == e["count"]
    assert not [x for x in a.anomalies if x["type"] == "broken_context"]


@pytest.mark.parametrize("scenario", ["choreography", "hybrid"])
def test_batch_consumer_joined_to_every_producer(loaded, scenario):
    a = loaded[1][scenario]
    batch = gt.SCENARIOS[scenario]["batch"]
    edge = a.edge(_edge_id(batch["edge"]))
    topic = batch["edge"][0]
    published = a.edge(f"{batch['producer']}->{topic}")["count"]
    assert edge["batch_deliveries"] > 0
    assert edge["count"] < published  # fewer batches than messages ...
    assert edge["message_count"] == published  # ... each message joined to its batch


@pytest.mark.parametrize("scenario", ["choreography", "hybrid"])
def test_unconsumed_topics(loaded, scenario):
    a = loaded[1][scenario]
    never = {x["where"] for x in a.anomalies
             if x["type"] == "published_never_consumed" and not x["topic_has_consumers"]}
    assert never == set(gt.SCENARIOS[scenario]["unconsumed_topics"])


def test_nested_producers_count_once(loaded):
    a = loaded[1]["choreography"]
    (svc, topic), = gt.CHOREOGRAPHY["nested_producers"]
    # order-service publishes order.placed and order.audit once per order
    assert a.edge(f"{svc}->{topic}")["count"] == a.edge(f"{svc}->topic:order.audit")["count"]


def test_cycles_only_where_replies_come_back(loaded):
    assert not [x for x in loaded[1]["choreography"].anomalies if x["type"] == "cycle"]
    cycles = [x for x in loaded[1]["hybrid"].anomalies if x["type"] == "cycle"]
    assert cycles and all("service:order-service" in x["nodes"] for x in cycles)


def test_flow_for_trace_on_samples(loaded):
    st, a = loaded[0]["choreography"], loaded[1]["choreography"]
    main = max(a.flows, key=lambda f: f["count"])
    flow = flow_for_trace(st, main["example_trace_ids"][0])
    assert flow is not None
    services = {s["service_name"] for s in flow["spans"]}
    assert "seller-notification-service" in services  # joined by message id
    assert any(link["type"] == "message_id" and link["cross_trace"] for link in flow["links"])
    assert len(flow["trace_ids"]) >= 2
    # the flow's last-finishing span is on the critical path
    last = max(flow["spans"], key=lambda s: s["end_time_unix_nano"])
    assert last["span_id"] in flow["critical_path"]
    assert abs(flow["duration_ms"] - (flow["end_ns"] - flow["start_ns"]) / 1e6) < 1e-3


def test_edge_detail_agrees_with_analysis(loaded):
    st, a = loaded[0]["hybrid"], loaded[1]["hybrid"]
    for e in a.edges:
        d = edge_detail(st, e["id"])
        assert (d["count"], d["error_count"]) == (e["count"], e["error_count"]), e["id"]
        assert sum(p["count"] for p in d["timeseries"]) == e["count"]
