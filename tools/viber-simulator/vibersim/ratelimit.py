"""Sliding-window counters for Viber's rate limits.

Kept separate from the HTTP layer so the limits (100 messages per user per hour
without a reply; 500 broadcast calls per 10 s) are easy to read and to reset.
"""

from __future__ import annotations

from collections import deque


class SlidingWindow:
    """At most ``limit`` events per key within ``window`` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[str, deque[float]] = {}

    def _prune(self, key: str, now: float) -> deque[float]:
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    def allowed(self, key: str, now: float) -> bool:
        """Whether one more event for ``key`` fits; does not count it."""
        return len(self._prune(key, now)) < self.limit

    def add(self, key: str, now: float) -> None:
        """Count an event that was accepted."""
        self._prune(key, now).append(now)

    def reset(self, key: str | None = None) -> None:
        """Forget one key's events (e.g. the user replied) or all of them."""
        if key is None:
            self._events.clear()
        else:
            self._events.pop(key, None)
