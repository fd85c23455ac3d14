"""Per-key FIFO locks: keep one resident's messages in order while different
residents' messages run concurrently (used by the dialog and the gateway); and
:func:`wait_event`, the background jobs' "until woken or the next round"."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class KeyedLocks:
    """One FIFO lock per key; an entry disappears when nobody holds or waits for it.

    Deliveries start in arrival order and ``asyncio.Lock`` wakes waiters first-in
    first-out, so tasks for the same key run one at a time, in arrival order.
    """

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = defaultdict(int)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] += 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key]
                self._locks.pop(key, None)

    def __len__(self) -> int:
        return len(self._locks)


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait until ``event`` is set, at most ``timeout`` seconds (``None``: no limit);
    ``True`` when it was set, ``False`` when the time ran out.

    ``asyncio.timeout``, not ``wait_for``: on Python 3.11 ``wait_for`` can swallow a
    cancellation that lands as the wait completes, and a service's stop then hangs."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
