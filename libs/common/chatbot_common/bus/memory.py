"""In-process bus (``AMQP_URL=memory://``): the same routing, ack/requeue, delivery
limit and dead-letter behaviour as RabbitMQ, for the demo and fast tests.

Where it matters it behaves like RabbitMQ's quorum queues, and the contract suite runs
the same cases on both:
- the whole topology is declared at start; a publish no queue is bound to lands in
  ``chatbot.unroutable`` (the alternate exchange), never dropped;
- a requeued message goes back to the *head* of its queue (quorum queues deliver
  returned messages before new ones);
- a single-active-consumer queue feeds one consumer at a time; the next takes over
  when it stops;
- publishes can be made to fail (``MemoryBroker.fail_publishes``) to test publishers.

Messages travel as bytes, exactly as on the wire, so a payload that would not survive
RabbitMQ does not survive here either. Everything lives in this process only.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from ..events import CloudEvent, routing_key
from ..metrics import PUBLISHED_BY_TYPE
from ..topology import UNROUTABLE_QUEUE
from .base import Bus, Outcome, PublishError, Subscription, dead_queue_name, run_handler
from .topic import matches


@dataclass
class _Delivery:
    body: bytes
    routing_key: str
    delivery_count: int = 0


class _Queue:
    """A FIFO with head insertion for requeues, and at most one active consumer when
    ``single_active``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.keys: set[str] = set()
        self.single_active = False
        self.active: object | None = None  # the consuming bus, for single-active queues
        self._items: deque[_Delivery] = deque()
        self._ready = asyncio.Event()

    def put(self, delivery: _Delivery) -> None:
        self._items.append(delivery)
        self._ready.set()

    def requeue(self, delivery: _Delivery) -> None:
        self._items.appendleft(delivery)
        self._ready.set()

    async def get(self) -> _Delivery:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def qsize(self) -> int:
        return len(self._items)


class MemoryBroker:
    """The in-process "server": queues and parking queues, shared by every
    :class:`MemoryBus` client created for the same ``memory://`` URL in this process
    (the demo runs every service in one process, each with its own client)."""

    def __init__(self) -> None:
        self.queues: dict[str, _Queue] = {}
        self.dead: dict[str, list[bytes]] = defaultdict(list)
        #: ``fail_publishes(routing_key) -> exception or None``: fault injection for
        #: tests (a broker that refuses or never confirms).
        self.fail_publishes: Callable[[str], Exception | None] | None = None
        self._active_changed = asyncio.Event()

    def queue(self, name: str) -> _Queue:
        if name not in self.queues:
            self.queues[name] = _Queue(name)
        return self.queues[name]


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
        return self.broker.queue(name)

    async def declare(self) -> None:
        for name, keys, single_active in self.queues_to_declare():
            queue = self._queue(name)
            queue.keys.update(keys)
            queue.single_active = queue.single_active or single_active

    async def publish(self, event: CloudEvent) -> None:
        await self.publish_raw(routing_key(event), event.to_json())
        PUBLISHED_BY_TYPE(event.type).inc()

    async def publish_raw(self, key: str, body: bytes) -> None:
        fault = self.broker.fail_publishes(key) if self.broker.fail_publishes else None
        if fault is not None:
            raise PublishError(f"publish of {key} not confirmed: {fault!r}") from fault
        routed = False
        for queue in list(self.queues.values()):
            if any(matches(pattern, key) for pattern in queue.keys):
                queue.put(_Delivery(body, key))
                routed = True
        if not routed:  # the alternate exchange: kept for ops, never dropped
            self._queue(UNROUTABLE_QUEUE).put(_Delivery(body, key))

    async def unroutable(self) -> list[bytes]:
        queue = self._queue(UNROUTABLE_QUEUE)
        taken: list[bytes] = []
        while queue.qsize():
            taken.append((await queue.get()).body)
        return taken

    async def start_consuming(self) -> None:
        await self.declare()
        self._consuming = True
        for sub in self.subscriptions:
            sem = asyncio.Semaphore(sub.prefetch)
            self._workers.append(asyncio.create_task(self._consume(sub, sem), name=f"consume:{sub.queue}"))

    async def _become_active(self, queue: _Queue) -> None:
        """Single active consumer: wait until no other client consumes this queue."""
        while queue.active is not None and queue.active is not self:
            self.broker._active_changed.clear()
            await self.broker._active_changed.wait()
        queue.active = self

    async def _consume(self, sub: Subscription, sem: asyncio.Semaphore) -> None:
        queue = self._queue(sub.queue)
        if queue.single_active:
            await self._become_active(queue)
        while self._consuming:
            await sem.acquire()
            try:
                delivery = await queue.get()
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
                    queue.requeue(delivery)  # like a quorum queue: returned messages first
        except asyncio.CancelledError:
            queue.requeue(delivery)  # not acked: the broker keeps it
            raise
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
        released = False
        for queue in self.queues.values():
            if queue.active is self:
                queue.active = None
                released = True
        if released:
            self.broker._active_changed.set()

    async def close(self) -> None:
        await self.stop_consuming()

    async def ping(self) -> bool:
        return True

    async def dead_letters(self, queue: str) -> list[bytes]:
        return self.dead.pop(dead_queue_name(queue), [])
