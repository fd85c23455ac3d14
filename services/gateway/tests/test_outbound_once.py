"""Issue 6, case 4 — a batch Viber accepted is never sent again: one event is one Viber
call, claimed before it and recorded (with the delivery.failed events it implies, in
the same write) before anything is published. Against :class:`FakeViber`, which counts
what it *acted on* (what a real Viber would have delivered and billed), in-process on
the memory bus and the memory store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from fake_viber import FakeViber
from pydantic import ValidationError

from chatbot_common.bus import PublishError, create_bus
from chatbot_common.events import (
    MAX_RECEIVERS,
    CloudEvent,
    Lane,
    OutboundMessage,
    derived_id,
    make_event,
    split_receivers,
)
from chatbot_common.store import open_store
from gateway.outbound import SENDING
from gateway.service import SENT_BATCHES, build, bulk_connector
from gateway.settings import GatewaySettings as Settings
from gateway.viber_api import TransientViberError, ViberApi, ViberOutcomeUnknown

TOKEN = "once-test-token"
#: Short, so a hanging Viber is given up on quickly; connect < total as in production.
TIMEOUT = aiohttp.ClientTimeout(total=0.5, connect=0.3)
RELAY_GRACE = 0.2


class Harness:
    def __init__(self, runtime, viber: FakeViber) -> None:
        self.runtime = runtime
        self.viber = viber
        self.failed: list[CloudEvent] = []

    @property
    def broker(self):
        return self.runtime.bus.broker

    @property
    def batches(self):
        return self.runtime.store[SENT_BATCHES]

    async def publish(self, event: CloudEvent) -> None:
        await self.runtime.bus.publish(event)

    async def send(self, receivers: list[str], lane: Lane = Lane.bulk, **fields) -> CloudEvent:
        message = OutboundMessage(receivers=receivers, lane=lane, text=fields.pop("text", "Планове відключення"),
                                  **fields)
        event = make_event(message, source="test")
        await self.publish(event)
        return event

    async def state(self, event: CloudEvent) -> str | None:
        doc = await self.batches.find_one({"_id": event.id})
        return doc and doc.get("state")

    def failures(self, reason: str | None = None) -> list[CloudEvent]:
        return [f for f in self.failed if reason is None or f.data["reason"] == reason]


@pytest.fixture
async def harness(unique: str) -> AsyncIterator[Harness]:
    viber = FakeViber()
    await viber.start()
    bus_url = f"memory://once-{unique}"
    settings = Settings(viber_auth_token=TOKEN, viber_api_url=viber.url, gateway_port=0, viber_send_attempts=4,
                        bus_delivery_limit=3, outbox_relay_seconds=RELAY_GRACE)
    runtime = build(settings, bus=create_bus(bus_url, delivery_limit=3),
                    store=open_store("memory://", "gateway", memory_namespace=unique), viber_timeout=TIMEOUT)
    listener = create_bus(bus_url)
    h = Harness(runtime, viber)

    async def record(event: CloudEvent) -> None:
        h.failed.append(event)

    listener.subscribe("test.failed", ["delivery.failed"], record)
    await listener.start_consuming()
    await runtime.start(host="127.0.0.1")
    try:
        yield h
    finally:
        h.broker.fail_publishes = None
        await runtime.stop()
        await listener.close()
        await viber.stop()


async def until(condition, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if await condition() if asyncio.iscoroutinefunction(condition) else condition():
            return
        await asyncio.sleep(0.02)
    raise TimeoutError("condition not met")


async def settle(seconds: float = 0.6) -> None:
    """Long enough for any retry, redelivery or relay round to have happened."""
    await asyncio.sleep(seconds)


# ------------------------------------------------------------------ the event's shape


def test_an_outbound_event_carries_at_most_300_receivers():
    OutboundMessage(receivers=[f"r{i}" for i in range(MAX_RECEIVERS)], text="t")
    with pytest.raises(ValidationError, match="at most 300"):
        OutboundMessage(receivers=[f"r{i}" for i in range(301)], text="t")
    with pytest.raises(ValidationError, match="at most 300"):
        OutboundMessage(receivers=["r"], resident_ids=[f"x{i}" for i in range(301)], text="t")


def test_producers_split_an_audience_into_batches_with_deterministic_ids():
    receivers = [f"r{i}" for i in range(650)]
    residents = [f"res-{i}" for i in range(650)]
    batches = list(split_receivers("outage-42", receivers, residents, lane=Lane.bulk, text="Відключення води"))
    assert [len(m.receivers) for _, m in batches] == [300, 300, 50]
    assert [i for i, _ in batches] == [derived_id("outage-42", "batch", n) for n in range(3)]
    assert [i for i, _ in split_receivers("outage-42", receivers, lane=Lane.bulk, text="x")] == [i for i, _ in batches]
    assert [r for _, m in batches for r in m.receivers] == receivers
    assert all(m.resident_ids == [f"res-{r[1:]}" for r in m.receivers] for _, m in batches)
    assert all(m.lane == Lane.bulk and m.text == "Відключення води" for _, m in batches)
    with pytest.raises(ValueError, match="parallel"):
        list(split_receivers("p", receivers, residents[:3], text="x"))


async def test_an_event_with_301_receivers_is_parked_without_calling_viber(harness):
    event = make_event(OutboundMessage(receivers=["a", "b"], text="t", lane=Lane.bulk), source="test")
    raw = event.model_copy(update={"data": {**event.data, "receivers": [f"r{i}" for i in range(301)]}}).to_json()
    await harness.runtime.bus.publish_raw("outbound.viber.bulk", raw)
    await until(lambda: harness.broker.dead.get("gateway.viber-mailings.dead"))
    assert harness.viber.received("broadcast_message") == 0


# ------------------------------------------------------------------ accepted, then trouble


async def test_a_batch_viber_accepted_is_not_resent_when_publishing_its_failures_fails(harness):
    """The publish of delivery.failed fails after Viber accepted the broadcast: the batch
    is recorded first, a redelivery sends nothing, the failures go out once by the relay."""
    harness.viber.unreachable = {"gone-1", "gone-2"}
    refusing = True
    harness.broker.fail_publishes = lambda key: PublishError("broker refuses") if refusing and key == "delivery.failed" else None
    event = await harness.send(["ok-1", "gone-1", "ok-2", "gone-2"], resident_ids=["a", "b", "c", "d"])
    await until(lambda: harness.viber.received("broadcast_message") == 1)
    await until(_state_is(harness, event, "sent"))
    doc = await harness.batches.find_one({"_id": event.id})
    # recorded with the outcome, not yet published: the accepted call's token, then the failures
    assert [e["type"] for e in doc["outbox"][0]["events"]] == ["delivery.sent", "delivery.failed", "delivery.failed"]
    sent = doc["outbox"][0]["events"][0]["data"]  # what lets the notifier count this mailing's deliveries
    assert (sent["channel_message_id"], sent["outbound_event_id"]) == (doc["answer"]["message_token"], event.id)
    assert (sent["receivers"], sent["failed"]) == (4, 2)
    # The broker redelivers the event (say its ack was lost): Viber is not called again.
    await harness.publish(event)
    await settle()
    assert len(harness.viber.acted_on("broadcast_message")) == 1
    assert harness.failed == []
    # The broker is back: the relay publishes the failures, once.
    refusing = False
    await until(lambda: len(harness.failed) == 2)
    await settle()
    assert sorted(f.data["channel_user_id"] for f in harness.failed) == ["gone-1", "gone-2"]
    assert sorted(f.data["resident_id"] for f in harness.failed) == ["b", "d"]
    assert {f.data["outbound_event_id"] for f in harness.failed} == {event.id}
    assert len({f.id for f in harness.failed}) == 2
    assert len(harness.viber.acted_on("broadcast_message")) == 1
    assert (await harness.batches.find_one({"_id": event.id})).get("outbox") == []


def _state_is(harness: Harness, event: CloudEvent, state: str):
    async def check() -> bool:
        return await harness.state(event) == state

    return check


@pytest.mark.parametrize("behaviour", ["hang", "drop", "garbage", "http504"])
async def test_a_broadcast_whose_answer_never_came_is_not_resent_and_reported_unknown(harness, behaviour):
    """Viber acted on the call but the answer timed out / the connection dropped / the
    answer was unreadable / a proxy gave up (504): maybe sent — never sent again, each
    receiver reported ``unknown``."""
    harness.viber.then("broadcast_message", behaviour)
    event = await harness.send(["r-1", "r-2", "r-3"], resident_ids=["a", "b", "c"])
    await until(lambda: len(harness.failed) == 3)
    assert {f.data["reason"] for f in harness.failed} == {"unknown"}
    assert {f.data["channel_user_id"] for f in harness.failed} == {"r-1", "r-2", "r-3"}
    assert all("status_code" not in f.data for f in harness.failed)
    assert await harness.state(event) == "unknown"
    # Neither a retry nor a redelivery sends it again.
    await harness.publish(event)
    await settle()
    assert harness.viber.received("broadcast_message") == 1
    assert len(harness.failed) == 3
    assert harness.broker.dead.get("gateway.viber-mailings.dead", []) == []


async def test_a_redelivered_mailing_whose_claim_was_never_finished_is_not_sent_again(harness):
    """A gateway died mid-call (the claim is there, the outcome is not): Viber may have
    the batch, so the redelivery reports it unknown instead of sending it."""
    event = make_event(OutboundMessage(receivers=["r-1", "r-2"], lane=Lane.bulk, text="t"), source="test")
    await harness.batches.insert_one({"_id": event.id, "state": SENDING, "lane": "mailings"})
    await harness.publish(event)
    await until(lambda: len(harness.failed) == 2)
    assert {f.data["reason"] for f in harness.failed} == {"unknown"}
    await settle(0.3)
    assert harness.viber.received("broadcast_message") == 0


async def test_a_mailing_redelivered_while_its_call_is_still_out_waits_for_the_outcome(harness):
    """The gateway's broker connection dropped mid-call: the broker redelivers the
    event while this process is still waiting for Viber. The redelivery waits for that
    call's outcome: one call, no ``unknown``, the real failed_list reported."""
    harness.viber.slow_seconds = 0.3  # within the client's 0.5 s timeout
    harness.viber.unreachable = {"gone-1"}
    harness.viber.then("broadcast_message", "slow")
    event = await harness.send(["r-1", "gone-1"])
    await until(lambda: harness.viber.received("broadcast_message") == 1)
    await harness.publish(event)  # the redelivery, while the call is out
    await until(_state_is(harness, event, "sent"))
    await until(lambda: len(harness.failed) == 1)
    await settle()
    assert harness.viber.received("broadcast_message") == 1
    assert [(f.data["channel_user_id"], f.data["reason"]) for f in harness.failed] == [("gone-1", "notSubscribed")]


# ------------------------------------------------------------------ not sent: retried


async def test_connection_refused_is_retried_and_each_message_sent_once(harness):
    await harness.viber.stop()  # nothing listens: every connection is refused
    bulk = await harness.send(["r-1", "r-2"])
    reply = await harness.send(["resident-1"], lane=Lane.reply, text="Відповідь")
    await asyncio.sleep(0.3)  # a couple of refused attempts
    await harness.viber.start()
    await until(lambda: harness.viber.received("broadcast_message") == 1 and harness.viber.received("send_message") == 1)
    await until(_state_is(harness, bulk, "sent"))
    await until(_state_is(harness, reply, "sent"))
    await settle()
    assert harness.viber.received("broadcast_message") == 1
    assert harness.viber.received("send_message") == 1
    assert harness.failed == []


@pytest.mark.parametrize("behaviour", ["http500", "http502", "http503", "status12"])
async def test_a_broadcast_viber_said_failed_is_retried_and_sent_once(harness, behaviour):
    harness.viber.then("broadcast_message", behaviour, behaviour)
    event = await harness.send(["r-1", "r-2"])
    await until(_state_is(harness, event, "sent"))
    await settle()
    assert len(harness.viber.acted_on("broadcast_message")) == 1
    assert harness.viber.received("broadcast_message") == 3
    assert harness.failed == []


async def test_a_mailing_that_stays_unsent_goes_back_to_the_queue_and_is_sent_once_viber_recovers(harness):
    """Every attempt of the first delivery fails before Viber acted: the claim is given
    back, so the redelivery may — and does — send it."""
    harness.viber.then("broadcast_message", *["http503"] * 4)  # viber_send_attempts = 4
    event = await harness.send(["r-1", "r-2"])
    await until(_state_is(harness, event, "sent"), timeout=10)
    assert len(harness.viber.acted_on("broadcast_message")) == 1
    assert harness.failed == []


# ------------------------------------------------------------------ the reply lane


async def test_a_reply_whose_answer_timed_out_is_sent_again(harness):
    """Documented trade-off: a resident is waiting and a reply is not a paid broadcast,
    so the reply lane retries a maybe-sent call (it may arrive twice)."""
    harness.viber.then("send_message", "hang")
    event = await harness.send(["resident-1"], lane=Lane.reply, text="Ваше звернення прийнято")
    await until(_state_is(harness, event, "sent"))
    assert harness.viber.received("send_message") == 2
    assert harness.failed == []


async def test_a_repeated_reply_is_sent_once(harness):
    event = await harness.send(["resident-1"], lane=Lane.reply, text="Дякуємо")
    await until(_state_is(harness, event, "sent"))
    await harness.publish(event)
    await harness.publish(event)
    await settle(0.3)
    assert harness.viber.received("send_message") == 1


async def test_an_unfinished_reply_claim_is_sent_again(harness):
    event = make_event(OutboundMessage(receivers=["resident-1"], text="t"), source="test")
    await harness.batches.insert_one({"_id": event.id, "state": SENDING, "lane": "replies"})
    await harness.publish(event)
    await until(_state_is(harness, event, "sent"))
    assert harness.viber.received("send_message") == 1


# ------------------------------------------------------------------ the client's verdicts


async def test_viber_api_tells_not_sent_from_maybe_sent():
    viber = FakeViber()
    async with aiohttp.ClientSession(timeout=TIMEOUT, connector=aiohttp.TCPConnector(limit=1)) as session:
        api = ViberApi(viber.url, TOKEN, session)
        # Nothing listening: connection refused — not sent.
        with pytest.raises(TransientViberError) as refused:
            await api.send_message("u", {"type": "text", "text": "t"})
        assert not isinstance(refused.value, ViberOutcomeUnknown)
        await viber.start()
        try:
            for behaviour, unknown in [("http503", False), ("status12", False), ("hang", True), ("drop", True),
                                       ("garbage", True), ("http504", True)]:
                viber.then("send_message", behaviour)
                with pytest.raises(TransientViberError) as failed:
                    await api.send_message("u", {"type": "text", "text": "t"})
                assert isinstance(failed.value, ViberOutcomeUnknown) is unknown, behaviour
            # The pool's only connection is busy with a call Viber never answers: the
            # next call times out *waiting to connect* — before a byte left: not sent.
            viber.then("send_message", "hang")
            first = asyncio.create_task(api.send_message("u", {"type": "text", "text": "t"}))
            await asyncio.sleep(0.05)
            with pytest.raises(TransientViberError) as waiting:
                await api.send_message("u", {"type": "text", "text": "t"})
            assert not isinstance(waiting.value, ViberOutcomeUnknown)
            with pytest.raises(ViberOutcomeUnknown):
                await first
        finally:
            await viber.stop()


async def test_the_mailing_lane_reuses_a_connection_only_within_its_keepalive():
    """VIBER_BULK_KEEPALIVE_SECONDS: back-to-back broadcasts share one connection (no
    handshake per call), one idle longer than the keep-alive opens a fresh one (a
    connection Viber may have closed is not used), and 0 opens one per call."""
    viber = FakeViber()
    await viber.start()
    message = {"type": "text", "text": "Планове відключення"}
    try:
        for idle, pause, expected in [(0.3, 0.0, 1), (0.3, 0.6, 3), (0.0, 0.0, 3)]:
            connections = viber.connections
            settings = Settings(viber_auth_token=TOKEN, viber_bulk_keepalive_seconds=idle)
            async with aiohttp.ClientSession(timeout=TIMEOUT, connector=bulk_connector(settings)) as session:
                api = ViberApi(viber.url, TOKEN, session)
                for _ in range(3):
                    await api.broadcast_message(["r-1", "r-2"], message)
                    await asyncio.sleep(pause)
            assert viber.connections - connections == expected, (idle, pause)
        assert len(viber.acted_on("broadcast_message")) == 9
    finally:
        await viber.stop()


# ------------------------------------------------------------------ shutdown mid-delivery


def mailing_lane(harness: Harness):
    [lane] = [s.handler.__self__ for s in harness.runtime.bus.subscriptions if s.queue == "gateway.viber-mailings"]
    return lane


async def test_a_mailing_cancelled_before_its_request_left_gives_its_claim_back(harness):
    await harness.viber.stop()  # refused: the lane waits to try again
    event = make_event(OutboundMessage(receivers=["r-1", "r-2"], lane=Lane.bulk, text="t"), source="test")
    delivery = asyncio.create_task(mailing_lane(harness).handle(event))
    await asyncio.sleep(0.1)  # first attempt refused, now in its backoff
    assert await harness.state(event) == SENDING
    delivery.cancel()
    await asyncio.gather(delivery, return_exceptions=True)
    assert await harness.state(event) is None  # nothing left: the redelivery sends it


async def test_a_mailing_cancelled_while_its_request_was_out_stays_maybe_sent(harness):
    harness.viber.then("broadcast_message", "hang")
    event = make_event(OutboundMessage(receivers=["r-1", "r-2"], lane=Lane.bulk, text="t"), source="test")
    delivery = asyncio.create_task(mailing_lane(harness).handle(event))
    await until(lambda: harness.viber.received("broadcast_message") == 1)
    delivery.cancel()
    await asyncio.gather(delivery, return_exceptions=True)
    assert await harness.state(event) == SENDING
    await harness.publish(event)  # the redelivery: not sent again
    await until(lambda: len(harness.failures("unknown")) == 2)
    assert harness.viber.received("broadcast_message") == 1
