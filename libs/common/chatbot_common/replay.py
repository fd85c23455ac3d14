"""Move parked messages from ``<queue>.dead`` back to ``<queue>`` (docs/deployment.md).

    python -m chatbot_common.replay <queue>.dead [--amqp-url URL] [--limit N] [--dry-run]
    make replay QUEUE=<queue>.dead [REPLAY_ARGS="--limit N --dry-run"]

RabbitMQ-only ops tooling, so it uses aio-pika directly rather than the bus. For each
message that was parked when the command started (counted first with a passive
declare, so messages parked *again* while it runs are left for the next run):

1. ``basic.get`` it from ``<queue>.dead`` without auto-ack;
2. publish a copy to ``<queue>`` through the default exchange (routing key = queue
   name: only that consumer gets it again, not every binding of its event type),
   persistent, ``mandatory`` (a missing queue is an error, not a silent drop), keeping
   its body and properties but not the broker's dead-letter bookkeeping headers;
3. wait for the broker's confirm, and only then ack the parked message.

Stopped at any point (Ctrl-C, SIGTERM, SIGKILL, a lost connection, a refused publish),
each message is still parked (its unacked ``get`` goes back when the connection closes)
or already back in ``<queue>``; at worst — stopped between the confirm and the ack — one
message is in both, and the consumer's inbox drops the duplicate by its event id.
Nothing is lost.

Output never contains message bodies (they hold residents' personal data): only
counts, event types, event ids and dead-letter reasons.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, AbstractQueue

DEAD_SUFFIX = ".dead"
CONFIRM_TIMEOUT = 10.0
# Headers RabbitMQ adds when it dead-letters or redelivers a message. Dropped on replay:
# the replayed message starts afresh (a kept x-delivery-count would count against the
# consumer's delivery limit) and the broker adds new ones if it is parked again.
BOOKKEEPING_HEADERS = frozenset({"x-death", "x-delivery-count"})
BOOKKEEPING_PREFIXES = ("x-first-death-", "x-last-death-")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class ReplayError(Exception):
    """The replay cannot start or had to stop; the message says why (never a body)."""


class UsageError(ReplayError):
    """The command line asks for something the tool refuses to do."""


class Interrupted(ReplayError):
    """Asked to stop (SIGINT/SIGTERM): stopped between two messages."""


@dataclass
class Progress:
    source: str
    target: str
    parked: int = 0  # messages in the parking queue when the replay started
    replayed: int = 0

    def summary(self) -> str:
        return f"replayed {self.replayed} of {self.parked} from {self.source} to {self.target}"

    def stopped(self) -> str:
        """How far a replay that stopped early got."""
        if self.replayed == 0:
            return f"nothing was moved from {self.source}"
        return f"{self.summary()}; the rest are still parked"


def target_queue(dead_queue: str) -> str:
    """``<queue>.dead`` → ``<queue>``; anything else is refused."""
    if not dead_queue.endswith(DEAD_SUFFIX) or len(dead_queue) == len(DEAD_SUFFIX):
        raise UsageError(
            f"{dead_queue!r} is not a parking queue: give the name of a '<queue>{DEAD_SUFFIX}' queue, "
            f"e.g. dialog.inbound{DEAD_SUFFIX}"
        )
    return dead_queue[: -len(DEAD_SUFFIX)]


def replay_headers(headers: dict[str, Any] | None) -> dict[str, Any]:
    """The message's headers without the broker's dead-letter/redelivery bookkeeping."""
    return {
        key: value
        for key, value in (headers or {}).items()
        if key not in BOOKKEEPING_HEADERS and not key.startswith(BOOKKEEPING_PREFIXES)
    }


def replay_message(parked: AbstractIncomingMessage) -> aio_pika.Message:
    """A persistent copy of a parked message: same body and properties, fresh bookkeeping.

    ``expiration`` is not copied (dead-lettering already removed it) nor ``user_id``
    (the broker checks it against the replaying user). A message without a
    ``message_id`` gets a random one from aiormq, which needs it to match a broker's
    ``basic.return`` to the publish; the bus always sets it to the event id.
    """
    return aio_pika.Message(
        body=parked.body,
        headers=replay_headers(parked.headers),
        content_type=parked.content_type,
        content_encoding=parked.content_encoding,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        priority=parked.priority,
        correlation_id=parked.correlation_id,
        reply_to=parked.reply_to,
        message_id=parked.message_id,
        timestamp=parked.timestamp,
        type=parked.type,
        app_id=parked.app_id,
    )


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return "" if value is None else str(value)


def event_type(message: AbstractIncomingMessage) -> str:
    return message.type or _text((message.headers or {}).get("ce-type")) or "?"


def describe(message: AbstractIncomingMessage) -> str:
    """Type, id and why it was parked — never the body."""
    headers = message.headers or {}
    ident = message.message_id or _text(headers.get("ce-id")) or "?"
    reason = _text(headers.get("x-first-death-reason"))
    return f"{event_type(message)} {ident}" + (f" ({reason})" if reason else "")


async def move(channel: AbstractChannel, parked: AbstractIncomingMessage, target: str, timeout: float) -> None:
    """Publish a copy of ``parked`` to ``target``, wait for the confirm, then ack it.

    ``channel`` must have publisher confirms and ``on_return_raises``. If the broker
    returns the copy (no queue ``target``), nacks it, or does not confirm in time, this
    raises :class:`ReplayError` and ``parked`` stays unacked, i.e. still parked.
    """
    try:
        confirmation = await channel.default_exchange.publish(
            replay_message(parked), routing_key=target, mandatory=True, timeout=timeout
        )
    except aiormq.exceptions.PublishError as exc:  # basic.return: nothing routed it
        reason = exc.message.delivery.reply_text if exc.message is not None else "returned"
        raise ReplayError(f"the broker returned the message to {target!r} ({reason}): does the queue exist?") from None
    except asyncio.TimeoutError:
        raise ReplayError(f"no publisher confirm from the broker within {timeout:g} s") from None
    except aiormq.exceptions.DeliveryError:
        raise ReplayError(f"the broker refused (nacked) the message to {target!r}") from None
    if not isinstance(confirmation, aiormq.spec.Basic.Ack):
        raise ReplayError(f"the broker did not confirm the message to {target!r}: {type(confirmation).__name__}")
    await parked.ack()


async def queue_size(connection: AbstractConnection, name: str) -> int:
    """Ready messages in ``name`` (passive declare); :class:`ReplayError` if it doesn't exist."""
    channel = await connection.channel(publisher_confirms=False)  # a failed passive declare closes it
    try:
        declared = await channel.declare_queue(name, passive=True)
    except aiormq.exceptions.ChannelNotFoundEntity:
        raise ReplayError(f"queue {name!r} does not exist on this broker/virtual host") from None
    finally:
        if not channel.is_closed:
            await channel.close()
    return int(declared.declaration_result.message_count or 0)


async def replay(
    url: str,
    dead_queue: str,
    *,
    limit: int | None = None,
    dry_run: bool = False,
    confirm_timeout: float = CONFIRM_TIMEOUT,
    out: Callable[[str], None] = print,
    progress: Progress | None = None,
    stop: asyncio.Event | None = None,
) -> Progress:
    """Move up to ``limit`` of the messages parked in ``dead_queue`` back to their queue.

    ``progress`` (created if not given) is updated as messages move, so a caller that
    is interrupted still knows how far it got. Once ``stop`` is set, the replay ends
    after the message in hand (:class:`Interrupted`). Raises :class:`ReplayError`.
    """
    target = target_queue(dead_queue)
    progress = progress or Progress(dead_queue, target)
    connection = await aio_pika.connect(url, client_properties={"connection_name": "chatbot:replay"})
    try:
        progress.parked = await queue_size(connection, dead_queue)
        await queue_size(connection, target)  # fail before touching anything if it is gone
        todo = progress.parked if limit is None else min(limit, progress.parked)
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        source = await channel.get_queue(dead_queue, ensure=False)
        if dry_run:
            await _dry_run(source, todo, progress, out, stop)
            return progress
        for _ in range(todo):
            if stop is not None and stop.is_set():
                raise Interrupted("interrupted")
            parked = await source.get(no_ack=False, fail=False)
            if parked is None:  # someone else took them meanwhile
                break
            await move(channel, parked, target, confirm_timeout)
            progress.replayed += 1
        return progress
    finally:
        # Closing returns an unacked (not yet confirmed) message to the parking queue.
        await connection.close()


async def _dry_run(source: AbstractQueue, todo: int, progress: Progress, out: Callable[[str], None],
                   stop: asyncio.Event | None) -> None:
    """List what a replay would move: take ``todo`` messages unacked, then requeue them all
    (if this is killed instead, the broker requeues them when the connection closes)."""
    kinds: Counter[str] = Counter()
    last: AbstractIncomingMessage | None = None
    try:
        for _ in range(todo):
            if stop is not None and stop.is_set():
                raise Interrupted("interrupted")
            parked = await source.get(no_ack=False, fail=False)
            if parked is None:
                break
            last = parked
            kinds[event_type(parked)] += 1
            out(f"  {describe(parked)}")
    finally:
        if last is not None:  # every message up to the last one, back in their order
            await last.nack(multiple=True, requeue=True)
    by_type = ", ".join(f"{kind}: {count}" for kind, count in sorted(kinds.items())) or "none"
    out(f"dry run: {sum(kinds.values())} of {progress.parked} in {progress.source} would go to "
        f"{progress.target} ({by_type}); nothing moved")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m chatbot_common.replay",
        description="Move the messages parked in <queue>.dead back to <queue> (publisher confirms; "
        "a message is acked in the parking queue only after the broker confirmed its copy).",
    )
    parser.add_argument("queue", help="the parking queue, e.g. dialog.inbound.dead")
    parser.add_argument("--amqp-url", default=os.environ.get("AMQP_URL"),
                        help="broker URL (default: the AMQP_URL environment variable)")
    parser.add_argument("--limit", type=int, default=None, help="move at most N messages")
    parser.add_argument("--dry-run", action="store_true",
                        help="only list the parked messages' types and ids; move nothing")
    parser.add_argument("--confirm-timeout", type=float, default=CONFIRM_TIMEOUT,
                        help=f"seconds to wait for each publisher confirm (default {CONFIRM_TIMEOUT:g})")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 0:
        parser.error("--limit must be 0 or more")
    return args


def _error(text: str) -> None:
    print(f"replay: {text}", file=sys.stderr, flush=True)


async def main(
    argv: Sequence[str] | None = None, *, out: Callable[[str], None] = print, stop: asyncio.Event | None = None
) -> int:
    """The command; returns the exit status: 0 done, 1 failed, 2 usage, 130 stopped by
    ``stop``. Cancelled, it reports how far it got and re-raises."""
    args = parse_args(argv)
    try:
        target = target_queue(args.queue)
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    url = args.amqp_url or ""
    if not url.startswith(("amqp://", "amqps://")):
        _error("needs a RabbitMQ URL: set AMQP_URL or pass --amqp-url amqp://user:password@host:5672/")
        return EXIT_USAGE
    progress = Progress(args.queue, target)
    try:
        await replay(url, args.queue, limit=args.limit, dry_run=args.dry_run,
                     confirm_timeout=args.confirm_timeout, out=out, progress=progress, stop=stop)
    except Interrupted:
        _error(f"interrupted: {progress.stopped()}")
        return EXIT_INTERRUPTED
    except asyncio.CancelledError:  # e.g. a caller's timeout: say how far it got
        _error(f"interrupted: {progress.stopped()}")
        raise
    except ReplayError as exc:
        _error(f"{exc}; {progress.stopped()}")
        return EXIT_FAILED
    except (OSError, aiormq.exceptions.AMQPError) as exc:
        # Connection refused, access refused, connection lost… (never includes a body).
        _error(f"broker error {type(exc).__name__}: {exc}; {progress.stopped()}")
        return EXIT_FAILED
    if not args.dry_run:
        out(progress.summary())
    return EXIT_OK


def run(argv: Sequence[str] | None = None) -> int:
    """Run :func:`main`. The first SIGINT/SIGTERM stops it after the message in hand
    (moved and acked) with status 130; a second one ends the process at once, which is
    as safe as a kill: the broker puts the unacked message back in the parking queue
    (and if its copy was already confirmed, it is in both; the inbox drops the duplicate).

    Not ``task.cancel()``: aiormq may swallow a cancellation that lands in an RPC."""

    async def guarded() -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def on_signal() -> None:
            if stop.is_set():
                _error("stopped at once; the message in hand is still parked")
                os._exit(EXIT_INTERRUPTED)
            _error("stopping after the message in hand (signal again to stop at once)")
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        try:
            return await main(argv, stop=stop)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    return asyncio.run(guarded())


if __name__ == "__main__":
    sys.exit(run())
