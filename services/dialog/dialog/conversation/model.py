"""The resident as the dialog service keeps it (S7): one cross-platform id, channel
identities hanging off it, profile, consent and where the conversation stands."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from chatbot_common.events import Channel, ChannelAddress, NotifyScope, utcnow


def new_resident_id() -> str:
    """Resident ids are issued here, independent of any messenger (S7)."""
    return f"r-{uuid.uuid4().hex}"


def new_address_id() -> str:
    """Short id for button codes (``address:<id>``): stays valid when other addresses
    are added or removed, unlike a position in the list."""
    return uuid.uuid4().hex[:8]


def identity_key(channel: Channel, channel_user_id: str) -> str:
    """``viber:<id>``: how one channel identity is named in the store and in locks."""
    return f"{Channel(channel).value}:{channel_user_id}"


class Identity(BaseModel):
    channel: Channel
    channel_user_id: str
    subscribed: bool = True

    @property
    def key(self) -> str:
        return identity_key(self.channel, self.channel_user_id)

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
        return f"{self.settlement_id}|{self.street_id}|{self.house.lower()}"


class ConversationState(BaseModel):
    """Where the resident is: a step name and the answers collected for it so far."""

    step: str = "new"
    data: dict[str, Any] = Field(default_factory=dict)


class Resident(BaseModel):
    id: str = Field(default_factory=new_resident_id)
    identities: list[Identity] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    consent: bool = False
    consent_at: datetime | None = None  # when consent was given: proof for the data controller
    registered: bool = False
    registered_at: datetime | None = None
    name: str | None = None
    phone: str | None = None  # +380XXXXXXXXX, verified when shared via the channel
    phone_verified: bool = False
    settlement_id: str | None = None  # the settlement of the first (main) address
    addresses: list[Address] = Field(default_factory=list)
    birth_date: str | None = None  # ISO date
    notify: NotifyScope = NotifyScope.address
    state: ConversationState = Field(default_factory=ConversationState)

    def identity(self, channel: Channel, channel_user_id: str) -> Identity | None:
        return next(
            (i for i in self.identities if i.channel == channel and i.channel_user_id == channel_user_id),
            None,
        )

    def address_by_id(self, address_id: str) -> Address | None:
        return next((a for a in self.addresses if a.id == address_id), None)

    @property
    def subscribed(self) -> bool:
        return any(i.subscribed for i in self.identities)
