"""The operator chat bridge as a service on the in-memory bus, against the contact-center
simulator's Chatwoot subset over real HTTP (its webhooks come back to the service's
``POST /chat/webhook`` over real HTTP too)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web
from ccchat_support import (
    SECRET,
    ChatCenter,
    ChatListener,
    ChatSync,
    end,
    incoming,
    message,
    rated,
    requested,
    texts,
)
from ccsync_support import eventually

from chatbot_common.events import ChatMessageKind


@pytest.fixture
def amqp_url() -> str:
    return f"memory://ccchat-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def listener(amqp_url: str) -> AsyncIterator[ChatListener]:
    lst = await ChatListener(amqp_url).start()
    yield lst
    await lst.stop()


@pytest.fixture
async def center() -> AsyncIterator[ChatCenter]:
    c = await ChatCenter().start()
    yield c
    await c.stop()


@pytest.fixture
async def signed_center() -> AsyncIterator[ChatCenter]:
    c = await ChatCenter(secret=SECRET).start()
    yield c
    await c.stop()


@pytest.fixture
async def photo_server() -> AsyncIterator[str]:
    """Stands for the messenger's media host: one JPEG and one missing file."""
    async def photo(_request: web.Request) -> web.Response:
        return web.Response(body=b"\xff\xd8\xff\xe0fake-jpeg", content_type="image/jpeg")

    app = web.Application()
    app.router.add_get("/media/photo.jpg", photo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def open_chat(svc: ChatSync, listener: ChatListener, chat_id: str, **changes: object) -> str:
    await svc.publish(requested(chat_id, **changes))
    [opened] = await listener.wait("chat.opened", chat_id=chat_id)
    return str(opened.data["conversation_id"])


async def test_a_whole_chat(center: ChatCenter, amqp_url: str, listener: ChatListener, photo_server: str) -> None:
    """Requested → the simulator has the contact (identifier = resident id, E.164 phone),
    one conversation with the private note first → 3 messages and a photo arrive in order,
    as incoming messages, the photo as an attachment → the operator answers twice and
    writes one private note → exactly 2 chat.operator_message, in order, with the
    operator's name → the operator resolves → one chat.closed by operator → the rating
    goes in as a private note and a custom attribute."""
    svc = await ChatSync(center, amqp_url).start()
    try:
        conversation_id = await open_chat(svc, listener, "c1", note="Шукав: графік вивозу сміття")
        conv = center.only_conversation()
        assert str(conv.id) == conversation_id
        [contact] = center.chat.contacts.values()
        assert contact["identifier"] == "res-1" and contact["phone_number"] == "+380671234567"
        assert contact["name"] == "Олена Коваль"
        assert conv.messages[0]["private"] is True and "графік вивозу сміття" in conv.messages[0]["content"]

        for seq, text in enumerate(["Добрий день", "У нас немає води", "Третій день"], start=1):
            await svc.publish(message("c1", seq, text))
        await svc.publish(message("c1", 4, "Ось фото", kind=ChatMessageKind.picture,
                                  media_url=f"{photo_server}/media/photo.jpg"))
        await eventually(lambda: len(incoming(conv)) == 4, "4 incoming messages")
        got = incoming(conv)
        assert texts(got) == ["Добрий день", "У нас немає води", "Третій день", "Ось фото"]
        assert [m["attachments"][0]["file_type"] for m in got[3:]] == ["image"]
        assert got[3]["attachments"][0]["file_size"] == len(b"\xff\xd8\xff\xe0fake-jpeg")
        assert all(m["source_id"].startswith("chatbot:") for m in got)

        center.chat.operator_reply(conv.id, "Перевіряю, хвилинку")
        center.chat.operator_reply(conv.id, "Бригада вже виїхала", operator="Ірина")
        center.chat.operator_reply(conv.id, "Мешканка з Зарічанської, 10", private=True)
        await center.chat.drain()
        await listener.wait("chat.operator_message", 2, chat_id="c1")
        center.chat.resolve(conv.id)
        await center.chat.drain()
        await listener.wait("chat.closed", chat_id="c1")
        answers = listener.unique("chat.operator_message", "c1")
        assert [(a.data["text"], a.data["operator_name"]) for a in answers] == [
            ("Перевіряю, хвилинку", center.chat.operator_name), ("Бригада вже виїхала", "Ірина")]
        [closed] = listener.unique("chat.closed", "c1")
        assert closed.data["by"] == "operator"

        await svc.publish(rated("c1", 4))
        await eventually(lambda: conv.custom_attributes.get("chatbot_rating") == 4, "rating attribute")
        assert conv.custom_attributes["chatbot_chat_id"] == "c1"
        assert any(m["private"] and "4 з 5" in m["content"] for m in conv.messages)
        # incoming messages the bridge posted came back as webhooks: none was relayed
        assert len(listener.unique("chat.operator_message")) == 2
    finally:
        await svc.stop()


async def test_duplicate_webhooks_and_own_echoes_are_not_relayed(center: ChatCenter, amqp_url: str,
                                                                 listener: ChatListener) -> None:
    """Every webhook delivered twice → one chat.operator_message per operator message and
    one chat.closed; the bridge's own outgoing messages (source_id «chatbot:…») and
    private notes never reach the resident."""
    center.chat.duplicate_webhooks = True
    svc = await ChatSync(center, amqp_url).start()
    try:
        await open_chat(svc, listener, "c2")
        conv = center.only_conversation()
        center.chat.operator_reply(conv.id, "Одна відповідь")
        # the bridge's own outgoing message (as if it wrote as the token's user)
        center.chat.add_message(conv, content="echo", message_type="outgoing", source_id="chatbot:x-1")
        center.chat.resolve(conv.id)
        await center.chat.drain()
        await listener.wait("chat.closed", chat_id="c2")
        outcomes = [d["status"] for d in center.chat.deliveries]
        assert outcomes and all(s == 200 for s in outcomes)
        sent = [d for d in center.chat.deliveries if d["event"] == "message_created"]
        assert len(sent) == 6  # note, reply, echo: each twice
        outcomes = sorted(json.loads(d["answer"])["outcome"] for d in sent if d["body"]["content"] == "Одна відповідь")
        assert outcomes == ["duplicate", "relayed"], outcomes
        own = [json.loads(d["answer"]).get("outcome") for d in sent if d["body"]["content"] == "echo"]
        assert "relayed" not in own and "ignored_own" in own
        await asyncio.sleep(0.3)  # a second relay would have been published by now
        assert [e.data["text"] for e in listener.unique("chat.operator_message", "c2")] == ["Одна відповідь"]
        assert len(listener.unique("chat.closed", "c2")) == 1
    finally:
        await svc.stop()


async def test_signed_webhooks(signed_center: ChatCenter, amqp_url: str, listener: ChatListener) -> None:
    """With CHAT_WEBHOOK_SECRET: the simulator's signed webhooks are taken; an unsigned,
    forged or stale one gets 401 and nothing is relayed; a body that is not JSON gets 400."""
    center = signed_center
    svc = await ChatSync(center, amqp_url, chat_webhook_secret=SECRET).start()
    try:
        await open_chat(svc, listener, "c3")
        conv = center.only_conversation()
        center.chat.operator_reply(conv.id, "Справжня відповідь")
        await center.chat.drain()
        await listener.wait("chat.operator_message", chat_id="c3")

        forged_msg = center.chat.message_webhook(conv, {
            "id": 9999, "content": "Підроблена", "message_type": "outgoing", "private": False, "source_id": None,
            "created_at": datetime.now(UTC), "sender": {"name": "X", "type": "user"}, "attachments": []})
        raw = json.dumps({"event": "message_created", **forged_msg}, ensure_ascii=False, default=str).encode()
        url = f"{svc.webhook_base}/chat/webhook"
        good = center.chat.sign(raw)
        stale = center.chat.sign(raw, timestamp=int(datetime.now(UTC).timestamp()) - 600)
        wrong = dict(good, **{"X-Chatwoot-Signature": "sha256=" + "0" * 64})
        body_only = dict(good)  # the mis-implementation of #13809: HMAC of the body alone
        body_only["X-Chatwoot-Signature"] = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        async with aiohttp.ClientSession() as http:
            for headers in ({"Content-Type": "application/json"}, wrong, stale, body_only):
                async with http.post(url, data=raw, headers=headers) as resp:
                    assert resp.status == 401
            tampered = raw.replace("Підроблена".encode(), "Змінена".encode())
            assert tampered != raw
            async with http.post(url, data=tampered, headers=good) as resp:
                assert resp.status == 401
            garbage = b"not json"
            async with http.post(url, data=garbage, headers=center.chat.sign(garbage)) as resp:
                assert resp.status == 400
            async with http.post(url, data=raw, headers=good) as resp:  # the genuine one is taken
                assert resp.status == 200
        await listener.wait("chat.operator_message", 2, chat_id="c3")
        assert [e.data["text"] for e in listener.unique("chat.operator_message", "c3")] == [
            "Справжня відповідь", "Підроблена"]
    finally:
        await svc.stop()


async def test_unknown_conversation_webhook_is_ignored(center: ChatCenter, amqp_url: str,
                                                      listener: ChatListener) -> None:
    """A webhook about a conversation the bridge never opened → 200 and nothing relayed."""
    svc = await ChatSync(center, amqp_url).start()
    try:
        payload = {"event": "message_created", "id": 5, "content": "Хто тут?", "message_type": "outgoing",
                   "private": False, "conversation": {"id": 4242}, "sender": {"type": "user", "name": "O"}}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{svc.webhook_base}/chat/webhook", json=payload) as resp:
                assert resp.status == 200
                assert (await resp.json())["outcome"] == "ignored_unknown_conversation"
        await asyncio.sleep(0.2)
        assert listener.events == []
    finally:
        await svc.stop()


async def test_resident_ends_the_chat(center: ChatCenter, amqp_url: str, listener: ChatListener) -> None:
    """«Завершити чат» → one chat.closed by resident at once; the conversation is resolved
    after the message before it was delivered; the operator's resolution webhook that
    follows is not a second chat.closed; a replayed end changes nothing."""
    svc = await ChatSync(center, amqp_url).start()
    try:
        await open_chat(svc, listener, "c4")
        conv = center.only_conversation()
        await svc.publish(message("c4", 1, "Дякую, все"))
        await svc.publish(end("c4"))
        await svc.publish(end("c4"))
        await listener.wait("chat.closed", chat_id="c4")
        await eventually(lambda: conv.status == "resolved", "conversation resolved")
        assert texts(incoming(conv)) == ["Дякую, все"]
        await center.chat.drain()
        await asyncio.sleep(0.2)
        [closed] = listener.unique("chat.closed", "c4")
        assert closed.data["by"] == "resident"
    finally:
        await svc.stop()


async def test_chat_off_declines_at_once(amqp_url: str, listener: ChatListener) -> None:
    """CHAT_URL unset → chat.declined «disabled», nothing else."""
    center = ChatCenter()
    svc = await ChatSync(center, amqp_url, chat_url="").start()
    try:
        await svc.publish(requested("c5"))
        [declined] = await listener.wait("chat.declined", chat_id="c5")
        assert declined.data["reason"] == "disabled"
        assert listener.of("chat.opened") == []
    finally:
        await svc.stop()


async def test_outside_working_hours(center: ChatCenter, amqp_url: str, listener: ChatListener) -> None:
    """Saturday 16:00 in Kyiv with «mon-fri 08:00-20:00; sat 09:00-15:00» and Monday a
    holiday → chat.declined «outside_hours» with opens_at = Tuesday 08:00 Kyiv; nothing
    reaches the chat server."""
    svc = ChatSync(center, amqp_url, chat_working_hours="mon-fri 08:00-20:00; sat 09:00-15:00",
                   chat_holidays="2026-12-07")
    svc.clock.now = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)  # Sat 16:00 in Kyiv (UTC+2)
    await svc.start()
    try:
        await svc.publish(requested("c6"))
        [declined] = await listener.wait("chat.declined", chat_id="c6")
        assert declined.data["reason"] == "outside_hours"
        assert datetime.fromisoformat(declined.data["opens_at"]) == datetime(2026, 12, 8, 6, 0, tzinfo=UTC)
        assert center.conversations() == [] and center.chat.contacts == {}
    finally:
        await svc.stop()


async def test_chat_server_down_at_request(center: ChatCenter, amqp_url: str, listener: ChatListener) -> None:
    """The chat server down when the resident asks → chat.declined «unavailable»; a
    message for that chat afterwards → chat.undelivered (never silently dropped)."""
    center.chat.down = True
    svc = await ChatSync(center, amqp_url).start()
    try:
        await svc.publish(requested("c7"))
        [declined] = await listener.wait("chat.declined", chat_id="c7")
        assert declined.data["reason"] == "unavailable"
        await svc.publish(message("c7", 1, "Алло?"))
        [lost] = await listener.wait("chat.undelivered", chat_id="c7")
        assert lost.data["message_ids"] == ["c7-m1"]
    finally:
        await svc.stop()


async def test_down_then_back_delivers_in_order_once(center: ChatCenter, amqp_url: str,
                                                     listener: ChatListener) -> None:
    """The chat server goes down mid-chat: the messages wait and, when it is back, arrive
    in order, each exactly once; no chat.undelivered."""
    svc = await ChatSync(center, amqp_url).start()
    try:
        await open_chat(svc, listener, "c8")
        conv = center.only_conversation()
        center.chat.down = True
        for seq in (1, 2, 3):
            await svc.publish(message("c8", seq, f"Повідомлення {seq}"))
        await eventually(lambda: svc.bridge.items.count_documents({"chat_id": "c8", "attempts": {"$gte": 2}}),
                         "retries while down")
        assert incoming(conv) == []
        center.chat.down = False
        await eventually(lambda: len(incoming(conv)) == 3, "delivered after recovery")
        await asyncio.sleep(0.3)
        assert texts(incoming(conv)) == ["Повідомлення 1", "Повідомлення 2", "Повідомлення 3"]
        assert listener.of("chat.undelivered") == []
    finally:
        await svc.stop()


async def test_down_past_the_budget_is_undelivered(center: ChatCenter, amqp_url: str,
                                                   listener: ChatListener) -> None:
    """Down longer than CHAT_DELIVERY_BUDGET_SECONDS → one chat.undelivered naming the
    messages; they are not posted later when the server is back."""
    svc = await ChatSync(center, amqp_url, chat_delivery_budget_seconds=0.3).start()
    try:
        await open_chat(svc, listener, "c9")
        conv = center.only_conversation()
        center.chat.down = True
        await svc.publish(message("c9", 1, "Перше"))
        await svc.publish(message("c9", 2, "Друге"))
        await listener.wait("chat.undelivered", chat_id="c9")
        await eventually(lambda: sum(len(e.data["message_ids"]) for e in listener.unique("chat.undelivered", "c9")) == 2,
                         "both undelivered")
        center.chat.down = False
        await asyncio.sleep(0.4)
        ids = sorted(i for e in listener.unique("chat.undelivered", "c9") for i in e.data["message_ids"])
        assert ids == ["c9-m1", "c9-m2"]
        assert incoming(conv) == []
    finally:
        await svc.stop()


async def test_lost_answer_is_not_posted_twice(center: ChatCenter, amqp_url: str, listener: ChatListener) -> None:
    """A message whose POST got through but whose answer was lost is found by its
    source_id before the retry: it appears once at the contact center."""
    svc = await ChatSync(center, amqp_url).start()
    try:
        await open_chat(svc, listener, "c10")
        conv = center.only_conversation()
        bridge = svc.bridge
        real_post = bridge.client.post_message  # type: ignore[union-attr]
        calls = 0

        async def post_then_lose(*args: object, **kwargs: object) -> object:
            nonlocal calls
            calls += 1
            answer = await real_post(*args, **kwargs)  # type: ignore[arg-type]
            if calls == 1:
                from contactcenter_sync.chatwoot import ChatUnavailable
                raise ChatUnavailable("answer lost")
            return answer

        bridge.client.post_message = post_then_lose  # type: ignore[union-attr,method-assign]
        await svc.publish(message("c10", 1, "Один раз"))
        await svc.publish(message("c10", 2, "Другий"))
        await eventually(lambda: len(incoming(conv)) == 2, "both delivered")
        await asyncio.sleep(0.3)
        assert texts(incoming(conv)) == ["Один раз", "Другий"]
    finally:
        await svc.stop()


async def test_no_answer_in_time(center: ChatCenter, amqp_url: str, listener: ChatListener) -> None:
    """No operator answer within CHAT_ANSWER_TIMEOUT_SECONDS → one chat.unanswered; a
    chat the operator answered in time gets none."""
    svc = await ChatSync(center, amqp_url, chat_answer_timeout_seconds=0.5).start()
    try:
        await open_chat(svc, listener, "c11")
        await open_chat(svc, listener, "c12", resident_id="res-2", phone="0501112233")
        answered = next(c for c in center.conversations() if c.custom_attributes["chatbot_chat_id"] == "c12")
        center.chat.operator_reply(answered.id, "Вітаю!")
        await center.chat.drain()
        await listener.wait("chat.operator_message", chat_id="c12")
        await listener.wait("chat.unanswered", chat_id="c11")
        await asyncio.sleep(0.6)
        assert len(listener.unique("chat.unanswered", "c11")) == 1
        assert listener.of("chat.unanswered", "c12") == []
    finally:
        await svc.stop()


async def test_location_contact_and_unfetchable_photo_as_text(center: ChatCenter, amqp_url: str,
                                                              listener: ChatListener, photo_server: str) -> None:
    """A location and a shared contact go in as text (Chatwoot has no such types); a photo
    that cannot be downloaded goes in as a link, not lost."""
    svc = await ChatSync(center, amqp_url).start()
    try:
        await open_chat(svc, listener, "c13")
        conv = center.only_conversation()
        await svc.publish(message("c13", 1, kind=ChatMessageKind.location, lat=49.42161, lon=26.99653))
        await svc.publish(message("c13", 2, "Сусід +380671112233", kind=ChatMessageKind.contact))
        await svc.publish(message("c13", 3, kind=ChatMessageKind.picture, media_url=f"{photo_server}/media/gone.jpg"))
        await eventually(lambda: len(incoming(conv)) == 3, "3 delivered")
        location, contact, photo = texts(incoming(conv))
        assert "49.421610, 26.996530" in location and "openstreetmap.org" in location
        assert "Сусід +380671112233" in contact
        assert f"{photo_server}/media/gone.jpg" in photo
    finally:
        await svc.stop()


async def test_a_long_operator_answer_is_relayed(center: ChatCenter, amqp_url: str, listener: ChatListener) -> None:
    """An answer of 100 000 characters (Chatwoot allows 150 000) is larger than the
    service's general WEBHOOK_MAX_BODY, and still reaches the resident whole."""
    svc = await ChatSync(center, amqp_url).start()
    try:
        await open_chat(svc, listener, "c14")
        conv = center.only_conversation()
        long_text = "Інструкція. " * 8400
        assert len(long_text.encode()) > svc.settings.webhook_max_body
        center.chat.operator_reply(conv.id, long_text)
        await center.chat.drain()
        [answer] = await listener.wait("chat.operator_message", chat_id="c14")
        assert answer.data["text"] == long_text.strip()
    finally:
        await svc.stop()


async def test_replayed_request_and_a_second_chat(center: ChatCenter, amqp_url: str, listener: ChatListener) -> None:
    """chat.requested delivered twice → one conversation and one chat.opened id; the same
    resident's next chat → the same contact, a new conversation (a resolved one would
    reopen on an incoming message); a message redelivered → posted once."""
    svc = await ChatSync(center, amqp_url).start()
    try:
        await svc.publish(requested("c15"))
        await svc.publish(requested("c15"))
        await listener.wait("chat.opened", chat_id="c15")
        await svc.publish(message("c15", 1, "Раз"))
        await svc.publish(message("c15", 1, "Раз"))
        await svc.publish(end("c15"))
        await listener.wait("chat.closed", chat_id="c15")
        await open_chat(svc, listener, "c16")
        await asyncio.sleep(0.3)
        assert len(listener.unique("chat.opened", "c15")) == 1
        assert len(center.chat.contacts) == 1
        first, second = sorted(center.conversations(), key=lambda c: c.id)
        assert first.contact_id == second.contact_id and first.source_id == second.source_id
        assert (first.custom_attributes["chatbot_chat_id"], second.custom_attributes["chatbot_chat_id"]) == ("c15", "c16")
        assert texts(incoming(first)) == ["Раз"] and first.status == "resolved" and second.status == "open"
    finally:
        await svc.stop()


async def test_a_returning_resident_s_new_name_and_phone_reach_the_contact(center: ChatCenter, amqp_url: str,
                                                                          listener: ChatListener) -> None:
    """S6: the resident changed their name and phone in the bot since the last chat: the
    next chat updates the contact the operator sees (the same contact, no second one)."""
    svc = await ChatSync(center, amqp_url).start()
    try:
        await open_chat(svc, listener, "c19")
        [contact] = center.chat.contacts.values()
        assert (contact["name"], contact["phone_number"]) == ("Олена Коваль", "+380671234567")
        await svc.publish(end("c19"))
        await listener.wait("chat.closed", chat_id="c19")
        await open_chat(svc, listener, "c20", name="Олена Шевчук", phone="050 765 43 21")
        [contact] = center.chat.contacts.values()
        assert (contact["name"], contact["phone_number"]) == ("Олена Шевчук", "+380507654321")
    finally:
        await svc.stop()


async def test_a_contact_the_search_missed_is_reused(center: ChatCenter, amqp_url: str,
                                                     listener: ChatListener) -> None:
    """The contact exists but the search misses it (another replica created it a moment
    ago; Chatwoot's search index lags): creating it is refused (identifier taken), the
    bridge searches again and opens the chat on that contact — no second contact."""
    svc = await ChatSync(center, amqp_url).start()
    try:
        await open_chat(svc, listener, "c17")
        bridge = svc.bridge
        real_find = bridge.client.find_contact  # type: ignore[union-attr]
        misses = 0

        async def find_late(identifier: str) -> object:
            nonlocal misses
            if misses == 0:
                misses += 1
                return None
            return await real_find(identifier)

        bridge.client.find_contact = find_late  # type: ignore[union-attr,method-assign]
        await open_chat(svc, listener, "c18")
        assert misses == 1 and len(center.chat.contacts) == 1 and len(center.conversations()) == 2
    finally:
        await svc.stop()
