"""The dialog's third consumer, ``dialog.chat`` (issue 11), and the idle job.

- Each ``chat.*`` event from contactcenter-sync (opened, declined, operator_message,
  unanswered, undelivered, closed) becomes a :class:`~.conversation.api.ChatNotice`
  through ``InboundHandler.notify`` with an input id derived from the event: the engine
  changes the resident (chat mode, rating) and what it says leaves through the resident's
  outbox in the same write — once, whatever the redeliveries (the inbox here, and the
  resident document's ``inputs`` behind it). The queue is single-active and consumed
  one event at a time (prefetch 1), so one chat's events are handled in order.
- :func:`idle_job` (one replica, under the lease ``dialog:chat-idle``) looks for open
  chats whose last activity (the ``chat_active_at`` field of the resident document,
  indexed) is older than ``DIALOG_CHAT_IDLE_MINUTES`` and ends each through
  ``notify`` with an id derived from the chat and its last activity: a restart or a
  second replica ends a chat once; a resident who wrote meanwhile keeps it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog

from chatbot_common.events import CloudEvent, derived_id, utcnow
from chatbot_common.store import Inbox

from .conversation.api import ChatIdleNotice, ChatNotice
from .handlers import InboundHandler
from .repository import ResidentRepository

log = structlog.get_logger("dialog.chat")


class ChatEventsHandler:
    def __init__(self, *, inbound: InboundHandler, inbox: Inbox) -> None:
        self.inbound = inbound
        self.inbox = inbox

    async def __call__(self, event: CloudEvent) -> None:
        if await self.inbox.seen(event.id):
            return
        data = event.payload()
        chat_id, resident_id = getattr(data, "chat_id", None), getattr(data, "resident_id", None)
        if chat_id is None or resident_id is None:
            log.warning("chat.event_ignored", event_type=event.type)
        else:
            log.info("chat.event", event_type=event.type, chat_id=chat_id, resident_id=resident_id)
            await self.inbound.notify(derived_id(event.id, "chat"), resident_id, ChatNotice(data),
                                      correlationid=event.correlationid)
        await self.inbox.remember(event.id)


async def end_idle_chats(inbound: InboundHandler, repository: ResidentRepository, idle_minutes: float) -> int:
    """One scan: end every chat quiet for ``idle_minutes``; returns how many were due."""
    quiet_since = utcnow() - timedelta(minutes=idle_minutes)
    due = await repository.quiet_chats(quiet_since)
    for resident_id, chat_id, last_activity in due:
        log.info("chat.idle", chat_id=chat_id, resident_id=resident_id)
        await inbound.notify(derived_id(chat_id, "idle", last_activity), resident_id,
                             ChatIdleNotice(chat_id=chat_id, quiet_since=quiet_since))
    return len(due)


async def idle_job(inbound: InboundHandler, repository: ResidentRepository, idle_minutes: float,
                   every: float) -> None:
    while True:
        try:
            await end_idle_chats(inbound, repository, idle_minutes)
        except Exception as exc:  # noqa: BLE001 - the next scan tries again
            log.error("chat.idle_scan_failed", error=repr(exc)[:300])
        await asyncio.sleep(every)
