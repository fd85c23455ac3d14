"""Async client for the simulator's control API, for tests and the benchmark.

Thin on purpose: every method maps to one endpoint and returns the decoded JSON, so a
failing test shows exactly what the simulator said. The ``wait_for_*`` helpers poll
with a deadline because callbacks and the bot's replies are asynchronous.
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import Any, Callable, cast
from urllib.parse import quote

import aiohttp

Json = Any


class SimClient:
    """``async with SimClient("http://127.0.0.1:8000") as sim: await sim.open("u1")``."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> "SimClient":
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session if this client created it."""
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    async def _call(self, method: str, path: str, body: Json = None, params: dict[str, str] | None = None) -> Json:
        if self._session is None:
            raise RuntimeError("use 'async with SimClient(...)' (or call __aenter__) first")
        async with self._session.request(method, self.base_url + path, json=body, params=params) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                raise RuntimeError(f"{method} {path} -> HTTP {resp.status}: {data}")
            return data

    @staticmethod
    def _user_path(user_id: str, action: str = "") -> str:
        path = f"/_sim/users/{quote(user_id, safe='')}"
        return f"{path}/{action}" if action else path

    async def _act(self, user_id: str, action: str, body: dict[str, Any]) -> Json:
        clean = {k: v for k, v in body.items() if v is not None}
        return await self._call("POST", self._user_path(user_id, action), clean)

    # --- resident actions: each returns {"http_status", "response", "event", ...} ---

    async def open(self, user_id: str, name: str | None = None, context: str | None = None, **profile: Any) -> Json:
        """``conversation_started``; a welcome in the answer lands in the chat."""
        return await self._act(user_id, "open", {"name": name, "context": context, **profile})

    async def say(self, user_id: str, text: str, **profile: Any) -> Json:
        """A text message (or a tapped reply button: pass its ActionBody)."""
        return await self._act(user_id, "say", {"text": text, **profile})

    async def contact(self, user_id: str, phone: str | None = None, name: str | None = None) -> Json:
        """A contact card, as ``share-phone`` sends (defaults to the user's own phone)."""
        return await self._act(user_id, "contact", {"phone_number": phone, "name": name})

    async def location(self, user_id: str, lat: float = 49.4229, lon: float = 26.9871,
                       address: str | None = None) -> Json:
        """A location, as ``location-picker`` sends (defaults to Khmelnytskyi)."""
        return await self._act(user_id, "location", {"lat": lat, "lon": lon, "address": address})

    async def sticker(self, user_id: str, sticker_id: int | None = None) -> Json:
        """A sticker message."""
        return await self._act(user_id, "sticker", {"sticker_id": sticker_id})

    async def picture(self, user_id: str, media: str | None = None, text: str | None = None) -> Json:
        """A picture message (default media is served by the simulator)."""
        return await self._act(user_id, "picture", {"media": media, "text": text})

    async def subscribe(self, user_id: str) -> Json:
        """A ``subscribed`` callback."""
        return await self._act(user_id, "subscribe", {})

    async def unsubscribe(self, user_id: str) -> Json:
        """An ``unsubscribed`` callback; later sends to the user answer status 6."""
        return await self._act(user_id, "unsubscribe", {})

    async def raw_callback(self, event: dict[str, Any]) -> Json:
        """Sign and POST ``event`` to the webhook exactly as given."""
        return await self._call("POST", "/_sim/callback", event)

    # --- inspection and control ---

    async def requests(self, method: str | None = None) -> list[dict[str, Any]]:
        """Recorded ``/pa`` calls: ``{method, body, token, status, http, response, at}``."""
        params = {"method": method} if method else None
        return cast(list[dict[str, Any]], await self._call("GET", "/_sim/requests", params=params))

    async def chat(self, user_id: str) -> list[dict[str, Any]]:
        """The conversation with one user, oldest first."""
        return cast(list[dict[str, Any]], await self._call("GET", self._user_path(user_id, "chat")))

    async def faults(self, faults: list[dict[str, Any]]) -> Json:
        """Queue faults, consumed in order by matching API calls."""
        return await self._call("POST", "/_sim/faults", faults)

    async def reset(self) -> Json:
        """Forget records, faults, rate-limit counters and chats."""
        return await self._call("DELETE", "/_sim/requests")

    async def set_user(self, user_id: str, **fields: Any) -> Json:
        """Set profile fields (name, phone, avatar, language, api_version) or flags."""
        return await self._call("PUT", self._user_path(user_id), fields)

    async def user(self, user_id: str) -> Json:
        """One user's profile and flags."""
        return await self._call("GET", self._user_path(user_id))

    async def state(self) -> Json:
        """Webhook URL and configuration."""
        return await self._call("GET", "/_sim/state")

    # --- polling helpers ---

    async def wait_for_requests(self, method: str | None = None, count: int = 1, timeout: float = 10.0,
                                interval: float = 0.05) -> list[dict[str, Any]]:
        """Poll until at least ``count`` calls were recorded; TimeoutError otherwise."""
        found = await self._poll(lambda: self.requests(method), lambda r: len(r) >= count, timeout, interval,
                                 f"{count} {method or 'API'} call(s)")
        return cast(list[dict[str, Any]], found)

    async def wait_for_chat(self, user_id: str, predicate: Callable[[list[dict[str, Any]]], bool],
                            timeout: float = 10.0, interval: float = 0.05) -> list[dict[str, Any]]:
        """Poll the chat until ``predicate(chat)`` holds; TimeoutError otherwise."""
        found = await self._poll(lambda: self.chat(user_id), predicate, timeout, interval, f"chat of {user_id}")
        return cast(list[dict[str, Any]], found)

    @staticmethod
    async def _poll(fetch: Callable[[], Any], done: Callable[[Any], bool], timeout: float, interval: float,
                    what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = await fetch()
            if done(value):
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"gave up waiting for {what} after {timeout}s; last value: {value!r}"[:2000])
            await asyncio.sleep(interval)
