"""RabbitMQ adapter (aio-pika), ``AMQP_URL=amqp://…``.

- Robust connections, one for publishing and one for consuming, so a slow consumer's
  flow control never stalls publishers (and the other way round).
- Publisher confirms with a timeout: an unconfirmed publish raises :class:`PublishError`.
- The whole topology (``chatbot_common.topology``) is declared at start by every service:
  the topic exchange ``chatbot`` with its alternate exchange ``chatbot.unroutable``, every
  consumer's quorum queue (delivery limit, at-least-once dead-lettering to
  ``chatbot.dlx`` → ``<queue>.dead``) — names and headers chosen to read well in the
  management UI.
- Every publish is ``mandatory`` and waits for the confirm; a returned message raises.
- Manual ack after the handler succeeded; requeue on failure; invalid → parked at once.
- Shutdown never waits on a broker that is gone: each step has a deadline.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import aiormq
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from ..events import CONTENT_TYPE, CloudEvent, routing_key
from ..metrics import PUBLISHED_BY_TYPE
from ..topology import UNROUTABLE_EXCHANGE, UNROUTABLE_QUEUE
from .base import (
    DEAD_LETTER_EXCHANGE,
    EXCHANGE,
    Bus,
    Outcome,
    PublishError,
    Subscription,
    dead_queue_name,
    run_handler,
)

log = structlog.get_logger("chatbot.bus")
#: Seconds each shutdown step may take before it is abandoned (broker unreachable).
SHUTDOWN_STEP_SECONDS = 3.0
#: Seconds in-flight handlers get to finish at shutdown before they are cancelled.
SHUTDOWN_INFLIGHT_SECONDS = 5.0
PERSISTENT = int(aio_pika.DeliveryMode.PERSISTENT)


class QueueMismatch(RuntimeError):
    """A queue already exists with different arguments (RabbitMQ: PRECONDITION_FAILED)."""


def queue_arguments(queue: str, delivery_limit: int, single_active: bool) -> dict[str, Any]:
    args: dict[str, Any] = {
        "x-queue-type": "quorum",
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": queue,
        # A message leaves for <queue>.dead only once the parking queue confirmed it
        # (the default, at-most-once, can lose it); requires reject-publish overflow.
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    if single_active:
        args["x-single-active-consumer"] = True
    return args


class RabbitBus(Bus):
    def __init__(self, url: str, *, name: str = "chatbot", confirm_timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.name = name
        self.confirm_timeout = confirm_timeout
        self._pub_conn: AbstractRobustConnection | None = None
        self._sub_conn: AbstractRobustConnection | None = None
        self._pub_channel: AbstractChannel | None = None
        self._consumers: list[tuple[AbstractQueue, str]] = []
        self._channels: list[AbstractChannel] = []
        self._inflight: set[asyncio.Task[None]] = set()

    async def connect(self) -> None:
        props = {"connection_name": f"{self.name}:publisher"}
        self._pub_conn = await aio_pika.connect_robust(self.url, client_properties=props)
        self._sub_conn = await aio_pika.connect_robust(
            self.url, client_properties={"connection_name": f"{self.name}:consumer"}
        )
        # on_return_raises: a mandatory message the broker returns fails the publish.
        channel = await self._pub_conn.channel(publisher_confirms=True, on_return_raises=True)
        await self._declare_exchanges(channel)
        self._pub_channel = channel  # connected: publishes may go

    @staticmethod
    async def _declare_exchanges(channel: AbstractChannel) -> None:
        await channel.declare_exchange(DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True)
        unroutable = await channel.declare_exchange(UNROUTABLE_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True)
        parked = await channel.declare_queue(UNROUTABLE_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
        await parked.bind(unroutable)
        try:
            await channel.declare_exchange(
                EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True,
                arguments={"alternate-exchange": UNROUTABLE_EXCHANGE},
            )
        except aiormq.exceptions.ChannelPreconditionFailed as exc:
            raise QueueMismatch(
                f"exchange {EXCHANGE!r} exists without the alternate exchange {UNROUTABLE_EXCHANGE!r} ({exc}): "
                f"it was declared by an older version. Delete it in the management UI (its queues keep their "
                f"messages) and restart, so unroutable events are kept instead of dropped."
            ) from exc

    async def publish(self, event: CloudEvent) -> None:
        properties = aiormq.spec.Basic.Properties(
            content_type=CONTENT_TYPE,
            delivery_mode=PERSISTENT,
            message_id=event.id,
            correlation_id=event.correlationid,
            message_type=event.type,
            app_id=event.source,
            timestamp=event.time,
        )
        await self._confirmed(event.to_json(), properties, routing_key(event), event.type)
        PUBLISHED_BY_TYPE(event.type).inc()

    async def _confirmed(self, body: bytes, properties: aiormq.spec.Basic.Properties, key: str, what: str) -> None:
        """Publish on the publisher channel's current AMQP channel (aio-pika keeps it
        open across reconnects) and wait for the confirm. The properties are built
        directly, not through ``aio_pika.Message``: what ``Exchange.publish`` does,
        without a locked message object per publish (``make bench``)."""
        if self._pub_channel is None:
            raise PublishError("bus is not connected")
        try:
            if self._pub_channel.is_closed:
                raise aiormq.exceptions.ChannelInvalidStateError(f"{self._pub_channel!r} closed")
            channel = await self._pub_channel.get_underlay_channel()
            # mandatory + the channel's on_return_raises: an unroutable publish raises
            confirmation = await channel.basic_publish(body, exchange=EXCHANGE, routing_key=key,
                                                       properties=properties, mandatory=True,
                                                       timeout=self.confirm_timeout)
        except Exception as exc:  # noqa: BLE001 - every failure to confirm is one error
            raise PublishError(f"publish of {what} not confirmed: {exc!r}") from exc
        if not isinstance(confirmation, aiormq.spec.Basic.Ack):
            raise PublishError(f"publish of {what} not confirmed: {confirmation!r}")

    async def publish_raw(self, key: str, body: bytes) -> None:
        await self._confirmed(body, aiormq.spec.Basic.Properties(delivery_mode=PERSISTENT), key, key)

    async def unroutable(self) -> list[bytes]:
        return await self._take_all(UNROUTABLE_QUEUE)

    async def dead_letters(self, queue: str) -> list[bytes]:
        return await self._take_all(dead_queue_name(queue))

    async def _take_all(self, queue: str) -> list[bytes]:
        assert self._pub_conn is not None, "connect() first"
        channel = await self._pub_conn.channel()
        try:
            dead = await channel.get_queue(queue, ensure=True)
            bodies: list[bytes] = []
            while (message := await dead.get(no_ack=False, fail=False)) is not None:
                bodies.append(message.body)
                await message.ack()
            return bodies
        finally:
            await channel.close()

    async def _declare_queue(self, channel: AbstractChannel, name: str, keys: tuple[str, ...] | list[str],
                             single_active: bool) -> AbstractQueue:
        dead = await channel.declare_queue(
            dead_queue_name(name), durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead.bind(DEAD_LETTER_EXCHANGE, routing_key=name)
        try:
            queue = await channel.declare_queue(
                name, durable=True, arguments=queue_arguments(name, self.delivery_limit, single_active)
            )
        except aiormq.exceptions.ChannelPreconditionFailed as exc:
            raise QueueMismatch(
                f"queue {name!r} exists with other arguments than this service declares ({exc}). "
                f"It was created with another BUS_DELIVERY_LIMIT, queue type or dead-letter strategy: drain it "
                f"(make replay), delete it in the management UI and restart, or restore the previous setting."
            ) from exc
        for key in keys:
            await queue.bind(EXCHANGE, routing_key=key)
        return queue

    async def declare(self) -> None:
        assert self._sub_conn is not None, "connect() first"
        channel = await self._sub_conn.channel()
        await self._declare_exchanges(channel)
        for name, keys, single_active in self.queues_to_declare():
            await self._declare_queue(channel, name, keys, single_active)
        await channel.close()

    async def start_consuming(self) -> None:
        assert self._sub_conn is not None, "connect() first"
        declared = {name: (keys, single) for name, keys, single in self.queues_to_declare()}
        for sub in self.subscriptions:
            channel = await self._sub_conn.channel()
            await channel.set_qos(prefetch_count=sub.prefetch)
            keys, single_active = declared[sub.queue]
            queue = await self._declare_queue(channel, sub.queue, keys, single_active)
            tag = await queue.consume(self._callback(sub), no_ack=False)
            self._channels.append(channel)
            self._consumers.append((queue, tag))

    def _callback(self, sub: Subscription):  # type: ignore[no-untyped-def]
        async def on_message(message: AbstractIncomingMessage) -> None:
            # The handler runs in a task of the bus's own: aiormq cancels its consumer
            # tasks when the connection drops, and a handler cut off between its side
            # effect (a Viber call, a write) and its bookkeeping would repeat the side
            # effect on redelivery. Not one of theirs, it finishes; only the ack may then
            # fail (the broker redelivers, and the handler's own records say it is done).
            # Nothing waits for it but ``_inflight``: aiormq's and aio-pika's tasks for
            # the delivery end at once instead of each waking up when the handler ends
            # (a shield and three wake-ups fewer per delivery).
            task = asyncio.create_task(self._process(sub, message))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

        return on_message

    async def _process(self, sub: Subscription, message: AbstractIncomingMessage) -> None:
        count = int((message.headers or {}).get("x-delivery-count", 0) or 0)
        outcome = await run_handler(sub, message.body, count, self.delivery_limit)
        try:
            if outcome == Outcome.ACK:
                await message.ack()
            elif outcome == Outcome.PARK:
                await message.reject(requeue=False)  # → chatbot.dlx → <queue>.dead
            else:
                await message.nack(requeue=True)  # quorum delivery limit → .dead
        except Exception as exc:  # noqa: BLE001 - channel gone: the broker redelivers it
            log.warning("bus.settle_failed", queue=sub.queue, outcome=outcome, error=repr(exc)[:200])

    async def stop_consuming(self) -> None:
        async def cancel(queue: AbstractQueue, tag: str) -> None:
            try:
                # A broker that is gone never answers basic.cancel: don't wait for it.
                async with asyncio.timeout(SHUTDOWN_STEP_SECONDS):
                    await queue.cancel(tag)
            except Exception as exc:  # noqa: BLE001 - best effort during shutdown
                log.warning("bus.cancel_failed", queue=queue.name, error=repr(exc)[:200])

        await asyncio.gather(*(cancel(queue, tag) for queue, tag in self._consumers))  # all at once
        self._consumers.clear()
        if self._inflight:
            # In-flight handlers get a few seconds to finish; then they are cancelled
            # (unacked, so the broker redelivers them): a handler stuck on a broker that
            # is gone must not hold SIGTERM up.
            _done, pending = await asyncio.wait(set(self._inflight), timeout=SHUTDOWN_INFLIGHT_SECONDS)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("bus.inflight_abandoned", handlers=len(pending))
                await asyncio.gather(*pending, return_exceptions=True)

    async def close(self) -> None:
        await self.stop_consuming()
        await asyncio.gather(*(_within(channel.close(), "channel") for channel in self._channels
                               if not channel.is_closed))
        self._channels.clear()
        for conn in (self._sub_conn, self._pub_conn):
            if conn is not None and not conn.is_closed:
                await _within(conn.close(), "connection")

    async def ping(self) -> bool:
        return bool(
            self._pub_conn is not None
            and not self._pub_conn.is_closed
            and self._pub_conn.connected.is_set()
            and self._sub_conn is not None
            and self._sub_conn.connected.is_set()
        )


async def _within(step: Any, what: str) -> None:
    """Run one shutdown step, abandoning it after :data:`SHUTDOWN_STEP_SECONDS`: a robust
    connection that is reconnecting to a broker that is gone must not hold SIGTERM up."""
    try:
        async with asyncio.timeout(SHUTDOWN_STEP_SECONDS):
            await step
    except Exception as exc:  # noqa: BLE001 - shutdown goes on
        log.warning("bus.close_failed", what=what, error=repr(exc)[:200])
