"""The bus contract shared by the RabbitMQ and in-memory adapters.

Semantics (architecture: queues and delivery guarantees), identical in both adapters
and proven by one contract test suite:
- one topic exchange; each consumer has its own durable queue ``<service>.<purpose>``
  bound to the routing keys it needs (``*`` one word, ``#`` zero or more);
- ``publish`` returns only once the broker confirmed; otherwise it raises;
- a handler's message is acked only after the handler returned;
- a handler that raises → the message is requeued, bounded by the delivery limit, then
  dead-lettered to ``<queue>.dead``;
- a message that fails validation (not a CloudEvent, unknown type, bad payload) or whose
  handler raises :class:`PermanentError` is parked in ``<queue>.dead`` at once.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from pydantic import ValidationError

from ..events import CloudEvent, UnknownEventType
from ..logging import describe_error
from ..metrics import DEAD_LETTERED, HANDLED, HANDLED_BY_QUEUE, HANDLER_FAILED, HANDLER_SECONDS_BY_QUEUE
from ..topology import DEAD_LETTER_EXCHANGE as DEAD_LETTER_EXCHANGE
from ..topology import EXCHANGE as EXCHANGE
from ..topology import QUEUES, QueueSpec
from ..topology import UNROUTABLE_QUEUE as UNROUTABLE_QUEUE

Handler = Callable[[CloudEvent], Awaitable[None]]

log = structlog.get_logger("chatbot.bus")


class PermanentError(Exception):
    """Raised by a handler for a message that can never succeed: park it at once."""


class PublishError(RuntimeError):
    """The broker did not confirm a publish (nack, timeout, connection lost)."""


class InvalidMessage(ValueError):
    pass


def dead_queue_name(queue: str) -> str:
    return f"{queue}.dead"


def parse_message(body: bytes) -> CloudEvent:
    """Validate the envelope and the typed payload; raise :class:`InvalidMessage`."""
    try:
        event = CloudEvent.model_validate_json(body)
        event.payload()
    except (ValidationError, UnknownEventType, ValueError) as exc:
        raise InvalidMessage(describe_error(exc)) from exc
    return event


@dataclass
class Subscription:
    queue: str
    keys: list[str]
    handler: Handler
    prefetch: int
    single_active: bool = False
    service: str = field(default="")


class Outcome:
    ACK = "ack"
    REQUEUE = "requeue"
    PARK = "park"


#: why a message is parked in ``<queue>.dead`` (the ``reason`` of ``chatbot_messages_dead_lettered_total``)
DEAD_LETTER_REASONS = ("invalid", "permanent", "delivery_limit")


async def run_handler(sub: Subscription, body: bytes, delivery_count: int, delivery_limit: int) -> str:
    """Validate and run one delivery; return what to do with the message.

    Shared by both adapters so their behaviour cannot drift apart. What it logs about a
    failure is the queue, the event's id/type/correlation id and :func:`describe_error`
    of the exception — never the event's data and never a traceback (``exc_info``),
    whose frames could quote it.
    """
    try:
        event = parse_message(body)
    except InvalidMessage as exc:
        log.warning("message.invalid", queue=sub.queue, error=str(exc))
        DEAD_LETTERED.labels(queue=sub.queue, reason="invalid").inc()
        return Outcome.PARK
    with structlog.contextvars.bound_contextvars(
        service=sub.service or sub.queue.split(".")[0],
        event_id=event.id,
        event_type=event.type,
        correlationid=event.correlationid,
    ):
        started = time.perf_counter()
        try:
            await sub.handler(event)
        except PermanentError as exc:
            log.error("handler.permanent_failure", queue=sub.queue, error=describe_error(exc))
            DEAD_LETTERED.labels(queue=sub.queue, reason="permanent").inc()
            return Outcome.PARK
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any handler failure is retried
            HANDLER_FAILED.labels(queue=sub.queue).inc()
            last = delivery_count >= delivery_limit
            log.warning(
                "handler.failed",
                queue=sub.queue,
                error=describe_error(exc),
                delivery_count=delivery_count,
                dead_lettered=last,
            )
            if last:
                DEAD_LETTERED.labels(queue=sub.queue, reason="delivery_limit").inc()
            # A short pause before the requeue so a transient outage does not burn
            # the whole delivery limit in milliseconds.
            await asyncio.sleep(min(0.05 * 2**delivery_count, 2.0))
            return Outcome.REQUEUE
        finally:
            HANDLER_SECONDS_BY_QUEUE(sub.queue).observe(time.perf_counter() - started)
        HANDLED_BY_QUEUE(sub.queue).inc()
        return Outcome.ACK


class Bus(abc.ABC):
    """Publish/subscribe with at-least-once delivery (see the module docstring)."""

    def __init__(self, *, prefetch: int = 32, delivery_limit: int = 5,
                 topology: tuple[QueueSpec, ...] = QUEUES) -> None:
        self.default_prefetch = prefetch
        self.delivery_limit = delivery_limit
        self.subscriptions: list[Subscription] = []
        #: every queue this bus declares at start, consumed by it or not (topology.py)
        self.topology = topology

    def queues_to_declare(self) -> list[tuple[str, tuple[str, ...], bool]]:
        """(name, keys, single_active) of the whole topology plus any queue a
        subscription adds beyond it (tests); a subscription's keys add to its queue's."""
        declared: dict[str, tuple[str, tuple[str, ...], bool]] = {
            q.name: (q.name, q.keys, q.single_active) for q in self.topology
        }
        for sub in self.subscriptions:
            name, keys, single = declared.get(sub.queue, (sub.queue, (), sub.single_active))
            declared[sub.queue] = (name, tuple(dict.fromkeys((*keys, *sub.keys))), single or sub.single_active)
        return list(declared.values())

    def subscribe(
        self,
        queue: str,
        keys: list[str],
        handler: Handler,
        *,
        prefetch: int | None = None,
        single_active: bool = False,
        service: str = "",
    ) -> None:
        """Register a consumer; messages flow after :meth:`start_consuming`."""
        self.subscriptions.append(
            Subscription(queue, keys, handler, prefetch or self.default_prefetch, single_active, service)
        )
        # Every series at 0 from the start: Prometheus' increase() cannot see the first
        # failure of a series that appears with it (deploy/prometheus/alerts.yml).
        HANDLED.labels(queue=queue)
        HANDLER_FAILED.labels(queue=queue)
        for reason in DEAD_LETTER_REASONS:
            DEAD_LETTERED.labels(queue=queue, reason=reason)

    @abc.abstractmethod
    async def connect(self) -> None: ...

    @abc.abstractmethod
    async def publish(self, event: CloudEvent) -> None:
        """Publish and wait for the broker's confirm; raise :class:`PublishError`."""

    @abc.abstractmethod
    async def declare(self) -> None:
        """Declare the whole topology and the queues of all subscriptions (so nothing
        published is lost before consumers start)."""

    @abc.abstractmethod
    async def start_consuming(self) -> None: ...

    @abc.abstractmethod
    async def stop_consuming(self) -> None:
        """Stop taking new messages and wait for in-flight handlers to finish."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> bool: ...

    @abc.abstractmethod
    async def publish_raw(self, key: str, body: bytes) -> None:
        """Publish bytes as they are (tests of invalid input), confirmed like
        :meth:`publish`."""

    @abc.abstractmethod
    async def unroutable(self) -> list[bytes]:
        """Take the messages in ``chatbot.unroutable`` (tests and ops tooling)."""

    @abc.abstractmethod
    async def dead_letters(self, queue: str) -> list[bytes]:
        """Take the messages parked in ``<queue>.dead`` (tests and ops tooling)."""
