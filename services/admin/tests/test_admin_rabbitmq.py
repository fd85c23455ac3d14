"""The admin service on a real RabbitMQ (a virtual host of its own): the events of an
outage's lifecycle reach the notifier's and the dialog's queues, in order, once each;
mailing progress published on the broker reaches the delivery figures."""

from __future__ import annotations

import asyncio
import json

import aio_pika
import aiohttp
import pytest
from admin_testkit import ADMIN_EMAIL, ADMIN_PASSWORD, Client, settings

from admin.service import build
from chatbot_common.bus import create_bus
from chatbot_common.events import MailingProgress, make_event, utcnow
from chatbot_common.store import open_store

pytestmark = pytest.mark.rabbitmq


async def drain(channel: aio_pika.abc.AbstractChannel, name: str, count: int, timeout: float = 20.0) -> list[dict]:
    """Consume ``count`` messages from the declared queue ``name`` (then check that no
    more come). A consumer, not basic.get: the notifier's queue has a single active
    consumer, which quorum queues only serve that way."""
    queue = await channel.get_queue(name, ensure=True)  # passive: the service declared it
    taken: list[dict] = []

    async def take(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        taken.append(json.loads(message.body))
        await message.ack()

    tag = await queue.consume(take)
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(taken) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{name}: {len(taken)} of {count} messages")
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
    finally:
        await queue.cancel(tag)
    assert len(taken) == count, f"{name}: {len(taken)} messages, expected {count}"
    return taken


async def test_outage_events_reach_the_notifier_and_the_dialog(vhost_amqp_url: str, unique: str):
    store = open_store("memory://", f"admin_rmq_{unique}", memory_namespace=f"rmq-{unique}")
    runtime = build(settings(amqp_url=vhost_amqp_url), store=store)
    await runtime.start(host="127.0.0.1")
    try:
        async with aiohttp.ClientSession() as session:
            client = Client(session, f"http://127.0.0.1:{runtime.bound_port}")
            client.token = await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
            status, outage = await client.post("/api/v1/outages", {
                "kind": "emergency", "utility": "hot_water", "settlement_id": "khmelnytskyi",
                "addresses": [{"street": "Проскурівська", "houses": "2-20 парні"}],
                "starts_at": "2026-12-01T09:00:00+02:00", "ends_at": "2026-12-01T17:00:00+02:00"})
            assert status == 201, outage
            oid = outage["id"]
            status, _ = await client.patch(f"/api/v1/outages/{oid}", {"ends_at": "2026-12-01T19:00:00+02:00"})
            assert status == 200
            status, _ = await client.post(f"/api/v1/outages/{oid}/resolve")
            assert status == 200

            connection = await aio_pika.connect(vhost_amqp_url)
            async with connection:
                channel = await connection.channel()
                for name in ("notifier.outages", "dialog.events"):
                    events = await drain(channel, name, 3)
                    assert [e["type"] for e in events] == ["outage.published", "outage.updated", "outage.resolved"]
                    assert [e["data"]["revision"] for e in events] == [1, 2, 3]
                    assert {e["data"]["outage_id"] for e in events} == {oid}
                    assert events[0]["data"]["addresses"][0]["houses"] == [str(n) for n in range(2, 21, 2)]

            bus = create_bus(vhost_amqp_url, name="test")
            await bus.connect()
            progress = MailingProgress(mailing_id="m1", subject="outage", subject_id=oid, targeted=10, sent=10,
                                       delivered=9, done=True, at=utcnow())
            await bus.publish(make_event(progress, source="/notifier"))
            await bus.close()
            expected = {"targeted": 10, "sent": 10, "delivered": 9, "seen": 0, "failed": 0, "unreachable": 0,
                        "done": True, "mailing_id": "m1"}

            async def figures() -> dict:
                body = (await client.get(f"/api/v1/outages/{oid}/delivery"))[1]
                body.pop("at")
                return body

            for _ in range(200):
                if await figures() == expected:
                    break
                await asyncio.sleep(0.05)
            assert await figures() == expected
    finally:
        await runtime.stop()


async def test_knowledge_base_edits_reach_the_dialog_and_feedback_reaches_admin(vhost_amqp_url: str, unique: str):
    """C3 on the broker: an entry changed and deleted through the API reaches the
    dialog's queue as two faq.changed (revisions 1, 2; the second without an entry);
    the dialog's faq.feedback, published twice with one id, is listed once by admin
    (queue admin.faq)."""
    from chatbot_common.events import FaqFeedback

    store = open_store("memory://", f"admin_rmq_{unique}", memory_namespace=f"rmq-faq-{unique}")
    runtime = build(settings(amqp_url=vhost_amqp_url), store=store)
    await runtime.start(host="127.0.0.1")
    try:
        async with aiohttp.ClientSession() as session:
            client = Client(session, f"http://127.0.0.1:{runtime.bound_port}")
            client.token = await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
            _, gas = await client.get("/api/v1/faq/gas-smell")
            body = {k: gas[k] for k in ("topic", "question", "phrasings", "phones", "links", "keywords")}
            status, _ = await client.call("PUT", "/api/v1/faq/gas-smell", {**body, "answer": "Телефонуйте 104.",
                                                                          "revision": 0})
            assert status == 200
            status, _ = await client.call("DELETE", "/api/v1/faq/gas-smell?revision=1")
            assert status == 204

            connection = await aio_pika.connect(vhost_amqp_url)
            async with connection:
                channel = await connection.channel()
                events = await drain(channel, "dialog.events", 2)
                assert [(e["type"], e["data"]["revision"]) for e in events] == [("faq.changed", 1), ("faq.changed", 2)]
                assert events[0]["data"]["entry"]["answer"] == "Телефонуйте 104." and events[1]["data"].get("entry") is None

            bus = create_bus(vhost_amqp_url, name="test")
            await bus.connect()
            feedback = FaqFeedback(verdict="unanswered", question="Коли буде салют?", at=utcnow())
            for _ in range(2):
                await bus.publish(make_event(feedback, source="/dialog", id=f"fb-{unique}"))
            await bus.close()
            for _ in range(200):
                if (await client.get("/api/v1/faq/questions"))[1]["totals"]["unanswered"]:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            _, listed = await client.get("/api/v1/faq/questions")
            assert [q["question"] for q in listed["questions"]] == ["Коли буде салют?"]
    finally:
        await runtime.stop()


async def test_mailings_and_greetings_reach_the_notifier_and_progress_comes_back(vhost_amqp_url: str, unique: str):
    """S7/C9 on the broker: a scheduled mailing, its cancel and a greetings change reach
    the notifier's queue (notifier.mailings) once each, in order; a mailing.progress for
    a staff mailing published on the broker reaches the mailing's figures."""
    store = open_store("memory://", f"admin_rmq_{unique}", memory_namespace=f"rmq-mail-{unique}")
    runtime = build(settings(amqp_url=vhost_amqp_url), store=store)
    await runtime.start(host="127.0.0.1")
    try:
        async with aiohttp.ClientSession() as session:
            client = Client(session, f"http://127.0.0.1:{runtime.bound_port}")
            client.token = await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
            status, later = await client.post("/api/v1/mailings", {"text": "Нагадування",
                                                                   "send_at": "2099-01-01T10:00:00+02:00"})
            assert status == 201, later
            status, _ = await client.post(f"/api/v1/mailings/{later['id']}/cancel")
            assert status == 200
            status, _ = await client.call("PUT", "/api/v1/greetings/birthday", {"enabled": True, "text": "Вітаємо!"})
            assert status == 200
            status, now = await client.post("/api/v1/mailings", {"text": "Зараз", "segment": {
                "settlement_ids": ["khmelnytskyi"], "streets": [{"street": "Проскурівська", "houses": "1-5"}]}})
            assert status == 201

            connection = await aio_pika.connect(vhost_amqp_url)
            async with connection:
                channel = await connection.channel()
                events = await drain(channel, "notifier.mailings", 4)
                assert [e["type"] for e in events] == ["mailing.requested", "mailing.cancelled", "greeting.configured",
                                                       "mailing.requested"]
                assert events[3]["data"]["segment"]["streets"][0]["houses"] == ["1", "2", "3", "4", "5"]

            bus = create_bus(vhost_amqp_url, name="test")
            await bus.connect()
            progress = MailingProgress(mailing_id="n1", subject="mailing", subject_id=now["id"], targeted=3, sent=3,
                                       done=True, at=utcnow())
            await bus.publish(make_event(progress, source="/notifier"))
            await bus.close()
            for _ in range(200):
                if (await client.get(f"/api/v1/mailings/{now['id']}"))[1]["state"] == "sent":
                    break
                await asyncio.sleep(0.05)
            _, body = await client.get(f"/api/v1/mailings/{now['id']}")
            assert body["state"] == "sent" and body["figures"]["sent"] == 3
    finally:
        await runtime.stop()
