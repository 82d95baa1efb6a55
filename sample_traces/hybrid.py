"""Scenario 3 -- hybrid: an orchestrated saga for payment and inventory, events for the rest.

order-service (the saga orchestrator) answers POST /orders: INSERT orders, reserves stock
synchronously on inventory-service (HTTP; inventory-service may publish ``inventory.low_stock``,
which nobody consumes), then sends the ``payment.requested`` command.  payment-service fails
30 % of its attempts (redelivered up to 3 attempts; then ``payment.requested.dlq`` for
support-service and a ``payment.failed`` reply).  Its ``payment.completed`` reply is published
through nested PRODUCER spans.  order-service consumes the replies: on success it publishes
``order.confirmed`` (email-service -- one slow worker, links only; logistics-service;
seller-notification-service as a batched digest with links), on failure it releases the
reservation (HTTP DELETE) and publishes ``order.cancelled`` to RabbitMQ (legacy pika
attributes), consumed by email-service.
"""

from __future__ import annotations

from opentelemetry.context import Context

from . import semconv as sc
from .scenario import Scenario
from .sim import FailureDeck
from .sim import Message

PAYMENT_FAILURE_RATE = 0.3
PAYMENT_MAX_ATTEMPTS = 3
LOW_STOCK_RATE = 0.1
DECLINED = sc.ErrorSpec("payments.gateway.CardDeclined", "card declined by issuer (do_not_honor)",
                        "payments.gateway.charge")


class Hybrid(Scenario):
    """Saga orchestration plus event notifications; see the module docstring."""

    name = "hybrid"

    def setup(self) -> None:
        self.payment_failures = FailureDeck(self.rng, PAYMENT_FAILURE_RATE)
        k, r = self.kafka, self.rabbitmq
        k.subscribe("payment.requested", "payment-service", self.on_payment_requested, workers=4,
                    max_attempts=PAYMENT_MAX_ATTEMPTS, redelivery_ms=2000)
        k.subscribe("payment.completed", "order-service", self.on_payment_completed, workers=4)
        k.subscribe("payment.failed", "order-service", self.on_payment_failed, workers=2)
        k.subscribe("payment.requested.dlq", "support-service", self.on_dlq, workers=1)
        k.subscribe("order.confirmed", "email-service", self.on_confirmed_email, workers=1)
        k.subscribe("order.confirmed", "logistics-service", self.on_confirmed_logistics, workers=4)
        k.subscribe_batch("order.confirmed", "seller-notification-service", self.on_seller_digest,
                          poll_ms=5000, max_batch=40)
        r.subscribe("order.cancelled", "email-service", self.on_cancelled_email, workers=2)
        for name in ("order-service", "inventory-service", "payment-service", "email-service",
                     "logistics-service", "seller-notification-service", "support-service"):
            self.svc(name)

    def place_order(self, order_id: str, t_ns: int) -> None:
        svc = self.svc("order-service")
        server = self.checkout_request(t_ns, "198.51.100.7", "Mozilla/5.0 (Macintosh) Safari/605.1.15")
        ctx = sc.context_of(server)
        t = sc.db_query(svc, ctx, t_ns + self.latency(0.5), self.rng, "INSERT", "orders",
                        "INSERT INTO orders (id, customer_id, total, saga_state) VALUES (%s, %s, %s, 'STARTED')")
        # Saga step 1 (synchronous): reserve the stock.
        t, _ = sc.http_call(svc, self.svc("inventory-service"), ctx, t + self.latency(0.2), self.rng,
                            method="POST", route="/reservations", path="/reservations",
                            handler=self._reserve)
        # Saga step 2 (command message): charge.
        payload = {"order_id": order_id, "amount": round(self.rng.uniform(9, 400), 2)}
        t, _ = sc.publish(svc, self.kafka, "payment.requested", order_id, ctx, t + self.latency(0.3),
                          self.rng, payload=payload)
        server.set_attribute("http.response.status_code", 202)
        server.end(end_time=t + self.latency(0.4))

    def _reserve(self, ctx: Context, t: int) -> tuple[int, int, sc.ErrorSpec | None]:
        svc = self.svc("inventory-service")
        t = sc.db_query(svc, ctx, t + self.latency(0.3), self.rng, "UPDATE", "stock",
                        "UPDATE stock SET reserved = reserved + %s WHERE sku = %s RETURNING available",
                        median_ms=6)
        if self.chance(LOW_STOCK_RATE):
            t, _ = sc.publish(svc, self.kafka, "inventory.low_stock", f"SKU-{self.rng.randint(1000, 9999)}",
                              ctx, t + self.latency(0.2), self.rng)
        return t + self.latency(0.4), 201, None

    def on_payment_requested(self, msg: Message, t_ns: int) -> tuple[int, bool]:
        svc = self.svc("payment-service")
        span = sc.start_process(svc, self.kafka, msg, "payment-service", t_ns)
        ctx = sc.context_of(span)
        t = sc.db_query(svc, ctx, t_ns + self.latency(0.3), self.rng, "SELECT", "payment_methods",
                        "SELECT * FROM payment_methods WHERE customer_id = %s")
        t += self.latency(120)
        if self.payment_failures.draw():
            sc.record_error(span, t, DECLINED)
            if msg.attempt + 1 >= PAYMENT_MAX_ATTEMPTS:
                t, _ = sc.publish(svc, self.kafka, "payment.requested.dlq", msg.key, ctx,
                                  t + self.latency(0.5), self.rng, payload=msg.payload)
                t, _ = sc.publish(svc, self.kafka, "payment.failed", msg.key, ctx, t + self.latency(0.3),
                                  self.rng, payload=msg.payload)
            span.end(end_time=t + self.latency(0.3))
            return t + self.latency(0.3), False
        t = sc.db_query(svc, ctx, t, self.rng, "INSERT", "payments",
                        "INSERT INTO payments (order_id, amount, status) VALUES (%s, %s, %s)")
        t, _ = sc.publish(svc, self.kafka, "payment.completed", msg.key, ctx, t + self.latency(0.3),
                          self.rng, style="nested", payload=msg.payload)
        return self.finish(span, t), True

    def on_payment_completed(self, msg: Message, t_ns: int) -> tuple[int, bool]:
        svc = self.svc("order-service")
        span = sc.start_process(svc, self.kafka, msg, "order-service", t_ns)
        ctx = sc.context_of(span)
        t = sc.db_query(svc, ctx, t_ns + self.latency(0.3), self.rng, "UPDATE", "orders",
                        "UPDATE orders SET saga_state = 'CONFIRMED' WHERE id = %s")
        t, _ = sc.publish(svc, self.kafka, "order.confirmed", msg.key, ctx, t + self.latency(0.3),
                          self.rng, payload=msg.payload)
        return self.finish(span, t), True

    def on_payment_failed(self, msg: Message, t_ns: int) -> tuple[int, bool]:
        """Compensation: release the reservation, cancel, tell the customer (RabbitMQ)."""
        svc = self.svc("order-service")
        span = sc.start_process(svc, self.kafka, msg, "order-service", t_ns)
        ctx = sc.context_of(span)
        t, _ = sc.http_call(svc, self.svc("inventory-service"), ctx, t_ns + self.latency(0.3), self.rng,
                            method="DELETE", route="/reservations/<order_id>",
                            path=f"/reservations/{msg.key}", handler=self._release)
        t = sc.db_query(svc, ctx, t + self.latency(0.2), self.rng, "UPDATE", "orders",
                        "UPDATE orders SET saga_state = 'CANCELLED' WHERE id = %s")
        payload = dict(msg.payload, routing_key="order.cancelled.customer")
        t, _ = sc.publish(svc, self.rabbitmq, "order.cancelled", msg.key, ctx, t + self.latency(0.3),
                          self.rng, style="legacy", payload=payload, routing_key="order.cancelled.customer")
        return self.finish(span, t), True

    def _release(self, ctx: Context, t: int) -> tuple[int, int, sc.ErrorSpec | None]:
        t = sc.db_query(self.svc("inventory-service"), ctx, t + self.latency(0.3), self.rng, "DELETE",
                        "reservations", "DELETE FROM reservations WHERE order_id = %s")
        return t + self.latency(0.3), 204, None

    def on_confirmed_email(self, msg: Message, t_ns: int) -> tuple[int, bool]:
        """The slow hop: one SMTP worker (~300 ms per mail) backs up at peak load.
        This consumer follows the current conventions: a new trace linked to the producer."""
        svc = self.svc("email-service")
        span = sc.start_process(svc, self.kafka, msg, "email-service", t_ns, mode="link")
        t = sc.internal(svc, sc.context_of(span), t_ns + self.latency(0.3), "send order confirmation",
                        self.latency(290))
        return self.finish(span, t), True

    def on_confirmed_logistics(self, msg: Message, t_ns: int) -> tuple[int, bool]:
        svc = self.svc("logistics-service")
        span = sc.start_process(svc, self.kafka, msg, "logistics-service", t_ns)
        ctx = sc.context_of(span)
        t = sc.internal(svc, ctx, t_ns + self.latency(0.3), "assign logistics partner", self.latency(40))
        t = sc.db_query(svc, ctx, t, self.rng, "INSERT", "shipments",
                        "INSERT INTO shipments (order_id, partner_id) VALUES (%s, %s)")
        return self.finish(span, t), True

    def on_seller_digest(self, msgs: list[Message], t_ns: int) -> int:
        """Sellers get a digest: one process span per poll, linked to each order's producer."""
        svc = self.svc("seller-notification-service")
        span = sc.start_batch_process(svc, self.kafka, msgs, "seller-notification-service", t_ns)
        t = sc.internal(svc, sc.context_of(span), t_ns + self.latency(0.5), "send seller digest",
                        self.latency(20 + 2 * len(msgs)))
        return self.finish(span, t, 0.4)

    def on_cancelled_email(self, msg: Message, t_ns: int) -> tuple[int, bool]:
        svc = self.svc("email-service")
        span = sc.start_process(svc, self.rabbitmq, msg, "email-service", t_ns, style="legacy")
        t = sc.internal(svc, sc.context_of(span), t_ns + self.latency(0.3), "send cancellation email",
                        self.latency(30))
        return self.finish(span, t), True
