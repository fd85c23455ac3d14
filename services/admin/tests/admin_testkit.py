"""Helpers of the admin service's tests: an HTTP client that logs in, the service's
settings for tests, and what the ``admin`` fixture (conftest.py) hands a test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from pydantic import SecretStr

from admin.service import build
from admin.settings import AdminSettings
from chatbot_common.bus import create_bus
from chatbot_common.events import CloudEvent
from chatbot_common.store import open_store

ADMIN_EMAIL = "root@example.org"
ADMIN_PASSWORD = "correct horse battery"


class Client:
    """JSON calls to the running service; ``token`` is sent as a bearer token."""

    def __init__(self, session: aiohttp.ClientSession, base: str, token: str | None = None) -> None:
        self.session = session
        self.base = base
        self.token = token

    async def call(self, method: str, path: str, json: Any = None, *, token: str | None = None,
                   headers: dict[str, str] | None = None, data: bytes | None = None) -> tuple[int, Any]:
        headers = dict(headers or {})
        bearer = token if token is not None else self.token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        async with self.session.request(method, self.base + path, json=json, data=data, headers=headers) as resp:
            body = await resp.json() if resp.content_type == "application/json" else await resp.text()
            return resp.status, body

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> tuple[int, Any]:
        return await self.call("POST", path, json, **kw)

    async def patch(self, path: str, json: Any = None, **kw: Any) -> tuple[int, Any]:
        return await self.call("PATCH", path, json, **kw)

    async def login(self, email: str, password: str) -> str:
        status, body = await self.post("/api/v1/auth/token", {"email": email, "password": password}, token="")
        assert status == 200, body
        return body["access_token"]

    async def as_role(self, role: str, email: str | None = None) -> Client:
        """A client logged in as a new account with ``role`` (created by this admin)."""
        email = email or f"{role}@example.org"
        status, body = await self.post("/api/v1/staff", {"email": email, "password": "password-" + role,
                                                          "role": role})
        assert status == 201, body
        return Client(self.session, self.base, await self.login(email, "password-" + role))


class Recorder:
    """What the admin service publishes with routing keys ``keys`` on its in-memory bus."""

    def __init__(self, bus_url: str, keys: list[str], *, quiet: float = 0.1) -> None:
        self.bus = create_bus(bus_url)
        self.keys = keys
        self.quiet = quiet
        self.events: list[CloudEvent] = []

    async def start(self) -> None:
        async def record(event: CloudEvent) -> None:
            self.events.append(event)

        self.bus.subscribe(f"test.recorder.{id(self)}", self.keys, record)
        await self.bus.start_consuming()

    async def count(self, n: int) -> list[CloudEvent]:
        """Waits (up to 10 s) for ``n`` events, then checks that no more came for
        ``quiet`` seconds; the events."""
        for _ in range(500):
            if len(self.events) >= n:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(self.quiet)
        assert len(self.events) == n, [(e.id, e.data) for e in self.events]
        return self.events

    async def payloads(self, n: int) -> list[Any]:
        """:meth:`count`, as the events' typed payloads."""
        return [e.payload() for e in await self.count(n)]


@asynccontextmanager
async def recording(bus_url: str, keys: list[str], **kwargs: Any) -> AsyncIterator[Recorder]:
    rec = Recorder(bus_url, keys, **kwargs)
    await rec.start()
    try:
        yield rec
    finally:
        await rec.bus.close()


class Admin:
    def __init__(self, runtime: Any, client: Client, events: list[CloudEvent], bus_url: str) -> None:
        self.runtime = runtime
        self.client = client
        self.events = events
        self.bus_url = bus_url

    def of_type(self, prefix: str) -> list[CloudEvent]:
        return [e for e in self.events if e.type.startswith(prefix)]


def settings(**overrides: Any) -> AdminSettings:
    values: dict[str, Any] = dict(admin_port=0, outbox_relay_seconds=0.3, admin_bootstrap_email=ADMIN_EMAIL,
                                  admin_bootstrap_password=SecretStr(ADMIN_PASSWORD))
    values.update(overrides)
    return AdminSettings(**values)




# --------------------------------------------------------------------------- the panel (issue 9)

import re  # noqa: E402

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class PanelClient:
    """A browser-like client of the panel: its own cookie jar (the session), forms
    posted as ``application/x-www-form-urlencoded``, redirects NOT followed (the tests
    look at them)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf: str | None = None

    async def close(self) -> None:
        await self.session.close()

    async def get(self, path: str, **kw: Any) -> tuple[int, str, Any]:
        async with self.session.get(self.base + path, allow_redirects=False, **kw) as resp:
            text = await resp.text()
            found = _CSRF.search(text)
            if found and resp.status < 400 and "/panel/login" not in path:
                self.csrf = found.group(1)
            return resp.status, text, resp.headers

    async def post(self, path: str, data: Any, *, csrf: bool = True, **kw: Any) -> tuple[int, str, Any]:
        if csrf:
            data = [("csrf", self.csrf or ""), *(data.items() if isinstance(data, dict) else data)]
        async with self.session.post(self.base + path, data=data, allow_redirects=False, **kw) as resp:
            return resp.status, await resp.text(), resp.headers

    async def login(self, email: str, password: str) -> tuple[int, str, Any]:
        status, text, _ = await self.get("/panel/login")
        token = _CSRF.search(text).group(1)  # type: ignore[union-attr]
        result = await self.post("/panel/login", {"csrf": token, "email": email, "password": password,
                                                   "next": "/panel/outages"}, csrf=False)
        if result[0] == 303:
            await self.get("/panel/outages")  # picks up the session's CSRF token
        return result


# The admin service running for a test (the ``admin`` fixture uses it; tests that need
# other settings use it directly). Here, not in conftest.py: every test folder has a
# conftest.py, and ``from conftest import …`` would pick whichever was imported first.
@asynccontextmanager
async def running_admin(unique: str, mongodb_url: str, **overrides: Any) -> AsyncIterator[Admin]:
    bus_url = f"memory://admin-{unique}"
    store = open_store(mongodb_url, f"admin_{unique}", memory_namespace=unique)
    runtime = build(settings(**overrides), bus=create_bus(bus_url, delivery_limit=3), store=store)
    recorder = create_bus(bus_url)
    events: list[CloudEvent] = []

    async def record(event: CloudEvent) -> None:
        events.append(event)

    recorder.subscribe("test.outages", ["outage.#", "mailing.requested", "mailing.cancelled", "greeting.configured"],
                       record)
    await recorder.start_consuming()
    await runtime.start(host="127.0.0.1")
    async with aiohttp.ClientSession() as session:
        client = Client(session, f"http://127.0.0.1:{runtime.bound_port}")
        client.token = await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        yield Admin(runtime, client, events, bus_url)
    await runtime.stop()
    await recorder.close()
    if not store.in_memory:
        await store.client.drop_database(f"admin_{unique}")
