"""The mailing lane's rate limiter against Viber's sliding window (≤ 500 broadcast
calls in any 10 s), on a fake clock: a greedy sender takes every call the limiter
admits, and every 10-second window is counted."""

from __future__ import annotations

import bisect

import pytest
from aiolimiter import AsyncLimiter

from gateway.service import build, bulk_limiter
from gateway.settings import GatewaySettings as Settings


class FakeLoop:
    """Just what AsyncLimiter asks of its loop when it has capacity: the time."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now

    def is_closed(self) -> bool:
        return False


def admit_now(limiter: AsyncLimiter) -> bool:
    """Acquire if the limiter has room at this instant; acquiring with room never waits."""
    if not limiter.has_capacity():
        return False
    coro = limiter.acquire()
    try:
        coro.send(None)
    except StopIteration:
        return True
    coro.close()
    raise AssertionError("acquire() waited although the limiter had capacity")


def greedy_admissions(limiter: AsyncLimiter, phases: list[tuple[float, bool]], step: float = 0.001) -> list[float]:
    """Times at which a sender that always wants to send gets through; ``phases`` are
    (duration, sending?) so idle stretches refill the bucket before the next burst."""
    clock = FakeLoop()
    limiter._event_loop = clock  # type: ignore[attr-defined]  # the fake clock
    times: list[float] = []
    for duration, sending in phases:
        end = clock.now + duration
        while clock.now < end:
            while sending and admit_now(limiter):
                times.append(clock.now)
            clock.now = round(clock.now + step, 6)
    return times


def busiest_window(times: list[float], window: float = 10.0) -> int:
    """Most admissions in any closed window [t, t + window]."""
    return max(bisect.bisect_right(times, t + window) - i for i, t in enumerate(times))


PHASES = [(25.0, True), (12.0, False), (25.0, True)]  # steady load, a pause, a fresh burst


@pytest.mark.parametrize("calls_per_10s", [450, 500, 100, 11, 2])
def test_mailing_limiter_admits_at_most_the_configured_calls_in_any_10_second_window(calls_per_10s):
    times = greedy_admissions(bulk_limiter(calls_per_10s), PHASES)
    assert busiest_window(times) <= calls_per_10s
    assert busiest_window(times) >= 0.98 * calls_per_10s - 1  # …while using the allowance


def test_default_mailing_limit_stays_under_vibers_500_per_10_seconds():
    times = greedy_admissions(bulk_limiter(Settings().viber_bulk_calls_per_10s), PHASES)
    assert busiest_window(times) <= 500


def test_a_bucket_of_the_whole_window_would_break_vibers_limit():
    """Why not AsyncLimiter(n, 10): a burst of n, then n/10 a second on top."""
    times = greedy_admissions(AsyncLimiter(450, 10), PHASES)
    assert busiest_window(times) > 500


def test_gateway_refuses_to_start_with_a_mailing_limit_below_two():
    with pytest.raises(ValueError, match="VIBER_BULK_CALLS_PER_10S"):
        build(Settings(viber_auth_token="a-token", viber_bulk_calls_per_10s=1))
