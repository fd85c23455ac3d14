"""The resident as the dialog service keeps it (S7): one cross-platform id, channel
identities hanging off it, profile, consent and where the conversation stands."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from chatbot_common.events import Channel, ChannelAddress, NotifyScope, utcnow
from chatbot_common.directory import address_key


def new_resident_id() -> str:
    """Resident ids are issued here, independent of any messenger (S7)."""
    return f"r-{uuid.uuid4().hex}"


def new_address_id() -> str:
    """Short id for button codes (``address:<id>``): stays valid when other addresses
    are added or removed, unlike a position in the list."""
    return uuid.uuid4().hex[:8]


#: Digits of a one-time link code (S7, see ``linking``).
LINK_CODE_DIGITS = 8


def new_link_code() -> str:
    """A random one-time link code (``Context.new_link_code`` by default)."""
    return f"{secrets.randbelow(10**LINK_CODE_DIGITS):0{LINK_CODE_DIGITS}d}"


def identity_key(channel: Channel, channel_user_id: str) -> str:
    """``viber:<id>``: how one channel identity is named in the store and in locks."""
    return f"{Channel(channel).value}:{channel_user_id}"


#: Sorts identities never seen (stored before ``last_seen_at`` existed) first.
_NEVER = datetime.min.replace(tzinfo=UTC)


class Identity(BaseModel):
    channel: Channel
    channel_user_id: str
    subscribed: bool = True
    #: when this identity joined the resident by a link code (``None``: the first one)
    linked_at: datetime | None = None
    #: when the resident last wrote (or opened the chat) from here: notices go to the
    #: most recently used subscribed identity
    last_seen_at: datetime | None = None

    @property
    def key(self) -> str:
        return identity_key(self.channel, self.channel_user_id)

    @property
    def token(self) -> str:
        """A short stable name for button codes (``apps:unlink:<token>``): channel user
        ids have upper-case letters and symbols a code may not carry."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:12]

    def address(self) -> ChannelAddress:
        return ChannelAddress(channel=self.channel, channel_user_id=self.channel_user_id)


class Address(BaseModel):
    id: str = Field(default_factory=new_address_id)
    settlement_id: str
    street_id: str  # a directory id, or ``typed:<folded name>`` for a street not in it
    house: str  # canonical: 12а, 12/1, 12 корп. 2
    apartment: str | None = None
    street_label: str | None = None  # only for typed streets: what the resident wrote

    @property
    def key(self) -> str:
        return address_key(self.settlement_id, self.street_id, self.house)


class LinkCode(BaseModel):
    """A one-time code this resident's app showed, to be typed in another app (S7).

    Only the digest is kept (``linking.code_digest`` of the code); the store indexes it so
    the app where the code is typed finds this resident by the digest alone."""

    digest: str
    expires_at: datetime


class LinkAttempts(BaseModel):
    """Wrong link codes typed from this resident's app: after too many the app may not
    try again until ``locked_until`` (guessing protection, see ``linking``)."""

    failures: int = 0
    locked_until: datetime | None = None


class ConversationState(BaseModel):
    """Where the resident is: a step name and the answers collected for it so far."""

    step: str = "new"
    data: dict[str, Any] = Field(default_factory=dict)


class ChatSession(BaseModel):
    """An open chat with a Contact Center operator (issue 11, ``chat``): while it is set,
    everything the resident sends goes to the operator."""

    chat_id: str
    seq: int = 0  # the last ``chat.resident_message`` seq issued (from 1)
    started_at: datetime
    #: the resident's (or the operator's) last message: the idle time-out counts from here
    last_activity_at: datetime
    opened: bool = False  # ``chat.opened`` arrived: the resident is in the queue
    leaving: bool = False  # «🏠 Головне меню» was tapped: the confirmation is on screen
    #: the last messages sent (id, seq, a short preview) to say which ones did not arrive
    sent: list[dict[str, Any]] = Field(default_factory=list)


class Resident(BaseModel):
    id: str = Field(default_factory=new_resident_id)
    identities: list[Identity] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    consent: bool = False
    consent_at: datetime | None = None  # when consent was given: proof for the data controller
    registered: bool = False
    registered_at: datetime | None = None
    name: str | None = None
    #: +380XXXXXXXXX, for the contact center to call back (S6). Typed or shared as a
    #: contact, it is what the resident *says*: never proof of anything, never unique.
    phone: str | None = None
    settlement_id: str | None = None  # the settlement of the first (main) address
    addresses: list[Address] = Field(default_factory=list)
    birth_date: str | None = None  # ISO date
    notify: NotifyScope = NotifyScope.address
    state: ConversationState = Field(default_factory=ConversationState)
    #: S7: the code currently offered to link another app (``None``: none)
    link_code: LinkCode | None = None
    #: S7: wrong codes typed from this record's app
    link_attempts: LinkAttempts = Field(default_factory=LinkAttempts)
    #: the request being written (issue 7, ``tickets``): survives leaving the bot
    ticket_draft: dict[str, Any] | None = None
    #: drafts of the last requests sent, by ticket id: a request the contact center
    #: refused is restored from here to be fixed and sent again (``tickets``)
    sent_drafts: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: tickets this resident rated (the projection learns it a moment later)
    rated_tickets: list[str] = Field(default_factory=list)
    #: the last question answered (C3), for its 👍/👎: ``entry_id``, ``question``
    #: (personal data already stripped), ``score``, ``rated``
    faq_last: dict[str, Any] | None = None
    #: the open operator chat (issue 11), ``None`` outside a chat
    chat: ChatSession | None = None
    #: the chat that ended last: ``chat_id``, ``sent`` previews (late «not delivered»),
    #: ``rate`` (the operator closed it: a rating is asked) and ``rated``
    chat_last: dict[str, Any] | None = None
    #: the last exchanges with the bot (``who``: resident|bot, ``text`` shortened), for the
    #: operator's note when a chat starts; erased with the resident
    recent: list[dict[str, str]] = Field(default_factory=list)
    #: surveys (C8) this resident sent answers to: one answer per resident per survey
    surveys_answered: list[str] = Field(default_factory=list)
    #: surveys being answered, by survey id: ``answers`` (question id → ``options`` |
    #: ``scale`` | ``text`` | ``skipped``) and ``at`` (the question to continue from)
    survey_progress: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def identity(self, channel: Channel, channel_user_id: str) -> Identity | None:
        return next(
            (i for i in self.identities if i.channel == channel and i.channel_user_id == channel_user_id),
            None,
        )

    def address_by_id(self, address_id: str) -> Address | None:
        return next((a for a in self.addresses if a.id == address_id), None)

    def identity_by_token(self, token: str) -> Identity | None:
        return next((i for i in self.identities if i.token == token), None)

    def preferred_identity(self) -> Identity | None:
        """Where messages nobody asked for go (system notices): the subscribed identity
        used most recently; the oldest one when none was seen yet."""
        reachable = [i for i in self.identities if i.subscribed]
        return max(reachable, key=lambda i: i.last_seen_at or _NEVER, default=None)

    @property
    def subscribed(self) -> bool:
        return any(i.subscribed for i in self.identities)
