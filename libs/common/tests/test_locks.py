"""``chatbot_common.locks``: per-key FIFO locks and waiting on an event with a deadline."""

from __future__ import annotations

import asyncio

import pytest

from chatbot_common.locks import KeyedLocks, wait_event


async def test_one_key_runs_in_arrival_order_and_other_keys_meanwhile():
    locks = KeyedLocks()
    order: list[str] = []
    release = asyncio.Event()

    async def hold(key: str, name: str) -> None:
        async with locks.hold(key):
            order.append(name)
            if name == "a1":
                await release.wait()

    tasks = [asyncio.create_task(hold("a", "a1")), asyncio.create_task(hold("a", "a2")),
             asyncio.create_task(hold("b", "b1"))]
    await asyncio.sleep(0.01)
    assert order == ["a1", "b1"]  # b is not held up by a; a2 waits for a1
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["a1", "b1", "a2"]
    assert len(locks) == 0  # nobody holds or waits: the entries are gone


async def test_wait_event_says_whether_it_was_woken_or_the_time_ran_out():
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_event(event, None) is True  # no limit: until set
    assert await wait_event(event, 5) is True  # already set: at once


async def test_wait_event_passes_a_cancellation_on():
    """A background job waiting between rounds stops when the service stops."""
    task = asyncio.create_task(wait_event(asyncio.Event(), 60))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
