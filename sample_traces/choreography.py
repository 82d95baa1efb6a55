"""Scenario 1 -- choreography: services only react to events.

order-service publishes ``order.placed`` (nested PRODUCER spans) and ``order.audit`` (nobody
consumes it).  ``order.placed`` fans out to payment-service, inventory-service and
seller-notification-service (which loses the trace context).  payment-service fails 30 % of
its attempts; Kafka redelivers the same message up to 3 attempts, then it goes to
``order.placed.dlq`` (support-service).  ``payment.completed`` goes to logistics-service (one
worker: its queue backs up at peak load) and to analytics-service (batch consumer with links).
logistics-service publishes ``shipment.scheduled`` to RabbitMQ through old pika
instrumentation (legacy attribute names); email-service consumes it (also legacy).
"""

from __future__ import annotations

from . import semconv as sc
from .scenario import Scenario
from .sim import FailureDeck
from .sim import Message

PAYMENT_FAILURE_RATE = 0.3
PAYMENT_MAX_ATTEMPTS = 3
GATEWAY_ERROR = sc.ErrorSpec("payments.gateway.GatewayError",
                             "payment provider returned 502 Bad Gateway", "payments.gateway.charge")


class Choreography(Scenario):
    """Event-driven flow; see the module docstring for the ground truth."""

    name = "choreography"

    def setup(self) -> None:
        self.payment_failures = FailureDeck(self.rng, PAYMENT_FAILURE_RATE)
        k, r = self.kafka, self.rabbitmq
        k.subscribe("order.placed", "payment-service", self.on_payment, workers=4,
                    max_attempts=PAYMENT_MAX_ATTEMPTS, redelivery_ms=2000)
        k.subscribe("order.placed", "inventory-service", self.on_inventory, workers=4)
        k.subscribe("order.placed", "seller-notification-service", self.on_seller, workers=2)
        k.subscribe("payment.completed", "logistics-service", self.on_logistics_payment, workers=1)
        k.subscribe_batch("payment.completed", "analytics-service", self.on_analytics_batch,
                          poll_ms=4000, max_batch=50)
        k.subscribe("inventory.reserved", "logistics-service", self.on_logistics_inventory, workers=4)
        k.subscribe("order.placed.dlq", "support-service", self.on_dlq, workers=1)
        r.subscribe("shipment.scheduled", "email-service", self.on_email, workers=2)
        for name in ("order-service", "payment-service", "inventory-service",
                     "seller-notification-service", "logistics-service", "email-service",
                     "analytics-service", "support-service"):
            self.svc(name)

    # order-service: POST /orders is the entry point (the browser is not instrumented)
    def place_order(self, order_id: str, t_ns: int) -> None:
        svc = self.svc("order-service")
        server = self.checkout_request(t_ns, "203.0.113.24", "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0")
        ctx = sc.context_of(server)
        t = sc.db_query(svc, ctx, t_ns + self.latency(0.5), self.rng, "INSERT", "orders",
                        "INSERT INTO orders (id, customer_id, total) VALUES (%s, %s, %s)")
        payload = {"order_id": order_id, "amount": round(self.rng.uniform(9, 400), 2)}
        t, _ = sc.publish(svc, self.kafka, "order.placed", order_id, ctx, t + self.latency(0.3),
                          self.rng, style="nested", payload=payload)
        t, _ = sc.publish(svc, self.kafka, "order.audit", order_id, ctx, t + self.latency(0.2),
                          self.rng, payload=payload)
        server.set_attribute("http.response.status_code", 201)
        server.end(end_time=t + self.latency(0.4))

    def on_payment(self, msg: Message, t_ns: int) -> tuple[int, bool]:
        """Charge the order; fails PAYMENT_FAILURE_RATE of the attempts (redelivered)."""
        svc = self.svc("payment-service")
        span = sc.start_process(svc, self.kafka, msg, "payment-service", t_ns)
        ctx = sc.context_of(span)
        t = sc.db_query(svc, ctx, t_ns + self.latency(0.3), self.rng, "SELECT", "payment_methods",
                        "SELECT * FROM payment_methods WHERE customer_id = %s")
        t += self.latency(120)  # the call to the payment provider
        if self.payment_failures.draw():
            sc.record_error(span, t, GATEWAY_ERROR)
            if msg.attempt + 1 >= PAYMENT_MAX_ATTEMPTS:
                # Retries exhausted: park the message on the dead-letter topic.
                t, _ = sc.publish(svc, self.kafka, "order.placed.dlq", msg.key, ctx,
                                  t + self.latency(0.5), self.rng, payload=msg.payload)
            span.end(end_time=t + self.latency(0.3))
            return t + self.latency(0.3), False
        t = sc.db_query(svc, ctx, t, self.rng, "INSERT", "payments",
                        "INSERT INTO payments (order_id, amount, status) VALUES (%s, %s, %s)")
        t, _ = sc.publish(svc, self.kafka, "payment.completed", msg.key, ctx, t + self.latency(0.3),
                          self.rng, payload=msg.payload)
        return self.finish(span, t), True

    def on_inventory(self, msg: Message, t_ns: int) -> tuple[int, bool]:
        svc = self.svc("inventory-service")
        span = sc.start_process(svc, self.kafka, msg, "inventory-service", t_ns, mode="parent+link")
        ctx = sc.context_of(span)
        t = sc.db_query(svc, ctx, t_ns + self.latency(0.3), self.rng, "UPDATE", "stock",
                        "UPDATE stock SET reserved = reserved + %s WHERE sku = %s", median_ms=6)
        t, _ = sc.publish(svc, self.kafka, "inventory.reserved", msg.key, ctx, t + self.latency(0.3),
                          self.rng, payload=msg.payload)
        return self.finish(span, t), True

    def on_seller(self, msg: Message, t_ns: int) -> tuple[int, bool]:
        """The handler runs on a thread pool that never extracts the headers: lost context."""
        svc = self.svc("seller-notification-service")
        span = sc.start_process(svc, self.kafka, msg, "seller-notification-service", t_ns, mode="lost")
        ctx = sc.context_of(span)
        t = sc.db_query(svc, ctx, t_ns + self.latency(0.4), self.rng, "SELECT", "sellers",
                        "SELECT email, webhook_url FROM sellers WHERE id = %s")
        t = sc.internal(svc, ctx, t + self.latency(0.2), "notify seller", self.latency(25))
        return self.finish(span, t), True

    def on_logistics_payment(self, msg: Message, t_ns: int) -> tuple[int, bool]:
        """Partner assignment is slow (~300 ms) and has a single worker: the slow hop."""
        svc = self.svc("logistics-service")
        span = sc.start_process(svc, self.kafka, msg, "logistics-service", t_ns)
        ctx = sc.context_of(span)
        t = sc.internal(svc, ctx, t_ns + self.latency(0.3), "assign logistics partner",
                        self.latency(280), {"logistics.partner.candidates": self.rng.randint(2, 6)})
        t = sc.db_query(svc, ctx, t, self.rng, "INSERT", "shipments",
                        "INSERT INTO shipments (order_id, partner_id) VALUES (%s, %s)")
        payload = dict(msg.payload, routing_key="shipment.scheduled.email")
        t, _ = sc.publish(svc, self.rabbitmq, "shipment.scheduled", msg.key, ctx, t + self.latency(0.3),
                          self.rng, style="legacy", payload=payload,
                          routing_key="shipment.scheduled.email")
        return self.finish(span, t), True

    def on_logistics_inventory(self, msg: Message, t_ns: int) -> tuple[int, bool]:
        svc = self.svc("logistics-service")
        span = sc.start_process(svc, self.kafka, msg, "logistics-service", t_ns)
        t = sc.db_query(svc, sc.context_of(span), t_ns + self.latency(0.3), self.rng, "INSERT",
                        "pick_lists", "INSERT INTO pick_lists (order_id, sku) VALUES (%s, %s)")
        return self.finish(span, t), True

    def on_analytics_batch(self, msgs: list[Message], t_ns: int) -> int:
        """One process span for the whole poll, linked to every message's producer."""
        svc = self.svc("analytics-service")
        span = sc.start_batch_process(svc, self.kafka, msgs, "analytics-service", t_ns)
        t = sc.db_query(svc, sc.context_of(span), t_ns + self.latency(0.5), self.rng, "INSERT",
                        "order_facts", "INSERT INTO order_facts SELECT * FROM unnest(%s)",
                        median_ms=4 + len(msgs))
        return self.finish(span, t, 0.5)

    def on_email(self, msg: Message, t_ns: int) -> tuple[int, bool]:
        svc = self.svc("email-service")
        span = sc.start_process(svc, self.rabbitmq, msg, "email-service", t_ns, style="legacy")
        t = sc.internal(svc, sc.context_of(span), t_ns + self.latency(0.3),
                        "send shipment confirmation", self.latency(35))
        return self.finish(span, t), True


__all__ = ["Choreography", "PAYMENT_FAILURE_RATE", "PAYMENT_MAX_ATTEMPTS"]
