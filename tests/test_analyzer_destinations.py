"""Destinations named per entity (a topic per device, tenant, order) are one topic node:
analyzer.destinations groups their names, and every stage, the edge detail and the flow view
see the group."""

from __future__ import annotations

import pytest

from analyzer import analyze, edge_detail, flow_for_trace
from analyzer.destinations import MIN_NAMES, group_names, heuristic_template
from tests.analysis_checks import analysed_each
from tests.builders import SpanSet


@pytest.mark.parametrize("name, template", [
    ("sensors/dev-17/temp", "sensors/dev-{id}/temp"),
    ("sensors/dev17/temp", "sensors/dev{id}/temp"),
    ("orders.123.created", "orders.{id}.created"),
    ("user:42:notifications", "user:{id}:notifications"),
    ("carts.0f8fad5b-d9cb-469f-a165-70867728950e", "carts.{id}"),
    ("jobs.5f3a9c0e1b2d4e6f7a8b9c0d", "jobs.{id}"),             # an ObjectId
    ("inbox.01HZX3K9W8Q2M4N6P7R5T0V1YB", "inbox.{id}"),         # a ULID
    ("tenant-7-orders", "tenant-{id}-orders"),
])
def test_identifier_parts_become_a_placeholder(name, template):
    assert heuristic_template(name) == template


@pytest.mark.parametrize("name", [
    "orders", "order-placed", "payment.completed", "inventory.low_stock", "orders-dlq",
    "deadbeef", "shipment.scheduled", "amq.default",
])
def test_names_without_identifiers_have_no_template(name):
    assert heuristic_template(name) is None


def test_names_are_grouped_only_when_there_are_enough_of_them():
    many = [f"sensors/dev-{i}/temp" for i in range(MIN_NAMES)]
    few = [f"orders.v{i}" for i in range(1, 4)]  # three versions stay three topics
    plain = ["orders", "payment.completed", "unknown", "(temporary:nats)"]
    groups = group_names(many + few + plain)
    assert groups == {n: "sensors/dev-{id}/temp" for n in many}
    assert group_names(many[:-1]) == {}


def test_a_template_the_instrumentation_gave_takes_the_names_it_matches():
    """One look-alike is enough: the instrumentation said which names the template stands
    for. A placeholder spans one level, never a separator."""
    names = ["orders.{order_id}.created", "orders.17.created", "orders.A-9.created",
             "orders.17.shipped", "orders.1.2.created", "orders.created"]
    assert group_names(names) == {"orders.17.created": "orders.{order_id}.created",
                                  "orders.A-9.created": "orders.{order_id}.created"}


def _device_round(b: SpanSet, devices: list[str], t0: float, system_on_consumer: bool = True,
                  ) -> None:
    for k, dev in enumerate(devices):
        t = t0 + k * 10
        topic = f"sensors/{dev}/temp"
        pub = b.producer("thermostat-fw", topic, start_ms=t, dur_ms=2, system="mqtt")
        c = b.consumer("telemetry-ingest", topic, parent=pub, start_ms=t + 5, dur_ms=3,
                       system="mqtt")
        if not system_on_consumer:
            b.spans[-1].attrs.pop("messaging.system")
        b.span("telemetry-ingest", "INSERT readings", kind="CLIENT", parent=c,
               start_ms=t + 6, dur_ms=1, attrs={"db.system": "postgresql"})


def _edges(devices: int, rounds: int, topic: str) -> dict[str, tuple[str, int]]:
    n = devices * rounds
    return {"service:thermostat-fw->" + topic: ("publish", n),
            topic + "->service:telemetry-ingest": ("consume", n),
            "service:telemetry-ingest->external:postgresql": ("call", n)}


def test_a_topic_per_device_is_one_node_and_one_flow_type():
    """Twelve devices each publishing to its own MQTT topic, a backend consuming them all:
    one topic node standing for twelve names, one flow type of every flow, and the edge
    detail and the flow view on the same topic."""
    b = SpanSet()
    devices = [f"dev-{i}" for i in range(12)]
    for r in range(3):
        _device_round(b, devices, r * 1000)
    st = b.store()
    topic = "topic:sensors/dev-{id}/temp"
    a = analysed_each(st, _edges(12, 3, topic), [topic + "->service:telemetry-ingest"])
    (node,) = [n for n in a.nodes if n["type"] == "topic"]
    assert (node["id"], node["destination_names"], node["system"]) == (topic, 12, "mqtt")
    (flow,) = a.flows
    assert flow["count"] == 36
    # (named by the group its entry span's destination is in, not by one device's)
    assert flow["name"] == "send sensors/dev-{id}/temp (thermostat-fw)"
    detail = edge_detail(st, topic)
    assert detail["count"] == 72  # 36 publishes, 36 deliveries
    assert detail["destination_names"] == 12
    assert detail["destinations"] == "sensors/dev-0/temp, sensors/dev-1/temp, " \
        "sensors/dev-10/temp, …"
    view = flow_for_trace(st, flow["example_trace_ids"][0])
    assert view is not None and view["span_count"] == 3
    # (the map's detail panel says so, as text)
    from dashboard.pages.flow_map import detail_panel
    from tests.test_dashboard_app import ALL, text_of
    panel = text_of(detail_panel(topic, detail, ALL))
    assert "destination names 12" in panel
    assert "sensors/dev-0/temp, sensors/dev-1/temp" in panel


def test_below_the_threshold_each_name_stays_a_topic():
    b = SpanSet()
    devices = [f"dev-{i}" for i in range(MIN_NAMES - 1)]
    _device_round(b, devices, 0)
    a = analyze(b.store())
    topics = sorted(n["id"] for n in a.nodes if n["type"] == "topic")
    assert topics == sorted(f"topic:sensors/{d}/temp" for d in devices)
    assert not any("destination_names" in n for n in a.nodes)
    assert len(a.flows) == MIN_NAMES - 1


def test_producer_and_consumer_meet_whatever_system_their_spans_name():
    """The consumer spans name no messaging system: the names are grouped the same on both
    sides, so every delivery is still joined to its publish."""
    b = SpanSet()
    _device_round(b, [f"dev-{i}" for i in range(MIN_NAMES)], 0, system_on_consumer=False)
    topic = "topic:sensors/dev-{id}/temp"
    analysed_each(b.store(), _edges(MIN_NAMES, 1, topic), [topic + "->service:telemetry-ingest"])


def test_old_and_new_instrumentation_meet_at_the_template():
    """A service upgraded to instrumentation that sets messaging.destination.template: its
    new spans name the template, its old ones (and an old consumer) each order's subject.
    All are one topic; a single old name is enough to join it."""
    b = SpanSet()
    tmpl = {"messaging.destination.template": "orders.{order_id}.created"}
    for i in range(4):
        t = i * 100
        subject = f"orders.{1000 + i}.created"
        new = i % 2 == 0
        pub = b.producer("checkout", subject, start_ms=t, system="nats",
                         attrs=tmpl if new else None)
        b.consumer("billing", subject, parent=pub, start_ms=t + 5, system="nats",
                   legacy=True)
    st = b.store()
    topic = "topic:orders.{order_id}.created"
    a = analysed_each(st, {"service:checkout->" + topic: ("publish", 4),
                           topic + "->service:billing": ("consume", 4)},
                      [topic + "->service:billing"])
    (node,) = [n for n in a.nodes if n["type"] == "topic"]
    assert node["destination_names"] == 5  # the template and four subjects
