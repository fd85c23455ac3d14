"""Faults end to end: the services as OS processes on real RabbitMQ, each test on a fresh
virtual host of its own, and every message counted where residents see it — at the fake
Viber API. What must hold through each fault: every resident gets each answer exactly
once, in order (docs/messaging.md «Guarantees»).

The memory alarm and ``stop_app`` act on the whole broker (every virtual host): each is
kept to seconds and always undone in a ``finally``. Don't run this file in parallel with
other broker tests (``-n``). A dropped connection is simulated on this test's own
connection only (``rabbitmqctl close_connection``).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

import aio_pika
import pytest

from tests.e2e.harness import ROOT, BotSystem, wait_http_ok
from tests.e2e.resident import EventTap
from tests.support import rabbitmqctl
from vibersim.client import SimClient

pytestmark = pytest.mark.rabbitmq

HANDLED_INBOUND = 'chatbot_messages_handled_total{queue="dialog.inbound"}'
REGISTRATION = [  # (what the resident sends, what the bot's answer to it says)
    ("start", "персональних даних"),
    ("consent:yes", "населеному пункті"),
    ("settlement:khmelnytskyi", "Як до Вас звертатися"),
    ("Олена Коваленко", "номером телефону"),
    ("0671234567", "назву Вашої вулиці"),
    ("Проскурівська", "номер будинку"),
    ("12а", "номер квартири"),
    ("apartment:none", "Які сповіщення"),
    ("notify:address", "Реєстрацію завершено"),
]


# ----------------------------------------------------------------------------- helpers


_tokens = itertools.count(random.randrange(2**60, 2**62))


def text_callback(user_id: str, text: str) -> dict[str, Any]:
    """A signed-by-the-simulator ``message`` callback as Viber posts it: a fresh
    timestamp and a token of its own, kept for every retry of this callback."""
    return {
        "event": "message", "timestamp": int(time.time() * 1000), "message_token": next(_tokens),
        "sender": {"id": user_id, "name": "Мешканець", "api_version": 10},
        "message": {"type": "text", "text": text}, "silent": False,
    }


async def deliver_like_viber(sim: SimClient, callback: dict[str, Any], *, give_up_after: float = 120.0) -> int:
    """POST one callback until the gateway answers 200, the same body every time, as
    Viber retries a callback; returns how many attempts it took. Anything but 200 or
    "temporarily unavailable" (503, or no answer at all) fails the test."""
    deadline = time.monotonic() + give_up_after
    delay = 0.1
    for attempt in itertools.count(1):
        answer = await sim.raw_callback(callback)
        if answer["http_status"] == 200:
            return attempt
        assert answer["http_status"] in (None, 503), answer
        if time.monotonic() > deadline:
            raise TimeoutError(f"callback not accepted after {attempt} attempts: {answer}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")


async def send_in_order(sim: SimClient, user_id: str, texts: list[str]) -> None:
    for text in texts:
        answer = await sim.raw_callback(text_callback(user_id, text))
        assert answer["http_status"] == 200, answer


async def replies(sim: SimClient, receiver: str | None = None) -> list[dict[str, Any]]:
    """What the fake Viber accepted from the bot (``send_message``, status 0), oldest first."""
    sent = [r for r in await sim.requests("send_message") if r["status"] == 0]
    return [r for r in sent if receiver is None or r["body"]["receiver"] == receiver]


async def replies_by_receiver(sim: SimClient) -> Counter[str]:
    return Counter(r["body"]["receiver"] for r in await replies(sim))


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting {timeout}s for {what}")
        await asyncio.sleep(interval)


async def wait_for_replies(sim: SimClient, receiver: str, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    async def enough() -> bool:
        return len(await replies(sim, receiver)) >= count

    await wait_until(enough, timeout, f"{count} replies to {receiver}")
    return await replies(sim, receiver)


def vhost_of(url: str) -> str:
    return unquote(urlsplit(url).path[1:])


async def ready_messages(url: str, queue: str) -> int:
    """Messages ready in ``queue`` now (a passive declare: ``rabbitmqctl list_queues``
    reports quorum queues' counts seconds late). Needs no publish, so it works during a
    memory alarm too."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)


async def wait_queue(url: str, queue: str, count: int, timeout: float = 30.0) -> None:
    async def reached() -> bool:
        return await ready_messages(url, queue) == count

    await wait_until(reached, timeout, f"{count} message(s) ready in {queue}", interval=0.2)


def metric(url: str, name: str) -> float:
    """One series of a service's ``/metrics`` (0 when it has not appeared yet)."""
    import urllib.request

    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.rsplit(" ", 1)[0] == name:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


@contextmanager
def running(bot: BotSystem, *, dialog: bool = True) -> Iterator[BotSystem]:
    """Start the processes; at the end each must exit cleanly on SIGTERM (code 0)."""
    try:
        bot.start(dialog=dialog)
        yield bot
    finally:
        codes = bot.stop()
    assert codes == {"gateway": 0, "dialog": 0, "vibersim": 0}, codes


def readiness(url: str) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/readyz", timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


# ----------------------------------------------------------------------------- broker-wide faults


def _alarms() -> str:
    return rabbitmqctl("eval", "rabbit_alarm:get_alarms().")


def _watermark() -> str:
    """The memory high watermark as the broker holds it: ``0.4`` (relative) or
    ``{absolute,1073741824}``."""
    return rabbitmqctl("eval", "vm_memory_monitor:get_vm_memory_high_watermark().").strip()


def _watermark_args(value: str) -> list[str]:
    """The ``set_vm_memory_high_watermark`` arguments that restore ``value`` exactly."""
    absolute = re.fullmatch(r"\{absolute,\s*(\d+)\}", value)
    if absolute:
        return ["absolute", absolute.group(1)]
    if re.fullmatch(r"\d+(\.\d+)?(e[-+]?\d+)?", value):
        return [value]
    raise RuntimeError(f"unexpected memory watermark {value!r}: not touching the broker")


@asynccontextmanager
async def memory_alarm() -> AsyncIterator[None]:
    """RabbitMQ's memory alarm: every connection that publishes is blocked (consumers
    and acknowledgements go on). The previous watermark is restored, whatever happens."""
    previous = await asyncio.to_thread(_watermark)
    restore = _watermark_args(previous)
    try:
        await asyncio.to_thread(rabbitmqctl, "set_vm_memory_high_watermark", "0")

        async def raised() -> bool:
            return "memory" in await asyncio.to_thread(_alarms)

        await wait_until(raised, 15, "the memory alarm", interval=0.2)
        yield
    finally:
        await asyncio.to_thread(rabbitmqctl, "set_vm_memory_high_watermark", *restore)
        assert await asyncio.to_thread(_watermark) == previous

        async def cleared() -> bool:
            return "memory" not in await asyncio.to_thread(_alarms)

        await wait_until(cleared, 15, "the memory alarm to clear", interval=0.2)


@asynccontextmanager
async def broker_stopped() -> AsyncIterator[None]:
    """``rabbitmqctl stop_app``: the broker is gone for every client (the Erlang node
    stays); ``start_app`` always follows."""
    try:
        await asyncio.to_thread(rabbitmqctl, "stop_app")
        yield
    finally:
        await asyncio.to_thread(rabbitmqctl, "start_app", timeout=180)
        await asyncio.to_thread(rabbitmqctl, "await_startup", timeout=180)


# ----------------------------------------------------------------------------- 1. memory alarm


async def test_replies_and_resident_events_blocked_by_a_memory_alarm_arrive_once_and_in_order(rabbit_url: str):
    """A resident's last five messages (the end of registration, then a change of the
    notification scope) are handled by the dialog in a row while a memory alarm blocks
    every publish (confirm timeout 2 s, outbox relay after 1 s). Nothing reaches the
    resident during the alarm; once it clears, every reply arrives exactly once, in the
    order of the conversation, and each resident event once (as a consumer that
    de-duplicates by event id sees them), in order.

    The gateway can't publish during the alarm either, so the five callbacks are
    accepted before it, while the dialog is paused (SIGSTOP: its in-memory state must
    survive); it resumes under the alarm. Five inputs keep the broker-wide alarm short."""
    resident = "alarm-resident"
    conversation = [*REGISTRATION, ("profile:notify", "Сповіщення про відключення зараз"),
                    ("notify:city", "Зміни збережено")]
    before, during = conversation[:6], conversation[6:]
    bot = BotSystem(amqp_url=rabbit_url)
    bot.dialog.env.update({"BUS_CONFIRM_TIMEOUT": "2", "OUTBOX_RELAY_SECONDS": "1"})
    with running(bot):
        async with SimClient(bot.sim.url) as sim, EventTap(rabbit_url, ["resident.#"]) as events:
            for n, (text, _) in enumerate(before, start=1):
                await send_in_order(sim, resident, [text])
                await wait_for_replies(sim, resident, n)
            handled = await asyncio.to_thread(metric, bot.dialog.url, HANDLED_INBOUND)
            assert bot.dialog.process is not None
            bot.dialog.process.send_signal(signal.SIGSTOP)
            try:
                await send_in_order(sim, resident, [text for text, _ in during])  # published: 200
                started = time.monotonic()
                async with memory_alarm():
                    bot.dialog.process.send_signal(signal.SIGCONT)

                    async def all_handled() -> bool:
                        count = await asyncio.to_thread(metric, bot.dialog.url, HANDLED_INBOUND)
                        return count == handled + len(during)

                    # Every input handled while no publish can get through.
                    await wait_until(all_handled, 60, "the dialog to handle every input", interval=0.3)
                    await wait_queue(rabbit_url, "dialog.inbound", 0)
                    assert len(await replies(sim)) == len(before), "a reply got out during the alarm"
                    assert bot.dialog.running
                alarm_seconds = time.monotonic() - started
            finally:
                bot.dialog.process.send_signal(signal.SIGCONT)
            sent = await wait_for_replies(sim, resident, len(conversation), timeout=60)
            # One more message: its answer comes after anything still on its way.
            await send_in_order(sim, resident, ["nav:home"])
            sent = await wait_for_replies(sim, resident, len(conversation) + 1)
            received = await drain(events)
    print(f"memory alarm lasted {alarm_seconds:.1f} s; resident events received (copies): "
          f"{[e['type'] for e in received]}")
    texts = [r["body"]["text"] for r in sent]
    assert len(texts) == len(conversation) + 1, texts
    for (said, expected), text in zip(conversation, texts, strict=False):
        assert expected in text, f"after {said!r}: {text[:80]!r}"
    assert "Головне меню" in texts[-1]
    # Resident events: each once, in order, as a consumer remembering event ids sees them.
    first_copies = list(dict.fromkeys((e["id"], e["type"]) for e in received))
    assert [kind for _, kind in first_copies] == ["resident.registered", "resident.updated"], received
    assert alarm_seconds < 40, f"the broker-wide alarm lasted {alarm_seconds:.0f} s"


async def drain(tap: EventTap, quiet: float = 1.0) -> list[dict[str, Any]]:
    """Everything the tap received, once nothing more came for ``quiet`` seconds."""
    import json

    last = time.monotonic()
    while time.monotonic() - last < quiet:
        message = await tap.queue.get(no_ack=True, fail=False)
        if message is None:
            await asyncio.sleep(0.05)
            continue
        tap.events.append(json.loads(message.body))
        last = time.monotonic()
    return tap.events


# ----------------------------------------------------------------------------- 2. crash after the state write


async def test_dialog_killed_right_after_its_state_write_publishes_once_after_restart(
    rabbit_url: str, mongodb_url: str
):
    """SIGKILL between the dialog's one document write and its publishes
    (``DIALOG_FAULT_POINT=after_commit``), on a resident's first message and on the one
    that completes registration: the restarted dialog finds the input applied and
    publishes the stored outputs — each reply once, ``resident.registered`` once, one
    resident in the database."""
    if mongodb_url.startswith("memory://"):
        pytest.skip("the in-memory store dies with the killed dialog process: this needs a real MongoDB "
                    "(set MONGODB_URL or make Docker available); the in-process variant below runs here")
    resident = "killed-after-commit"
    bot = BotSystem(amqp_url=rabbit_url, mongodb_url=mongodb_url)
    with running(bot, dialog=False):
        async with SimClient(bot.sim.url) as sim, EventTap(rabbit_url, ["resident.#"]) as events:

            async def killed_on(text: str) -> None:
                bot.dialog.launch(DIALOG_FAULT_POINT="after_commit")
                wait_http_ok(bot.dialog.url + "/readyz", 30, bot.dialog.process)
                before = len(await replies(sim, resident))
                await send_in_order(sim, resident, [text])
                assert await asyncio.to_thread(bot.dialog.wait_exit, 30) == -9
                assert len(await replies(sim, resident)) == before  # killed before publishing
                await asyncio.to_thread(bot.dialog.start)

            await killed_on("start")
            for n, (text, _) in enumerate(REGISTRATION[1:-1], start=2):
                await send_in_order(sim, resident, [text])
                await wait_for_replies(sim, resident, n)
            assert bot.dialog.stop() == 0
            await killed_on(REGISTRATION[-1][0])
            await send_in_order(sim, resident, ["nav:home"])
            sent = await wait_for_replies(sim, resident, len(REGISTRATION) + 1)
            received = await drain(events)
        texts = [r["body"]["text"] for r in sent]
        assert len(texts) == len(REGISTRATION) + 1, texts
        for (said, expected), text in zip(REGISTRATION, texts, strict=False):
            assert expected in text, f"after {said!r}: {text[:80]!r}"
        assert [e["type"] for e in {e["id"]: e for e in received}.values()] == ["resident.registered"]
        from pymongo import AsyncMongoClient

        client: AsyncMongoClient = AsyncMongoClient(mongodb_url)
        try:
            db = client[bot.database_prefix + "dialog"]
            assert await db["residents"].count_documents({}) == 1
            assert await db["identities"].count_documents({}) == 1
        finally:
            await client.close()


class Crash(BaseException):
    """The process dies here: not an ``Exception``, so no handler catches it."""


async def test_dialog_crash_right_after_its_state_write_is_published_once_by_the_redelivery(rabbit_url: str):
    """The in-memory store's variant of the crash above (the store survives because the
    dialog runs inside the test): a dialog runtime on the real broker dies right after
    writing a new resident with its reply (the repository's ``commit`` writes, then a
    ``BaseException`` is raised; the bus connections close without an ack); a NEW runtime on the
    same store takes the redelivered input, finds it applied and publishes the stored
    reply. The resident gets it exactly once; the store holds one resident."""
    from chatbot_common.store import open_store
    from dialog.service import build
    from dialog.settings import DialogSettings

    resident = "crash-after-commit"
    namespace = f"crash-{uuid.uuid4().hex[:8]}"
    settings = DialogSettings(amqp_url=rabbit_url, mongodb_url="memory://", dialog_port=0, bus_confirm_timeout=5.0,
                        outbox_relay_seconds=3600.0)  # no relay: the redelivery alone must do it

    def runtime():  # type: ignore[no-untyped-def]
        return build(settings, store=open_store("memory://", "dialog", memory_namespace=namespace))

    bot = BotSystem(amqp_url=rabbit_url)
    with running(bot, dialog=False):
        async with SimClient(bot.sim.url) as sim:
            first = runtime()
            handler = first.bus.subscriptions[0].handler
            repository = handler.repository  # type: ignore[attr-defined]
            crashed = asyncio.Event()
            commit = repository.commit

            async def commit_then_crash(*args: object, **kwargs: object) -> object:
                await commit(*args, **kwargs)  # the one document write: state + outbox entry
                crashed.set()
                raise Crash("died right after the commit, before publishing")

            repository.commit = commit_then_crash
            await first.start(host="127.0.0.1")
            try:
                await send_in_order(sim, resident, ["start"])
                await asyncio.wait_for(crashed.wait(), 20)
            finally:
                await die(first)
            store = open_store("memory://", "dialog", memory_namespace=namespace)
            [written] = [doc async for doc in store["residents"].find({})]
            assert len(written["outbox"]) == 1, "the reply should be waiting in the outbox"
            assert await replies(sim) == []

            second = runtime()
            await second.start(host="127.0.0.1")
            try:
                await wait_for_replies(sim, resident, 1, timeout=30)
                await send_in_order(sim, resident, ["consent:yes"])  # the conversation goes on
                sent = await wait_for_replies(sim, resident, 2)
            finally:
                await second.stop()
    assert len(sent) == 2
    assert "персональних даних" in sent[0]["body"]["text"]
    assert "населеному пункті" in sent[1]["body"]["text"]
    assert await store["residents"].count_documents({}) == 1
    assert await store["identities"].count_documents({}) == 1
    [doc] = [doc async for doc in store["residents"].find({})]
    assert doc["outbox"] == [] and doc["_id"] == written["_id"]


async def die(runtime: Any) -> None:
    """What a process death leaves: no more jobs, no HTTP, the broker connections gone
    without an ack (the broker requeues the unacknowledged input)."""
    for task in runtime._tasks:
        task.cancel()
    await asyncio.gather(*runtime._tasks, return_exceptions=True)
    if runtime._runner is not None:
        await runtime._runner.cleanup()
    bus = runtime.bus
    for conn in (bus._sub_conn, bus._pub_conn):
        if conn is not None and not conn.is_closed:
            await conn.close()


# ----------------------------------------------------------------------------- 3. broker restart


async def test_a_broker_restart_in_the_middle_of_a_burst_loses_and_doubles_no_reply(rabbit_url: str):
    """200 residents write once each, paced, and the broker restarts (``stop_app`` /
    ``start_app``) while they do. The gateway answers 503 while the broker is gone and
    the residents' callbacks are retried as Viber retries them: afterwards each of the
    200 has exactly one answer at the fake Viber — none lost, none doubled."""
    residents = [f"burst-{n:03d}" for n in range(200)]
    bot = BotSystem(amqp_url=rabbit_url, extra_env={"BUS_CONFIRM_TIMEOUT": "3"})
    with running(bot):
        async with SimClient(bot.sim.url) as sim:
            pending = list(residents)
            attempts: dict[str, int] = {}

            async def writer() -> None:
                while pending:
                    resident = pending.pop(0)
                    attempts[resident] = await deliver_like_viber(sim, text_callback(resident, "start"))
                    await asyncio.sleep(0.1)

            writing = asyncio.gather(*(writer() for _ in range(4)))  # about 40 callbacks a second
            await sim.wait_for_requests("send_message", 20, timeout=60, interval=0.02)
            async with broker_stopped():
                answered_before_restart = len(await replies(sim))
                await asyncio.sleep(2)
            await asyncio.wait_for(writing, 180)
            for resident in residents:
                await wait_for_replies(sim, resident, 1, timeout=120)
            await send_in_order(sim, "burst-marker", ["start"])
            await wait_for_replies(sim, "burst-marker", 1, timeout=60)
            counts = await replies_by_receiver(sim)
    print(f"answered before the restart: {answered_before_restart}; callbacks retried: "
          f"{sum(n > 1 for n in attempts.values())}, attempts: {sum(attempts.values())}")
    assert answered_before_restart < len(residents), "the burst was over before the broker stopped"
    assert any(n > 1 for n in attempts.values()), "no callback met the stopped broker"
    lost = [r for r in residents if counts[r] == 0]
    assert lost == [], f"{len(lost)} residents got no answer"
    doubled = {r: counts[r] for r in residents if counts[r] > 1}
    assert doubled == {}, f"{len(doubled)} replies sent twice"


def close_connection(url: str, connection_name: str) -> int:
    """Close (broker side) the connections a service named ``connection_name`` opened on
    this test's virtual host, as a network blip would; returns how many."""
    out = rabbitmqctl("list_connections", "-q", "--no-table-headers", "pid", "vhost", "client_properties")
    closed = 0
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[1] == vhost_of(url) and f'"{connection_name}"' in parts[2]:
            rabbitmqctl("close_connection", parts[0], "e2e fault: connection lost")
            closed += 1
    return closed


async def test_a_reply_viber_accepted_while_the_gateways_connection_dropped_is_not_sent_again(rabbit_url: str):
    """The gateway's consumer connection drops while it is inside Viber's
    ``send_message`` for a reply (the fake Viber answers after 3 s, and does deliver it).
    The reply can't be acknowledged, so the broker redelivers it; the gateway must know
    it was sent: the resident sees it exactly once. Only this test's connection is
    closed: nothing else on the broker is disturbed."""
    resident = "blip-resident"
    bot = BotSystem(amqp_url=rabbit_url)
    with running(bot):
        async with SimClient(bot.sim.url) as sim:
            await sim.faults([{"method": "send_message", "delay": 3}])
            await send_in_order(sim, resident, ["start"])

            async def call_under_way() -> bool:  # the fault is taken when the call arrives
                return await sim._call("GET", "/_sim/faults") == []

            await wait_until(call_under_way, 20, "the gateway to call send_message", interval=0.02)
            assert await asyncio.to_thread(close_connection, rabbit_url, "gateway:consumer") == 1
            await wait_for_replies(sim, resident, 1, timeout=30)
            # The next message's answer comes after anything still on its way.
            await send_in_order(sim, resident, ["consent:yes"])
            await wait_until(lambda: answered(sim, resident, "населеному пункті"), 60, "the settlement question")
            sent = await replies(sim, resident)
    texts = [r["body"]["text"] for r in sent]
    assert sum("персональних даних" in text for text in texts) == 1, texts
    assert len(texts) == 2, texts


async def answered(sim: SimClient, receiver: str, text: str) -> bool:
    return any(text in r["body"]["text"] for r in await replies(sim, receiver))


# ----------------------------------------------------------------------------- 4. before the dialog ever ran


async def test_callbacks_accepted_before_the_dialog_ever_ran_are_all_answered_once_it_starts(rabbit_url: str):
    """On a fresh virtual host only the fake Viber and the gateway run: the gateway
    declared the whole topology, so the callbacks it accepts wait in ``dialog.inbound``;
    the dialog, started later, answers each exactly once."""
    residents = [f"early-{n}" for n in range(5)]
    bot = BotSystem(amqp_url=rabbit_url)
    with running(bot, dialog=False):
        async with SimClient(bot.sim.url) as sim:
            for resident in residents:
                await send_in_order(sim, resident, ["start"])
            await wait_queue(rabbit_url, "dialog.inbound", len(residents))
            assert await replies(sim) == []
            await asyncio.to_thread(bot.dialog.start)
            for resident in residents:
                await wait_for_replies(sim, resident, 1, timeout=30)
            await send_in_order(sim, "early-marker", ["start"])
            await wait_for_replies(sim, "early-marker", 1)
            sent = await replies(sim)
    assert Counter(r["body"]["receiver"] for r in sent) == {**{r: 1 for r in residents}, "early-marker": 1}
    assert all("персональних даних" in r["body"]["text"] for r in sent)


async def test_an_event_no_queue_is_bound_to_lands_in_chatbot_unroutable(rabbit_url: str):
    """An event published (mandatory, confirmed) to ``chatbot`` with a routing key no
    consumer binds is neither dropped nor returned: the alternate exchange puts it in
    ``chatbot.unroutable`` for ops to see."""
    bot = BotSystem(amqp_url=rabbit_url)
    with running(bot, dialog=False):  # the gateway declares the topology
        connection = await aio_pika.connect(rabbit_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await channel.get_exchange("chatbot", ensure=True)
            body = b'{"what": "nobody consumes this"}'
            confirm = await exchange.publish(aio_pika.Message(body=body, message_id="unroutable-1"),
                                             "audit.nobody-listens", mandatory=True, timeout=10)
            assert confirm is not None  # acked, not returned (on_return_raises would raise)
            parked = await channel.get_queue("chatbot.unroutable", ensure=True)
            message = None
            for _ in range(100):
                message = await parked.get(no_ack=True, fail=False)
                if message is not None:
                    break
                await asyncio.sleep(0.05)
            assert message is not None, "nothing in chatbot.unroutable"
            assert message.body == body and message.routing_key == "audit.nobody-listens"
            assert await parked.get(no_ack=True, fail=False) is None


# ----------------------------------------------------------------------------- 5. SIGTERM without a broker


async def test_services_exit_cleanly_within_10_seconds_of_sigterm_while_the_broker_is_gone(rabbit_url: str):
    """The broker stops under the running gateway and dialog (they report not ready);
    SIGTERM then ends each within 10 s with exit code 0 — no shutdown step waits on a
    broker that is gone."""
    bot = BotSystem(amqp_url=rabbit_url)
    timings: dict[str, float] = {}
    codes: dict[str, int] = {}
    with running(bot):
        async with broker_stopped():
            for service in (bot.gateway, bot.dialog):
                await wait_until(lambda url=service.url: asyncio.to_thread(not_ready, url), 20,
                                 f"{service.name} to notice the broker is gone")
            started = time.monotonic()

            async def terminated(service: Any) -> None:
                try:
                    codes[service.name] = await asyncio.to_thread(service.process.wait, 30)
                except subprocess.TimeoutExpired:
                    codes[service.name] = -999  # still running: stop() below kills it
                timings[service.name] = time.monotonic() - started

            for service in (bot.gateway, bot.dialog):
                assert service.process is not None
                service.process.terminate()  # SIGTERM, both at once
            await asyncio.gather(terminated(bot.gateway), terminated(bot.dialog))
    print(f"SIGTERM to exit without a broker, seconds: {timings}")
    assert codes == {"gateway": 0, "dialog": 0}, (codes, timings)
    assert all(seconds < 10 for seconds in timings.values()), timings


def not_ready(url: str) -> bool:
    return readiness(url) == 503


# ----------------------------------------------------------------------------- 6. replay


async def one_in(url: str, *queues: str) -> bool:
    return sum([await ready_messages(url, queue) for queue in queues]) == 1


async def test_an_input_that_crashed_the_dialog_is_parked_then_replayed_and_answered_once(rabbit_url: str):
    """A message that kills the dialog every time (here: ``DIALOG_FAULT_POINT``, a stand-in
    for a crashing bug) stops a crash loop at the delivery limit: it is parked in
    ``dialog.inbound.dead``. With the dialog fixed, ``python -m chatbot_common.replay``
    moves it back and the resident gets exactly one answer."""
    resident = "poison-resident"
    bot = BotSystem(amqp_url=rabbit_url, extra_env={"BUS_DELIVERY_LIMIT": "1"})
    with running(bot, dialog=False):
        async with SimClient(bot.sim.url) as sim:
            await send_in_order(sim, resident, ["start"])
            kills = 0
            await wait_queue(rabbit_url, "dialog.inbound", 1)
            while await ready_messages(rabbit_url, "dialog.inbound.dead") == 0:
                assert kills < 4, "still not parked after 4 crashes"
                assert await ready_messages(rabbit_url, "dialog.inbound") == 1
                bot.dialog.launch(DIALOG_FAULT_POINT="after_commit")
                assert await asyncio.to_thread(bot.dialog.wait_exit, 30) == -9
                kills += 1
                # Back in the queue, or (dead-lettering is asynchronous) on its way to .dead.
                await wait_until(lambda: one_in(rabbit_url, "dialog.inbound", "dialog.inbound.dead"), 10,
                                 "the input back in dialog.inbound or parked")
            assert await ready_messages(rabbit_url, "dialog.inbound") == 0
            await asyncio.to_thread(bot.dialog.start)  # the fixed dialog: nothing to do yet
            await asyncio.sleep(1.0)
            assert await replies(sim) == []
            replay = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "chatbot_common.replay", "dialog.inbound.dead", "--amqp-url", rabbit_url],
                capture_output=True, text=True, timeout=60, cwd=ROOT,
            )
            assert replay.returncode == 0, replay.stderr
            assert "replayed 1 of 1 from dialog.inbound.dead to dialog.inbound" in replay.stdout
            await wait_for_replies(sim, resident, 1, timeout=30)
            await send_in_order(sim, resident, ["consent:yes"])
            sent = await wait_for_replies(sim, resident, 2)
            assert await ready_messages(rabbit_url, "dialog.inbound.dead") == 0
    assert kills == 2, f"parked after {kills} crashes with BUS_DELIVERY_LIMIT=1"
    assert len(sent) == 2
    assert "персональних даних" in sent[0]["body"]["text"]
    assert "населеному пункті" in sent[1]["body"]["text"]
