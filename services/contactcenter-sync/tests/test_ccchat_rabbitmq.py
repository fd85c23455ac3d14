"""The operator chat bridge on a real RabbitMQ (a fresh vhost per test), against the
simulator's Chatwoot subset over real HTTP, webhooks delivered twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from ccchat_support import ChatCenter, ChatListener, ChatSync, incoming, message, rated, requested, texts
from ccsync_support import eventually

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
async def center() -> AsyncIterator[ChatCenter]:
    c = await ChatCenter().start()
    yield c
    await c.stop()


@pytest.fixture
async def listener(vhost_amqp_url: str) -> AsyncIterator[ChatListener]:
    lst = await ChatListener(vhost_amqp_url).start()
    yield lst
    await lst.stop()


async def test_a_chat_across_a_restart(center: ChatCenter, vhost_amqp_url: str, listener: ChatListener) -> None:
    """Requested → contact, conversation and private note at the simulator, chat.opened →
    2 messages, contactcenter-sync stopped, 1 more message queued in RabbitMQ meanwhile,
    started again (same database) → the 3 arrive in order, once each → the operator
    answers twice and writes a private note, every webhook delivered twice → exactly 2
    chat.operator_message → resolved → exactly one chat.closed by operator → the rating
    lands as a custom attribute."""
    center.chat.duplicate_webhooks = True
    first = await ChatSync(center, vhost_amqp_url).start()
    database = first.database
    try:
        await first.publish(requested("r1", note="Відкриті звернення: №123"))
        [opened] = await listener.wait("chat.opened", chat_id="r1")
        conv = center.only_conversation()
        assert str(conv.id) == opened.data["conversation_id"]
        assert conv.messages[0]["private"] and "№123" in conv.messages[0]["content"]
        await first.publish(message("r1", 1, "Перше"))
        await first.publish(message("r1", 2, "Друге"))
        await eventually(lambda: len(incoming(conv)) == 2, "2 delivered")
    finally:
        await first.stop()
    await listener.bus.publish(message("r1", 3, "Третє"))  # nobody consumes: it waits in the queue
    second = await ChatSync(center, vhost_amqp_url, database=database).start()
    try:
        center.chat.webhook_url = f"{second.webhook_base}/chat/webhook"
        await eventually(lambda: len(incoming(conv)) == 3, "the queued message delivered after the restart")
        assert texts(incoming(conv)) == ["Перше", "Друге", "Третє"]
        center.chat.operator_reply(conv.id, "Відповідь 1")
        center.chat.operator_reply(conv.id, "Нотатка для колег", private=True)
        center.chat.operator_reply(conv.id, "Відповідь 2")
        await center.chat.drain()
        await listener.wait("chat.operator_message", 2, chat_id="r1")
        center.chat.resolve(conv.id)
        await center.chat.drain()
        await listener.wait("chat.closed", chat_id="r1")
        await second.publish(rated("r1", 5))
        await eventually(lambda: conv.custom_attributes.get("chatbot_rating") == 5, "rating stored")
        await asyncio.sleep(0.5)  # a duplicate would have arrived by now
        # (an event published twice with ONE id is at-least-once delivery, which the
        # dialog's inbox drops; «exactly 2» means two distinct events)
        assert [e.data["text"] for e in listener.unique("chat.operator_message", "r1")] == ["Відповідь 1", "Відповідь 2"]
        assert [e.data["by"] for e in listener.unique("chat.closed", "r1")] == ["operator"]
        assert texts(incoming(conv)) == ["Перше", "Друге", "Третє"]
    finally:
        await second.stop()
