"""Test harness for the operator chat bridge: the contact-center simulator (with its
Chatwoot subset) over real HTTP, contactcenter-sync on a bus (in-memory or RabbitMQ) with
the simulator's webhooks pointed at the service's ``/chat/webhook``, and a listener that
records every ``chat.*`` event the bridge publishes to the dialog."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ccsim.app import start_simulator
from ccsim.chat import ChatSim
from ccsync_support import Sync, eventually

from chatbot_common.bus import Bus, create_bus
from chatbot_common.events import (
    ChatEndRequested,
    ChatMessageKind,
    ChatRated,
    ChatRequested,
    ChatResidentMessage,
    CloudEvent,
    make_event,
    utcnow,
)
from contactcenter_sync.chat import CHAT_KEY, ChatBridge

TOKEN = "chat-token"
SECRET = "webhook-secret"
OUTPUTS = ("chat.opened", "chat.declined", "chat.operator_message", "chat.unanswered", "chat.undelivered",
           "chat.closed")


class ChatListener:
    """Records what the bridge publishes for the dialog, from a queue of its own."""

    def __init__(self, amqp_url: str) -> None:
        self.bus: Bus = create_bus(amqp_url, name="ccchat-test-listener")
        self.events: list[CloudEvent] = []

        async def record(event: CloudEvent) -> None:
            self.events.append(event)

        self.bus.subscribe(f"test.ccchat-{uuid.uuid4().hex[:6]}", list(OUTPUTS), record)

    async def start(self) -> ChatListener:
        await self.bus.connect()
        await self.bus.declare()
        await self.bus.start_consuming()
        return self

    async def stop(self) -> None:
        await self.bus.stop_consuming()
        await self.bus.close()

    def of(self, event_type: str, chat_id: str | None = None) -> list[CloudEvent]:
        return [e for e in self.events if e.type == event_type and (chat_id is None or e.data.get("chat_id") == chat_id)]

    async def wait(self, event_type: str, count: int = 1, chat_id: str | None = None,
                   timeout: float = 15.0) -> list[CloudEvent]:
        return await eventually(lambda: len(self.of(event_type, chat_id)) >= count and self.of(event_type, chat_id),
                                f"{count} × {event_type}", timeout)

    def unique(self, event_type: str, chat_id: str | None = None) -> list[CloudEvent]:
        """The events of a type once each (a consumer's inbox drops repeated ids)."""
        seen: dict[str, CloudEvent] = {}
        for event in self.of(event_type, chat_id):
            seen.setdefault(event.id, event)
        return list(seen.values())


class ChatCenter:
    """The simulator (its Chatwoot subset under ``/chatwoot``) on a free port."""

    def __init__(self, *, secret: str | None = None) -> None:
        self.chat = ChatSim(token=TOKEN, webhook_secret=secret)
        self.runner: Any = None
        self.url = ""

    async def start(self) -> ChatCenter:
        self.runner, self.url = await start_simulator(port=0, chat_sim=self.chat)
        return self

    @property
    def chat_url(self) -> str:
        return self.url + "/chatwoot"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def conversations(self) -> list[Any]:
        return list(self.chat.conversations.values())

    def only_conversation(self) -> Any:
        convs = self.conversations()
        assert len(convs) == 1, convs
        return convs[0]


class ChatSync(Sync):
    """contactcenter-sync with the chat bridge pointed at the simulator; the simulator's
    webhooks go to this service's ``/chat/webhook`` once it listens."""

    def __init__(self, center: ChatCenter, amqp_url: str, **overrides: Any) -> None:
        values: dict[str, Any] = dict(chat_url=center.chat_url, chat_api_token=TOKEN, chat_account_id=1,
                                      chat_inbox_id=1, chat_retry_min_seconds=0.05, chat_retry_max_seconds=0.2,
                                      chat_timeout_seconds=2.0, chat_answer_timeout_seconds=3600,
                                      outbox_relay_seconds=0.3)
        values.update(overrides)
        # Open311 off: these tests are about the chat only
        super().__init__("", amqp_url, **values)
        self.center = center

    async def start(self) -> ChatSync:
        await super().start()
        self.center.chat.webhook_url = f"{self.webhook_base}/chat/webhook"
        return self

    @property
    def webhook_base(self) -> str:
        assert self.runtime is not None
        return f"http://127.0.0.1:{self.runtime.bound_port}"

    @property
    def bridge(self) -> ChatBridge:
        assert self.runtime is not None
        return self.runtime.app[CHAT_KEY]


def requested(chat_id: str, *, resident_id: str = "res-1", note: str = "Останні кроки в боті", **changes: Any
              ) -> CloudEvent:
    data: dict[str, Any] = dict(chat_id=chat_id, resident_id=resident_id, name="Олена Коваль",
                                phone="0671234567", note=note, at=utcnow())
    data.update(changes)
    return make_event(ChatRequested(**data), source="test", id=f"req-{chat_id}")


def message(chat_id: str, seq: int, text: str | None = None, *, kind: ChatMessageKind = ChatMessageKind.text,
            resident_id: str = "res-1", **changes: Any) -> CloudEvent:
    data: dict[str, Any] = dict(chat_id=chat_id, resident_id=resident_id, message_id=f"{chat_id}-m{seq}", seq=seq,
                                kind=kind, text=text, at=utcnow())
    data.update(changes)
    return make_event(ChatResidentMessage(**data), source="test", id=f"msg-{chat_id}-{seq}")


def end(chat_id: str, reason: str = "resident", resident_id: str = "res-1") -> CloudEvent:
    return make_event(ChatEndRequested(chat_id=chat_id, resident_id=resident_id, reason=reason,  # type: ignore[arg-type]
                                       at=utcnow()), source="test", id=f"end-{chat_id}")


def rated(chat_id: str, rating: int, resident_id: str = "res-1") -> CloudEvent:
    return make_event(ChatRated(chat_id=chat_id, resident_id=resident_id, rating=rating, at=utcnow()),
                      source="test", id=f"rate-{chat_id}")


class FixedClock:
    """The bridge's clock for working hours and the answer timeout."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def incoming(conv: Any) -> list[dict[str, Any]]:
    return [m for m in conv.messages if m["message_type"] == "incoming"]


def texts(messages: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any] = lambda m: m["content"]) -> list[Any]:
    return [key(m) for m in messages]
