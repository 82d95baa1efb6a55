"""nameko services on a real RabbitMQ, instrumented by nameko-opentelemetry
(opentelemetry-instrumentation-nameko), for tests/test_real_broker.py.

    python -m tests.nameko_shop serve SERVICE N   # run SERVICE until it handled N messages
    python -m tests.nameko_shop ask SERVICE N     # N orders through RPC to orders.create

The services: ``orders`` answers the RPC ``create``, dispatches the event
``order_created`` and publishes an audit record to the ``audit`` exchange (a nameko
Publisher), which the ``auditor`` consumes (a Consumer entrypoint on its queue);
``billing`` and ``shipping`` handle ``order_created``, billing calling the RPC
``payments.charge`` and then dispatching ``order_billed``; ``mailer`` handles
``order_billed``. So the shop mixes calls (the gateway's RPC, billing's, over the broker)
with choreography (events through each service's ``<service>.events`` exchange).

nameko runs on eventlet, whose green threads gRPC does not work under: these processes
export over OTLP/HTTP (``OTLP_HTTP_ENDPOINT``). ``AMQP_PORT`` is the broker on 127.0.0.1.
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # (before anything opens a socket or a thread: nameko's rule)

import os  # noqa: E402
import sys  # noqa: E402

from nameko import config  # noqa: E402
from kombu import Exchange, Queue  # noqa: E402
from nameko.events import EventDispatcher, event_handler  # noqa: E402
from nameko.messaging import Publisher, consume  # noqa: E402
from nameko.rpc import ServiceRpc, rpc  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402
from nameko.standalone.rpc import ClusterRpcClient  # noqa: E402
from nameko_opentelemetry import NamekoInstrumentor  # noqa: E402
from opentelemetry import trace  # noqa: E402

from tests.shop_tracing import run_role  # noqa: E402

# How many messages a service handles before it stops (set by main)
_LEFT = {"n": 0}
_DONE = eventlet.event.Event()


def _handled() -> None:
    _LEFT["n"] -= 1
    if _LEFT["n"] == 0 and not _DONE.ready():
        _DONE.send(True)


AUDIT = Exchange("audit", type="direct")
AUDIT_LOG = Queue("audit-log", exchange=AUDIT, routing_key="order")


class Orders:
    name = "orders"
    dispatch = EventDispatcher()
    audit = Publisher(exchange=AUDIT, declare=[AUDIT_LOG])

    @rpc
    def create(self, order: int) -> str:
        self.dispatch("order_created", {"order": order})
        self.audit({"order": order}, routing_key="order")
        _handled()
        return f"order-{order}"


class Auditor:
    name = "auditor"

    @consume(AUDIT_LOG)
    def record(self, payload: dict) -> None:
        _handled()


class Billing:
    name = "billing"
    dispatch = EventDispatcher()
    payments = ServiceRpc("payments")

    @event_handler("orders", "order_created")
    def bill(self, payload: dict) -> None:
        self.payments.charge(payload["order"])
        self.dispatch("order_billed", payload)
        _handled()


class Payments:
    name = "payments"

    @rpc
    def charge(self, order: int) -> str:
        _handled()
        return f"charge-{order}"


class Shipping:
    name = "shipping"

    @event_handler("orders", "order_created")
    def ship(self, payload: dict) -> None:
        _handled()


class Mailer:
    name = "mailer"

    @event_handler("billing", "order_billed")
    def mail(self, payload: dict) -> None:
        _handled()


SERVICES = {s.name: s for s in (Orders, Auditor, Billing, Payments, Shipping, Mailer)}


def serve(service: str, n: int) -> None:
    _LEFT["n"] = n
    runner = ServiceRunner()
    runner.add_service(SERVICES[service])
    runner.start()
    print("ready", flush=True)
    with eventlet.Timeout(60):
        _DONE.wait()
    runner.stop()


def ask(n: int) -> None:
    tracer = trace.get_tracer("tests.nameko_shop")
    with ClusterRpcClient() as client:
        for i in range(n):
            with tracer.start_as_current_span("POST /orders", kind=trace.SpanKind.SERVER):
                assert client.orders.create(i) == f"order-{i}"


def main() -> None:
    role, service, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    config.setup({"AMQP_URI": f"amqp://guest:guest@127.0.0.1:{os.environ['AMQP_PORT']}/"})
    run_role(service, lambda: NamekoInstrumentor().instrument(), role,
             {"serve": lambda: serve(service, n), "ask": lambda: ask(n)}, http=True)


if __name__ == "__main__":
    main()
