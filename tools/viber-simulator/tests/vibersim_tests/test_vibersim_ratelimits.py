"""Viber's rate limits: 100 messages per user per hour without a reply, 500 broadcasts per 10 s."""

from __future__ import annotations

import asyncio

from .helpers import BOT, SimFactory


class FakeClock:
    """A settable clock so hour-long windows can be crossed instantly."""

    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_101st_message_to_one_user_within_an_hour_is_refused_with_12(make_sim: SimFactory) -> None:
    sim = await make_sim(send_delivery_receipts=False)
    statuses = [(await sim.send_text("resident-1"))["status"] for _ in range(101)]
    assert statuses[:100] == [0] * 100
    assert statuses[100] == 12
    assert (await sim.send_text("resident-2"))["status"] == 0  # the limit is per user


async def test_a_reply_from_the_user_resets_the_per_user_limit(make_sim: SimFactory) -> None:
    sim = await make_sim(send_delivery_receipts=False)
    for _ in range(100):
        await sim.send_text("resident-1")
    assert (await sim.send_text("resident-1"))["status"] == 12
    await sim.client.say("resident-1", "дякую")
    assert (await sim.send_text("resident-1"))["status"] == 0


async def test_per_user_limit_frees_up_after_an_hour(make_sim: SimFactory) -> None:
    clock = FakeClock()
    sim = await make_sim(send_delivery_receipts=False, clock=clock)
    for _ in range(100):
        await sim.send_text("resident-1")
    clock.now += 3599
    assert (await sim.send_text("resident-1"))["status"] == 12
    clock.now += 2
    assert (await sim.send_text("resident-1"))["status"] == 0


async def test_501st_broadcast_call_within_10_seconds_is_refused_with_12(make_sim: SimFactory) -> None:
    clock = FakeClock()
    sim = await make_sim(send_delivery_receipts=False, clock=clock)
    body = {"type": "text", "text": "Оголошення", "sender": BOT, "broadcast_list": ["u1"]}
    answers = await asyncio.gather(*(sim.call("broadcast_message", body) for _ in range(500)))
    assert all(a["status"] == 0 for a in answers)
    assert (await sim.call("broadcast_message", body))["status"] == 12
    clock.now += 10.5
    assert (await sim.call("broadcast_message", body))["status"] == 0


async def test_reset_clears_rate_limit_counters(make_sim: SimFactory) -> None:
    sim = await make_sim(send_delivery_receipts=False)
    for _ in range(100):
        await sim.send_text("resident-1")
    await sim.client.reset()
    assert (await sim.send_text("resident-1"))["status"] == 0
