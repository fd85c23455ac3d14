"""Fixtures: a simulator on a free port of 127.0.0.1 with a hand-driven clock and api_key."""

from __future__ import annotations

from typing import AsyncIterator

import aiohttp
import pytest

from ccsim import Simulator, start_simulator

from .helpers import API_KEY, CC, Clock


@pytest.fixture
async def cc() -> AsyncIterator[CC]:
    clock = Clock()
    sim = Simulator(api_key=API_KEY, clock=clock)
    runner, url = await start_simulator(sim, "127.0.0.1", 0)
    session = aiohttp.ClientSession()
    try:
        yield CC(url, session, sim, clock)
    finally:
        await session.close()
        await runner.cleanup()
