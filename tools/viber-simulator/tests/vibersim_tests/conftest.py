"""Fixtures for the simulator's tests: a stub bot webhook and running simulators.

Everything runs on the test's own event loop on free ports; asynchronous effects are
awaited with :func:`helpers.eventually` (poll with a deadline), never fixed sleeps.
"""

from __future__ import annotations

from typing import Any, AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from vibersim import SimConfig, start_simulator
from vibersim.client import SimClient

from .helpers import TOKEN, Sim, SimFactory, StubWebhook, serve


@pytest.fixture
async def webhook() -> AsyncIterator[StubWebhook]:
    """The bot's webhook, played by a stub that records every callback."""
    stub = StubWebhook()
    app = web.Application()
    app.router.add_post("/viber/webhook", stub.handle)
    runner, base = await serve(app)
    stub.url = base + "/viber/webhook"
    yield stub
    await runner.cleanup()


@pytest.fixture
async def make_sim(webhook: StubWebhook) -> AsyncIterator[SimFactory]:
    """Start simulators with custom config; the webhook defaults to the stub's URL."""
    runners: list[web.AppRunner] = []
    clients: list[SimClient] = []
    session = aiohttp.ClientSession()

    async def factory(**overrides: Any) -> Sim:
        config = SimConfig(**({"auth_token": TOKEN, "webhook_url": webhook.url} | overrides))
        runner, url = await start_simulator(config, "127.0.0.1", 0)
        runners.append(runner)
        client = await SimClient(url).__aenter__()
        clients.append(client)
        return Sim(url, session, client)

    yield factory
    for client in clients:
        await client.close()
    for runner in runners:
        await runner.cleanup()
    await session.close()


@pytest.fixture
async def sim(make_sim: SimFactory) -> Sim:
    """A simulator with default config whose webhook is the stub."""
    return await make_sim()
