"""SimClient: one method per control endpoint, plus deadline-bound polling helpers."""

from __future__ import annotations

import asyncio

import pytest

from .helpers import Sim


async def test_wait_for_requests_returns_once_the_calls_arrive(sim: Sim) -> None:
    async def later() -> None:
        await sim.client.user("resident-1")  # let the waiter start polling first
        await sim.send_text("resident-1")
        await sim.send_text("resident-1")

    waiter = asyncio.create_task(sim.client.wait_for_requests("send_message", count=2, timeout=5))
    await later()
    records = await waiter
    assert [r["status"] for r in records] == [0, 0]


async def test_wait_for_chat_times_out_with_a_clear_error(sim: Sim) -> None:
    with pytest.raises(TimeoutError, match="chat of nobody"):
        await sim.client.wait_for_chat("nobody", lambda chat: len(chat) > 0, timeout=0.2)


async def test_set_user_and_user_round_trip_profile_and_flags(sim: Sim) -> None:
    await sim.client.set_user("resident-9", name="Іван", phone="+380931234567", known=True)
    user = await sim.client.user("resident-9")
    assert (user["name"], user["phone"], user["known"], user["subscribed"]) == ("Іван", "+380931234567", True, False)


async def test_client_errors_surface_the_simulators_message(sim: Sim) -> None:
    with pytest.raises(RuntimeError, match="text"):
        await sim.client.say("resident-1", "")
