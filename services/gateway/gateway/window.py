"""The mailing lane's limiter: at most ``n`` calls in ANY ``period``-second window
(Viber: ≤ 500 ``broadcast_message`` calls in any 10 s, viber-api.md).

A window, not an even rate: 167 calls fit in one window and may all go at once; only
the 501st waits, until the oldest of the last 500 calls is ``period`` old. A leaky
bucket (aiolimiter) can't do that without either breaking the window or throttling a
burst that would have fitted (issue 8: the last of 50 000 recipients ≤ 1 s).

A call's slot is stamped when the call *ends*, not when it starts: Viber counts a call
when it arrives, at some moment between the two, so stamping the end can only make our
window stricter than Viber's, never looser. A call in flight holds its slot.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType


class WindowLimiter:
    def __init__(self, calls: int, period: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if calls < 1 or period <= 0:
            raise ValueError("a window limiter needs calls ≥ 1 and period > 0")
        self.calls = calls
        self.period = period
        self._clock = clock
        self._ended: deque[float] = deque()  # end times of calls within the last period
        self._in_flight = 0
        self._changed = asyncio.Condition()

    def _forget_old(self) -> None:
        horizon = self._clock() - self.period
        while self._ended and self._ended[0] <= horizon:
            self._ended.popleft()

    def has_capacity(self) -> bool:
        self._forget_old()
        return self._in_flight + len(self._ended) < self.calls

    def wait_time(self) -> float:
        """How long until a slot frees if none is free and no call is in flight."""
        self._forget_old()
        if self.has_capacity() or not self._ended:
            return 0.0
        return max(0.0, self._ended[0] + self.period - self._clock())

    async def acquire(self) -> None:
        async with self._changed:
            while not self.has_capacity():
                delay = self.wait_time()
                try:
                    # A call ending (release) or the oldest stamp ageing out frees a slot.
                    async with asyncio.timeout(delay or None):  # not wait_for (Python 3.11 may swallow a cancel)
                        await self._changed.wait()
                except TimeoutError:
                    pass
            self._in_flight += 1

    async def release(self) -> None:
        async with self._changed:
            self._in_flight -= 1
            self._ended.append(self._clock())
            self._changed.notify_all()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.release()
