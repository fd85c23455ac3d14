"""The operator chat bridge (issue 11): the dialog's chat sessions ⇄ the contact center's
chat (Chatwoot's API channel, :mod:`.chatwoot`). docs/operator-chat.md tells the story.

Inputs, queue ``contactcenter.chat`` (single active consumer, in order):

- ``chat.requested`` → chat off (``CHAT_URL`` unset) → ``chat.declined`` ``disabled``;
  outside working hours → ``chat.declined`` ``outside_hours`` + ``opens_at``; else the
  contact (identifier = resident id) is found or created, a conversation opened and the
  private note posted, then ``chat.opened``; the chat server down or refusing →
  ``chat.declined`` ``unavailable``.
- ``chat.resident_message`` → stored as an *outgoing item* (``chat_outgoing``, ``_id`` =
  message id, ``order`` = seq); the deliverer posts a chat's items one by one in order as
  ``incoming`` messages with ``source_id = "chatbot:<message id>"``. While the chat server
  is down an item is retried with backoff (and before a retry the conversation is read
  back to see whether the lost call got through: exactly once); past
  ``CHAT_DELIVERY_BUDGET_SECONDS`` → ``chat.undelivered``.
- ``chat.end_requested`` → ``chat.closed`` at once (by resident|idle) and an item that
  resolves the conversation after the messages before it.
- ``chat.rated`` → an item: a private note and the ``chatbot_rating`` custom attribute.

Webhooks, ``POST /chat/webhook`` (:meth:`ChatBridge.webhook`): signature checked when a
secret is set; operator answers (``message_created``, outgoing, not private, not ours) →
``chat.operator_message`` once per message id; the conversation resolved → ``chat.closed``
by operator, once. Jobs (under the service's lease): the deliverer, the unanswered check.

Every derived event goes through the outbox of the chat's document (``chats``) with an id
derived from the chat and what caused it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import structlog
from aiohttp import web
from prometheus_client import Counter
from pymongo.errors import DuplicateKeyError

from chatbot_common.directory import normalise_phone
from chatbot_common.events import (
    ChatClosed,
    ChatDeclined,
    ChatEndRequested,
    ChatMessageKind,
    ChatOpened,
    ChatOperatorMessage,
    ChatRated,
    ChatRequested,
    ChatResidentMessage,
    ChatUnanswered,
    ChatUndelivered,
    CloudEvent,
    EventData,
    derived_id,
    make_event,
    utcnow,
)
from chatbot_common.locks import wait_event
from chatbot_common.outbox import FIELD as OUTBOX
from chatbot_common.outbox import Outbox, entry
from chatbot_common.store import Store
from chatbot_common.texts import catalog

from .chat_hours import WorkingHours
from .chatwoot import SOURCE_PREFIX, ChatRefused, ChatUnavailable, ChatwootClient
from .settings import ContactCenterSyncSettings

log = structlog.get_logger("contactcenter.chat")
SOURCE = "contactcenter-sync"
CHAT_QUEUE = "contactcenter.chat"
#: webhooks older (or newer) than this are refused as stale
SIGNATURE_TOLERANCE = 300
#: a webhook body may be this large (a message of 150 000 characters plus the conversation)
WEBHOOK_MAX_BYTES = 2 * 1024 * 1024
RESOLVE_ORDER = 10**9
RATING_ORDER = 10**9 + 1

CHATS = Counter("chatbot_chat_sessions_total", "Chat sessions by outcome", ["outcome"])
ITEMS = Counter("chatbot_chat_items_total", "Items posted to the chat server by outcome", ["outcome"])
WEBHOOKS = Counter("chatbot_chat_webhooks_total", "Chat webhooks by outcome", ["outcome"])

Clock = Callable[[], datetime]


def make_chat_client(settings: ContactCenterSyncSettings) -> ChatwootClient | None:
    if not settings.chat_configured:
        return None
    return ChatwootClient(settings.chat_url.strip(), token=settings.chat_api_token.get_secret_value(),
                          account_id=settings.chat_account_id, inbox_id=settings.chat_inbox_id,
                          timeout=settings.chat_timeout_seconds, media_max_bytes=settings.chat_media_max_bytes)


def verify_signature(secret: str, raw: bytes, timestamp: str | None, signature: str | None,
                     now: float | None = None) -> bool:
    """``X-Chatwoot-Signature`` = ``sha256=`` + hex HMAC-SHA256(secret, "{timestamp}.{raw body}"),
    compared in constant time; a timestamp more than 5 minutes away is refused."""
    if not timestamp or not signature:
        return False
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > SIGNATURE_TOLERANCE:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def _resolved(payload: dict[str, Any]) -> bool:
    """A conversation event saying the conversation is now resolved."""
    for change in payload.get("changed_attributes") or []:
        if isinstance(change, dict) and isinstance(change.get("status"), dict):
            return change["status"].get("current_value") == "resolved"
    return payload.get("status") == "resolved"


class ChatBridge:
    def __init__(self, settings: ContactCenterSyncSettings, store: Store, outbox: Outbox,
                 client: ChatwootClient | None, *, clock: Clock = utcnow) -> None:
        self.settings = settings
        self.chats = store["chats"]
        self.items = store["chat_outgoing"]
        self.seen_webhooks = store["chat_webhooks"]
        self.outbox = outbox
        self.client = client
        self.clock = clock
        self.hours = WorkingHours.parse(settings.chat_working_hours, settings.chat_holidays, settings.chat_timezone)
        self.secret = settings.chat_webhook_secret.get_secret_value()
        self.wake = asyncio.Event()
        self.t = catalog()
        self._flushes: set[asyncio.Task[Any]] = set()
        #: one flusher at a time per chat (two would publish an entry twice: harmless, the
        #: ids are the same, but noisy)
        self._locks: dict[str, asyncio.Lock] = {}

    async def setup(self) -> None:
        await self.outbox.setup()
        await self.chats.create_index("conversation_id", sparse=True)
        await self.chats.create_index([("state", 1), ("answered", 1), ("opened_at", 1)])
        await self.items.create_index([("state", 1), ("chat_id", 1), ("order", 1)])
        await self.seen_webhooks.create_index("at", expireAfterSeconds=int(self.settings.inbox_ttl.total_seconds()))

    async def close(self) -> None:
        for task in list(self._flushes):
            task.cancel()
        if self.client is not None:
            await self.client.close()

    # ------------------------------------------------------------------ outputs

    def _event(self, data: EventData, event_id: str) -> CloudEvent:
        return make_event(data, source=SOURCE, id=event_id, correlationid=None)

    async def _write(self, filter_: dict[str, Any], update: dict[str, Any], events: list[CloudEvent], *,
                     upsert: bool = False, background: bool = False) -> bool:
        """One conditional write of a chat with its events, then publish them (the relay
        takes over what could not be published). ``False``: nothing matched."""
        if events:
            update.setdefault("$push", {})[OUTBOX] = entry(events[0].id, events)
        try:
            result = await self.chats.update_one(filter_, update, upsert=upsert)
        except DuplicateKeyError:
            return False  # an upsert raced a document that no longer matched the filter
        if result.modified_count == 0 and result.upserted_id is None:
            return False
        if events:
            if background:
                task = asyncio.create_task(self._flush(filter_["_id"]))
                self._flushes.add(task)
                task.add_done_callback(self._flushes.discard)
            else:
                await self._flush(filter_["_id"])
        return True

    async def _flush(self, chat_id: str) -> None:
        lock = self._locks.setdefault(chat_id, asyncio.Lock())
        try:
            async with lock:
                await self.outbox.flush(chat_id)
        finally:
            if not lock.locked() and self._locks.get(chat_id) is lock:
                del self._locks[chat_id]

    def _base(self, chat: dict[str, Any]) -> dict[str, Any]:
        return {"chat_id": chat["_id"], "resident_id": chat.get("resident_id", ""), "at": utcnow()}

    # ------------------------------------------------------------------ inputs

    async def handle(self, event: CloudEvent) -> None:
        """``contactcenter.chat``."""
        data = event.payload()
        if isinstance(data, ChatRequested):
            await self.requested(event, data)
        elif isinstance(data, ChatResidentMessage):
            await self.resident_message(data)
        elif isinstance(data, ChatEndRequested):
            await self.end_requested(data)
        elif isinstance(data, ChatRated):
            await self.rated(data)

    async def _decline(self, chat: dict[str, Any], reason: str, opens_at: datetime | None = None) -> None:
        declined = ChatDeclined(**self._base(chat), reason=reason, opens_at=opens_at)  # type: ignore[arg-type]
        event = self._event(declined, derived_id(chat["_id"], "declined"))
        if await self._write({"_id": chat["_id"], "state": {"$in": ["new", "opening"]}},
                             {"$set": {"state": "declined", "declined": reason}}, [event]):
            CHATS.labels(outcome=f"declined_{reason}").inc()
            log.info("chat.declined", chat_id=chat["_id"], reason=reason)

    async def requested(self, event: CloudEvent, data: ChatRequested) -> None:
        doc = {"_id": data.chat_id, "resident_id": data.resident_id, "state": "new", "requested_at": data.at,
               "input": event.id, "answered": False, "unanswered_sent": False, "relayed": [],
               "undelivered_ids": []}
        try:
            await self.chats.insert_one(doc)
        except DuplicateKeyError:
            doc = await self.chats.find_one({"_id": data.chat_id}) or doc
            if doc.get("state") not in ("new", "opening"):
                log.info("chat.request_replayed", chat_id=data.chat_id)
                return
        if self.client is None:
            await self._decline(doc, "disabled")
            return
        now = self.clock()
        if not self.hours.is_open(now):
            await self._decline(doc, "outside_hours", self.hours.opens_at(now))
            return
        await self.chats.update_one({"_id": data.chat_id, "state": "new"}, {"$set": {"state": "opening"}})
        try:
            conversation_id = await self._open(doc, data)
        except (ChatUnavailable, ChatRefused) as exc:
            log.warning("chat.open_failed", chat_id=data.chat_id, error=str(exc)[:200])
            await self._decline(doc, "unavailable")
            return
        opened = ChatOpened(**self._base(doc), conversation_id=conversation_id)
        if await self._write({"_id": data.chat_id, "state": "opening"},
                             {"$set": {"state": "open", "opened_at": self.clock()}},
                             [self._event(opened, derived_id(data.chat_id, "opened"))]):
            CHATS.labels(outcome="opened").inc()
            log.info("chat.opened", chat_id=data.chat_id, conversation_id=conversation_id)
            self.wake.set()

    async def _open(self, doc: dict[str, Any], data: ChatRequested) -> str:
        """Contact → conversation → private note; each step's result is saved at once, so
        a redelivered request continues where the last attempt stopped."""
        assert self.client is not None
        chat_id = data.chat_id
        contact_id, source_id = doc.get("contact_id"), doc.get("source_id")
        if contact_id is None or source_id is None:
            contact = await self.client.find_contact(data.resident_id)
            if contact is None:
                try:
                    contact_id, source_id = await self.client.create_contact(
                        identifier=data.resident_id, name=data.name, phone=normalise_phone(data.phone))
                except ChatRefused:
                    # created meanwhile (another replica, a search that missed it): use it
                    contact = await self.client.find_contact(data.resident_id)
                    if contact is None:
                        raise
            if contact is not None:
                contact_id = int(contact["id"])
                await self._refresh_contact(contact, data)
                source_id = next((str(ci.get("source_id")) for ci in contact.get("contact_inboxes") or []
                                  if (ci.get("inbox") or {}).get("id") == self.client.inbox_id and ci.get("source_id")),
                                 None) or await self.client.add_contact_inbox(contact_id)
            await self.chats.update_one({"_id": chat_id}, {"$set": {"contact_id": contact_id, "source_id": source_id}})
        conversation_id = doc.get("conversation_id")
        if conversation_id is None:
            conversation_id = await self.client.create_conversation(
                source_id=source_id, contact_id=contact_id, custom_attributes={"chatbot_chat_id": chat_id})
            await self.chats.update_one({"_id": chat_id}, {"$set": {"conversation_id": conversation_id}})
        if not doc.get("note_posted"):
            note = data.note.strip()
            text = f"{self.t('ccchat.note_header')}\n\n{note}" if note else self.t("ccchat.note_empty")
            await self.client.post_message(conversation_id, text, private=True,
                                           source_id=f"{SOURCE_PREFIX}{chat_id}:note")
            await self.chats.update_one({"_id": chat_id}, {"$set": {"note_posted": True}})
        return conversation_id

    async def _refresh_contact(self, contact: dict[str, Any], data: ChatRequested) -> None:
        """A returning resident may have changed their name or phone in the bot since the
        contact was made: the operator sees what the resident gave last (S6)."""
        assert self.client is not None
        name, phone = data.name or None, normalise_phone(data.phone)
        stale_name = name is not None and name != contact.get("name")
        stale_phone = phone is not None and phone != contact.get("phone_number")
        if not (stale_name or stale_phone):
            return
        try:
            await self.client.update_contact(int(contact["id"]), name=name if stale_name else None,
                                             phone=phone if stale_phone else None)
        except ChatRefused as exc:  # the chat matters more than the contact card
            log.warning("chat.contact_update_refused", contact_id=contact["id"], error=str(exc)[:200])
            return
        log.info("chat.contact_updated", contact_id=contact["id"], name=stale_name, phone=stale_phone)

    async def _undelivered(self, chat_id: str, resident_id: str, message_ids: list[str]) -> None:
        """Tell the dialog these messages never reached the contact center (once each)."""
        chat = await self.chats.find_one({"_id": chat_id}, {"undelivered_ids": 1, "resident_id": 1}) or {}
        fresh = [m for m in message_ids if m not in (chat.get("undelivered_ids") or [])]
        if fresh:
            data = ChatUndelivered(chat_id=chat_id, resident_id=chat.get("resident_id") or resident_id,
                                   message_ids=fresh, at=utcnow())
            event = self._event(data, derived_id(chat_id, "undelivered", fresh[0]))
            await self._write({"_id": chat_id, "undelivered_ids": {"$nin": fresh}},
                              {"$addToSet": {"undelivered_ids": {"$each": fresh}},
                               "$setOnInsert": {"resident_id": resident_id, "state": "unknown"}},
                              [event], upsert=True)
            ITEMS.labels(outcome="undelivered").inc(len(fresh))
            log.warning("chat.undelivered", chat_id=chat_id, count=len(fresh))
        await self.items.update_many({"_id": {"$in": message_ids}}, {"$set": {"state": "undelivered"}})

    async def resident_message(self, data: ChatResidentMessage) -> None:
        chat = await self.chats.find_one({"_id": data.chat_id}, {"state": 1})
        now = utcnow()
        item = {"_id": data.message_id, "chat_id": data.chat_id, "resident_id": data.resident_id, "order": data.seq,
                "kind": "message", "data": data.model_dump(mode="json"), "state": "pending", "attempts": 0,
                "first_at": now, "next_at": now}
        try:
            await self.items.insert_one(item)
        except DuplicateKeyError:
            return  # redelivered: stored already
        if chat is None or chat.get("state") not in ("open", "opening"):
            log.warning("chat.message_for_no_open_chat", chat_id=data.chat_id, state=(chat or {}).get("state"))
            await self._undelivered(data.chat_id, data.resident_id, [data.message_id])
            return
        self.wake.set()

    async def end_requested(self, data: ChatEndRequested) -> None:
        chat = await self.chats.find_one({"_id": data.chat_id})
        if chat is None or chat.get("state") not in ("open", "opening", "new"):
            return  # never opened, declined, or closed already (by the operator, a replay)
        if chat.get("conversation_id"):
            try:
                await self.items.insert_one({"_id": f"{data.chat_id}:resolve", "chat_id": data.chat_id,
                                             "order": RESOLVE_ORDER, "kind": "resolve",
                                             "data": {"reason": data.reason}, "state": "pending", "attempts": 0,
                                             "first_at": utcnow(), "next_at": utcnow()})
            except DuplicateKeyError:
                pass
        closed = ChatClosed(**self._base(chat), by=data.reason)
        if await self._write({"_id": data.chat_id, "state": {"$in": ["open", "opening", "new"]}},
                             {"$set": {"state": "closed", "closed_by": data.reason}},
                             [self._event(closed, derived_id(data.chat_id, "closed"))]):
            CHATS.labels(outcome=f"closed_{data.reason}").inc()
            log.info("chat.closed", chat_id=data.chat_id, by=data.reason)
        self.wake.set()

    async def rated(self, data: ChatRated) -> None:
        chat = await self.chats.find_one({"_id": data.chat_id}, {"conversation_id": 1})
        if chat is None or not chat.get("conversation_id"):
            log.warning("chat.rating_for_unknown_chat", chat_id=data.chat_id)
            return
        await self.chats.update_one({"_id": data.chat_id}, {"$set": {"rating": data.rating}})
        try:
            await self.items.insert_one({"_id": f"{data.chat_id}:rating", "chat_id": data.chat_id,
                                         "order": RATING_ORDER, "kind": "rating", "data": {"rating": data.rating},
                                         "state": "pending", "attempts": 0, "first_at": utcnow(), "next_at": utcnow()})
        except DuplicateKeyError:
            return
        self.wake.set()

    # ------------------------------------------------------------------ deliverer

    def backoff(self, attempts: int) -> float:
        return min(self.settings.chat_retry_max_seconds, self.settings.chat_retry_min_seconds * 2 ** max(0, attempts - 1))

    async def deliverer(self) -> None:
        """Job: post every chat's pending items in order; wakes on new items, else polls."""
        while True:
            self.wake.clear()
            try:
                await self.deliver_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop outlives a bad round
                log.error("chat.deliver_failed", error=repr(exc)[:300])
            await wait_event(self.wake, self.settings.chat_retry_min_seconds)

    async def deliver_once(self) -> None:
        if self.client is None:
            return
        now = utcnow()
        chat_ids = await self.items.distinct("chat_id", {"state": {"$in": ["pending", "posting"]}, "next_at": {"$lte": now}})
        for chat_id in chat_ids:
            await self._deliver_chat(chat_id)

    async def _deliver_chat(self, chat_id: str) -> None:
        assert self.client is not None
        chat = await self.chats.find_one({"_id": chat_id}) or {}
        conversation_id = chat.get("conversation_id")
        cursor = self.items.find({"chat_id": chat_id, "state": {"$in": ["pending", "posting"]}}).sort("order", 1)
        pending = [item async for item in cursor]
        for item in pending:
            now = utcnow()
            if item["next_at"].replace(tzinfo=now.tzinfo) > now:
                return  # the earliest waits: the later ones wait behind it (order)
            if conversation_id is None:
                if chat.get("state") in ("new", "opening"):
                    return
                await self._give_up(chat_id, item)
                continue
            await self.items.update_one({"_id": item["_id"]}, {"$set": {"state": "posting"}})
            try:
                await self._post(conversation_id, chat_id, item)
            except ChatUnavailable as exc:
                await self._retry_later(chat_id, item, str(exc))
                return
            except ChatRefused as exc:
                log.warning("chat.item_refused", chat_id=chat_id, kind=item["kind"], error=str(exc)[:200])
                await self._give_up(chat_id, item)
                continue
            await self.items.update_one({"_id": item["_id"]}, {"$set": {"state": "done", "done_at": utcnow()}})
            ITEMS.labels(outcome=f"{item['kind']}_posted").inc()

    async def _give_up(self, chat_id: str, item: dict[str, Any]) -> None:
        if item["kind"] == "message":
            await self._undelivered(chat_id, item.get("resident_id", ""), [item["_id"]])
        else:
            await self.items.update_one({"_id": item["_id"]}, {"$set": {"state": "failed"}})
            ITEMS.labels(outcome=f"{item['kind']}_failed").inc()

    async def _retry_later(self, chat_id: str, item: dict[str, Any], error: str) -> None:
        now = utcnow()
        attempts = item.get("attempts", 0) + 1
        await self.items.update_one({"_id": item["_id"]}, {"$set": {
            "attempts": attempts, "next_at": now + timedelta(seconds=self.backoff(attempts))}})
        log.info("chat.server_unavailable", chat_id=chat_id, attempts=attempts, error=error[:200])
        cutoff = now - timedelta(seconds=self.settings.chat_delivery_budget_seconds)
        late = [doc async for doc in self.items.find(
            {"chat_id": chat_id, "kind": "message", "state": {"$in": ["pending", "posting"]},
             "first_at": {"$lte": cutoff}}, {"_id": 1, "resident_id": 1}).sort("order", 1)]
        if late:
            await self._undelivered(chat_id, late[0].get("resident_id", ""), [d["_id"] for d in late])
        for other in ("resolve", "rating"):
            await self.items.update_one({"_id": f"{chat_id}:{other}", "state": {"$in": ["pending", "posting"]},
                                         "first_at": {"$lte": cutoff}}, {"$set": {"state": "failed"}})

    async def _already_posted(self, conversation_id: str, source_id: str) -> bool:
        assert self.client is not None
        return any(m.get("source_id") == source_id for m in await self.client.messages(conversation_id))

    async def _post(self, conversation_id: str, chat_id: str, item: dict[str, Any]) -> None:
        assert self.client is not None
        source_id = f"{SOURCE_PREFIX}{item['_id']}"
        if item.get("attempts", 0) > 0 or item.get("state") == "posting":
            # an earlier call may have got through before the answer was lost
            if await self._already_posted(conversation_id, source_id):
                return
        if item["kind"] == "resolve":
            reason = item["data"].get("reason")
            await self.client.post_message(conversation_id, self.t(f"ccchat.ended_{reason}"), private=True,
                                           source_id=source_id)
            await self.client.toggle_status(conversation_id, "resolved")
            return
        if item["kind"] == "rating":
            rating = int(item["data"]["rating"])
            await self.client.post_message(conversation_id, self.t("ccchat.rating", rating=rating), private=True,
                                           source_id=source_id)
            await self.client.set_custom_attributes(conversation_id, {"chatbot_chat_id": chat_id,
                                                                      "chatbot_rating": rating})
            return
        data = ChatResidentMessage.model_validate(item["data"])
        if data.kind in (ChatMessageKind.picture, ChatMessageKind.file) and data.media_url:
            media = await self.client.download(data.media_url)
            if media is not None:
                body, content_type = media
                name = urlparse(data.media_url).path.rsplit("/", 1)[-1] or "file"
                if "." not in name:
                    name += ".jpg" if content_type.startswith("image/") else ".bin"
                await self.client.post_attachment(conversation_id, content=data.text or "", filename=name[:100],
                                                  content_type=content_type, data=body, source_id=source_id)
                return
            log.info("chat.media_not_downloaded", chat_id=chat_id)
            text = self.t("ccchat.media_link", url=data.media_url)
            if data.text:
                text = f"{data.text}\n{text}"
        elif data.kind == ChatMessageKind.location and data.lat is not None and data.lon is not None:
            text = self.t("ccchat.location", lat=f"{data.lat:.6f}", lon=f"{data.lon:.6f}")
        elif data.kind == ChatMessageKind.contact:
            text = self.t("ccchat.contact", text=data.text or "")
        else:
            text = data.text or ""
        if not text.strip():
            text = "…"
        await self.client.post_message(conversation_id, text, incoming=True, source_id=source_id)

    # ------------------------------------------------------------------ unanswered

    async def unanswered_once(self) -> int:
        cutoff = self.clock() - timedelta(seconds=self.settings.chat_answer_timeout_seconds)
        sent = 0
        async for chat in self.chats.find({"state": "open", "answered": False, "unanswered_sent": False,
                                           "opened_at": {"$lte": cutoff}}):
            event = self._event(ChatUnanswered(**self._base(chat)), derived_id(chat["_id"], "unanswered"))
            if await self._write({"_id": chat["_id"], "state": "open", "answered": False, "unanswered_sent": False},
                                 {"$set": {"unanswered_sent": True}}, [event]):
                sent += 1
                CHATS.labels(outcome="unanswered").inc()
                log.info("chat.unanswered", chat_id=chat["_id"])
        return sent

    async def unanswered_loop(self) -> None:
        period = min(5.0, max(0.05, self.settings.chat_answer_timeout_seconds / 4))
        while True:
            try:
                await self.unanswered_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                log.error("chat.unanswered_failed", error=repr(exc)[:300])
            await asyncio.sleep(period)

    # ------------------------------------------------------------------ webhooks

    async def webhook(self, request: web.Request) -> web.Response:
        """``POST /chat/webhook``: answered fast; what the operator did becomes events."""
        # read past the service's WEBHOOK_MAX_BODY: an operator may write up to 150 000 characters
        if (request.content_length or 0) > WEBHOOK_MAX_BYTES:
            return web.json_response({"error": "too large"}, status=413)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_chunked(65536):
            size += len(chunk)
            if size > WEBHOOK_MAX_BYTES:
                return web.json_response({"error": "too large"}, status=413)
            chunks.append(chunk)
        raw = b"".join(chunks)
        if self.secret and not verify_signature(self.secret, raw, request.headers.get("X-Chatwoot-Timestamp"),
                                                request.headers.get("X-Chatwoot-Signature")):
            WEBHOOKS.labels(outcome="refused_signature").inc()
            log.warning("chat.webhook_bad_signature")
            return web.json_response({"error": "bad or missing signature"}, status=401)
        try:
            payload = json.loads(raw)
            if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
                raise ValueError("not a webhook object")
        except ValueError:
            WEBHOOKS.labels(outcome="bad_body").inc()
            return web.json_response({"error": "expected a JSON object with an event"}, status=400)
        event, ident = payload["event"], payload.get("id")
        key = f"{event}:{ident}"
        if ident is not None and await self.seen_webhooks.find_one({"_id": key}, {"_id": 1}):
            WEBHOOKS.labels(outcome="duplicate").inc()
            return web.json_response({"ok": True, "outcome": "duplicate"})
        outcome = await self._on_webhook(event, payload)
        WEBHOOKS.labels(outcome=outcome).inc()
        if ident is not None:
            try:
                await self.seen_webhooks.insert_one({"_id": key, "at": utcnow()})
            except DuplicateKeyError:
                pass
        return web.json_response({"ok": True, "outcome": outcome})

    async def _on_webhook(self, event: str, payload: dict[str, Any]) -> str:
        if event == "message_created":
            return await self._operator_message(payload)
        if event in ("conversation_status_changed", "conversation_updated", "conversation_resolved"):
            if _resolved(payload):
                return await self._operator_resolved(payload.get("id"))
            return "ignored_conversation_event"
        return "ignored_event"

    async def _chat_of(self, conversation_id: Any) -> dict[str, Any] | None:
        if conversation_id is None:
            return None
        chat = await self.chats.find_one({"conversation_id": str(conversation_id)})
        if chat is None:
            log.info("chat.webhook_unknown_conversation", conversation_id=str(conversation_id)[:40])
        return chat

    async def _operator_message(self, payload: dict[str, Any]) -> str:
        if payload.get("message_type") not in ("outgoing", 1):
            return "ignored_not_outgoing"
        if payload.get("private"):
            return "ignored_private"
        if str(payload.get("source_id") or "").startswith(SOURCE_PREFIX):
            return "ignored_own"
        message_id = payload.get("id")
        attachments = [str(a["data_url"]) for a in payload.get("attachments") or []
                       if isinstance(a, dict) and a.get("data_url")]
        text = payload.get("content") if isinstance(payload.get("content"), str) else None
        if message_id is None or not (text or attachments):
            return "ignored_empty"
        chat = await self._chat_of((payload.get("conversation") or {}).get("id"))
        if chat is None:
            return "ignored_unknown_conversation"
        if chat.get("state") != "open":
            log.info("chat.operator_message_after_close", chat_id=chat["_id"])
            return "ignored_chat_not_open"
        sender = payload.get("sender") or {}
        name = sender.get("available_name") or sender.get("name")
        data = ChatOperatorMessage(**self._base(chat), message_id=str(message_id),
                                   operator_name=str(name) if name else None, text=text, attachments=attachments)
        event = self._event(data, derived_id(chat["_id"], "operator_message", message_id))
        if await self._write({"_id": chat["_id"], "relayed": {"$ne": str(message_id)}},
                             {"$addToSet": {"relayed": str(message_id)}, "$set": {"answered": True}},
                             [event], background=True):
            log.info("chat.operator_message", chat_id=chat["_id"], message_id=str(message_id))
            return "relayed"
        return "duplicate"

    async def _operator_resolved(self, conversation_id: Any) -> str:
        chat = await self._chat_of(conversation_id)
        if chat is None:
            return "ignored_unknown_conversation"
        closed = ChatClosed(**self._base(chat), by="operator")
        if await self._write({"_id": chat["_id"], "state": "open"},
                             {"$set": {"state": "closed", "closed_by": "operator"}},
                             [self._event(closed, derived_id(chat["_id"], "closed"))], background=True):
            CHATS.labels(outcome="closed_operator").inc()
            log.info("chat.closed", chat_id=chat["_id"], by="operator")
            return "closed"
        return "ignored_not_open"


#: the service's ChatBridge on ``runtime.app`` (tests reach it through this key)
CHAT_KEY = web.AppKey("chat", ChatBridge)


def mount(runtime: Any, settings: ContactCenterSyncSettings, *, clock: Clock | None = None,
          client: ChatwootClient | None = None, relay_safety_scan: float = 30.0) -> ChatBridge:
    """Wire the bridge into contactcenter-sync's runtime: the ``contactcenter.chat``
    consumer, ``POST /chat/webhook``, the deliverer and the unanswered check under one
    lease, the ``chats`` outbox relay."""
    from chatbot_common.topology import queue

    outbox = Outbox(runtime.bus, runtime.store, "chats", grace=settings.outbox_relay_seconds)
    bridge = ChatBridge(settings, runtime.store, outbox, client or make_chat_client(settings), clock=clock or utcnow)
    runtime.app[CHAT_KEY] = bridge

    async def jobs() -> None:
        await asyncio.gather(bridge.deliverer(), bridge.unanswered_loop())

    async def relay() -> None:
        await outbox.relay(relay_safety_scan)

    runtime.on_prepare.append(bridge.setup)
    runtime.on_stopping.append(bridge.close)
    runtime.app.router.add_post("/chat/webhook", bridge.webhook)
    spec = queue(CHAT_QUEUE)
    # prefetch 1: one event at a time, so a chat's events are handled in the order sent
    runtime.subscribe(spec.name, list(spec.keys), bridge.handle, single_active=spec.single_active, prefetch=1)
    runtime.singleton("chat", jobs)
    runtime.singleton("outbox-relay-chats", relay)
    if bridge.client is None:
        log.info("chat.not_configured", detail="CHAT_URL is empty: every chat request is declined as disabled")
    return bridge
