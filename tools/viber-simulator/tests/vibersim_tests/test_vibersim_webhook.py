"""set_webhook: Viber POSTs a signed ``webhook`` event and needs HTTP 200."""

from __future__ import annotations

import socket

from aiohttp import web
from viberbot.api.viber_requests import create_request

from .helpers import BOT, TOKEN, SimFactory, StubWebhook, eventually
from vibersim import verify


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_set_webhook_posts_signed_webhook_event_and_answers_0(
    make_sim: SimFactory, webhook: StubWebhook
) -> None:
    sim = await make_sim(webhook_url=None)
    answer = await sim.call("set_webhook", {"url": webhook.url})
    assert answer["status"] == 0
    [call] = webhook.calls
    assert call.body["event"] == "webhook"
    assert call.body["message_token"] > 2**53 and isinstance(call.body["timestamp"], int)
    assert call.body["chat_hostname"].startswith("SN-CHAT-")
    assert verify(call.raw, call.headers["X-Viber-Content-Signature"], TOKEN)
    assert call.query["sig"] == call.headers["X-Viber-Content-Signature"]
    create_request(call.body)
    assert (await sim.client.state())["webhook_url"] == webhook.url
    assert (await sim.call("get_account_info", {}))["webhook"] == webhook.url


async def test_set_webhook_keeps_existing_query_parameters(make_sim: SimFactory, webhook: StubWebhook) -> None:
    sim = await make_sim(webhook_url=None)
    assert (await sim.call("set_webhook", {"url": webhook.url + "?bot=city"}))["status"] == 0
    assert webhook.calls[0].query["bot"] == "city" and "sig" in webhook.calls[0].query


async def test_set_webhook_answers_1_when_the_url_does_not_answer_200(
    make_sim: SimFactory, webhook: StubWebhook
) -> None:
    sim = await make_sim(webhook_url=None)
    webhook.responder = lambda body: web.Response(status=403)
    answer = await sim.call("set_webhook", {"url": webhook.url})
    assert answer["status"] == 1
    assert (await sim.client.state())["webhook_url"] is None


async def test_set_webhook_answers_1_when_the_url_is_unreachable(make_sim: SimFactory) -> None:
    sim = await make_sim(webhook_url=None)
    answer = await sim.call("set_webhook", {"url": f"http://127.0.0.1:{free_port()}/hook"})
    assert answer["status"] == 1
    assert (await sim.call("set_webhook", {"url": "ftp://example.org/hook"}))["status"] == 1


async def test_set_webhook_without_url_is_missing_data_and_empty_url_removes_it(
    make_sim: SimFactory, webhook: StubWebhook
) -> None:
    sim = await make_sim()
    assert (await sim.call("set_webhook", {}))["status"] == 4
    assert (await sim.call("set_webhook", {"url": ""}))["status"] == 0
    assert (await sim.client.state())["webhook_url"] is None


async def test_event_types_given_to_set_webhook_filter_optional_callbacks(
    make_sim: SimFactory, webhook: StubWebhook
) -> None:
    sim = await make_sim(webhook_url=None)
    answer = await sim.call("set_webhook", {"url": webhook.url, "event_types": ["conversation_started"]})
    assert answer["status"] == 0 and answer["event_types"] == ["conversation_started"]
    await sim.call("send_message", {"receiver": "r", "type": "text", "text": "x", "sender": BOT})
    await sim.client.subscribe("r")  # filtered out
    await sim.client.say("r", "маркер")  # messages are always sent
    await eventually(lambda: webhook.events("message"))
    assert {c.event for c in webhook.calls} == {"webhook", "message"}
