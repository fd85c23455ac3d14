"""Callbacks the simulator sends: signed like Viber, parseable by the official SDK."""

from __future__ import annotations

import json
import re

from aiohttp import web
from viberbot.api.api import Api
from viberbot.api.bot_configuration import BotConfiguration
from viberbot.api.viber_requests import (
    ViberConversationStartedRequest,
    ViberDeliveredRequest,
    ViberMessageRequest,
    ViberSubscribedRequest,
    ViberUnsubscribedRequest,
    create_request,
)

from .helpers import BOT, TOKEN, Sim, SimFactory, StubWebhook, eventually
from vibersim import sign

SDK = Api(BotConfiguration(auth_token=TOKEN, name="Міська лінія", avatar=""))


def test_signature_matches_the_official_sdk_test_vector() -> None:
    body = b'{"event":"webhook","timestamp":4977069964384421269,"message_token":1478683725125}'
    assert sign(body, TOKEN) == "d21b343448c8aee33b8e93768ef6ceb64a6ba6163099973a2b8bd028fea510ef"


async def test_every_resident_callback_verifies_and_parses_with_the_official_sdk(
    sim: Sim, webhook: StubWebhook
) -> None:
    client = sim.client
    await client.open("resident-1", context="qr-poster")
    await client.say("resident-1", "Немає води")
    await client.contact("resident-1", "+380501112233")
    await client.location("resident-1", 49.4229, 26.9871)
    await client.sticker("resident-1", 40133)
    await client.picture("resident-1", text="Фото")
    await client.subscribe("resident-1")
    await client.unsubscribe("resident-1")
    expected = {
        "conversation_started": ViberConversationStartedRequest,
        "message": ViberMessageRequest,
        "subscribed": ViberSubscribedRequest,
        "unsubscribed": ViberUnsubscribedRequest,
    }
    assert len(webhook.calls) == 8
    for call in webhook.calls:
        signature = call.headers["X-Viber-Content-Signature"]
        assert re.fullmatch(r"[0-9a-f]{64}", signature)
        assert SDK.verify_signature(call.raw, signature)
        assert call.query["sig"] == signature
        assert isinstance(create_request(call.body), expected[call.event])
    messages = [create_request(c.body).message for c in webhook.events("message")]
    assert messages[0].text == "Немає води"
    assert messages[1].contact.phone_number == "+380501112233"
    assert (messages[2].location.latitude, messages[2].location.longitude) == (49.4229, 26.9871)
    assert messages[3].sticker_id == 40133
    assert messages[4].media.endswith("/static/photo.png")
    started = create_request(webhook.events("conversation_started")[0].body)
    assert started.context == "qr-poster" and started.subscribed is False
    assert started.user.id == "resident-1" and started.user.country == "UA" and started.user.language == "uk"
    assert started.user.api_version == 10


async def test_delivered_callbacks_follow_sends_and_broadcasts_and_parse_with_the_sdk(
    sim: Sim, webhook: StubWebhook
) -> None:
    sent = await sim.send_text("resident-1")
    cast = await sim.call("broadcast_message", {"type": "text", "text": "x", "sender": BOT,
                                                "broadcast_list": ["a", "b"]})
    delivered = await eventually(lambda: len(webhook.events("delivered")) == 3 and webhook.events("delivered"))
    pairs = {(c.body["user_id"], c.body["message_token"]) for c in delivered}
    assert pairs == {("resident-1", sent["message_token"]), ("a", cast["message_token"]),
                     ("b", cast["message_token"])}
    for call in delivered:
        assert SDK.verify_signature(call.raw, call.headers["X-Viber-Content-Signature"])
        assert isinstance(create_request(call.body), ViberDeliveredRequest)


async def test_delivery_receipts_can_be_switched_off(make_sim: SimFactory, webhook: StubWebhook) -> None:
    sim = await make_sim(send_delivery_receipts=False)
    await sim.send_text("resident-1")
    await sim.client.say("resident-1", "маркер")  # arrives after any receipt would have been queued
    await eventually(lambda: webhook.events("message"))
    assert webhook.events("delivered") == []


async def test_message_token_above_2_53_survives_exactly_in_callbacks(sim: Sim, webhook: StubWebhook) -> None:
    result = await sim.client.say("resident-1", "привіт")
    raw = webhook.calls[-1].raw.decode()
    token = json.loads(raw)["message_token"]
    assert isinstance(token, int) and token > 2**53
    assert f'"message_token":{token}' in raw  # a JSON integer, not 5.4e+18
    assert result["event"]["message_token"] == token


async def test_welcome_message_in_the_webhook_answer_lands_in_the_chat(sim: Sim, webhook: StubWebhook) -> None:
    welcome = {"type": "text", "text": "Вітаємо!", "sender": BOT, "tracking_data": "step=menu",
               "keyboard": {"Type": "keyboard", "Buttons": [{"ActionBody": "water", "Text": "Вода"}]}}
    webhook.responder = lambda body: web.json_response(welcome if body["event"] == "conversation_started" else {})
    result = await sim.client.open("resident-1")
    assert result["http_status"] == 200 and result["response"] == welcome
    [bubble] = await sim.client.chat("resident-1")
    assert bubble["from"] == "bot" and bubble["text"] == "Вітаємо!" and bubble["welcome"] is True
    assert bubble["keyboard"]["Buttons"][0]["ActionBody"] == "water"
    await sim.client.say("resident-1", "water")
    assert webhook.events("message")[-1].body["message"]["tracking_data"] == "step=menu"


async def test_invalid_welcome_message_is_reported_and_not_shown(sim: Sim, webhook: StubWebhook) -> None:
    webhook.responder = lambda body: web.json_response({"type": "text", "text": "без відправника"})
    result = await sim.client.open("resident-1")
    assert result["welcome_error"]["status"] == 4
    assert await sim.client.chat("resident-1") == []


async def test_chat_shows_bot_messages_broadcasts_and_user_messages_in_order(sim: Sim) -> None:
    await sim.client.say("resident-1", "Немає світла")
    await sim.send_text("resident-1", "Заявку прийнято", tracking_data="ticket=1")
    await sim.call("broadcast_message", {"type": "text", "text": "Графік", "sender": BOT,
                                         "broadcast_list": ["resident-1", "resident-2"]})
    await sim.send_text("resident-2", "не вам")
    chat = await sim.client.chat("resident-1")
    assert [(e["from"], e["text"]) for e in chat] == [
        ("user", "Немає світла"), ("bot", "Заявку прийнято"), ("bot", "Графік")]
    assert chat[0]["http_status"] == 200
    assert all(e["at"] > 0 and e["message_token"] > 2**53 for e in chat)


async def test_user_profile_set_via_put_or_body_is_used_in_callbacks(sim: Sim, webhook: StubWebhook) -> None:
    await sim.client.set_user("resident-1", name="Олена Коваль", phone="+380671234567")
    await sim.client.contact("resident-1")
    contact = webhook.calls[-1].body
    assert contact["sender"]["name"] == "Олена Коваль"
    assert contact["message"]["contact"] == {"name": "Олена Коваль", "phone_number": "+380671234567"}
    await sim.client.say("resident-1", "текст", name="Петро")
    assert webhook.calls[-1].body["sender"]["name"] == "Петро"


async def test_raw_callback_is_signed_and_sent_exactly_as_given(sim: Sim, webhook: StubWebhook) -> None:
    event = {"event": "seen", "timestamp": 1, "message_token": 2**60 + 7, "user_id": "resident-1"}
    result = await sim.client.raw_callback(event)
    assert result["http_status"] == 200
    call = webhook.calls[-1]
    assert call.body == event
    assert SDK.verify_signature(call.raw, call.headers["X-Viber-Content-Signature"])


async def test_callback_without_a_webhook_reports_an_error(make_sim: SimFactory) -> None:
    sim = await make_sim(webhook_url=None)
    result = await sim.client.say("resident-1", "агов")
    assert result["http_status"] is None and "webhook" in result["error"]


async def test_webhook_errors_are_reported_to_the_caller(sim: Sim, webhook: StubWebhook) -> None:
    webhook.responder = lambda body: web.Response(status=500, text="boom")
    result = await sim.client.say("resident-1", "агов")
    assert result["http_status"] == 500 and result["response"] is None
    assert (await sim.client.chat("resident-1"))[-1]["http_status"] == 500


async def test_a_silent_button_press_reaches_the_bot_but_is_marked_hidden_in_the_chat(
    sim: Sim, webhook: StubWebhook
) -> None:
    await sim.client.say("resident-1", "consent:yes", silent=True)
    await sim.client.say("resident-1", "Привіт")
    [silent, plain] = webhook.events("message")
    assert silent.body["message"]["text"] == "consent:yes"  # Viber still sends the ActionBody
    assert "silent" not in silent.body["message"]
    chat = await sim.client.chat("resident-1")
    assert [(e["text"], e.get("silent", False)) for e in chat] == [("consent:yes", True), ("Привіт", False)]
