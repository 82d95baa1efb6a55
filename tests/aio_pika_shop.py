"""Services on a real RabbitMQ through aio-pika (asyncio), instrumented by
opentelemetry-instrumentation-aio-pika, for tests/test_real_broker.py.

    python -m tests.aio_pika_shop produce SERVICE N            # N orders, exchange "orders"
    python -m tests.aio_pika_shop work SERVICE QUEUE N [NEXT]  # N messages, each forwarded
                                                               # to the queue NEXT
    python -m tests.aio_pika_shop serve SERVICE METHOD N       # answer N calls of METHOD
    python -m tests.aio_pika_shop ask SERVICE METHOD N         # N requests, each waiting
                                                               # for its answer

``serve`` and ``ask`` use aio-pika's RPC pattern (aio_pika.patterns.RPC): a request goes
through the default exchange to the queue named METHOD, with a reply_to naming the
client's own reply queue, which a robust channel declares as ``amq_<uuid>``; the answer
goes through the default exchange to that queue.

Environment: ``AMQP_PORT`` (the broker on 127.0.0.1), ``OTLP_ENDPOINT`` (gRPC). The
topology is tests/pika_shop.py's (``python -m tests.pika_shop setup``).
"""

from __future__ import annotations

import asyncio
import os
import sys

import aio_pika
from opentelemetry import trace
from opentelemetry.instrumentation.aio_pika import AioPikaInstrumentor

from tests.pika_shop import EXCHANGE
from tests.shop_tracing import run_role


def _url() -> str:
    return f"amqp://guest:guest@127.0.0.1:{os.environ['AMQP_PORT']}/"


async def produce(service: str, n: int) -> None:
    tracer = trace.get_tracer("tests.aio_pika_shop")
    async with await aio_pika.connect_robust(_url()) as conn:
        channel = await conn.channel()
        exchange = await channel.get_exchange(EXCHANGE)
        for i in range(n):
            with tracer.start_as_current_span("POST /orders", kind=trace.SpanKind.SERVER):
                await exchange.publish(aio_pika.Message(
                    f'{{"order": {i}}}'.encode(), message_id=f"{service}-{i}",
                    correlation_id=f"req-{i}"), routing_key="order.placed")


async def work(queue_name: str, n: int, forward: str | None) -> None:
    tracer = trace.get_tracer("tests.aio_pika_shop")
    async with await aio_pika.connect_robust(_url()) as conn:
        channel = await conn.channel()
        queue = await channel.get_queue(queue_name)
        done = asyncio.Event()
        seen = 0

        async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal seen
            async with message.process():
                with tracer.start_as_current_span(f"handle {queue_name}"):
                    await asyncio.sleep(0.005)
                    if forward is not None:
                        # To the default exchange, straight to the queue of that name.
                        await channel.default_exchange.publish(aio_pika.Message(
                            message.body, message_id=f"{message.message_id}-{forward}",
                            correlation_id=message.correlation_id), routing_key=forward)
            seen += 1
            if seen == n:
                done.set()

        await queue.consume(handle)
        await asyncio.wait_for(done.wait(), 60)


async def serve(method: str, n: int) -> None:
    from aio_pika.patterns import RPC

    tracer = trace.get_tracer("tests.aio_pika_shop")
    async with await aio_pika.connect_robust(_url()) as conn:
        rpc = await RPC.create(await conn.channel())
        done = asyncio.Event()
        answered = 0

        async def answer(*, order: int) -> int:
            nonlocal answered
            with tracer.start_as_current_span(f"handle {method}"):
                await asyncio.sleep(0.005)
            answered += 1
            if answered == n:  # (after its answer went out)
                asyncio.get_running_loop().call_later(0.5, done.set)
            return order * 10

        await rpc.register(method, answer, auto_delete=True)
        await asyncio.wait_for(done.wait(), 60)


async def ask(method: str, n: int) -> None:
    from aio_pika.patterns import RPC

    tracer = trace.get_tracer("tests.aio_pika_shop")
    async with await aio_pika.connect_robust(_url()) as conn:
        rpc = await RPC.create(await conn.channel())
        for i in range(n):
            with tracer.start_as_current_span("POST /orders", kind=trace.SpanKind.SERVER):
                assert await getattr(rpc.proxy, method)(order=i) == i * 10


def main(argv: list[str]) -> None:
    service = argv[1]
    run_role(service, AioPikaInstrumentor().instrument, argv[0], {
        "produce": lambda: asyncio.run(produce(service, int(argv[2]))),
        "work": lambda: asyncio.run(work(argv[2], int(argv[3]),
                                         argv[4] if len(argv) > 4 else None)),
        "serve": lambda: asyncio.run(serve(argv[2], int(argv[3]))),
        "ask": lambda: asyncio.run(ask(argv[2], int(argv[3])))})


if __name__ == "__main__":
    main(sys.argv[1:])
