"""The analyzer on the sample scenarios damaged the way real fleets damage traces.

A seeded mutator takes 30 traces of a committed scenario and, as real instrumentation and
exporters do, drops spans (sampling) and attributes, renames attributes to older or other
conventions, gives attributes values of the wrong type, loses or breaks parent context,
drops and adds links, empties names, zeroes or inverts durations, marks errors, skews a
service's clock by up to 5 s and repeats spans (exporter retries); then it sends the spans
in random batches in random order. For every such store the analysis must not fail, its
JSON must be finite, every element's detail (one click on the map) must count what its
edge says, and the same spans sent in another order must give the same analysis.

Three shapes it found are also written out by hand below: a client span of no duration
(a mark) reaching its server, a producer span naming nothing inside one that names its
topic, and a consumer span naming nothing under a producer that names it.

And changes that mean the same must give the same analysis: attributes under their older
names, exporter retries, a client's producer span that names nothing inside a framework's
that does, other batches and another order.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any, Callable

import pytest

from analyzer import analyze, edge_detail, flow_for_trace
from choreoscope.store import Store
from collector.decode import decode_request
from collector.otlp_json import parse_json_request
from sample_traces import ground_truth as gt
from tests.builders import SpanSet

# attribute -> what older conventions or other libraries call it
RENAMES = {
    "messaging.destination.name": ["messaging.destination", "messaging.kafka.topic"],
    "messaging.operation.type": ["messaging.operation"],
    "messaging.operation": ["messaging.operation.type", "messaging.operation.name"],
    "messaging.system": ["messaging.system.name"],
    "messaging.message.id": ["messaging.message_id", "message.id"],
    "server.address": ["net.peer.name", "net.sock.peer.addr"],
    "http.request.method": ["http.method"],
    "url.full": ["http.url"],
    "db.system.name": ["db.system"],
}


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _wrong_type(rng: random.Random, value: dict[str, Any]) -> dict[str, Any]:
    v = value.get("stringValue", "x")
    return rng.choice([
        {"intValue": str(rng.randint(-5, 10**12))}, {"stringValue": ""},
        {"arrayValue": {"values": [{"stringValue": v}, {"intValue": "3"}]}},
        {"boolValue": True}, {"doubleValue": 1e308},
        {"stringValue": v + " \u00e9\u4e2d\U0001F600<script>'\"%;"}, {"stringValue": v * 50}])


def _sampled_spans(scenario: str, rng: random.Random,
                   traces: int) -> list[tuple[dict, dict, dict]]:
    """(resource, scope, span) of ``traces`` traces of ``scenario``, drawn with ``rng``."""
    out = []
    with open(gt.data_path(scenario), "rb") as fh:
        for line in fh:
            if line.strip():
                for rs in json.loads(line)["resourceSpans"]:
                    for ss in rs["scopeSpans"]:
                        out += [(rs["resource"], ss.get("scope", {}), sp) for sp in ss["spans"]]
    keep = set(rng.sample(sorted({s[2]["traceId"] for s in out}), traces))
    return [s for s in out if s[2]["traceId"] in keep]


def _requests(spans: list, rng: random.Random, size: Callable[[], int]) -> list[bytes]:
    """The spans, shuffled with ``rng``, as OTLP/JSON requests of ``size()`` spans each."""
    spans = list(spans)
    rng.shuffle(spans)
    requests, i = [], 0
    while i < len(spans):
        n = size()
        requests.append(json.dumps({"resourceSpans": [
            {"resource": r, "scopeSpans": [{"scope": sc, "spans": [sp]}]}
            for r, sc, sp in spans[i:i + n]]}).encode())
        i += n
    return requests


def damaged(scenario: str, seed: int, p: float = 1.0, traces: int = 30) -> list[bytes]:
    """OTLP/JSON requests of ``traces`` traces of ``scenario``, damaged (see the module's
    docstring) with probabilities scaled by ``p``."""
    rng = random.Random(seed)
    spans = [(r, sc, copy.deepcopy(sp)) for r, sc, sp in _sampled_spans(scenario, rng, traces)]

    def service(res: dict) -> str:
        return next(a["value"]["stringValue"] for a in res["attributes"]
                    if a["key"] == "service.name")

    skew = {s: rng.choice([0, 0, 1, -1]) * rng.randint(0, 5_000_000_000)
            for s in sorted({service(r) for r, _, _ in spans})}
    out = []
    for res, sc, sp in spans:
        if rng.random() < p * 0.1:
            continue  # sampled away
        attrs = []
        for a in sp.get("attributes", []):
            x = rng.random()
            if x < p * 0.15:
                continue
            if x < p * 0.35 and a["key"] in RENAMES:
                a = {"key": rng.choice(RENAMES[a["key"]]), "value": a["value"]}
            elif x < p * 0.42 and not a["key"].startswith("messaging.destination"):
                # (a destination of another type than a string names a topic by its
                # text, a JSON array's included: not what this test is about)
                a = {"key": a["key"], "value": _wrong_type(rng, a["value"])}
            attrs.append(a)
        sp["attributes"] = attrs
        y = rng.random()
        if sp.get("parentSpanId"):
            if y < p * 0.08:
                sp["parentSpanId"] = _hex(rng, 16)  # the parent never arrives
            elif y < p * 0.12:
                sp["parentSpanId"] = ""             # context dropped: a root
            elif y < p * 0.15:
                sp["traceId"], sp["parentSpanId"] = _hex(rng, 32), ""  # ... in a new trace
        if sp.get("links") and rng.random() < p * 0.2:
            sp["links"] = []
        elif rng.random() < p * 0.03:
            sp.setdefault("links", []).append({"traceId": _hex(rng, 32),
                                               "spanId": _hex(rng, 16)})
        s0 = int(sp["startTimeUnixNano"]) + skew[service(res)]
        e0 = int(sp["endTimeUnixNano"]) + skew[service(res)]
        z = rng.random()
        if z < p * 0.03:
            e0 = s0                           # no duration: a mark
        elif z < p * 0.05:
            e0 = s0 - rng.randint(1, 10**6)   # ends before it starts
        sp["startTimeUnixNano"], sp["endTimeUnixNano"] = str(s0), str(e0)
        if rng.random() < p * 0.02:
            sp["name"] = ""
        if rng.random() < p * 0.03:
            sp["status"] = {"code": 2, "message": "boom <b>"}
        out.append((res, sc, sp))
        if rng.random() < p * 0.03:
            out.append((res, sc, copy.deepcopy(sp)))  # an exporter's retry
    return _requests(out, rng, lambda: rng.randint(1, 200))


# what older conventions call the attributes (every one the analyzer reads by both names)
LEGACY = {"messaging.destination.name": "messaging.destination",
          "messaging.operation.type": "messaging.operation",
          "messaging.message.id": "messaging.message_id",
          "messaging.consumer.group.name": "messaging.kafka.consumer.group",
          "messaging.message.conversation_id": "messaging.conversation_id",
          "server.address": "net.peer.name", "http.request.method": "http.method",
          "url.full": "http.url", "db.system.name": "db.system"}


def rewritten(scenario: str, seed: int, change: str, traces: int = 30) -> tuple[list[bytes],
                                                                             list[bytes]]:
    """``traces`` traces of ``scenario`` as OTLP/JSON requests, and the same traces changed
    in a way that means the same (``change``), sent in other batches and another order."""
    rng = random.Random(seed)
    spans = _sampled_spans(scenario, rng, traces)
    changed = [(r, sc, copy.deepcopy(sp)) for r, sc, sp in spans]
    by_id = {sp["spanId"]: sp for _, _, sp in changed}
    if change == "legacy":  # half the attributes under their older names
        for _, _, sp in changed:
            for a in sp.get("attributes", []):
                if a["key"] in LEGACY and rng.random() < 0.5:
                    a["key"] = LEGACY[a["key"]]
    elif change == "retries":  # a fifth of the spans sent twice
        changed += [(r, sc, copy.deepcopy(sp)) for r, sc, sp in changed if rng.random() < 0.2]
    elif change == "inner_unnamed":  # a client's producer span in a framework's names nothing
        for _, _, sp in changed:
            parent = by_id.get(sp.get("parentSpanId"))
            if sp.get("kind") == 4 and parent is not None and parent.get("kind") == 4:
                sp["attributes"] = [a for a in sp.get("attributes", [])
                                    if not a["key"].startswith("messaging.destination")]
    else:
        raise ValueError(change)
    before = _requests(spans, rng, lambda: 200)
    n = rng.randint(1, 300)
    return before, _requests(changed, rng, lambda: n)


def _load(requests: list[bytes]) -> Store:
    st = Store.open(":memory:")
    for r in requests:
        st.write(decode_request(parse_json_request(r)))
    return st


@pytest.mark.parametrize("scenario,seed", [("choreography", 0), ("orchestration", 0),
                                           ("hybrid", 0), ("choreography", 3),
                                           ("choreography", 10), ("choreography", 12)])
def test_damaged_traces_analysed_consistently(scenario, seed):
    requests = damaged(scenario, seed)
    st = _load(requests)
    try:
        a = analyze(st)
        d = a.to_dict()
        json.dumps(d, allow_nan=False)  # finite numbers only
        assert a.edges and a.flows
        for e in a.edges:
            assert e["count"] > 0
            assert e["p50_ms"] <= e["p95_ms"], e["id"]
            assert edge_detail(st, e["id"])["count"] == e["count"], e["id"]
        for n in a.nodes:
            assert edge_detail(st, n["id"])["count"] >= 0
        for f in a.flows:
            assert 0 <= f["error_rate"] <= 1
            view = flow_for_trace(st, f["example_trace_ids"][0])
            assert view["spans"]
    finally:
        st.close()
    # the same spans, sent in another order
    shuffled = list(requests)
    random.Random(seed + 1).shuffle(shuffled)
    st2 = _load(shuffled)
    try:
        assert analyze(st2).to_dict() == d
    finally:
        st2.close()


def test_client_span_of_no_duration_is_one_call():
    """A client span that is a mark (no duration: it ended as it handed the request on)
    reaching its server is one call, in the edge and in its detail, not a call keyed by the
    server and another to the peer the client span names."""
    b = SpanSet()
    for i in range(3):
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=i * 100, dur_ms=50)
        call = b.span("orders", "POST", kind="CLIENT", parent=root, start_ms=i * 100 + 5,
                      dur_ms=0 if i < 2 else 10,
                      attrs={"peer.service": "email", "server.address": "email",
                             "http.request.method": "POST"})
        b.span("email", "POST /emails", kind="SERVER", parent=call, start_ms=i * 100 + 6,
               dur_ms=8)
    st = b.store()
    a = analyze(st)
    assert {e["id"]: e["count"] for e in a.edges} == {"service:orders->service:email": 3}
    assert edge_detail(st, "service:orders->service:email")["count"] == 3


_SEND = {"messaging.system": "kafka", "messaging.operation.type": "send"}
_ONE_PUBLISH = {"service:orders->topic:order.placed": 2,
                "topic:order.placed->service:billing": 2}


def _nested_publishes(outer_names_topic: bool) -> Store:
    """Two orders, each published by a producer span naming nothing ("send", a client's)
    inside another (a framework's) that names order.placed, or names nothing either; the
    consumer, naming order.placed, is the inner span's child."""
    b = SpanSet()
    for i in range(2):
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=i * 100, dur_ms=50)
        if outer_names_topic:
            outer = b.producer("orders", "order.placed", parent=root, start_ms=i * 100 + 2)
        else:
            outer = b.span("orders", "publish", kind="PRODUCER", parent=root,
                           start_ms=i * 100 + 2, dur_ms=1, attrs=_SEND)
        inner = b.span("orders", "send", kind="PRODUCER", parent=outer,
                       start_ms=i * 100 + 2.1, dur_ms=0.5, attrs=_SEND)
        b.consumer("billing", "order.placed", parent=inner, start_ms=i * 100 + 10)
    return b.store()


def _one_publish_in_edges_and_details(st: Store) -> Any:
    a = analyze(st)
    assert {e["id"]: e["count"] for e in a.edges} == _ONE_PUBLISH
    for edge, n in _ONE_PUBLISH.items():
        assert edge_detail(st, edge)["count"] == n, edge
    assert edge_detail(st, "service:orders->topic:unknown")["count"] == 0
    return a


def test_unnamed_producer_inside_a_named_one_is_that_publish():
    """A framework's producer span names the topic, the client's inside it names nothing
    and is the consumers' parent: one publish to the topic, in the edge and its detail."""
    a = _one_publish_in_edges_and_details(_nested_publishes(outer_names_topic=True))
    # the inner span is on the publish's hop of the critical path too, not on one of its own
    hops = [h["hop"] for f in a.flows for h in f["critical_path"]]
    assert "service:orders->topic:order.placed" in hops
    assert not [h for h in hops if "unknown" in h]


def test_unnamed_producers_nested_go_where_their_deliveries_say():
    """Two producer spans naming nothing, one inside the other, the consumer under the inner
    naming its topic: one publish to that topic, in the edge and its detail, and none to
    'unknown'."""
    _one_publish_in_edges_and_details(_nested_publishes(outer_names_topic=False))


def test_consumer_naming_nothing_is_its_producers_topic_not_unknown():
    """A consumer span naming no destination under a producer naming its topic is a delivery
    from that topic: the 'unknown' edge's detail does not count it either."""
    b = SpanSet()
    for i in range(2):
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=i * 100, dur_ms=50)
        pub = b.producer("orders", "order.placed", parent=root, start_ms=i * 100 + 2)
        b.span("billing", "process", kind="CONSUMER", parent=pub, start_ms=i * 100 + 10,
               attrs={"messaging.system": "kafka", "messaging.operation.type": "process"})
    # and one that names nothing and has no producer: the 'unknown' edge's one delivery
    b.span("billing", "process", kind="CONSUMER", start_ms=500,
           attrs={"messaging.system": "kafka", "messaging.operation.type": "process"})
    st = b.store()
    a = analyze(st)
    edges = {e["id"]: e["count"] for e in a.edges}
    assert edges["topic:order.placed->service:billing"] == 2
    for edge, n in edges.items():
        assert edge_detail(st, edge)["count"] == n, edge
    assert edge_detail(st, "topic:unknown->service:billing")["count"] == \
        edges.get("topic:unknown->service:billing", 0)


@pytest.mark.parametrize("change", ["legacy", "retries", "inner_unnamed"])
@pytest.mark.parametrize("scenario", ["choreography", "hybrid"])
def test_what_means_the_same_is_analysed_the_same(scenario, change):
    """Older attribute names, exporter retries, a nested producer span that names nothing
    (and other batches, another order): the same analysis, critical paths included."""
    before, after = rewritten(scenario, 7, change)
    st, st2 = _load(before), _load(after)
    try:
        a = analyze(st).to_dict()
        assert a["edges"] and a["flows"]
        assert analyze(st2).to_dict() == a
    finally:
        st.close()
        st2.close()


def test_consumer_naming_nothing_goes_where_its_publish_went():
    """A publish naming no destination goes where its deliveries say it went; a delivery
    that names none either is from there too, not from 'unknown' (one message, one topic on
    the map), in the edges and in their details."""
    b = SpanSet()
    for i in range(2):
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=i * 100, dur_ms=50)
        pub = b.span("orders", "publish", kind="PRODUCER", parent=root, start_ms=i * 100 + 2,
                     dur_ms=1, attrs=_SEND)
        b.consumer("billing", "order.placed", parent=pub, start_ms=i * 100 + 10)
        b.span("audit", "process", kind="CONSUMER", parent=pub, start_ms=i * 100 + 12,
               attrs={"messaging.system": "kafka", "messaging.operation.type": "process"})
    st = b.store()
    a = analyze(st)
    want = {"service:orders->topic:order.placed": 2,
            "topic:order.placed->service:billing": 2, "topic:order.placed->service:audit": 2}
    assert {e["id"]: e["count"] for e in a.edges} == want
    for edge, n in want.items():
        assert edge_detail(st, edge)["count"] == n, edge
    assert edge_detail(st, "topic:unknown->service:audit")["count"] == 0
    assert not a.anomalies
