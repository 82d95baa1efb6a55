"""Ground truth of the committed sample scenarios, as data.

Analyzer and dashboard tests import this module to check their answers against files whose
right answer is known.  ``tests/test_sample_traces.py`` derives every fact below independently
from the span data in ``sample_traces/data/*.jsonl`` and fails if the two disagree, so keep both
in step when a scenario changes.

Node ids: ``service:<service.name>``, ``topic:<destination name>`` (Kafka topic or RabbitMQ
exchange) and ``external:<db.system>`` for a database (a CLIENT span with ``db.system`` and no
SERVER side).  Edges are ``(source, target, type)``:

* ``publish``  ``service -> topic`` -- a PRODUCER span of the service names the destination
  (nested PRODUCER spans for one message are still one edge);
* ``consume``  ``topic -> service`` -- a CONSUMER span of the service names the destination
  (whether its context arrived, was lost, or comes as span links of a batch);
* ``call``     ``service -> service`` -- a CLIENT span whose child SERVER span is in the callee;
  ``service -> external:postgresql`` -- a database CLIENT span.

Failure rates are per attempt; the generator deals failures like cards (exactly 3 in every 10
payment attempts for a rate of 0.3), so the observed rate in a file equals the stated rate up to
one partial block of 10 attempts -- the tests allow +-0.03.
"""

from __future__ import annotations

from typing import Any

Edge = tuple[str, str, str]

DATA_FILES = {
    "choreography": "data/choreography.jsonl",
    "orchestration": "data/orchestration.jsonl",
    "hybrid": "data/hybrid.jsonl",
}

#: The generator settings that produced the committed files.
SEED = 42
SPANS = 3000
#: Time window(s) of peak load: seconds [30, 50) of every 90-s cycle from the first span.
PEAK_WINDOW_S = (30.0, 50.0)
PEAK_CYCLE_S = 90.0


def _s(name: str) -> str:
    return f"service:{name}"


def _t(name: str) -> str:
    return f"topic:{name}"


PG = "external:postgresql"

CHOREOGRAPHY: dict[str, Any] = {
    "style": "choreography",
    "entry": _s("order-service"),  # POST /orders SERVER span, root of each order's trace
    "services": [_s(n) for n in ("order-service", "payment-service", "inventory-service",
                                  "seller-notification-service", "logistics-service", "email-service",
                                  "analytics-service", "support-service")],
    "topics": {  # node -> messaging.system
        _t("order.placed"): "kafka",
        _t("order.audit"): "kafka",
        _t("order.placed.dlq"): "kafka",
        _t("payment.completed"): "kafka",
        _t("inventory.reserved"): "kafka",
        _t("shipment.scheduled"): "rabbitmq",
    },
    "externals": [PG],
    "edges": [
        (_s("order-service"), _t("order.placed"), "publish"),
        (_s("order-service"), _t("order.audit"), "publish"),
        (_t("order.placed"), _s("payment-service"), "consume"),
        (_t("order.placed"), _s("inventory-service"), "consume"),
        (_t("order.placed"), _s("seller-notification-service"), "consume"),
        (_s("payment-service"), _t("payment.completed"), "publish"),
        (_s("payment-service"), _t("order.placed.dlq"), "publish"),
        (_t("order.placed.dlq"), _s("support-service"), "consume"),
        (_t("payment.completed"), _s("logistics-service"), "consume"),
        (_t("payment.completed"), _s("analytics-service"), "consume"),
        (_s("inventory-service"), _t("inventory.reserved"), "publish"),
        (_t("inventory.reserved"), _s("logistics-service"), "consume"),
        (_s("logistics-service"), _t("shipment.scheduled"), "publish"),
        (_t("shipment.scheduled"), _s("email-service"), "consume"),
        (_s("order-service"), PG, "call"),
        (_s("payment-service"), PG, "call"),
        (_s("inventory-service"), PG, "call"),
        (_s("seller-notification-service"), PG, "call"),
        (_s("logistics-service"), PG, "call"),
        (_s("analytics-service"), PG, "call"),
        (_s("support-service"), PG, "call"),
    ],
    "fan_out": {_t("order.placed"): [_s("payment-service"), _s("inventory-service"),
                                     _s("seller-notification-service")]},
    # Single worker, ~300 ms per message: queue time (consumer start - producer end) grows
    # to many seconds during the peak and drains afterwards; every other hop stays < 1 s.
    "slow_hop": {"edge": (_t("payment.completed"), _s("logistics-service"), "consume"),
                 "metric": "queue_time"},
    # 30 % of delivery attempts fail (ERROR status + exception event); Kafka redelivers the same
    # messaging.message.id up to 3 attempts; messages failing all 3 go to the dead-letter topic.
    "failing_hop": {"edge": (_t("order.placed"), _s("payment-service"), "consume"),
                    "failure_rate": 0.3, "max_attempts": 3, "retry": "redelivery"},
    # CONSUMER spans start a new trace: no parent, no link, but the message id matches a producer.
    "lost_context": {"edge": (_t("order.placed"), _s("seller-notification-service"), "consume")},
    # One process span per poll, messaging.batch.message_count = number of links, each link to a
    # `publish payment.completed` span (other trace) with the message id on the link.
    "batch": {"edge": (_t("payment.completed"), _s("analytics-service"), "consume"),
              "producer": _s("payment-service")},
    "dlq": {"topic": _t("order.placed.dlq"), "source": _t("order.placed"),
            "publisher": _s("payment-service"), "consumer": _s("support-service")},
    "unconsumed_topics": [_t("order.audit")],
    # pika instrumentation: messaging.destination / destination_kind / message_id /
    # messaging.operation=receive, net.peer.name, schema 1.11.0.
    "legacy_messaging": {"topics": [_t("shipment.scheduled")],
                         "services": [_s("logistics-service"), _s("email-service")]},
    "legacy_http": {"services": []},
    # `publish order.placed` (scope shop.eventbus) wraps `send order.placed` (Kafka client).
    "nested_producers": [(_s("order-service"), _t("order.placed"))],
    # Consumers whose process span is a new trace linked to the producer instead of a child.
    "link_only_consumers": [],
}

ORCHESTRATION: dict[str, Any] = {
    "style": "orchestration",
    "entry": _s("order-service"),
    "services": [_s(n) for n in ("order-service", "otp-service", "inventory-service", "payment-service",
                                  "recommendation-service", "catalog-service", "logistics-service",
                                  "email-service", "seller-notification-service")],
    "topics": {},
    "externals": [PG],
    "edges": [
        (_s("order-service"), _s("otp-service"), "call"),  # gRPC, answers at once (~3 ms)
        (_s("order-service"), _s("inventory-service"), "call"),
        (_s("order-service"), _s("payment-service"), "call"),
        (_s("order-service"), _s("recommendation-service"), "call"),  # gRPC, enriches first
        (_s("recommendation-service"), _s("catalog-service"), "call"),  # the enrichment
        (_s("order-service"), _s("logistics-service"), "call"),
        (_s("order-service"), _s("email-service"), "call"),
        (_s("order-service"), _s("seller-notification-service"), "call"),
        (_s("order-service"), PG, "call"),
        (_s("inventory-service"), PG, "call"),
        (_s("payment-service"), PG, "call"),
        (_s("catalog-service"), PG, "call"),
        (_s("logistics-service"), PG, "call"),
        (_s("seller-notification-service"), PG, "call"),
    ],
    "fan_out": {},
    # ~450 ms per call where every other call takes < 150 ms.
    "slow_hop": {"edge": (_s("order-service"), _s("logistics-service"), "call"), "metric": "duration"},
    # 20 % of POST /payments attempts answer 503 (SERVER span ERROR + exception event, CLIENT
    # span ERROR); order-service retries up to 3 attempts, then releases the reservation
    # (DELETE /reservations/<order_id>) and answers 502.
    "failing_hop": {"edge": (_s("order-service"), _s("payment-service"), "call"),
                    "failure_rate": 0.2, "max_attempts": 3, "retry": "client retry"},
    "lost_context": None,
    "batch": None,
    "dlq": None,
    "unconsumed_topics": [],
    "legacy_messaging": {"topics": [], "services": []},
    # Old Flask instrumentation: http.method, http.target, http.status_code, net.host.name.
    "legacy_http": {"services": [_s("seller-notification-service")]},
    "nested_producers": [],
    "link_only_consumers": [],
    "sync_immediate": (_s("order-service"), _s("otp-service"), "call"),
    "sync_enrich": {"edge": (_s("order-service"), _s("recommendation-service"), "call"),
                    "via": (_s("recommendation-service"), _s("catalog-service"), "call")},
}

HYBRID: dict[str, Any] = {
    "style": "hybrid",
    "entry": _s("order-service"),
    "orchestrator": _s("order-service"),
    "services": [_s(n) for n in ("order-service", "inventory-service", "payment-service", "email-service",
                                  "logistics-service", "seller-notification-service", "support-service")],
    "topics": {
        _t("payment.requested"): "kafka",
        _t("payment.requested.dlq"): "kafka",
        _t("payment.completed"): "kafka",
        _t("payment.failed"): "kafka",
        _t("order.confirmed"): "kafka",
        _t("inventory.low_stock"): "kafka",
        _t("order.cancelled"): "rabbitmq",
    },
    "externals": [PG],
    "edges": [
        (_s("order-service"), _s("inventory-service"), "call"),  # saga step 1 (+ compensation)
        (_s("order-service"), _t("payment.requested"), "publish"),  # saga step 2 (command)
        (_t("payment.requested"), _s("payment-service"), "consume"),
        (_s("payment-service"), _t("payment.completed"), "publish"),
        (_s("payment-service"), _t("payment.failed"), "publish"),
        (_s("payment-service"), _t("payment.requested.dlq"), "publish"),
        (_t("payment.requested.dlq"), _s("support-service"), "consume"),
        (_t("payment.completed"), _s("order-service"), "consume"),
        (_t("payment.failed"), _s("order-service"), "consume"),
        (_s("order-service"), _t("order.confirmed"), "publish"),
        (_s("order-service"), _t("order.cancelled"), "publish"),
        (_t("order.confirmed"), _s("email-service"), "consume"),
        (_t("order.confirmed"), _s("logistics-service"), "consume"),
        (_t("order.confirmed"), _s("seller-notification-service"), "consume"),
        (_t("order.cancelled"), _s("email-service"), "consume"),
        (_s("inventory-service"), _t("inventory.low_stock"), "publish"),
        (_s("order-service"), PG, "call"),
        (_s("inventory-service"), PG, "call"),
        (_s("payment-service"), PG, "call"),
        (_s("logistics-service"), PG, "call"),
        (_s("support-service"), PG, "call"),
    ],
    "fan_out": {_t("order.confirmed"): [_s("email-service"), _s("logistics-service"),
                                        _s("seller-notification-service")]},
    # One SMTP worker, ~300 ms per mail: the queue backs up at peak load.
    "slow_hop": {"edge": (_t("order.confirmed"), _s("email-service"), "consume"), "metric": "queue_time"},
    "failing_hop": {"edge": (_t("payment.requested"), _s("payment-service"), "consume"),
                    "failure_rate": 0.3, "max_attempts": 3, "retry": "redelivery"},
    "lost_context": None,
    "batch": {"edge": (_t("order.confirmed"), _s("seller-notification-service"), "consume"),
              "producer": _s("order-service")},
    "dlq": {"topic": _t("payment.requested.dlq"), "source": _t("payment.requested"),
            "publisher": _s("payment-service"), "consumer": _s("support-service")},
    "unconsumed_topics": [_t("inventory.low_stock")],
    "legacy_messaging": {"topics": [_t("order.cancelled")],
                         "services": [_s("order-service"), _s("email-service")]},
    "legacy_http": {"services": []},
    # `publish payment.completed` (shop.eventbus) wraps `send payment.completed` (Kafka client).
    "nested_producers": [(_s("payment-service"), _t("payment.completed"))],
    # email-service's order.confirmed process spans are new traces with a link to the producer
    # (what the current conventions recommend); that is not lost context.
    "link_only_consumers": [(_t("order.confirmed"), _s("email-service"), "consume")],
}

SCENARIOS: dict[str, dict[str, Any]] = {
    "choreography": CHOREOGRAPHY,
    "orchestration": ORCHESTRATION,
    "hybrid": HYBRID,
}


def edges(scenario: str) -> set[Edge]:
    """The expected edge set of a scenario."""
    return set(SCENARIOS[scenario]["edges"])


def nodes(scenario: str) -> set[str]:
    """All node ids of a scenario (services, topics, externals)."""
    gt = SCENARIOS[scenario]
    return set(gt["services"]) | set(gt["topics"]) | set(gt["externals"])


def data_path(scenario: str) -> str:
    """Absolute path of the committed scenario file."""
    import os

    return os.path.join(os.path.dirname(os.path.abspath(__file__)), DATA_FILES[scenario])
