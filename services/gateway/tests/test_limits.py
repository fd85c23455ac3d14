"""The mailing lane's limiter against Viber's window (≤ 500 broadcast calls in any
10 s): a burst that fits the window goes at once, and no window ever holds more."""

from __future__ import annotations

import asyncio
import bisect
import time

import pytest

from gateway.service import build, bulk_limiter
from gateway.settings import GatewaySettings as Settings
from gateway.window import WindowLimiter


def busiest_window(times: list[float], window: float) -> int:
    """Most call ends in any half-open window [t, t + window)."""
    times = sorted(times)
    return max(bisect.bisect_left(times, t + window) - i for i, t in enumerate(times))


async def greedy(limiter: WindowLimiter, calls: int, workers: int, call_time: float = 0.0) -> list[float]:
    """``workers`` senders that always want to send; returns when each call ended (the
    limiter's own clock, as the limiter stamps them)."""
    ends: list[float] = []
    remaining = iter(range(calls))

    async def worker() -> None:
        for _ in remaining:
            async with limiter:
                if call_time:
                    await asyncio.sleep(call_time)
                ends.append(time.monotonic())

    await asyncio.gather(*(worker() for _ in range(workers)))
    return ends


async def test_a_burst_that_fits_the_window_is_not_throttled():
    """167 calls (50 000 recipients) fit in one window of 500: none waits for another."""
    limiter = WindowLimiter(500, 10.0)
    for _ in range(167):
        assert limiter.has_capacity()
        await limiter.acquire()
    assert limiter.has_capacity()  # 333 more would still fit


@pytest.mark.parametrize(("calls", "period", "workers"), [(20, 0.4, 8), (5, 0.3, 3), (2, 0.2, 4)])
async def test_no_window_ever_holds_more_than_the_limit(calls, period, workers):
    """A greedy sender over three windows' worth of calls: at most ``calls`` end in any
    window, and the calls past the first window really did wait for it."""
    limiter = WindowLimiter(calls, period)
    started = time.monotonic()
    ends = await greedy(limiter, calls * 3, workers, call_time=0.01)
    assert busiest_window(ends, period) <= calls
    assert len(ends) == calls * 3
    assert max(ends) - started >= 2 * period  # the third window's calls waited for two windows


async def test_a_call_in_flight_holds_its_slot():
    limiter = WindowLimiter(1, 60.0)
    await limiter.acquire()
    assert not limiter.has_capacity()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.05)
    assert not waiter.done()  # the slot is taken until the call ends, then for a window
    waiter.cancel()


def test_default_mailing_limit_is_vibers_window():
    limiter = bulk_limiter(Settings().viber_bulk_calls_per_10s)
    assert (limiter.calls, limiter.period) == (500, 10.0)


def test_gateway_refuses_to_start_with_a_mailing_limit_below_two():
    with pytest.raises(ValueError, match="VIBER_BULK_CALLS_PER_10S"):
        build(Settings(viber_auth_token="a-token", viber_bulk_calls_per_10s=1))
