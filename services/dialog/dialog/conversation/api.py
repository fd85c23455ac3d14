"""The conversation engine's contract with the service around it.

The engine is pure domain logic: given the resident and what they just did, it returns
the resident's new state, the replies to send and the domain events to publish. It knows
nothing of RabbitMQ, Viber or MongoDB (cosmicpython style). The service layer
(``dialog.handlers``) loads the resident, calls :func:`~.engine.respond` (something the
resident did) or :func:`~.engine.notify` (something that happened to them: a
:data:`SystemNotice`), and persists the outcome atomically with its outbox before
publishing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from typing import Literal

from chatbot_common.events import Button, Channel, EventData, FaqEntry, InboundContent

from .model import Identity, Resident


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
    #: the input's event id: what the engine issues from it (a ticket id) is derived
    #: from it, so a redelivered input issues the same ids
    input_id: str | None = None


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: list[Button] = field(default_factory=list)


@dataclass(frozen=True)
class Notice:
    """A message to a channel identity other than the one that wrote: a system notice
    to the resident's preferred app, or (S7) «a new app was linked» to the older apps
    and «this app was unlinked» to the one released."""

    channel: Channel
    channel_user_id: str
    resident_id: str
    reply: Reply


@dataclass
class Outcome:
    resident: Resident
    replies: list[Reply] = field(default_factory=list)
    events: list[EventData] = field(default_factory=list)
    #: messages to identities other than the writer (all of them for ``notify``),
    #: sent after ``replies``
    notices: list[Notice] = field(default_factory=list)
    #: the resident asked to delete all their data: the store forgets personal fields
    forget: bool = False
    #: S7: the writer typed a valid link code. ``resident`` is then the resident who
    #: issued it (a record other than the writer's) with the writer's identity appended
    #: and the code cleared; ``absorbed`` is the id of the writer's own record, which
    #: the service drops, re-pointing the writer's identity link to ``resident``.
    absorbed: str | None = None
    #: S7: the link code digest this outcome consumed. The service should write
    #: ``resident`` only if the stored record still has it (``link_code`` field), so a
    #: code used twice at the same moment links only once.
    consumed_link_code: str | None = None
    #: S7: identities removed from ``resident`` (unlinked apps); the service deletes
    #: their identity links so each starts as a new, unregistered identity next time.
    released: list[Identity] = field(default_factory=list)


@dataclass(frozen=True)
class TextNotice:
    """A catalog text (``key`` filled with ``params``) to the resident's preferred app,
    with «🏠 Головне меню» under it. The conversation stays where it was."""

    key: str
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class TicketRejectedNotice:
    """The contact center refused a request the resident sent (``ticket.rejected``):
    its reason in a Ukrainian frame, and buttons to edit and resend the draft."""

    ticket_id: str
    service_name: str
    reason: str | None = None
    http_status: int = 400


@dataclass(frozen=True)
class ChatNotice:
    """The contact center said something about an operator chat (issue 11): one of the
    ``dialog.chat`` events (``chat.opened``, ``chat.declined``, ``chat.operator_message``,
    ``chat.unanswered``, ``chat.undelivered``, ``chat.closed``)."""

    event: EventData


@dataclass(frozen=True)
class ChatIdleNotice:
    """The resident's open chat ``chat_id`` has been quiet since at least
    ``quiet_since`` (the idle job's cut-off): end it unless they wrote meanwhile."""

    chat_id: str
    quiet_since: datetime


#: What can happen to a resident that is not their own message. Later issues add kinds
#: (a survey arrived) to this union and a handler for each to ``notices.HANDLERS``.
SystemNotice = TextNotice | TicketRejectedNotice | ChatNotice | ChatIdleNotice


@dataclass(frozen=True)
class QuestionResult:
    """What the question answerer (C3) made of a resident's free text.

    ``answer``: one entry it is confident about (``kind="answer"``). ``decline``: none;
    ``suggestions`` are the nearest entries (up to three, possibly none). ``greeting``,
    ``thanks``, ``obscene``: small talk with no question in it. ``obscene_answer``: an
    answer to a question that also held obscene words (a calm note on top).
    ``question``: the text with personal data removed (what may be stored), ``score``
    the best entry's score (for staff)."""

    kind: Literal["answer", "decline", "greeting", "thanks", "obscene"]
    question: str = ""
    answer: FaqEntry | None = None
    suggestions: tuple[FaqEntry, ...] = ()
    score: float | None = None
    obscene: bool = False


class ResidentDirectory(Protocol):
    """What the engine may ask about other residents (implemented by the repository)."""

    async def by_id(self, resident_id: str) -> Resident | None:
        """A resident by id (``None`` when deleted or merged away)."""

    async def by_link_code(self, digest: str) -> Resident | None:
        """The resident whose current ``link_code.digest`` is ``digest``, expired or
        not (the engine checks expiry), or ``None``."""
