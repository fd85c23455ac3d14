"""Message tokens and other identifiers that look like Viber's.

Viber's ``message_token`` is a 64-bit integer above 2**53; a consumer that passes it
through a float silently corrupts it. We deliberately generate values in that range
(like real tokens, ~5.4e18) so such bugs show up in tests.
"""

from __future__ import annotations

import itertools
import random

TOKEN_FLOOR = 2**53
_START = 5_400_000_000_000_000_000


class TokenGenerator:
    """Unique, increasing tokens above 2**53 (and below 2**63)."""

    def __init__(self, seed: int | None = None) -> None:
        rng = random.Random(seed)
        self._rng = rng
        self._next = _START + rng.randrange(10**15)

    def __call__(self) -> int:
        """Return a new token; strictly increasing, never reused."""
        self._next += self._rng.randrange(1, 1000)
        return self._next


_hosts = itertools.cycle(["SN-CHAT-05_", "SN-CHAT-13_", "SN-CHAT-21_"])


def chat_hostname() -> str:
    """A plausible ``chat_hostname`` value like Viber's (``SN-CHAT-05_``)."""
    return next(_hosts)


def timestamp_ms(now: float) -> int:
    """Viber timestamps are integer milliseconds since the epoch."""
    return int(now * 1000)
