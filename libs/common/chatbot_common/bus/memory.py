"""In-process bus (``AMQP_URL=memory://``): the same routing, ack/requeue, delivery
limit and dead-letter behaviour as RabbitMQ, for the demo and fast tests.

Messages travel as bytes, exactly as on the wire, so a payload that would not survive
RabbitMQ does not survive here either. Everything lives in this process only.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

from ..events import CloudEvent, routing_key
from ..metrics import PUBLISHED
from .base import Bus, Outcome, Subscription, dead_queue_name, run_handler
from .topic import matches


@dataclass
class _Delivery:
    body: bytes
    routing_key: str
    delivery_count: int = 0


class _Queue:
    def __init__(self, name: str) -> None:
        self.name = name
        self.keys: set[str] = set()
        self.items: asyncio.Queue[_Delivery] = asyncio.Queue()


class MemoryBroker:
    """The in-process "server": queues and parking queues, shared by every
    :class:`MemoryBus` client created for the same ``memory://`` URL in this process
    (the demo runs every service in one process, each with its own client)."""

    def __init__(self) -> None:
        self.queues: dict[str, _Queue] = {}
        self.dead: dict[str, list[bytes]] = defaultdict(list)


_brokers: dict[str, MemoryBroker] = {}


def memory_broker(url: str = "memory://") -> MemoryBroker:
    return _brokers.setdefault(url, MemoryBroker())


class MemoryBus(Bus):
    def __init__(self, broker: MemoryBroker | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.broker = broker or MemoryBroker()
        self.queues = self.broker.queues
        self.dead = self.broker.dead
        self._workers: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self._consuming = False

    async def connect(self) -> None:
        return None

    def _queue(self, name: str) -> _Queue:
        if name not in self.queues:
            self.queues[name] = _Queue(name)
        return self.queues[name]

    async def declare(self) -> None:
        for sub in self.subscriptions:
            self._queue(sub.queue).keys.update(sub.keys)

    async def publish(self, event: CloudEvent) -> None:
        await self.publish_raw(routing_key(event), event.to_json())
        PUBLISHED.labels(type=event.type).inc()

    async def publish_raw(self, key: str, body: bytes) -> None:
        for queue in self.queues.values():
            if any(matches(pattern, key) for pattern in queue.keys):
                queue.items.put_nowait(_Delivery(body, key))

    async def start_consuming(self) -> None:
        await self.declare()
        self._consuming = True
        for sub in self.subscriptions:
            sem = asyncio.Semaphore(sub.prefetch)
            self._workers.append(asyncio.create_task(self._consume(sub, sem), name=f"consume:{sub.queue}"))

    async def _consume(self, sub: Subscription, sem: asyncio.Semaphore) -> None:
        queue = self._queue(sub.queue)
        while self._consuming:
            await sem.acquire()
            try:
                delivery = await queue.items.get()
            except asyncio.CancelledError:
                sem.release()
                raise
            task = asyncio.create_task(self._deliver(sub, queue, delivery, sem))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _deliver(self, sub: Subscription, queue: _Queue, delivery: _Delivery, sem: asyncio.Semaphore) -> None:
        try:
            outcome = await run_handler(sub, delivery.body, delivery.delivery_count, self.delivery_limit)
            if outcome == Outcome.PARK:
                self.dead[dead_queue_name(queue.name)].append(delivery.body)
            elif outcome == Outcome.REQUEUE:
                delivery.delivery_count += 1
                if delivery.delivery_count > self.delivery_limit:
                    self.dead[dead_queue_name(queue.name)].append(delivery.body)
                else:
                    queue.items.put_nowait(delivery)
        finally:
            sem.release()

    async def stop_consuming(self) -> None:
        self._consuming = False
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        if self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    async def close(self) -> None:
        await self.stop_consuming()

    async def ping(self) -> bool:
        return True

    async def dead_letters(self, queue: str) -> list[bytes]:
        return self.dead.pop(dead_queue_name(queue), [])
