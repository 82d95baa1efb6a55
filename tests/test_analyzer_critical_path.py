"""The critical path of one flow instance and the coordination style (pure functions)."""

from __future__ import annotations

from analyzer.critical_path import critical_path
from analyzer.style import classify


def sp(span_id, t0, t1, *, parent=None, trace="t1", service="a", kind="INTERNAL", role=None,
       topic=None, hop=None, err=False):
    d = {"trace_id": trace, "span_id": span_id, "parent_span_id": parent, "service": service,
         "kind": kind, "role": role, "topic": topic, "t0": t0, "t1": t1, "err": err,
         "hop_type": None, "hop_src": None, "hop_dst": None}
    if hop:
        d["hop_type"], d["hop_src"], d["hop_dst"] = hop
    return d


def by_hop(cp):
    return {f"{h}|{k}": v for (h, k), v in cp.by_hop.items()}


def test_synchronous_crisp_walks_back_through_last_finishing_child():
    spans = [
        sp("root", 0, 100, service="api"),
        sp("c1", 10, 40, parent="root", service="api"),   # finishes before c2 starts
        sp("c2", 50, 90, parent="root", service="api"),
        sp("c3", 20, 60, parent="root", service="api"),   # overlaps c2: not on the path
    ]
    cp = critical_path(spans)
    assert cp.duration == 100
    assert [k[1] for k in cp.spans] == ["root", "c1", "c2"]
    assert sum(g.end - g.start for g in cp.segments) == 100


def test_consumer_extends_the_flow_past_its_producer_and_queue_is_attributed():
    spans = [
        sp("root", 0, 20, service="orders", kind="SERVER"),
        sp("pub", 5, 7, parent="root", service="orders", kind="PRODUCER", role="P",
           topic="placed"),
        sp("con", 30, 40, trace="t2", service="billing", kind="CONSUMER", role="C",
           topic="placed", hop=("consume", "topic:placed", "service:billing")),
    ]
    cp = critical_path(spans, [("t2", "con", "t1", "pub", "link")])
    assert (cp.start, cp.end) == (0, 40)
    h = by_hop(cp)
    assert h["topic:placed->service:billing|queue"] == 23
    assert h["service:billing|processing"] == 10
    assert h["service:orders->topic:placed|call"] == 2
    assert h["service:orders|processing"] == 5  # 0..5; root's time after the publish is off-path
    assert ("t2", "con") in cp.async_children


def test_batch_consumer_follows_the_last_producer():
    spans = [sp("p1", 0, 5, trace="a", role="P", topic="x"),
             sp("p2", 10, 20, trace="b", role="P", topic="x"),
             sp("c", 30, 35, trace="c", role="C", topic="x", service="batch")]
    m = [("c", "c", "a", "p1", "link"), ("c", "c", "b", "p2", "link")]
    cp = critical_path(spans, m)
    assert cp.causal_parent[("c", "c")] == ("b", "p2")
    assert by_hop(cp)["topic:x->service:batch|queue"] == 10


def test_a_message_its_consumer_sends_again_waits_out_a_retry_not_the_queue():
    """A task that retries itself publishes its own message again (same id, same queue)
    from under its delivery: the next delivery's wait is retry time. A different message
    sent to the same queue by the same worker (a chain's next task) waited in the queue."""
    consume = ("consume", "topic:jobs", "service:worker")

    def flow(resent_id, first_id="m1"):
        spans = [
            sp("pub", 0, 2, service="api", kind="PRODUCER", role="P", topic="jobs"),
            sp("run1", 5, 15, service="worker", kind="CONSUMER", role="C", topic="jobs",
               hop=consume),
            sp("again", 10, 11, parent="run1", service="worker", kind="PRODUCER", role="P",
               topic="jobs"),
            sp("run2", 111, 121, service="worker", kind="CONSUMER", role="C", topic="jobs",
               hop=consume),
        ]
        spans[0]["msg_id"], spans[1]["msg_id"] = "m1", first_id
        spans[2]["msg_id"], spans[3]["msg_id"] = resent_id, resent_id
        m = [("t1", "run1", "t1", "pub", "parent"), ("t1", "run2", "t1", "again", "parent")]
        return by_hop(critical_path(spans, m))

    h = flow("m1")
    assert h["topic:jobs->service:worker|queue"] == 3
    assert h["topic:jobs->service:worker|retry"] == 100
    # (a delivery naming no id has its publish's: Taskiq's execute span names none)
    assert flow("m1", first_id=None) == h
    h = flow("m2")
    assert h["topic:jobs->service:worker|queue"] == 103
    assert "topic:jobs->service:worker|retry" not in h


def test_a_redelivery_follows_the_attempt_before_it_when_that_one_had_ended():
    """The same message delivered again to the same service, destination and group after
    an attempt that had ended (failed or not: Dramatiq's worker span ends OK when its actor
    raised) waited for the redelivery. A delivery overlapping the one before it (a
    duplicate), or through another subscription of the service, waited in its queue."""
    consume = ("consume", "topic:jobs", "service:worker")

    def wait_of(second_start, second_topic="jobs", group=None):
        spans = [
            sp("pub", 0, 2, service="api", kind="PRODUCER", role="P", topic="jobs"),
            sp("run1", 5, 15, service="worker", kind="CONSUMER", role="C", topic="jobs",
               hop=consume),
            sp("run2", second_start, second_start + 10, service="worker", kind="CONSUMER",
               role="C", topic=second_topic, hop=consume),
        ]
        spans[2]["cgroup"] = group
        m = [("t1", "run1", "t1", "pub", "parent"), ("t1", "run2", "t1", "pub", "parent")]
        h = by_hop(critical_path(spans, m))
        return {k.split("|")[1]: v for k, v in h.items() if k.startswith("topic:jobs->")}

    assert wait_of(215) == {"queue": 3, "retry": 200}
    assert wait_of(10) == {"queue": 8}              # (a duplicate: run2 ends last)
    assert wait_of(215, group="audit") == {"queue": 203}
    assert wait_of(215, second_topic="jobs-audit") == {"queue": 203}


def test_skewed_children_are_clipped():
    # a 90 ns server "starting" before its 100 ns client: its clock runs behind
    spans = [sp("root", 100, 200, service="api", kind="CLIENT",
                hop=("call", "service:api", "service:db")),
             sp("srv", 90, 180, parent="root", service="db", kind="SERVER")]
    cp = critical_path(spans)
    assert cp.skewed == 1
    assert (cp.start, cp.end) == (100, 200)
    assert by_hop(cp) == {"service:db|processing": 80, "service:api->service:db|call": 20}


def test_work_a_parent_did_not_wait_for_is_not_clipped():
    # a server longer than its client (or a span of no duration) was not waited for: it is
    # work handed on (Temporal's zero-length StartActivity span and the activity's run)
    spans = [sp("root", 0, 300, service="api", kind="SERVER"),
             sp("start", 10, 10, parent="root", service="api", kind="CLIENT",
                hop=("call", "service:api", "service:worker")),
             sp("run", 50, 450, parent="start", service="worker", kind="SERVER")]
    cp = critical_path(spans)
    assert cp.skewed == 0
    assert (cp.start, cp.end) == (0, 450)
    assert by_hop(cp)["service:worker|processing"] == 400


def test_a_link_back_into_ones_own_ancestors_does_not_loop():
    spans = [sp("root", 0, 50, role="P", topic="x"),
             sp("child", 10, 20, parent="root", role="C", topic="x")]
    # a consumer "matched" to a producer that is its own ancestor through the tree
    cp = critical_path(spans, [("t1", "root", "t1", "child", "link"),
                               ("t1", "child", "t1", "root", "parent")])
    assert cp is not None and cp.duration == 50


def test_several_roots_hang_under_a_virtual_root():
    spans = [sp("a", 0, 10, trace="t1"), sp("b", 30, 40, trace="t2", service="b")]
    cp = critical_path(spans)
    assert (cp.start, cp.end) == (0, 40)
    assert by_hop(cp)["|wait"] == 20


def test_style_orchestration_by_calls():
    hops = [("call", "service:gw", "service:orders")] + [
        ("call", "service:orders", f"service:{s}") for s in ("pay", "stock", "ship")]
    r = classify(hops, {}, "gw")
    assert r["style"] == "orchestration"
    assert r["measure"]["central_service"] == "orders"
    assert r["measure"]["ingress_calls"] == 1 and r["measure"]["orchestrated"] == 3


def test_style_orchestration_by_commands_and_replies():
    hops = [("publish", "service:orders", "topic:pay-cmd"),
            ("consume", "topic:pay-cmd", "service:pay"),
            ("publish", "service:pay", "topic:pay-reply"),
            ("consume", "topic:pay-reply", "service:orders"),
            ("publish", "service:orders", "topic:ship-cmd"),
            ("consume", "topic:ship-cmd", "service:ship"),
            ("publish", "service:ship", "topic:ship-reply"),
            ("consume", "topic:ship-reply", "service:orders")]
    offsets = {"topic:pay-cmd->service:pay": 1, "topic:pay-reply->service:orders": 2,
               "topic:ship-cmd->service:ship": 3, "topic:ship-reply->service:orders": 4}
    r = classify(hops, offsets, "orders")
    assert r["style"] == "orchestration" and r["measure"]["orchestrated"] == 4


def test_style_choreography_fan_out_and_chain():
    hops = [("publish", "service:orders", "topic:placed"),
            ("consume", "topic:placed", "service:pay"),
            ("consume", "topic:placed", "service:stock"),
            ("publish", "service:pay", "topic:paid"),
            ("consume", "topic:paid", "service:ship"),
            ("call", "service:ship", "service:carrier"),     # a dependency, not coordination
            ("call", "service:pay", "external:postgresql")]
    r = classify(hops, {}, "orders")
    assert r["style"] == "choreography"
    assert r["measure"]["event_driven"] == 3 and r["measure"]["other_sync"] == 1


def test_style_hybrid_and_none():
    hops = [("call", "service:orders", "service:stock"),
            ("call", "service:orders", "service:pay"),
            ("publish", "service:orders", "topic:confirmed"),
            ("consume", "topic:confirmed", "service:mail"),
            ("consume", "topic:confirmed", "service:ship")]
    assert classify(hops, {}, "orders")["style"] == "hybrid"
    assert classify([("call", "service:a", "external:pg")], {}, "a")["style"] == "none"
    assert classify([("call", "service:a", "service:b")], {}, "a")["style"] == "none"


def _ask(requester: str, target: str, subject: str, at: float,
         offsets: dict[str, float]) -> list[tuple[str, str, str]]:
    """A request sent as a message to ``subject`` and its answer on a reply inbox."""
    offsets[f"topic:{subject}->service:{target}"] = at
    offsets[f"topic:(temporary:nats)->service:{requester}"] = at + 1
    return [("publish", f"service:{requester}", f"topic:{subject}"),
            ("consume", f"topic:{subject}", f"service:{target}"),
            ("publish", f"service:{target}", "topic:(temporary:nats)"),
            ("consume", "topic:(temporary:nats)", f"service:{requester}")]


def test_style_request_over_a_broker_is_a_call():
    """A request answered on a reply inbox (NATS request/reply, RabbitMQ RPC) is a call made
    over the broker: alone it coordinates nothing, as one HTTP call does not; a service
    asking two others so orchestrates them; beside an event it is a dependency."""
    offsets: dict[str, float] = {}
    r = classify(_ask("orders", "pricing", "quote", 1, offsets), offsets, "orders")
    assert r["style"] == "none" and r["measure"]["other_sync"] == 2
    offsets = {}
    # (a flow type's hops are its distinct edges: both answers reach orders by one)
    hops = list(dict.fromkeys(_ask("orders", "pricing", "quote", 1, offsets)
                              + _ask("orders", "stock", "reserve", 3, offsets)))
    r = classify(hops, offsets, "orders")
    assert r["style"] == "orchestration" and r["measure"]["orchestrated"] == 4
    offsets = {"topic:placed->service:billing": 5}
    hops = _ask("orders", "pricing", "quote", 1, offsets) + [
        ("publish", "service:orders", "topic:placed"),
        ("consume", "topic:placed", "service:billing")]
    r = classify(hops, offsets, "orders")
    assert r["style"] == "choreography"
    assert (r["measure"]["event_driven"], r["measure"]["other_sync"]) == (1, 2)
