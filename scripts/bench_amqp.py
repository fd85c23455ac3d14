"""``make bench-amqp``: what the RabbitMQ client costs per message, on its own.

The floor under ``make bench``'s CPU per message: the services' bus does one confirmed
publish per event and one delivery with its ack per message handled, and here those are
measured alone — no HTTP, no store, no conversation — on a RabbitMQ virtual host of
their own (created at start, deleted at the end):

1. *client*: aiormq as the bus drives it — ``basic_publish`` of a 1 KB body, mandatory,
   waiting for the confirm, one at a time and 64 at once; then consuming those messages
   (prefetch 64) and acking each;
2. *bus*: ``RabbitBus.publish`` of a reply event (``outbound.viber.reply``: a CloudEvent
   serialised, as the dialog publishes it) 64 at once; then a ``RabbitBus`` subscription
   with a handler that does nothing (the event parsed and validated, acked).

Each line: CPU microseconds of this process per message (``time.process_time``), the
broker's (RabbitMQ's beam.smp, which serves every other virtual host too), messages per
second. A figure printer, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aio_pika
import aiormq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_proc import cpu_seconds, find_broker  # noqa: E402
from bench_reference import describe  # noqa: E402

from chatbot_common.bus import create_bus  # noqa: E402
from chatbot_common.events import Button, CloudEvent, Lane, OutboundMessage, make_event  # noqa: E402
from chatbot_common.runner import event_loop_factory  # noqa: E402
from tests.support import add_vhost, delete_vhost  # noqa: E402

QUEUE = "bench.amqp"


class Meter:
    """CPU of this process and of the broker, and wall time, across one measured step."""

    def __init__(self, broker: int | None) -> None:
        self.broker = broker

    async def measure(self, what: str, count: int, step: Callable[[], Awaitable[None]]) -> None:
        broker0 = cpu_seconds(self.broker) if self.broker else None
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await step()
        cpu1, wall1 = time.process_time(), time.perf_counter()
        broker = f"{1e6 * (cpu_seconds(self.broker) - broker0) / count:7.0f}" if broker0 is not None else "      ?"
        print(f"{what:<52} {1e6 * (cpu1 - cpu0) / count:7.0f} {broker} {count / (wall1 - wall0):9.0f}")


async def client(url: str, count: int, meter: Meter) -> None:
    connection = await aio_pika.connect_robust(url)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        queue = await channel.declare_queue(QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
        raw = await channel.get_underlay_channel()
        properties = aiormq.spec.Basic.Properties(delivery_mode=2, content_type="application/cloudevents+json",
                                                  message_id="m")
        body = b"x" * 1000

        async def publish(n: int) -> None:
            for _ in range(n):
                confirm = await raw.basic_publish(body, exchange="", routing_key=QUEUE, properties=properties,
                                                  mandatory=True)
                assert isinstance(confirm, aiormq.spec.Basic.Ack)

        await meter.measure("client: confirmed publish, one at a time", count // 4, lambda: publish(count // 4))
        await meter.measure("client: confirmed publish, 64 at once", count,
                            lambda: asyncio.gather(*(publish(count // 64) for _ in range(64))))
        total = count // 4 + count // 64 * 64
        consumer = await connection.channel()
        await consumer.set_qos(prefetch_count=64)
        done = asyncio.Event()
        seen = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal seen
            await message.ack()
            seen += 1
            if seen == total:
                done.set()

        source = await consumer.get_queue(QUEUE)
        tags: list[str] = []

        async def consume() -> None:
            tags.append(await source.consume(on_message))
            await done.wait()

        await meter.measure("client: delivery + ack (prefetch 64)", total, consume)
        await source.cancel(tags[0])
        await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()


def reply(n: int) -> CloudEvent:
    data = OutboundMessage(lane=Lane.reply, receivers=[f"viber-user-{n:06d}=="], resident_ids=[f"r-{n:06d}"],
                           text="Дякуємо! Ваше звернення прийнято, номер 12345. Ми повідомимо Вас про зміни.",
                           buttons=[Button(label="🏠 Головне меню", code="menu:home", columns=3),
                                    Button(label="📋 Мої звернення", code="menu:tickets", columns=3)])
    return make_event(data, source="/bench", correlationid=f"c-{n}")


async def bus(url: str, count: int, meter: Meter) -> None:
    handled = 0
    done = asyncio.Event()

    async def nothing(event: CloudEvent) -> None:
        nonlocal handled
        event.payload()  # as a handler reads it
        handled += 1
        if handled == count:
            done.set()

    publisher = create_bus(url, name="bench-publisher")
    consumer = create_bus(url, name="bench-consumer", prefetch=64)
    consumer.subscribe(QUEUE, ["outbound.viber.reply"], nothing)
    await publisher.connect()
    await consumer.connect()
    try:
        await consumer.declare()  # bound, not consuming yet: the publishes wait in the queue
        events = [reply(n) for n in range(count)]

        async def publish(part: list[CloudEvent]) -> None:
            for event in part:
                await publisher.publish(event)

        await meter.measure("bus: RabbitBus.publish of a reply event, 64 at once", count,
                            lambda: asyncio.gather(*(publish(events[k::64]) for k in range(64))))

        async def consume() -> None:
            await consumer.start_consuming()
            await done.wait()

        await meter.measure("bus: delivery, parse, no-op handler, ack", count, consume)
    finally:
        await consumer.close()
        await publisher.close()


async def main(args: argparse.Namespace) -> None:
    vhost = f"bench-amqp-{uuid.uuid4().hex[:8]}"
    url = add_vhost(vhost, args.amqp_url)
    try:
        broker = find_broker()
        print(describe())
        print(f"real RabbitMQ (vhost {vhost!r}, deleted afterwards); this process on {args.loop}")
        print(f"{'per message':<52} {'CPU µs':>7} {'broker':>7} {'msgs/s':>9}")
        meter = Meter(broker)
        await client(url, args.count, meter)
        await bus(url, args.count, meter)
    finally:
        delete_vhost(vhost, warn=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=12_800, help="messages per step (default 12 800)")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop", help="event loop (the services': uvloop)")
    parser.add_argument("--amqp-url", default=os.environ.get("AMQP_TEST_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=event_loop_factory(args.loop)) as runner:
        runner.run(main(args))
