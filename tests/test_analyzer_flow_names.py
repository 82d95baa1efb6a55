"""Flow types one entry starts are told apart by name (analyzer.flow_names)."""

from __future__ import annotations

import random

from analyzer import analyze
from analyzer.flow_names import add_variants, flow_title
from analyzer.render import render
from tests.builders import SpanSet

S, T = "service:", "topic:"


def _types(*hop_lists: list[str], name: str = "POST /orders (orders)") -> list[dict]:
    return [{"id": f"flow:{i}", "name": name, "entry_service": "orders", "hops": hops}
            for i, hops in enumerate(hop_lists)]


# The demo's six types of one entry (their hops, shortened to the nodes that matter).
CHOREO = [f"{S}orders->{T}order.placed", f"{T}order.placed->{S}payments",
          f"{S}payments->{T}payment.completed", f"{T}payment.completed->{S}shipping",
          f"{S}shipping->{T}shipment.scheduled", f"{T}shipment.scheduled->{S}email"]
ORCH = [f"{S}orders->{S}payments", f"{S}orders->{S}shipping", f"{S}orders->{S}email",
        f"{S}orders->{S}catalog"]
HYBRID = [f"{S}orders->{T}payment.requested", f"{T}payment.requested->{S}payments",
          f"{S}payments->{T}payment.completed", f"{T}payment.completed->{S}orders",
          f"{S}orders->{T}order.confirmed", f"{T}order.confirmed->{S}email"]
LOW_STOCK = HYBRID + [f"{S}orders->{T}inventory.low_stock"]
DLQ = CHOREO[:2] + [f"{S}payments->{T}order.placed.dlq", f"{T}order.placed.dlq->{S}support"]


def test_a_name_no_other_type_has_gets_no_variant():
    flows = _types(CHOREO) + _types(HYBRID, name="process order.confirmed (email)")
    add_variants(flows)
    assert [f["variant"] for f in flows] == [None, None]
    assert flow_title(flows[0]) == "POST /orders (orders)"


def test_types_of_one_entry_are_named_by_what_only_they_reach():
    flows = _types(CHOREO, ORCH, HYBRID, LOW_STOCK, DLQ)
    add_variants(flows)
    assert [f["variant"] for f in flows] == [
        "with shipment.scheduled",  # (only the choreography reaches it)
        "with catalog",
        # (order.confirmed rules out all but the low-stock type, which has everything it has)
        "with order.confirmed, without inventory.low_stock",
        "with inventory.low_stock",
        "with order.placed.dlq",
    ]
    assert flow_title(flows[4]) == "POST /orders (orders) · with order.placed.dlq"


def test_of_elements_as_rare_the_one_where_the_paths_part_names_the_type():
    # (the choreography's own elements are all as rare; payment.completed is where it
    # parts from the dead-letter path, email the last it reaches)
    flows = _types(CHOREO, DLQ)
    add_variants(flows)
    assert [f["variant"] for f in flows] == ["with payment.completed", "with order.placed.dlq"]


def test_a_type_reaching_nothing_of_its_own_is_named_by_what_it_misses():
    flows = _types(HYBRID, LOW_STOCK)
    add_variants(flows)
    assert [f["variant"] for f in flows] == ["without inventory.low_stock",
                                             "with inventory.low_stock"]


def test_more_elements_are_named_where_one_does_not_tell_types_apart():
    a = [f"{S}orders->{T}x", f"{S}orders->{T}y"]
    b = [f"{S}orders->{T}x", f"{S}orders->{T}z"]
    c = [f"{S}orders->{T}y", f"{S}orders->{T}z"]
    flows = _types(a, b, c, [f"{S}orders->{T}w"])
    add_variants(flows)
    labels = [f["variant"] for f in flows]
    assert len(set(labels)) == 4, labels
    assert labels[3] == "with w"


def _fits(label: str, nodes: set[str]) -> bool:
    """Whether a type reaching ``nodes`` (names) fits a variant ``with a, b, without c``."""
    want, word = {"with": set(), "without": set()}, "with"
    for part in label.split(", "):
        for w in ("without ", "with "):
            if part.startswith(w):
                word, part = w.strip(), part[len(w):]
                break
        want[word].add(part)
    return want["with"] <= nodes and not want["without"] & nodes


def test_a_variant_fits_its_own_type_and_no_other_of_its_name():
    rng = random.Random(7)
    for _ in range(200):
        pool = [f"{T}t{k}" for k in range(8)]
        hop_lists = {tuple(sorted({f"{S}orders->{x}" for x in rng.sample(pool, rng.randint(1, 5))}))
                     for _ in range(rng.randint(2, 7))}
        flows = _types(*[list(h) for h in hop_lists])
        add_variants(flows)
        reach = [{h.split("->")[1].split(":")[1] for h in f["hops"]} | {"orders"}
                 for f in flows]
        for f, own in zip(flows, reach):
            if f["variant"].count(",") < 3:  # (not cut at MAX_FACTS)
                fits = [i for i, r in enumerate(reach) if _fits(f["variant"], r)]
                assert fits == [flows.index(f)], (f["variant"], reach)


def test_the_same_nodes_joined_otherwise_are_named_by_their_hops():
    one = [f"{S}orders->{T}placed", f"{T}placed->{S}billing", f"{S}billing->{S}orders"]
    other = [f"{S}orders->{T}placed", f"{T}placed->{S}billing", f"{S}orders->{S}billing"]
    flows = _types(one, other)
    add_variants(flows)
    assert [f["variant"] for f in flows] == ["with billing → orders", "with orders → billing"]


def test_a_variant_does_not_depend_on_the_order_or_the_counts_of_the_types():
    hops = [CHOREO, ORCH, HYBRID, LOW_STOCK, DLQ]
    first = _types(*hops)
    add_variants(first)
    want = {tuple(f["hops"]): f["variant"] for f in first}
    for seed in range(5):
        again = _types(*random.Random(seed).sample(hops, len(hops)))
        add_variants(again)
        assert {tuple(f["hops"]): f["variant"] for f in again} == want


def _order(b: SpanSet, t: float, dlq: bool) -> None:
    root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=5)
    pub = b.producer("orders", "order.placed", parent=root, start_ms=t + 1)
    run = b.consumer("payments", "order.placed", parent=pub, start_ms=t + 10, dur_ms=5,
                     status="ERROR" if dlq else "UNSET")
    if dlq:
        dead = b.producer("payments", "order.placed.dlq", parent=run, start_ms=t + 12)
        b.consumer("support", "order.placed.dlq", parent=dead, start_ms=t + 20)
    else:
        done = b.producer("payments", "payment.completed", parent=run, start_ms=t + 12)
        b.consumer("shipping", "payment.completed", parent=done, start_ms=t + 20)


def test_an_analysis_names_the_paths_one_request_takes():
    b = SpanSet()
    for i in range(6):
        _order(b, i * 100, dlq=i % 3 == 2)
    a = analyze(b.store())
    titles = {f["count"]: flow_title(f) for f in a.flows}
    assert titles == {4: "POST /orders (orders) · with payment.completed",
                      2: "POST /orders (orders) · with order.placed.dlq"}
    assert {f["variant"] for f in a.to_dict()["flows"]} == {"with payment.completed",
                                                          "with order.placed.dlq"}
    text = render(a, "text")
    assert "POST /orders (orders) · with order.placed.dlq: 2 instances" in text


def test_a_gateway_whose_every_route_is_one_span_name_gets_a_name_per_type():
    """Older HTTP instrumentation names every server span ``HTTP POST``: a gateway's entry
    then starts hundreds of types of one name, each named by where it goes."""
    rng = random.Random(3)
    backends = [f"{S}svc{k}" for k in range(60)]
    hop_lists = {tuple(sorted({f"{S}gateway->{b}" for b in rng.sample(backends, 3)}))
                 for _ in range(400)}
    flows = [{"id": f"flow:{i}", "name": "HTTP POST (gateway)", "entry_service": "gateway",
              "hops": list(h)} for i, h in enumerate(hop_lists)]
    add_variants(flows)
    assert len({f["variant"] for f in flows}) == len(flows)
    assert not any("(" in f["variant"] for f in flows)  # (none numbered: each told apart)
