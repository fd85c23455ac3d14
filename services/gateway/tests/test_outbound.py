"""Outbound lanes against the fake Viber API (in-process, in-memory bus)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from viberbot.api.messages import get_message

from chatbot_common.bus import create_bus
from chatbot_common.events import (
    Button,
    ButtonAction,
    CloudEvent,
    Lane,
    OutboundMessage,
    make_event,
    split_receivers,
)
from chatbot_common.store import open_store
from gateway.service import build
from gateway.settings import GatewaySettings as Settings
from vibersim import SimConfig, start_simulator
from vibersim.client import SimClient

TOKEN = "outbound-test-token"


class Harness:
    def __init__(self, runtime, sim: SimClient, bus_url: str) -> None:
        self.runtime = runtime
        self.sim = sim
        self.failed: list[CloudEvent] = []
        self.bus_url = bus_url

    async def send(self, message: OutboundMessage) -> CloudEvent:
        event = make_event(message, source="test")
        await self.runtime.bus.publish(event)
        return event

    async def mailing(self, parent_id: str, receivers: list[str], **fields) -> list[CloudEvent]:
        """A mailing as its producer publishes it: one event per ≤ 300 receivers."""
        events = [make_event(message, source="test", id=batch_id)
                  for batch_id, message in split_receivers(parent_id, receivers, lane=Lane.bulk, text="Відключення",
                                                           **fields)]
        for event in events:
            await self.runtime.bus.publish(event)
        return events


@pytest.fixture
async def harness(unique: str) -> AsyncIterator[Harness]:
    sim_runner, sim_url = await start_simulator(SimConfig(auth_token=TOKEN, send_delivery_receipts=False), port=0)
    bus_url = f"memory://out-{unique}"
    settings = Settings(viber_auth_token=TOKEN, viber_api_url=f"{sim_url}/pa", gateway_port=0,
                        viber_send_attempts=3, bus_delivery_limit=2)
    runtime = build(settings, bus=create_bus(bus_url, delivery_limit=2),
                    store=open_store("memory://", "gateway", memory_namespace=unique))
    listener = create_bus(bus_url)
    async with SimClient(sim_url) as sim:
        h = Harness(runtime, sim, bus_url)

        async def record(event: CloudEvent) -> None:
            h.failed.append(event)

        listener.subscribe("test.failed", ["delivery.failed"], record)
        await listener.start_consuming()
        await runtime.start(host="127.0.0.1")
        try:
            yield h
        finally:
            await runtime.stop()
            await listener.close()
            await sim_runner.cleanup()


def reply(text: str = "Дякуємо!", receivers: list[str] | None = None, **kw) -> OutboundMessage:
    return OutboundMessage(receivers=receivers or ["resident-1"], text=text, **kw)


async def test_reply_is_sent_with_token_sender_and_a_keyboard_the_sdk_accepts(harness):
    buttons = [
        Button(label="✅ Погоджуюсь", code="consent:yes", columns=3),
        Button(label="📱 Поділитися номером", code="phone:share", action=ButtonAction.share_phone, columns=3),
        Button(label="🌐 Сайт", code="link:site", action=ButtonAction.open_url, url="https://example.gov.ua/"),
    ]
    await harness.send(reply(buttons=buttons))
    [record] = await harness.sim.wait_for_requests("send_message", 1)
    assert record["status"] == 0 and record["token"] == TOKEN
    body = record["body"]
    assert body["sender"]["name"] == "Контактний центр"
    assert body["min_api_version"] == 3  # share-phone needs it
    keyboard = body["keyboard"]["Buttons"]
    assert [b["ActionBody"] for b in keyboard] == ["consent:yes", "phone:share", "https://example.gov.ua/"]
    assert [b["ActionType"] for b in keyboard] == ["reply", "share-phone", "open-url"]
    assert keyboard[0]["Silent"] is True  # the tapped code stays out of the chat
    message = dict(body)
    message.pop("receiver")
    assert get_message(message).keyboard == body["keyboard"]


async def test_long_ukrainian_text_fits_vibers_body_limit(harness):
    await harness.send(reply(text="ї" * 7000))
    [record] = await harness.sim.wait_for_requests("send_message", 1)
    assert record["status"] == 0


async def test_mailing_to_650_residents_is_sent_as_three_broadcasts_of_at_most_300(harness):
    receivers = [f"r{i}" for i in range(650)]
    await harness.mailing("mailing-650", receivers)
    records = await harness.sim.wait_for_requests("broadcast_message", 3)
    sizes = sorted(len(r["body"]["broadcast_list"]) for r in records)
    assert sizes == [50, 300, 300]
    assert sorted(x for r in records for x in r["body"]["broadcast_list"]) == sorted(receivers)
    await asyncio.sleep(0.2)
    assert len(await harness.sim.requests("broadcast_message")) == 3  # one call per event, none twice


async def test_a_reply_does_not_wait_behind_a_slow_mailing(harness):
    # Every broadcast call takes 1 s; the mailing needs 40 of them, 16 at a time (VIBER_BULK_CONCURRENCY).
    await harness.sim.faults([{"method": "broadcast_message", "delay": 1.0}] * 40)
    await harness.mailing("slow-mailing", [f"m{i}" for i in range(12000)])
    await harness.sim.wait_for_requests("broadcast_message", 1, timeout=5)
    await harness.send(reply(text="Відповідь мешканцю"))
    [sent] = await harness.sim.wait_for_requests("send_message", 1, timeout=5)
    broadcasts = await harness.sim.requests("broadcast_message")
    assert sent["body"]["text"] == "Відповідь мешканцю"
    assert len(broadcasts) < 40  # the reply went out while the mailing was still being sent


async def test_broadcast_failed_list_becomes_delivery_failed_per_resident(harness):
    await harness.sim.set_user("gone-1", unsubscribed=True)
    await harness.send(reply(receivers=["ok-1", "gone-1", "ok-2"], lane=Lane.bulk, resident_ids=["r-a", "r-b", "r-c"]))
    await harness.sim.wait_for_requests("broadcast_message", 1)
    for _ in range(100):
        if harness.failed:
            break
        await asyncio.sleep(0.05)
    [failed] = harness.failed
    assert failed.data["channel_user_id"] == "gone-1"
    assert failed.data["resident_id"] == "r-b"
    assert failed.data["status_code"] == 6


async def test_http_500_then_success_is_retried_and_sent_once(harness):
    await harness.sim.faults([{"method": "send_message", "http": 500}, {"method": "send_message", "disconnect": True}])
    await harness.send(reply())
    records = await harness.sim.wait_for_requests("send_message", 3)
    assert [r["status"] for r in records][-1] == 0
    assert sum(1 for r in records if r["status"] == 0) == 1


async def until(condition, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise TimeoutError("condition not met")


def parked(harness: Harness, queue: str) -> list[bytes]:
    return harness.runtime.bus.broker.dead.get(f"{queue}.dead", [])


@pytest.mark.parametrize("status", [5, 6, 11])
async def test_unreachable_resident_is_reported_failed_and_acked_not_parked(harness, status):
    await harness.sim.faults([{"method": "send_message", "status": status}])
    await harness.send(reply(receivers=["gone-1"], resident_ids=["r-gone"]))
    await until(lambda: harness.failed)
    [failed] = harness.failed
    assert failed.data["status_code"] == status and failed.data["resident_id"] == "r-gone"
    # A later reply on the same lane is sent: the first was acked, not stuck or parked.
    await harness.send(reply(receivers=["ok-1"]))
    records = await harness.sim.wait_for_requests("send_message", 2)
    assert [r["status"] for r in records] == [status, 0]
    assert parked(harness, "gateway.viber-replies") == []


@pytest.mark.parametrize(
    "fault",
    [{"status": 2}, {"status": 3}, {"status": 4}, {"status": 7}, {"status": 10}, {"status": 13}, {"status": 24},
     {"http": 400}, {"http": 404}],
    ids=lambda f: f"status-{f['status']}" if "status" in f else f"http-{f['http']}",
)
async def test_a_refusal_of_the_bot_is_reported_failed_and_parked_for_replay_not_acked(harness, fault):
    await harness.sim.faults([{"method": "send_message", **fault}])
    event = await harness.send(reply(receivers=["resident-9"], resident_ids=["r-9"]))
    await until(lambda: parked(harness, "gateway.viber-replies"))
    [body] = parked(harness, "gateway.viber-replies")
    assert CloudEvent.model_validate_json(body).id == event.id
    await until(lambda: harness.failed)
    [failed] = harness.failed
    expected = fault.get("status", -fault.get("http", 0))
    assert failed.data["status_code"] == expected and failed.data["resident_id"] == "r-9"
    assert len(await harness.sim.requests("send_message")) == 1  # parked at once, not retried


async def test_a_parked_batch_replayed_after_the_fix_is_sent_and_the_other_batches_are_not_resent(harness):
    receivers = [f"r{i}" for i in range(650)]
    # The first batch goes out, the second is refused (e.g. a bad token after a rotation).
    await harness.sim.faults([{"method": "broadcast_message"}, {"method": "broadcast_message", "status": 2}])
    events = await harness.mailing("mailing-refused", receivers)
    await until(lambda: parked(harness, "gateway.viber-mailings"))
    [body] = harness.runtime.bus.broker.dead.pop("gateway.viber-mailings.dead")
    refused = CloudEvent.model_validate_json(body)
    assert refused.id in {e.id for e in events}
    await until(lambda: len(harness.failed) == len(refused.data["receivers"]))
    assert {f.data["channel_user_id"] for f in harness.failed} == set(refused.data["receivers"])
    await harness.sim.wait_for_requests("broadcast_message", 3)  # the third batch is its own event
    # Ops fixed the configuration and replays the parked message.
    await harness.runtime.bus.publish_raw("outbound.viber.bulk", body)
    records = await harness.sim.wait_for_requests("broadcast_message", 4)
    sent = [r for r in records if r["status"] == 0]
    assert sorted(len(r["body"]["broadcast_list"]) for r in sent) == [50, 300, 300]
    assert sorted(x for r in sent for x in r["body"]["broadcast_list"]) == sorted(receivers)  # none twice
    # Every batch again, as a redelivery would bring them: nothing is sent twice.
    for event in events:
        await harness.runtime.bus.publish(event)
    await asyncio.sleep(0.3)
    assert len(await harness.sim.requests("broadcast_message")) == 4
    assert parked(harness, "gateway.viber-mailings") == []
