"""Shared test helpers: a stub bot webhook, a handle on a running simulator, polling.

Lives in a uniquely named package (not a top-level ``conftest``) so it never shadows
other test trees' ``conftest`` modules in the monorepo's single pytest run.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import aiohttp
from aiohttp import web

from vibersim.client import SimClient

# The official SDK's test-vector token, so signatures can be checked against it too.
TOKEN = "44dafb7e0f40021e-61a47a1e6778d187-f2c5a676a07050b3"
BOT = {"name": "Міська лінія"}

Responder = Callable[[dict[str, Any]], Awaitable[web.StreamResponse] | web.StreamResponse]


@dataclass
class Callback:
    """One request the stub webhook received, raw bytes kept for signature checks."""

    raw: bytes
    headers: dict[str, str]
    query: dict[str, str]

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.raw)  # type: ignore[no-any-return]

    @property
    def event(self) -> str:
        return str(self.body["event"])


@dataclass
class StubWebhook:
    """A tiny bot webhook: records callbacks and answers via ``responder`` (default 200 {})."""

    url: str = ""
    calls: list[Callback] = field(default_factory=list)
    responder: Responder | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.calls.append(Callback(raw, dict(request.headers), dict(request.query)))
        if self.responder is not None:
            answer = self.responder(json.loads(raw))
            if asyncio.iscoroutine(answer):
                answer = await answer
            return answer  # type: ignore[return-value]
        return web.json_response({})

    def events(self, name: str) -> list[Callback]:
        return [c for c in self.calls if c.event == name]


async def eventually(check: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(interval)


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """Run an aiohttp app on a free port of 127.0.0.1."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@dataclass
class Sim:
    """A running simulator plus a raw caller of its fake Viber API."""

    url: str
    session: aiohttp.ClientSession
    client: SimClient

    async def call(self, method: str, body: Any, token: str | None = TOKEN) -> dict[str, Any]:
        """POST ``/pa/<method>``; ``body`` may be a dict or raw bytes."""
        headers = {"X-Viber-Auth-Token": token} if token is not None else {}
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        async with self.session.post(f"{self.url}/pa/{method}", data=data, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()  # type: ignore[no-any-return]

    async def send_text(self, receiver: str, text: str = "Привіт", **extra: Any) -> dict[str, Any]:
        return await self.call("send_message", {"receiver": receiver, "type": "text", "text": text,
                                                "sender": BOT, **extra})


SimFactory = Callable[..., Awaitable[Sim]]
