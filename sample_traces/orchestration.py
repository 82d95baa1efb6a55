"""Scenario 2 -- orchestration: order-service calls every service synchronously.

POST /orders on order-service: INSERT orders, gRPC OTP check (answers at once), reserve stock
(HTTP), charge payment (HTTP; 20 % of attempts answer 503, retried up to 3 attempts, then the
reservation is released and the order fails), recommendations (gRPC; recommendation-service
first enriches through catalog-service), logistics partner assignment (HTTP, the slow hop),
e-mail (HTTP) and seller notification (HTTP; an old Flask instrumentation with legacy
``http.method``/``http.status_code``).  No messaging at all.
"""

from __future__ import annotations

from opentelemetry.context import Context

from . import semconv as sc
from .scenario import Scenario
from .sim import FailureDeck

PAYMENT_FAILURE_RATE = 0.2
PAYMENT_MAX_ATTEMPTS = 3
PROVIDER_DOWN = sc.ErrorSpec("payments.gateway.ProviderUnavailable",
                             "payment provider unavailable (503)", "payments.api.create_payment")


class Orchestration(Scenario):
    """Synchronous orchestration; see the module docstring for the ground truth."""

    name = "orchestration"

    def setup(self) -> None:
        self.payment_failures = FailureDeck(self.rng, PAYMENT_FAILURE_RATE)
        for name in ("order-service", "otp-service", "inventory-service", "payment-service",
                     "recommendation-service", "catalog-service", "logistics-service",
                     "email-service", "seller-notification-service"):
            self.svc(name)

    def _call(self, caller: str, callee: str, ctx: Context, t: int, method: str, route: str, path: str,
              handler: sc.ServerHandler, legacy_server: bool = False) -> tuple[int, int]:
        return sc.http_call(self.svc(caller), self.svc(callee), ctx, t, self.rng, method=method,
                            route=route, path=path, handler=handler, legacy_server=legacy_server)

    def _db_handler(self, service: str, op: str, table: str, sql: str, work_ms: float = 1.0,
                    status: int = 200) -> sc.ServerHandler:
        def handler(ctx: Context, t: int) -> tuple[int, int, sc.ErrorSpec | None]:
            t = sc.db_query(self.svc(service), ctx, t + self.latency(work_ms), self.rng, op, table, sql)
            return t + self.latency(0.5), status, None

        return handler

    def place_order(self, order_id: str, t_ns: int) -> None:
        svc = self.svc("order-service")
        server = self.checkout_request(t_ns, "203.0.113.24", "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0")
        ctx = sc.context_of(server)
        t = sc.db_query(svc, ctx, t_ns + self.latency(0.5), self.rng, "INSERT", "orders",
                        "INSERT INTO orders (id, customer_id, total) VALUES (%s, %s, %s)")
        t, _ = sc.grpc_call(svc, self.svc("otp-service"), ctx, t + self.latency(0.2), self.rng,
                            service="shop.otp.v1.OtpService", method="Verify", handler=self._otp)
        t, _ = self._call("order-service", "inventory-service", ctx, t + self.latency(0.2), "POST",
                          "/reservations", "/reservations",
                          self._db_handler("inventory-service", "UPDATE", "stock",
                                           "UPDATE stock SET reserved = reserved + %s WHERE sku = %s",
                                           status=201))
        paid = False
        for attempt in range(PAYMENT_MAX_ATTEMPTS):
            if attempt:
                t += int(self.latency(200 * 2 ** (attempt - 1), 0.1))  # client back-off
            t, status = self._call("order-service", "payment-service", ctx, t + self.latency(0.2),
                                   "POST", "/payments", "/payments", self._payment)
            if status < 400:
                paid = True
                break
        if not paid:
            # Compensate: release the stock, answer 502 to the shopper.
            t, _ = self._call("order-service", "inventory-service", ctx, t + self.latency(0.2), "DELETE",
                              "/reservations/<order_id>", f"/reservations/{order_id}",
                              self._db_handler("inventory-service", "DELETE", "reservations",
                                               "DELETE FROM reservations WHERE order_id = %s"))
            server.set_attribute("http.response.status_code", 502)
            server.set_status(sc.Status(sc.StatusCode.ERROR))
            server.end(end_time=t + self.latency(0.3))
            return
        t, _ = sc.grpc_call(svc, self.svc("recommendation-service"), ctx, t + self.latency(0.2), self.rng,
                            service="shop.recommendation.v1.RecommendationService",
                            method="GetRecommendations", handler=self._recommend)
        t, _ = self._call("order-service", "logistics-service", ctx, t + self.latency(0.2), "POST",
                          "/shipments", "/shipments", self._logistics)
        t, _ = self._call("order-service", "email-service", ctx, t + self.latency(0.2), "POST",
                          "/emails", "/emails", self._email)
        t, _ = self._call("order-service", "seller-notification-service", ctx, t + self.latency(0.2),
                          "POST", "/notifications", "/notifications",
                          self._db_handler("seller-notification-service", "SELECT", "sellers",
                                           "SELECT email, webhook_url FROM sellers WHERE id = %s",
                                           work_ms=2, status=202),
                          legacy_server=True)
        server.set_attribute("http.response.status_code", 201)
        server.end(end_time=t + self.latency(0.4))

    def _otp(self, ctx: Context, t: int) -> tuple[int, int, sc.ErrorSpec | None]:
        """The OTP check must answer at once: in-memory lookup, no downstream call."""
        return t + self.latency(2.5), 0, None

    def _payment(self, ctx: Context, t: int) -> tuple[int, int, sc.ErrorSpec | None]:
        svc = self.svc("payment-service")
        t = sc.db_query(svc, ctx, t + self.latency(0.3), self.rng, "SELECT", "payment_methods",
                        "SELECT * FROM payment_methods WHERE customer_id = %s")
        t += self.latency(110)  # payment provider
        if self.payment_failures.draw():
            return t + self.latency(0.3), 503, PROVIDER_DOWN
        t = sc.db_query(svc, ctx, t, self.rng, "INSERT", "payments",
                        "INSERT INTO payments (order_id, amount, status) VALUES (%s, %s, %s)")
        return t + self.latency(0.3), 201, None

    def _recommend(self, ctx: Context, t: int) -> tuple[int, int, sc.ErrorSpec | None]:
        """Enrich first (product details from catalog-service), then rank and answer."""
        t, _ = self._call("recommendation-service", "catalog-service", ctx, t + self.latency(0.3), "GET",
                          "/products", "/products?related_to=order",
                          self._db_handler("catalog-service", "SELECT", "products",
                                           "SELECT * FROM products WHERE category_id = ANY(%s)"))
        t = sc.internal(self.svc("recommendation-service"), ctx, t + self.latency(0.2),
                        "rank recommendations", self.latency(18))
        return t + self.latency(0.3), 0, None

    def _logistics(self, ctx: Context, t: int) -> tuple[int, int, sc.ErrorSpec | None]:
        """The slow hop: partner assignment takes ~450 ms."""
        svc = self.svc("logistics-service")
        t = sc.internal(svc, ctx, t + self.latency(0.3), "assign logistics partner", self.latency(450))
        t = sc.db_query(svc, ctx, t, self.rng, "INSERT", "shipments",
                        "INSERT INTO shipments (order_id, partner_id) VALUES (%s, %s)")
        return t + self.latency(0.3), 201, None

    def _email(self, ctx: Context, t: int) -> tuple[int, int, sc.ErrorSpec | None]:
        t = sc.internal(self.svc("email-service"), ctx, t + self.latency(0.3),
                        "send order confirmation", self.latency(30))
        return t + self.latency(0.3), 202, None
