"""All mutable simulator state in one place: webhook, users, records, faults, chats.

Everything lives on one event loop, so plain containers suffice; handlers do their
check-then-record steps without awaiting in between.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .config import SimConfig
from .ratelimit import SlidingWindow
from .tokens import TokenGenerator
from .users import User

ALL_EVENT_TYPES = ("delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started")

USER_MESSAGE_LIMIT = 100
USER_MESSAGE_WINDOW = 3600.0
BROADCAST_CALL_LIMIT = 500
BROADCAST_CALL_WINDOW = 10.0
USER_DETAILS_LIMIT = 2
USER_DETAILS_WINDOW = 12 * 3600.0


@dataclass
class Fault:
    """One injected misbehaviour, consumed by the next matching API call.

    ``delay`` sleeps first; then ``disconnect`` drops the connection, ``http`` answers
    that HTTP status, ``status`` answers that Viber status; with none of those the call
    proceeds normally. ``failed`` keeps the call successful but makes the simulator
    post ``failed`` callbacks (with that description) instead of ``delivered``.
    """

    method: str | None = None
    delay: float = 0.0
    disconnect: bool = False
    http: int | None = None
    status: int | None = None
    status_message: str | None = None
    failed: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, item: Any) -> "Fault":
        """Build from the JSON the control API receives; ValueError when malformed."""
        if not isinstance(item, dict):
            raise ValueError("each fault must be a JSON object")
        known = {"method", "delay", "disconnect", "http", "status", "status_message", "failed"}
        unknown = set(item) - known
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        try:
            return cls(
                method=item.get("method"),
                delay=float(item.get("delay", 0.0)),
                disconnect=bool(item.get("disconnect", False)),
                http=int(item["http"]) if item.get("http") is not None else None,
                status=int(item["status"]) if item.get("status") is not None else None,
                status_message=item.get("status_message"),
                failed=item.get("failed"),
                spec=dict(item),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad fault {item!r}: {exc}") from None


class SimState:
    """The simulator's memory; one instance per application."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.new_token = TokenGenerator()
        self.webhook_url: str | None = config.webhook_url
        self.event_types: tuple[str, ...] = ALL_EVENT_TYPES
        self.public_url: str | None = config.public_url
        self.users: dict[str, User] = {}
        self.records: deque[dict[str, Any]] = deque(maxlen=config.max_records)
        self.faults: list[Fault] = []
        self.user_messages = SlidingWindow(USER_MESSAGE_LIMIT, USER_MESSAGE_WINDOW)
        self.broadcast_calls = SlidingWindow(BROADCAST_CALL_LIMIT, BROADCAST_CALL_WINDOW)
        self.user_details_calls = SlidingWindow(USER_DETAILS_LIMIT, USER_DETAILS_WINDOW)
        self.chats: dict[str, deque[dict[str, Any]]] = {}
        self._seq = itertools.count(1)

    def now(self) -> float:
        """Current time from the configured clock (seconds since the epoch)."""
        return self.config.clock()

    def user(self, user_id: str) -> User:
        """The user with this id, created with defaults on first sight."""
        user = self.users.get(user_id)
        if user is None:
            user = self.users[user_id] = User(id=user_id)
        return user

    def take_fault(self, method: str) -> Fault | None:
        """Remove and return the first queued fault that applies to ``method``."""
        for index, fault in enumerate(self.faults):
            if fault.method is None or fault.method == method:
                return self.faults.pop(index)
        return None

    def record(self, **fields: Any) -> dict[str, Any]:
        """Remember one API call (accepted or refused)."""
        entry = {"seq": next(self._seq), "at": self.now(), **fields}
        self.records.append(entry)
        return entry

    def requests(self, method: str | None = None) -> list[dict[str, Any]]:
        """Recorded calls, oldest first, optionally for one method."""
        return [r for r in self.records if method is None or r["method"] == method]

    def add_chat(self, user_id: str, entry: dict[str, Any]) -> dict[str, Any]:
        """Append a bubble to a user's conversation and return it (callers may amend it)."""
        chat = self.chats.get(user_id)
        if chat is None:
            chat = self.chats[user_id] = deque(maxlen=self.config.max_chat_entries)
        full = {"seq": next(self._seq), "at": self.now(), **entry}
        chat.append(full)
        return full

    def chat(self, user_id: str) -> list[dict[str, Any]]:
        """The conversation with one user, oldest first."""
        return list(self.chats.get(user_id, ()))

    def reset(self) -> None:
        """Forget records, faults, rate-limit counters and chats (keep users and webhook)."""
        self.records.clear()
        self.faults.clear()
        self.user_messages.reset()
        self.broadcast_calls.reset()
        self.user_details_calls.reset()
        self.chats.clear()
