"""The conversation engine's contract with the service around it.

The engine is pure domain logic: given the resident and what they just did, it returns
the resident's new state, the replies to send and the domain events to publish. It knows
nothing of RabbitMQ, Viber or MongoDB (cosmicpython style). The service layer
(``dialog.handlers``) loads the resident, calls :func:`respond`, and persists the
outcome atomically with its outbox before publishing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from chatbot_common.events import Button, Channel, EventData, InboundContent

from .model import Resident


class IncomingKind(StrEnum):
    started = "started"  # conversation_started: opened the chat
    message = "message"
    subscribed = "subscribed"
    unsubscribed = "unsubscribed"


@dataclass(frozen=True)
class Incoming:
    kind: IncomingKind
    channel_user_id: str
    content: InboundContent | None = None  # kind=message
    display_name: str | None = None  # what the channel says; personal data
    channel: Channel = Channel.viber  # with channel_user_id: the identity that wrote (S7)


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: list[Button] = field(default_factory=list)


@dataclass(frozen=True)
class Notice:
    """A message to a channel identity other than the one that wrote (S7 linking: the
    request goes to the resident's other app; the answer comes back to the new one)."""

    channel: Channel
    channel_user_id: str
    resident_id: str
    reply: Reply


@dataclass
class Outcome:
    resident: Resident
    replies: list[Reply] = field(default_factory=list)
    events: list[EventData] = field(default_factory=list)
    #: messages to other identities, sent after ``replies``
    notices: list[Notice] = field(default_factory=list)
    #: the resident asked to delete all their data: the store forgets personal fields
    forget: bool = False
    #: S7: the id of another resident record whose identities ``resident`` took over
    #: (the resident confirmed the link from their first app); the service drops it.
    absorbed: str | None = None


class ResidentDirectory(Protocol):
    """What the engine may ask about other residents (implemented by the repository)."""

    async def by_phone(self, phone: str) -> Resident | None:
        """The resident who verified this phone, if any."""

    async def by_id(self, resident_id: str) -> Resident | None:
        """A resident by id (``None`` when deleted or merged away)."""
