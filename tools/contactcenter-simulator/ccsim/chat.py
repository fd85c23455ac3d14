"""A Chatwoot API-channel subset under ``/chatwoot`` (issue 11): what the chat bridge of
contactcenter-sync calls, plus the webhooks an API inbox sends.

The bridge's ``CHAT_URL`` is ``<simulator>/chatwoot``; the Application API lives below it
at ``/api/v1/accounts/{account_id}/…`` as on a real Chatwoot server (facts and sources:
docs/operator-chat.md of the repository, read from chatwoot/chatwoot v4.15):

- ``GET contacts/search?q=`` (substring match on name, identifier, phone),
  ``POST contacts`` (phone must be E.164, identifier unique → else 422),
  ``PUT contacts/{id}`` (name, phone: the same checks),
  ``POST contacts/{id}/contact_inboxes``;
- request bodies are checked against Chatwoot's published OpenAPI document
  (:mod:`.chat_openapi`; a misfit → 422 ``{"message"}``);
- ``POST conversations``, ``GET conversations/{id}``, ``GET|POST conversations/{id}/messages``
  (JSON or multipart with repeated ``attachments[]``; ``source_id`` stored and echoed in
  webhooks), ``POST conversations/{id}/toggle_status``, ``POST conversations/{id}/custom_attributes``.

Auth: header ``api_access_token`` (or ``Api-Access-Token``); when ``ChatSim.token`` is set it
must match, else any non-empty token is taken; missing/wrong → 401 ``{"error": …}``.

Webhooks: every message (incoming too, as Chatwoot does) → ``message_created``; a status
change → ``conversation_status_changed`` then ``conversation_updated``. POSTed to
``webhook_url`` with one try and a 5 s timeout (as Chatwoot); signed with
``X-Chatwoot-Signature: sha256=HMAC(secret, "{timestamp}.{body}")``, ``X-Chatwoot-Timestamp``
and ``X-Chatwoot-Delivery`` when ``webhook_secret`` is set. Faults: ``down`` (503 on the
API, nothing sent), ``duplicate_webhooks`` (each delivery sent twice).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

import aiohttp
from aiohttp import web

from . import chat_openapi

PREFIX = "/chatwoot"
API = PREFIX + "/api/v1/accounts/{account_id}"
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
STATUSES = ("open", "resolved", "pending", "snoozed")
MESSAGE_TYPES = {0: "incoming", 1: "outgoing", 2: "activity", 3: "template"}

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


class ChatError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Conversation:
    id: int
    contact_id: int
    inbox_id: int
    source_id: str
    status: str = "open"
    custom_attributes: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=_now)
    messages: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ChatSim:
    """The simulator's chat server state (in memory)."""

    token: str | None = None
    inbox_id: int = 1
    webhook_url: str | None = None
    webhook_secret: str | None = None
    down: bool = False
    duplicate_webhooks: bool = False
    operator_name: str = "Оператор Олена"
    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    conversations: dict[int, Conversation] = field(default_factory=dict)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    #: every webhook delivery: event, body, status (HTTP or error) and the answer's text
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""
    _next_id: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _session: aiohttp.ClientSession | None = None

    @classmethod
    def from_env(cls) -> ChatSim:
        """``CCSIM_CHAT_WEBHOOK_URL``, ``CCSIM_CHAT_WEBHOOK_SECRET``, ``CCSIM_CHAT_TOKEN``."""
        env = os.environ.get
        return cls(token=env("CCSIM_CHAT_TOKEN") or None, webhook_url=env("CCSIM_CHAT_WEBHOOK_URL") or None,
                   webhook_secret=env("CCSIM_CHAT_WEBHOOK_SECRET") or None)

    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # ---------------------------------------------------------------- model

    def contact_view(self, contact: dict[str, Any]) -> dict[str, Any]:
        view = {k: contact[k] for k in ("id", "name", "identifier", "phone_number", "email", "custom_attributes")}
        view["contact_inboxes"] = [{"source_id": ci["source_id"], "inbox": {"id": ci["inbox_id"], "channel_type": "Channel::Api"}}
                                   for ci in contact["inboxes"]]
        return view

    def conversation(self, conversation_id: int | str) -> Conversation:
        try:
            return self.conversations[int(conversation_id)]
        except (KeyError, ValueError):
            raise ChatError(404, "Resource could not be found") from None

    def conversation_view(self, conv: Conversation) -> dict[str, Any]:
        contact = self.contacts.get(conv.contact_id, {})
        return {"id": conv.id, "account_id": 1, "inbox_id": conv.inbox_id, "status": conv.status,
                "custom_attributes": dict(conv.custom_attributes), "created_at": int(conv.created_at.timestamp()),
                "contact_inbox": {"source_id": conv.source_id},
                "meta": {"sender": {"id": contact.get("id"), "name": contact.get("name"),
                                    "identifier": contact.get("identifier"), "type": "contact"}}}

    def create_contact(self, body: dict[str, Any]) -> dict[str, Any]:
        inbox_id = body.get("inbox_id")
        if not isinstance(inbox_id, int):
            raise ChatError(422, "inbox_id is required")
        self._check_contact(body)
        contact = {"id": self.next_id(), "name": body.get("name") or "", "identifier": body.get("identifier"),
                   "phone_number": body.get("phone_number"), "email": body.get("email"),
                   "custom_attributes": dict(body.get("custom_attributes") or {}), "inboxes": []}
        self.contacts[contact["id"]] = contact
        source_id = self.add_contact_inbox(contact["id"], inbox_id, None)
        return {"payload": {"contact": self.contact_view(contact),
                            "contact_inbox": {"inbox": {"id": inbox_id}, "source_id": source_id}}}

    def update_contact(self, contact_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """``PUT contacts/{id}``: the fields given replace the stored ones (custom
        attributes merge); the same checks as a new contact's → 422."""
        contact = self.contacts.get(contact_id)
        if contact is None:
            raise ChatError(404, "Resource could not be found")
        self._check_contact(body, contact)
        for key in ("name", "phone_number", "email", "identifier"):
            if key in body:
                contact[key] = body[key]
        contact["custom_attributes"].update(body.get("custom_attributes") or {})
        return {"payload": self.contact_view(contact)}

    def _check_contact(self, body: dict[str, Any], contact: dict[str, Any] | None = None) -> None:
        """A phone must be E.164; a phone or identifier another contact holds → 422."""
        phone, identifier = body.get("phone_number"), body.get("identifier")
        if phone and not E164.match(str(phone)):
            raise ChatError(422, "Phone number should be in e164 format")
        for other in self.contacts.values():
            if other is contact:
                continue
            if identifier and other["identifier"] == identifier:
                raise ChatError(422, "Identifier has already been taken")
            if phone and other["phone_number"] == phone:
                raise ChatError(422, "Phone number has already been taken")

    def add_contact_inbox(self, contact_id: int, inbox_id: Any, source_id: str | None) -> str:
        contact = self.contacts.get(contact_id)
        if contact is None:
            raise ChatError(404, "Resource could not be found")
        if not isinstance(inbox_id, int):
            raise ChatError(422, "inbox_id is required")
        source_id = source_id or str(uuid.uuid4())
        contact["inboxes"].append({"inbox_id": inbox_id, "source_id": source_id})
        return source_id

    def create_conversation(self, body: dict[str, Any]) -> Conversation:
        source_id = body.get("source_id")
        if not isinstance(source_id, str) or not source_id:
            raise ChatError(422, "source_id is required")
        owner = next((c for c in self.contacts.values() if any(i["source_id"] == source_id for i in c["inboxes"])), None)
        if owner is None:
            raise ChatError(404, "Resource could not be found")
        status = body.get("status") or "open"
        if status not in STATUSES:
            raise ChatError(422, f"status {status!r} is not valid")
        conv = Conversation(id=self.next_id(), contact_id=owner["id"], inbox_id=int(body.get("inbox_id") or self.inbox_id),
                            source_id=source_id, status=status,
                            custom_attributes=dict(body.get("custom_attributes") or {}))
        self.conversations[conv.id] = conv
        self.webhook("conversation_created", self.conversation_view(conv))
        return conv

    def add_message(self, conv: Conversation, *, content: str, message_type: str, private: bool = False,
                    source_id: str | None = None, sender: dict[str, Any] | None = None,
                    files: list[tuple[str, str, bytes]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
        if message_type not in ("incoming", "outgoing"):
            raise ChatError(422, "message_type must be incoming or outgoing")
        if len(content) > 150_000:
            raise ChatError(422, "content is too long")
        if not content and not files:
            raise ChatError(422, "content can't be blank")
        if sender is None:
            if message_type == "incoming":
                contact = self.contacts.get(conv.contact_id, {})
                sender = {"id": contact.get("id"), "name": contact.get("name"), "identifier": contact.get("identifier")}
            else:
                sender = {"id": 1, "name": "API", "type": "user"}
        attachments = []
        for filename, content_type, data in files:
            key = uuid.uuid4().hex
            self.files[key] = (data, content_type)
            extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
            attachments.append({"id": self.next_id(), "file_type": "image" if content_type.startswith("image/") else "file",
                                "data_url": f"{self.base_url}{PREFIX}/files/{key}", "file_size": len(data),
                                "extension": extension, "content_type": content_type, "name": filename})
        message = {"id": self.next_id(), "content": content, "message_type": message_type, "private": private,
                   "content_type": "text", "content_attributes": {}, "source_id": source_id,
                   "created_at": _now(), "sender": sender, "attachments": attachments,
                   "conversation_id": conv.id}
        conv.messages.append(message)
        if message_type == "incoming" and conv.status == "resolved":
            self.set_status(conv, "open")  # as Chatwoot: an incoming message reopens
        self.webhook("message_created", self.message_webhook(conv, message))
        return message

    def message_api_view(self, message: dict[str, Any]) -> dict[str, Any]:
        types = {v: k for k, v in MESSAGE_TYPES.items()}
        view = {k: v for k, v in message.items() if k not in ("created_at", "attachments")}
        view["message_type"] = types[message["message_type"]]
        view["created_at"] = int(message["created_at"].timestamp())
        if message["attachments"]:
            view["attachments"] = message["attachments"]
        return view

    def message_webhook(self, conv: Conversation, message: dict[str, Any]) -> dict[str, Any]:
        body = {k: v for k, v in message.items() if k not in ("created_at", "attachments", "conversation_id")}
        body["created_at"] = _iso(message["created_at"])
        body["conversation"] = self.conversation_view(conv)
        body["inbox"] = {"id": conv.inbox_id, "name": "Чат-бот"}
        body["account"] = {"id": 1, "name": "Контакт-центр"}
        if message["attachments"]:
            body["attachments"] = message["attachments"]
        return body

    def set_status(self, conv: Conversation, status: str) -> None:
        if status not in STATUSES:
            raise ChatError(422, f"status {status!r} is not valid")
        previous, conv.status = conv.status, status
        if previous == status:
            return
        view = self.conversation_view(conv)
        self.webhook("conversation_status_changed", {**view, "changed_attributes": None})
        self.webhook("conversation_updated",
                     {**view, "changed_attributes": [{"status": {"previous_value": previous, "current_value": status}}]})

    # ---------------------------------------------------------------- operator side

    def operator_reply(self, conversation_id: int | str, content: str, *, private: bool = False,
                       operator: str | None = None) -> dict[str, Any]:
        conv = self.conversation(conversation_id)
        sender = {"id": 2, "name": operator or self.operator_name, "type": "user"}
        return self.add_message(conv, content=content.strip(), message_type="outgoing", private=private, sender=sender)

    def resolve(self, conversation_id: int | str) -> Conversation:
        conv = self.conversation(conversation_id)
        self.set_status(conv, "resolved")
        return conv

    # ---------------------------------------------------------------- webhooks

    def webhook(self, event: str, body: dict[str, Any]) -> None:
        if not self.webhook_url:
            return
        payload = {"event": event, **body}
        raw = json.dumps(payload, ensure_ascii=False, default=str).encode()
        for _ in range(2 if self.duplicate_webhooks else 1):
            task = asyncio.get_running_loop().create_task(self._send(event, raw))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def sign(self, raw: bytes, timestamp: int | None = None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "X-Chatwoot-Delivery": str(uuid.uuid4())}
        if self.webhook_secret:
            ts = str(int(time.time()) if timestamp is None else timestamp)
            digest = hmac.new(self.webhook_secret.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
            headers.update({"X-Chatwoot-Timestamp": ts, "X-Chatwoot-Signature": f"sha256={digest}"})
        return headers

    async def _send(self, event: str, raw: bytes) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        record: dict[str, Any] = {"event": event, "body": json.loads(raw)}
        try:
            async with self._session.post(self.webhook_url or "", data=raw, headers=self.sign(raw)) as resp:
                record["status"] = resp.status
                record["answer"] = (await resp.text())[:500]
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:  # one try, as Chatwoot (#15920)
            record["status"] = f"error: {type(exc).__name__}"
        self.deliveries.append(record)

    async def drain(self) -> None:
        """Wait until every webhook under way was sent (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        if self._session is not None:
            await self._session.close()

    def settings_view(self) -> dict[str, Any]:
        return {"down": self.down, "duplicate_webhooks": self.duplicate_webhooks, "webhook_url": self.webhook_url,
                "webhook_secret_set": bool(self.webhook_secret), "token_required": bool(self.token),
                "inbox_id": self.inbox_id}

    def update(self, body: dict[str, Any]) -> None:
        """Control API: ``down``, ``duplicate_webhooks`` (bool), ``webhook_url``, ``webhook_secret`` (str|null)."""
        for key in ("down", "duplicate_webhooks"):
            if key in body and not isinstance(body[key], bool):
                raise ValueError(f"{key} має бути true або false")
        for key in ("webhook_url", "webhook_secret"):
            if key in body and body[key] is not None and not isinstance(body[key], str):
                raise ValueError(f"{key} має бути рядком або null")
        unknown = set(body) - {"down", "duplicate_webhooks", "webhook_url", "webhook_secret"}
        if unknown:
            raise ValueError(f"невідомі поля: {', '.join(sorted(unknown))}")
        for key, value in body.items():
            setattr(self, key, value or None if key in ("webhook_url", "webhook_secret") else value)


CHAT = web.AppKey("ccsim.chat", ChatSim)


def _chat(request: web.Request) -> ChatSim:
    return request.app[CHAT]


def _error(status: int, message: str) -> web.Response:
    body = {"error": message} if status in (401, 404) else {"message": message, "attributes": []}
    return web.json_response(body, status=status)


@web.middleware
async def chat_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """On ``/chatwoot/api``: ``down`` → 503, the token check, :class:`ChatError` → JSON."""
    if not request.path.startswith(PREFIX + "/api/"):
        return await handler(request)
    chat = _chat(request)
    if not chat.base_url:
        chat.base_url = f"{request.scheme}://{request.host}"
    if chat.down:
        return web.json_response({"error": "Чат тимчасово недоступний (режим «down» симулятора)"}, status=503)
    token = request.headers.get("api_access_token") or request.headers.get("Api-Access-Token")
    if not token or (chat.token and not hmac.compare_digest(token, chat.token)):
        return _error(401, "You need to sign in or sign up before continuing.")
    try:
        return await handler(request)
    except ChatError as exc:
        return _error(exc.status, exc.message)


async def _json(request: web.Request, path: str) -> dict[str, Any]:
    """The JSON body, checked against the request schema of Chatwoot's published OpenAPI
    document for ``path`` (below ``/api/v1/accounts/{account_id}``): a misfit → 422."""
    try:
        body = await request.json()
    except ValueError:
        raise ChatError(422, "body must be JSON") from None
    if not isinstance(body, dict):
        raise ChatError(422, "body must be a JSON object")
    problem = chat_openapi.request_errors(path, request.method.lower(), body)
    if problem is not None:
        raise ChatError(422, f"does not fit Chatwoot's OpenAPI document: {problem}")
    return body


@routes.get(API + "/contacts/search")
async def search_contacts(request: web.Request) -> web.Response:
    chat = _chat(request)
    q = request.query.get("q", "").lower()
    found = [chat.contact_view(c) for c in chat.contacts.values()
             if q and any(q in str(c.get(k) or "").lower() for k in ("name", "identifier", "phone_number", "email"))]
    return web.json_response({"meta": {"count": len(found), "current_page": 1, "has_more": False}, "payload": found})


@routes.post(API + "/contacts")
async def create_contact(request: web.Request) -> web.Response:
    return web.json_response(_chat(request).create_contact(await _json(request, "/contacts")))


def _contact_id(request: web.Request) -> int:
    try:
        return int(request.match_info["contact_id"])
    except ValueError:
        raise ChatError(404, "Resource could not be found") from None


@routes.put(API + "/contacts/{contact_id}")
async def update_contact(request: web.Request) -> web.Response:
    body = await _json(request, "/contacts/{id}")
    return web.json_response(_chat(request).update_contact(_contact_id(request), body))


@routes.post(API + "/contacts/{contact_id}/contact_inboxes")
async def create_contact_inbox(request: web.Request) -> web.Response:
    body = await _json(request, "/contacts/{id}/contact_inboxes")
    source_id = _chat(request).add_contact_inbox(_contact_id(request), body.get("inbox_id"), body.get("source_id"))
    return web.json_response({"source_id": source_id, "inbox": {"id": body.get("inbox_id")}})


@routes.post(API + "/conversations")
async def create_conversation(request: web.Request) -> web.Response:
    chat = _chat(request)
    return web.json_response(chat.conversation_view(chat.create_conversation(await _json(request, "/conversations"))))


@routes.get(API + "/conversations/{conversation_id}")
async def get_conversation(request: web.Request) -> web.Response:
    chat = _chat(request)
    return web.json_response(chat.conversation_view(chat.conversation(request.match_info["conversation_id"])))


@routes.get(API + "/conversations/{conversation_id}/messages")
async def list_messages(request: web.Request) -> web.Response:
    chat = _chat(request)
    conv = chat.conversation(request.match_info["conversation_id"])
    return web.json_response({"meta": {"contact": chat.contact_view(chat.contacts[conv.contact_id])},
                              "payload": [chat.message_api_view(m) for m in conv.messages]})


@routes.post(API + "/conversations/{conversation_id}/messages")
async def create_message(request: web.Request) -> web.Response:
    chat = _chat(request)
    conv = chat.conversation(request.match_info["conversation_id"])
    files: list[tuple[str, str, bytes]] = []
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        body: dict[str, Any] = {}
        for key, value in form.items():
            if key in ("attachments[]", "attachments"):
                if not isinstance(value, web.FileField):
                    raise ChatError(422, "attachments[] must be files")
                files.append((value.filename or "file", value.content_type or "application/octet-stream",
                              value.file.read()))
            else:
                body[key] = value
        body["private"] = str(body.get("private", "false")).lower() == "true"
    else:
        body = await _json(request, "/conversations/{conversation_id}/messages")
    message_type = body.get("message_type") or "outgoing"
    if isinstance(message_type, int):
        message_type = MESSAGE_TYPES.get(message_type, "")
    content = body.get("content") or ""
    if not isinstance(content, str):
        raise ChatError(422, "content must be a string")
    message = chat.add_message(conv, content=content, message_type=str(message_type), private=bool(body.get("private")),
                               source_id=body.get("source_id"), files=files)
    view = chat.message_api_view(message)
    if body.get("echo_id"):
        view["echo_id"] = body["echo_id"]
    return web.json_response(view)


@routes.post(API + "/conversations/{conversation_id}/toggle_status")
async def toggle_status(request: web.Request) -> web.Response:
    chat = _chat(request)
    conv = chat.conversation(request.match_info["conversation_id"])
    body = await _json(request, "/conversations/{conversation_id}/toggle_status")
    chat.set_status(conv, str(body.get("status") or ""))
    return web.json_response({"meta": {}, "payload": {"success": True, "conversation_id": conv.id,
                                                      "current_status": conv.status}})


@routes.post(API + "/conversations/{conversation_id}/custom_attributes")
async def custom_attributes(request: web.Request) -> web.Response:
    chat = _chat(request)
    conv = chat.conversation(request.match_info["conversation_id"])
    attrs = (await _json(request, "/conversations/{conversation_id}/custom_attributes")).get("custom_attributes")
    if not isinstance(attrs, dict):
        raise ChatError(422, "custom_attributes must be an object")
    conv.custom_attributes = dict(attrs)  # replaces the whole set, as Chatwoot
    return web.json_response({"custom_attributes": conv.custom_attributes})


@routes.get(PREFIX + "/files/{key}")
async def get_file(request: web.Request) -> web.Response:
    found = _chat(request).files.get(request.match_info["key"])
    if found is None:
        raise web.HTTPNotFound()
    return web.Response(body=found[0], content_type=found[1])
