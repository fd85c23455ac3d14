"""Shared helpers for the contact-center simulator's tests (a uniquely named package, so it
never shadows another test tree's modules in the monorepo's single pytest run)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import aiohttp

from ccsim import Simulator

API_KEY = "test-key"
B = "/open311/v2"
START = datetime(2026, 11, 29, 8, 0, tzinfo=timezone.utc)


class Clock:
    """A hand-driven clock for the simulator (``advance`` moves it)."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class CC:
    """A running simulator over real TCP plus a raw HTTP caller."""

    url: str
    session: aiohttp.ClientSession
    sim: Simulator
    clock: Clock

    async def get(self, path: str, **params: Any) -> tuple[int, Any]:
        async with self.session.get(self.url + path, params=params) as resp:
            return resp.status, await _body(resp)

    async def post(self, path: str, data: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        async with self.session.post(self.url + path, data=data, headers=headers) as resp:
            return resp.status, await _body(resp)

    async def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.url + "/control" + path, json=body) as resp:
            return resp.status, await _body(resp)

    async def file(self, service_code: str = "road-pothole", headers: dict[str, str] | None = None,
                   **fields: Any) -> tuple[int, Any]:
        """POST requests.json with sensible defaults (api_key, an address, a description)."""
        form = {"api_key": API_KEY, "service_code": service_code, "address_string": "вул. Проскурівська, 1",
                "description": "Глибока яма біля під'їзду", "first_name": "Олена", "last_name": "Коваль",
                "phone": "+380671112233"} | fields
        form = {k: v for k, v in form.items() if v is not None}
        return await self.post(B + "/requests.json", data=form, headers=headers)

    async def file_ok(self, service_code: str = "road-pothole", **fields: Any) -> str:
        status, body = await self.file(service_code, **fields)
        assert status == 200, body
        return str(body[0]["service_request_id"])


async def _body(resp: aiohttp.ClientResponse) -> Any:
    if resp.content_type == "application/json":
        return await resp.json()
    return await resp.text()


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
