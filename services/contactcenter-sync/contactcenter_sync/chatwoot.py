"""A client for the contact center's chat: Chatwoot's Application API as an API-channel
inbox uses it (docs/operator-chat.md; facts from chatwoot/chatwoot v4.15).

Base: ``{CHAT_URL}/api/v1/accounts/{CHAT_ACCOUNT_ID}``; the token goes in the
``api_access_token`` header (and ``Api-Access-Token``, which Rails reads as well: nginx
drops headers with ``_`` by default, Chatwoot #1057).

Errors: :class:`ChatUnavailable` = try again later (no answer, timeout, 5xx, 429, 401/403
while the token is being fixed is NOT retried: see :class:`ChatRefused`);
:class:`ChatRefused` = the server said no to this very call (4xx) — retrying the same
call will not help.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import structlog

log = structlog.get_logger("contactcenter.chatwoot")

#: what the bridge puts before its own messages' ``source_id``: their webhooks are dropped
SOURCE_PREFIX = "chatbot:"


class ChatUnavailable(Exception):
    """The chat server could not be reached or answered 5xx/429: try again later."""


class ChatRefused(Exception):
    """The chat server refused the call (4xx other than 429)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {str(body)[:200]}")
        self.status = status
        self.body = body


class ChatwootClient:
    def __init__(self, base_url: str, *, token: str, account_id: int, inbox_id: int,
                 timeout: float = 10.0, media_max_bytes: int = 10 * 1024 * 1024) -> None:
        self.base = base_url.rstrip("/") + f"/api/v1/accounts/{account_id}"
        self.inbox_id = inbox_id
        self.headers = {"api_access_token": token, "Api-Access-Token": token}
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.media_max_bytes = media_max_bytes
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(self, method: str, path: str, *, json: Any = None, data: Any = None,
                    params: dict[str, str] | None = None) -> Any:
        try:
            async with self.session.request(method, self.base + path, json=json, data=data, params=params,
                                            headers=self.headers) as resp:
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = None
                if resp.status >= 500 or resp.status == 429:
                    raise ChatUnavailable(f"HTTP {resp.status}")
                if resp.status >= 400:
                    raise ChatRefused(resp.status, body)
                return body
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise ChatUnavailable(type(exc).__name__) from exc

    # ------------------------------------------------------------------ contacts

    async def find_contact(self, identifier: str) -> dict[str, Any] | None:
        """The contact whose ``identifier`` is exactly this (search is a substring match)."""
        page = 1
        while True:
            body = await self._call("GET", "/contacts/search", params={"q": identifier, "page": str(page)})
            for contact in (body or {}).get("payload") or []:
                if contact.get("identifier") == identifier:
                    return contact
            if not ((body or {}).get("meta") or {}).get("has_more") or page >= 20:
                return None
            page += 1

    async def create_contact(self, *, identifier: str, name: str | None, phone: str | None) -> tuple[int, str]:
        """A new contact in our inbox → (contact id, contact_inbox source_id). A phone
        the server refuses (not E.164, taken by another contact) is left out."""
        body: dict[str, Any] = {"inbox_id": self.inbox_id, "identifier": identifier, "name": name or identifier}
        if phone:
            body["phone_number"] = phone
        try:
            answer = await self._call("POST", "/contacts", json=body)
        except ChatRefused:
            if "phone_number" not in body:
                raise
            body.pop("phone_number")
            answer = await self._call("POST", "/contacts", json=body)
        payload = (answer or {}).get("payload") or {}
        contact = payload.get("contact") or {}
        source_id = (payload.get("contact_inbox") or {}).get("source_id")
        if not contact.get("id") or not source_id:
            raise ChatRefused(200, "contact answer without contact.id / contact_inbox.source_id")
        return int(contact["id"]), str(source_id)

    async def update_contact(self, contact_id: int, *, name: str | None, phone: str | None) -> None:
        """Bring an existing contact's name and phone up to date (``PUT contacts/{id}``).
        A phone the server refuses (taken by another contact) is left as it was."""
        body: dict[str, Any] = {}
        if name:
            body["name"] = name
        if phone:
            body["phone_number"] = phone
        if not body:
            return
        try:
            await self._call("PUT", f"/contacts/{contact_id}", json=body)
        except ChatRefused:
            if "phone_number" not in body:
                raise
            body.pop("phone_number")
            if body:
                await self._call("PUT", f"/contacts/{contact_id}", json=body)

    async def add_contact_inbox(self, contact_id: int, source_id: str | None = None) -> str:
        body: dict[str, Any] = {"inbox_id": self.inbox_id}
        if source_id:
            body["source_id"] = source_id
        answer = await self._call("POST", f"/contacts/{contact_id}/contact_inboxes", json=body)
        found = (answer or {}).get("source_id")
        if not found:
            raise ChatRefused(200, "contact_inbox answer without source_id")
        return str(found)

    # ------------------------------------------------------------------ conversations

    async def create_conversation(self, *, source_id: str, contact_id: int,
                                  custom_attributes: dict[str, Any]) -> str:
        answer = await self._call("POST", "/conversations", json={
            "source_id": source_id, "inbox_id": self.inbox_id, "contact_id": contact_id, "status": "open",
            "custom_attributes": custom_attributes})
        if not (answer or {}).get("id"):
            raise ChatRefused(200, "conversation answer without id")
        return str(answer["id"])

    async def post_message(self, conversation_id: str, content: str, *, private: bool = False,
                           incoming: bool = False, source_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"content": content, "message_type": "incoming" if incoming else "outgoing",
                                "private": private}
        if source_id:
            body["source_id"] = source_id
        return await self._call("POST", f"/conversations/{conversation_id}/messages", json=body) or {}

    async def post_attachment(self, conversation_id: str, *, content: str, filename: str, content_type: str,
                              data: bytes, source_id: str | None = None) -> dict[str, Any]:
        form = aiohttp.FormData()
        form.add_field("content", content)
        form.add_field("message_type", "incoming")
        form.add_field("private", "false")
        if source_id:
            form.add_field("source_id", source_id)
        form.add_field("attachments[]", data, filename=filename, content_type=content_type)
        return await self._call("POST", f"/conversations/{conversation_id}/messages", data=form) or {}

    async def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        answer = await self._call("GET", f"/conversations/{conversation_id}/messages")
        return list((answer or {}).get("payload") or [])

    async def toggle_status(self, conversation_id: str, status: str) -> None:
        await self._call("POST", f"/conversations/{conversation_id}/toggle_status", json={"status": status})

    async def set_custom_attributes(self, conversation_id: str, attributes: dict[str, Any]) -> None:
        await self._call("POST", f"/conversations/{conversation_id}/custom_attributes",
                         json={"custom_attributes": attributes})

    # ------------------------------------------------------------------ media

    async def download(self, url: str) -> tuple[bytes, str] | None:
        """The resident's photo (from the messenger's media URL) or ``None`` when it
        cannot be fetched or is larger than the limit."""
        try:
            async with self.session.get(url) as resp:
                if resp.status != 200:
                    return None
                data = await resp.content.read(self.media_max_bytes + 1)
                if len(data) > self.media_max_bytes or not data:
                    return None
                return data, resp.content_type or "application/octet-stream"
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError):
            return None
