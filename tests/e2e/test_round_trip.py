"""A resident's round trip through real RabbitMQ: fake Viber → gateway → dialog →
gateway → fake Viber, each in its own OS process (issue: walking skeleton)."""

from __future__ import annotations

import asyncio
import json
import time

import aio_pika
import pytest
from viberbot.api.messages import get_message

from tests.e2e.conftest import assert_official_sdk_parses
from tests.e2e.harness import TOKEN, BotSystem
from vibersim.client import SimClient

pytestmark = pytest.mark.rabbitmq


def sent_ok(records: list[dict]) -> list[dict]:
    return [r for r in records if r["status"] == 0]


def assert_all_parse(records: list[dict]) -> None:
    assert records, "no outgoing messages to check"
    for record in records:
        assert_official_sdk_parses(record["body"])


async def test_conversation_started_gets_the_welcome_in_the_http_answer(sim: SimClient):
    answer = await sim.open("resident-a", name="Оксана")
    assert answer["http_status"] == 200
    welcome = answer["response"]
    assert "Вітаємо" in welcome["text"]
    assert welcome["keyboard"]["Buttons"][0]["ActionBody"] == "start"
    get_message(welcome)


async def test_message_gets_consent_question_at_fake_viber_with_token_and_valid_keyboard(sim: SimClient):
    await sim.open("resident-b")
    answer = await sim.say("resident-b", "start")
    assert answer["http_status"] == 200
    [record] = sent_ok(await sim.wait_for_requests("send_message", 1))
    assert record["token"] == TOKEN
    body = record["body"]
    assert body["receiver"] == "resident-b"
    assert "персональних даних" in body["text"]
    codes = [b["ActionBody"] for b in body["keyboard"]["Buttons"]]
    assert "consent:yes" in codes
    assert_official_sdk_parses(record["body"])


def metric(url: str, name: str) -> float:
    import urllib.request

    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.rsplit(" ", 1)[0] == name:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_same_callback_twice_gets_exactly_one_reply(system: BotSystem, sim: SimClient):
    callback = {
        # A fresh timestamp: the gateway refuses signed callbacks older than it remembers keys.
        "event": "message", "timestamp": int(time.time() * 1000), "message_token": 5_123_456_789_012_345_678,
        "sender": {"id": "resident-c", "name": "Петро", "api_version": 10},
        "message": {"type": "text", "text": "Добрий день"},
    }
    first = await sim.raw_callback(callback)
    second = await sim.raw_callback(callback)
    assert first["http_status"] == second["http_status"] == 200
    await sim.say("resident-c", "marker")  # a later message: its reply proves the first was processed
    records = await sim.wait_for_requests("send_message", 2)
    assert len(sent_ok(records)) == 2
    # The gateway answered both copies but published the first only (deterministic:
    # it decides before answering), so no third reply can still be on its way.
    published = 'chatbot_webhook_callbacks_total{event="message",outcome="published"}'
    duplicate = 'chatbot_webhook_callbacks_total{event="message",outcome="duplicate"}'
    assert metric(system.gateway.url, published) == 2  # the callback and the marker
    assert metric(system.gateway.url, duplicate) == 1  # one for the callback (not two), one for the marker


async def test_status_12_is_retried_and_the_message_delivered_once(sim: SimClient):
    await sim.faults([{"method": "send_message", "status": 12}])
    await sim.say("resident-d", "start")
    records = await sim.wait_for_requests("send_message", 2)
    assert [r["status"] for r in records] == [12, 0]
    assert len(sent_ok(records)) == 1


async def test_status_6_is_not_retried_and_delivery_failed_is_published(sim: SimClient, rabbit_url: str, unique: str):
    conn = await aio_pika.connect(rabbit_url)
    async with conn:
        channel = await conn.channel()
        # Passive: the services declared it (with its alternate exchange) at start.
        exchange = await channel.get_exchange("chatbot", ensure=True)
        queue = await channel.declare_queue(f"e2e.failed-{unique}", exclusive=True)
        await queue.bind(exchange, "delivery.failed")
        await sim.faults([{"method": "send_message", "status": 6}])
        await sim.say("resident-e", "start")
        message = await _next_message(queue)
        event = json.loads(message.body)
        assert event["type"] == "delivery.failed"
        assert event["data"]["channel_user_id"] == "resident-e"
        assert event["data"]["status_code"] == 6
        assert event["data"]["reason"] == "receiverNotSubscribed"
        assert event["data"]["resident_id"].startswith("r-")
    records = await sim.requests("send_message")
    assert [r["status"] for r in records] == [6]  # exactly one call: no retry


async def _next_message(queue: aio_pika.abc.AbstractQueue, timeout: float = 20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        message = await queue.get(no_ack=True, fail=False)
        if message is not None:
            return message
        await asyncio.sleep(0.05)
    raise TimeoutError("no message arrived")


def replies_to(records: list[dict], receiver: str) -> list[dict]:
    return [r for r in sent_ok(records) if r["body"].get("receiver") == receiver]


async def test_killing_dialog_mid_conversation_loses_no_inbound_message(system: BotSystem, sim: SimClient):
    """SIGKILL while the dialog is working through a burst, then more messages while it
    is down: after the restart every message has exactly one reply — none lost (the
    broker redelivers what was never acked), none doubled (a redelivered message
    re-derives the same reply ids, and the gateway remembers what it sent). Holds on
    either store; that the *conversation state* survives is the next test's business."""
    await sim.say("resident-f", "start")
    await sim.wait_for_requests("send_message", 1)
    burst = [f"resident-k{n}" for n in range(40)]
    sending = asyncio.gather(*(sim.say(resident, "start") for resident in burst))
    # Kill as soon as the dialog has answered part of the burst: it is mid-stream.
    await sim.wait_for_requests("send_message", 2, timeout=20, interval=0.005)
    system.dialog.kill()  # SIGKILL: no graceful anything
    answered_before_kill = len(sent_ok(await sim.requests("send_message"))) - 1
    assert all(answer["http_status"] == 200 for answer in await sending)  # the broker keeps them
    for n in range(3):
        answer = await sim.say("resident-f", f"повідомлення {n}")
        assert answer["http_status"] == 200  # the gateway still accepts while the dialog is down
    system.dialog.start()
    expected = 1 + 3 + len(burst)
    await sim.wait_for_requests("send_message", expected, timeout=60)
    await sim.say("resident-marker", "start")  # its reply comes after anything still on its way
    await sim.wait_for_chat("resident-marker", lambda chat: any(m.get("from") == "bot" for m in chat), timeout=30)
    records = await sim.requests("send_message")
    assert answered_before_kill < len(burst), "the dialog answered the whole burst before the kill: not mid-stream"
    assert len(replies_to(records, "resident-f")) == 4
    assert {resident: len(replies_to(records, resident)) for resident in burst} == {resident: 1 for resident in burst}
    assert_all_parse(sent_ok(records))


async def test_conversation_state_survives_a_dialog_kill(system: BotSystem, sim: SimClient, mongodb_url: str):
    if mongodb_url.startswith("memory://"):
        pytest.skip("the in-memory store lives and dies with the dialog process: state survival needs MongoDB "
                    "(set MONGODB_URL or make Docker available)")
    await sim.say("resident-s", "start")
    [consent] = replies_to(await sim.wait_for_requests("send_message", 1), "resident-s")
    assert "consent:yes" in [b["ActionBody"] for b in consent["body"]["keyboard"]["Buttons"]]
    system.dialog.kill()
    system.dialog.start()
    await sim.say("resident-s", "consent:yes")
    records = await sim.wait_for_requests("send_message", 2, timeout=30)
    settlement = replies_to(records, "resident-s")[-1]
    codes = [b["ActionBody"] for b in settlement["body"]["keyboard"]["Buttons"]]
    # The restarted dialog knew the resident was at the consent step: it asks the settlement.
    assert any(code.startswith("settlement:") for code in codes), codes


@pytest.mark.parametrize("system_env", [{"BUS_DELIVERY_LIMIT": "1", "VIBER_SEND_ATTEMPTS": "2"}])
async def test_message_whose_handler_always_fails_ends_in_the_dead_letter_queue(
    system: BotSystem, sim: SimClient, rabbit_url: str
):
    # The fake Viber answers HTTP 500 to every send: the gateway's reply handler fails
    # on every delivery until the quorum queue's delivery limit parks the message.
    await sim.faults([{"method": "send_message", "http": 500}] * 20)
    await sim.say("resident-g", "start")
    conn = await aio_pika.connect(rabbit_url)
    async with conn:
        channel = await conn.channel()
        dead = await channel.get_queue("gateway.viber-replies.dead")
        message = await _next_message(dead, timeout=30)
        event = json.loads(message.body)
        assert event["type"] == "outbound.viber"
        assert event["data"]["receivers"] == ["resident-g"]
    # first delivery + 1 redelivery (limit 1), two attempts each
    assert len(await sim.requests("send_message")) == 4
