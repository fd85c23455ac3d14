"""RabbitMQ adapter (aio-pika), ``AMQP_URL=amqp://…``.

- Robust connections, one for publishing and one for consuming, so a slow consumer's
  flow control never stalls publishers (and the other way round).
- Publisher confirms with a timeout: an unconfirmed publish raises :class:`PublishError`.
- Durable topic exchange ``chatbot``; one quorum queue per consumer ``<service>.<purpose>``
  with a delivery limit and dead-lettering to ``chatbot.dlx`` → ``<queue>.dead``
  (names and headers chosen to read well in the management UI).
- Manual ack after the handler succeeded; requeue on failure; invalid → parked at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import aiormq
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from ..events import CONTENT_TYPE, CloudEvent, routing_key
from ..metrics import PUBLISHED
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


class QueueMismatch(RuntimeError):
    """A queue already exists with different arguments (RabbitMQ: PRECONDITION_FAILED)."""


def queue_arguments(queue: str, delivery_limit: int, single_active: bool) -> dict[str, Any]:
    args: dict[str, Any] = {
        "x-queue-type": "quorum",
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": queue,
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
        self._exchange: AbstractExchange | None = None
        self._consumers: list[tuple[AbstractQueue, str]] = []
        self._channels: list[AbstractChannel] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self._publish_lock = asyncio.Lock()

    async def connect(self) -> None:
        props = {"connection_name": f"{self.name}:publisher"}
        self._pub_conn = await aio_pika.connect_robust(self.url, client_properties=props)
        self._sub_conn = await aio_pika.connect_robust(
            self.url, client_properties={"connection_name": f"{self.name}:consumer"}
        )
        self._pub_channel = await self._pub_conn.channel(publisher_confirms=True)
        self._exchange = await self._declare_exchanges(self._pub_channel)

    @staticmethod
    async def _declare_exchanges(channel: AbstractChannel) -> AbstractExchange:
        await channel.declare_exchange(DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True)
        return await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)

    async def publish(self, event: CloudEvent) -> None:
        if self._exchange is None:
            raise PublishError("bus is not connected")
        message = aio_pika.Message(
            body=event.to_json(),
            content_type=CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=event.id,
            correlation_id=event.correlationid,
            type=event.type,
            app_id=event.source,
            timestamp=event.time,
            headers={"ce-type": event.type, "ce-source": event.source, "ce-id": event.id},
        )
        try:
            confirmation = await self._exchange.publish(
                message, routing_key(event), mandatory=False, timeout=self.confirm_timeout
            )
        except Exception as exc:  # noqa: BLE001 - every failure to confirm is one error
            raise PublishError(f"publish of {event.type} not confirmed: {exc!r}") from exc
        if not isinstance(confirmation, aiormq.spec.Basic.Ack):
            raise PublishError(f"publish of {event.type} not confirmed: {confirmation!r}")
        PUBLISHED.labels(type=event.type).inc()

    async def publish_raw(self, key: str, body: bytes) -> None:
        assert self._exchange is not None, "connect() first"
        await self._exchange.publish(
            aio_pika.Message(body=body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            key,
            mandatory=False,
            timeout=self.confirm_timeout,
        )

    async def dead_letters(self, queue: str) -> list[bytes]:
        assert self._pub_conn is not None, "connect() first"
        channel = await self._pub_conn.channel()
        try:
            dead = await channel.get_queue(dead_queue_name(queue), ensure=True)
            bodies: list[bytes] = []
            while (message := await dead.get(no_ack=False, fail=False)) is not None:
                bodies.append(message.body)
                await message.ack()
            return bodies
        finally:
            await channel.close()

    async def _declare_queue(self, channel: AbstractChannel, sub: Subscription) -> AbstractQueue:
        await self._declare_exchanges(channel)
        dead = await channel.declare_queue(
            dead_queue_name(sub.queue), durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead.bind(DEAD_LETTER_EXCHANGE, routing_key=sub.queue)
        try:
            queue = await channel.declare_queue(
                sub.queue, durable=True, arguments=queue_arguments(sub.queue, self.delivery_limit, sub.single_active)
            )
        except aiormq.exceptions.ChannelPreconditionFailed as exc:
            raise QueueMismatch(
                f"queue {sub.queue!r} exists with other arguments than this service declares ({exc}). "
                f"It was created with another BUS_DELIVERY_LIMIT or queue type: drain it, delete it in the "
                f"management UI and restart, or restore the previous setting."
            ) from exc
        for key in sub.keys:
            await queue.bind(EXCHANGE, routing_key=key)
        return queue

    async def declare(self) -> None:
        assert self._sub_conn is not None, "connect() first"
        channel = await self._sub_conn.channel()
        for sub in self.subscriptions:
            await self._declare_queue(channel, sub)
        await channel.close()

    async def start_consuming(self) -> None:
        assert self._sub_conn is not None, "connect() first"
        for sub in self.subscriptions:
            channel = await self._sub_conn.channel()
            await channel.set_qos(prefetch_count=sub.prefetch)
            queue = await self._declare_queue(channel, sub)
            tag = await queue.consume(self._callback(sub), no_ack=False)
            self._channels.append(channel)
            self._consumers.append((queue, tag))

    def _callback(self, sub: Subscription):  # type: ignore[no-untyped-def]
        async def on_message(message: AbstractIncomingMessage) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._inflight.add(task)
            try:
                count = int((message.headers or {}).get("x-delivery-count", 0) or 0)
                outcome = await run_handler(sub, message.body, count, self.delivery_limit)
                if outcome == Outcome.ACK:
                    await message.ack()
                elif outcome == Outcome.PARK:
                    await message.reject(requeue=False)  # → chatbot.dlx → <queue>.dead
                else:
                    await message.nack(requeue=True)  # quorum delivery limit → .dead
            finally:
                if task is not None:
                    self._inflight.discard(task)

        return on_message

    async def stop_consuming(self) -> None:
        for queue, tag in self._consumers:
            try:
                await queue.cancel(tag)
            except Exception as exc:  # noqa: BLE001 - best effort during shutdown
                log.warning("bus.cancel_failed", queue=queue.name, error=repr(exc))
        self._consumers.clear()
        if self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    async def close(self) -> None:
        await self.stop_consuming()
        for channel in self._channels:
            if not channel.is_closed:
                await channel.close()
        self._channels.clear()
        for conn in (self._sub_conn, self._pub_conn):
            if conn is not None and not conn.is_closed:
                await conn.close()

    async def ping(self) -> bool:
        return bool(
            self._pub_conn is not None
            and not self._pub_conn.is_closed
            and self._pub_conn.connected.is_set()
            and self._sub_conn is not None
            and self._sub_conn.connected.is_set()
        )
