"""The webhook's answers to good and bad callbacks (in-process, in-memory bus)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from chatbot_common.bus import MemoryBus, create_bus
from chatbot_common.events import CloudEvent
from chatbot_common.settings import Settings
from chatbot_common.store import open_store
from gateway.service import build
from gateway.signature import sign, verify

TOKEN = "44dafb7e0f40021e-61a47a1e6778d187-f2c5a676a07050b3"
WEBHOOK = "/viber/webhook"


def test_signature_test_vector_from_viber_docs_verifies():
    body = b'{"event":"webhook","timestamp":4977069964384421269,"message_token":1478683725125}'
    expected = "d21b343448c8aee33b8e93768ef6ceb64a6ba6163099973a2b8bd028fea510ef"
    assert sign(TOKEN, body) == expected
    assert verify(TOKEN, body, expected)
    assert not verify(TOKEN, body + b" ", expected)
    assert not verify(TOKEN, body, None)


def message_callback(token: int = 5_000_000_000_000_000_001, text: str = "Привіт") -> dict:
    return {
        "event": "message", "timestamp": 1764323000000, "message_token": token,
        "sender": {"id": "user-1==", "name": "Тарас", "language": "uk", "country": "UA", "api_version": 10},
        "message": {"type": "text", "text": text},
    }


class Gateway:
    def __init__(self, client: TestClient, bus: MemoryBus) -> None:
        self.client = client
        self.bus = bus
        self.seen: list[CloudEvent] = []

    async def post(self, payload: dict | bytes, *, signature: str | None = "auto", query_sig: bool = False):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        sig = sign(TOKEN, body) if signature == "auto" else signature
        url = WEBHOOK
        if sig is not None and query_sig:
            url = f"{WEBHOOK}?sig={sig}"
        elif sig is not None:
            headers["X-Viber-Content-Signature"] = sig
        return await self.client.post(url, data=body, headers=headers)


@pytest.fixture
async def gateway(unique: str) -> AsyncIterator[Gateway]:
    settings = Settings(viber_auth_token=TOKEN, amqp_url="memory://", mongodb_url="memory://", webhook_max_body=65536)
    bus = create_bus(f"memory://gw-{unique}")
    assert isinstance(bus, MemoryBus)
    runtime = build(settings, bus=bus, store=open_store("memory://", "gateway", memory_namespace=unique))
    recorder = create_bus(f"memory://gw-{unique}")
    gw_seen: list[CloudEvent] = []

    async def record(event: CloudEvent) -> None:
        gw_seen.append(event)

    recorder.subscribe("test.everything", ["inbound.#", "delivery.#"], record)
    await recorder.declare()
    await recorder.start_consuming()
    await runtime.bus.connect()
    for hook in runtime.on_prepare:
        await hook()
    async with TestClient(TestServer(runtime.app)) as client:
        gw = Gateway(client, bus)
        gw.seen = gw_seen
        yield gw
    for hook in runtime.on_stopping:
        await hook()
    await recorder.close()


async def published(gw: Gateway, count: int) -> list[CloudEvent]:
    from tenacity import AsyncRetrying, stop_after_delay, wait_fixed

    async for attempt in AsyncRetrying(stop=stop_after_delay(5), wait=wait_fixed(0.02), reraise=True):
        with attempt:
            assert len(gw.seen) >= count
    return gw.seen


async def test_signed_message_is_answered_200_and_published_as_channel_agnostic_event(gateway):
    resp = await gateway.post(message_callback())
    assert resp.status == 200
    [event] = await published(gateway, 1)
    assert event.type == "inbound.message"
    assert event.data["channel"] == "viber"
    assert event.data["channel_user_id"] == "user-1=="
    assert event.data["content"] == {"kind": "text", "text": "Привіт"}
    assert event.data["channel_message_id"] == "5000000000000000001"  # exact, no float rounding


async def test_signature_in_sig_query_parameter_is_accepted(gateway):
    resp = await gateway.post(message_callback(), query_sig=True)
    assert resp.status == 200


MARKER_TOKEN = 9_000_000_000_000_000_009


async def only_the_marker_is_published(gw: Gateway, after: int = 0) -> None:
    """Proves the requests before it published nothing (beyond ``after`` events): a
    valid callback posted next is published, and the in-memory bus is FIFO — so once the
    marker has arrived, anything published before it has arrived too."""
    resp = await gw.post(message_callback(token=MARKER_TOKEN, text="marker"))
    assert resp.status == 200
    await published(gw, after + 1)
    await asyncio.sleep(0.05)  # and nothing straggles in after it
    assert len(gw.seen) == after + 1, [e.type for e in gw.seen]
    assert gw.seen[-1].data["channel_message_id"] == str(MARKER_TOKEN)


@pytest.mark.parametrize("signature", [None, "0" * 64, "not-hex"])
async def test_forged_or_missing_signature_gets_403_and_publishes_nothing(gateway, signature):
    resp = await gateway.post(message_callback(), signature=signature)
    assert resp.status == 403
    await only_the_marker_is_published(gateway)


@pytest.mark.parametrize("query_sig", [False, True], ids=["header", "query"])
async def test_non_ascii_signature_gets_403_not_500(gateway, query_sig):
    resp = await gateway.post(message_callback(), signature="підпис" + "é" * 58, query_sig=query_sig)
    assert resp.status == 403
    await only_the_marker_is_published(gateway)


def test_verify_returns_false_for_a_signature_that_is_not_plain_text():
    body = b"{}"
    assert not verify(TOKEN, body, "\udcff" * 64)  # lone surrogates: no encoding
    assert not verify(TOKEN, body, "ї" * 64)
    assert verify(TOKEN, body, sign(TOKEN, body).upper())  # hex case does not matter


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", json.dumps({"event": "message", "timestamp": 1}).encode(),
     json.dumps({"event": "teleport", "timestamp": 1, "message_token": 2}).encode(),
     json.dumps({**message_callback(), "message_token": "abc"}).encode()],
    ids=["broken-json", "array", "missing-fields", "unknown-event", "token-not-a-number"],
)
async def test_malformed_callback_gets_400_and_publishes_nothing(gateway, body):
    resp = await gateway.post(body)
    assert resp.status == 400
    await only_the_marker_is_published(gateway)


@pytest.mark.parametrize("timestamp", [10**20, -(10**20), -1], ids=["far-future", "far-past", "negative"])
@pytest.mark.parametrize("event", ["message", "delivered", "subscribed"])
async def test_signed_callback_with_an_impossible_timestamp_gets_400_and_publishes_nothing(gateway, event, timestamp):
    callbacks = {
        "message": message_callback(),
        "delivered": {"event": "delivered", "message_token": 778, "user_id": "u=="},
        "subscribed": {"event": "subscribed", "message_token": 779, "user": {"id": "u=="}},
    }
    resp = await gateway.post({**callbacks[event], "timestamp": timestamp})
    assert resp.status == 400
    await only_the_marker_is_published(gateway)


async def test_oversized_body_gets_413(gateway):
    resp = await gateway.post(message_callback(text="я" * 70000))
    assert resp.status == 413
    await only_the_marker_is_published(gateway)


async def test_webhook_check_event_is_answered_200(gateway):
    resp = await gateway.post({"event": "webhook", "timestamp": 1, "message_token": 1478683725125})
    assert resp.status == 200


async def test_conversation_started_is_answered_with_welcome_and_start_button(gateway):
    from viberbot.api.messages import get_message

    resp = await gateway.post({
        "event": "conversation_started", "timestamp": 1764323000000, "message_token": 4912661846655238145,
        "type": "open", "context": "", "subscribed": False,
        "user": {"id": "new-user==", "name": "Олена", "language": "uk", "country": "UA", "api_version": 10},
    })
    assert resp.status == 200
    welcome = await resp.json()
    assert "Вітаємо" in welcome["text"]
    [button] = welcome["keyboard"]["Buttons"]
    assert button["ActionBody"] == "start" and "Розпочати" in button["Text"]
    assert get_message(welcome).text == welcome["text"]  # the official SDK accepts it
    [event] = await published(gateway, 1)
    assert event.type == "inbound.conversation_started"


async def test_repeated_callback_with_same_token_is_answered_but_published_once(gateway):
    first = await gateway.post(message_callback(token=6_000_000_000_000_000_007))
    second = await gateway.post(message_callback(token=6_000_000_000_000_000_007))
    assert first.status == second.status == 200
    await published(gateway, 1)
    marker = await gateway.post(message_callback(token=6_000_000_000_000_000_008))
    assert marker.status == 200
    events = await published(gateway, 2)
    assert [e.data["channel_message_id"] for e in events] == ["6000000000000000007", "6000000000000000008"]


async def test_receipts_become_delivery_events(gateway):
    for event in ("delivered", "seen"):
        resp = await gateway.post({"event": event, "timestamp": 1764323000000, "message_token": 777, "user_id": "u=="})
        assert resp.status == 200
    resp = await gateway.post({"event": "failed", "timestamp": 1764323000000, "message_token": 777,
                               "user_id": "u==", "desc": "invalid keyboard"})
    assert resp.status == 200
    events = await published(gateway, 3)
    assert [e.type for e in events] == ["delivery.delivered", "delivery.seen", "delivery.failed"]
    assert events[2].data["reason"] == "invalid keyboard"


@pytest.mark.parametrize("event", ["delivered", "seen", "failed"])
async def test_receipts_of_one_broadcast_are_published_for_every_receiver_and_once_each(gateway, event):
    # One broadcast has one message_token for all its receivers.
    def receipt(user: str) -> dict:
        return {"event": event, "timestamp": 1764323000000, "message_token": 5_555_555_555_555_555_555,
                "user_id": user, **({"desc": "invalid keyboard"} if event == "failed" else {})}

    for user in ("u-1==", "u-2==", "u-3==", "u-1=="):  # the last is Viber retrying u-1's receipt
        resp = await gateway.post(receipt(user))
        assert resp.status == 200
    await only_the_marker_is_published(gateway, after=3)
    assert [e.data["channel_user_id"] for e in gateway.seen[:3]] == ["u-1==", "u-2==", "u-3=="]
    assert {e.type for e in gateway.seen[:3]} == {f"delivery.{event}"}
    assert len({e.id for e in gateway.seen[:3]}) == 3



async def test_callback_is_answered_503_while_the_broker_refuses_and_accepted_on_viber_retry(gateway, monkeypatch):
    from chatbot_common.bus import PublishError

    real_publish = gateway.bus.publish

    async def refusing(event):
        raise PublishError("broker unavailable")

    monkeypatch.setattr(gateway.bus, "publish", refusing)
    callback = message_callback(token=7_000_000_000_000_000_001)
    resp = await gateway.post(callback)
    assert resp.status == 503  # Viber retries an unanswered callback: nothing is lost
    monkeypatch.setattr(gateway.bus, "publish", real_publish)
    retry = await gateway.post(callback)
    assert retry.status == 200  # not mistaken for a duplicate: the first was never published
    [event] = await published(gateway, 1)
    assert event.data["channel_message_id"] == "7000000000000000001"


@pytest.mark.parametrize("token", ["", "demo-token"])
def test_gateway_refuses_to_start_without_a_real_token_against_real_viber(token):
    with pytest.raises(ValueError, match="VIBER_AUTH_TOKEN"):
        build(Settings(viber_auth_token=token, viber_api_url="https://chatapi.viber.com/pa"))


async def test_sent_batches_are_remembered_for_inbox_ttl_days(unique):
    store = open_store("memory://", "gateway", memory_namespace=f"ttl-{unique}")
    runtime = build(Settings(viber_auth_token=TOKEN, inbox_ttl_days=3), bus=create_bus(f"memory://ttl-{unique}"),
                    store=store)
    for hook in runtime.on_prepare:
        await hook()
    try:
        indexes = await store["sent_batches"].index_information()
        [ttl] = [ix["expireAfterSeconds"] for ix in indexes.values() if "expireAfterSeconds" in ix]
        assert ttl == 3 * 24 * 3600
    finally:
        for hook in runtime.on_stopping:
            await hook()
