"""The event catalog: CloudEvents 1.0 envelope and one pydantic model per event type.

Every event crossing a service boundary is declared here, once. The routing key of an
event is its type (``<domain>.<event>``); outbound messages are routed by channel and
lane instead (``outbound.<channel>.<lane>``: ``outbound.viber.reply`` /
``outbound.viber.bulk``) so interactive replies and bulk mailings sit in different
queues and a reply never waits behind a mailing — see :func:`routing_key`, the one
place that derives it.

Downstream of the gateway everything is channel-agnostic: events speak of ``channel`` +
``channel_user_id`` and of the resident id (S7), never of Viber JSON. The outbound
message is a neutral description (text + buttons); the gateway renders it for Viber.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

CONTENT_TYPE = "application/cloudevents+json"
#: Namespace for deterministic event ids (uuid5 of input id + purpose).
EVENT_NAMESPACE = uuid.UUID("6f1c8d1e-6a43-4b0e-9a55-2c3c8f0a7d11")


def derived_id(*parts: object) -> str:
    """A deterministic event id: replaying the same input re-emits the same id, so
    downstream inboxes drop the duplicate (architecture: at-least-once everywhere)."""
    return str(uuid.uuid5(EVENT_NAMESPACE, "/".join(str(p) for p in parts)))


def utcnow() -> datetime:
    return datetime.now(UTC)


class EventData(BaseModel):
    """Base of every event payload. ``type`` is the CloudEvents type / routing key."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: ClassVar[str]


class CloudEvent(BaseModel):
    """CloudEvents 1.0, structured JSON mode, with the ``correlationid`` extension."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str
    type: str
    time: datetime = Field(default_factory=utcnow)
    datacontenttype: Literal["application/json"] = "application/json"
    correlationid: str | None = None
    data: dict[str, Any]
    _payload: EventData | None = PrivateAttr(default=None)

    def payload(self) -> EventData:
        """The typed payload; raises ``pydantic.ValidationError`` or ``UnknownEventType``.
        Validated once per event (the bus validates before the handler reads it)."""
        if self._payload is None:
            model = EVENT_TYPES.get(self.type)
            if model is None:
                raise UnknownEventType(self.type)
            self._payload = model.model_validate(self.data)
        return self._payload

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


class UnknownEventType(ValueError):
    pass


def make_event(
    data: EventData,
    *,
    source: str,
    id: str | None = None,
    correlationid: str | None = None,
) -> CloudEvent:
    return CloudEvent(
        id=id or str(uuid.uuid4()),
        source=source,
        type=data.type,
        correlationid=correlationid,
        data=data.model_dump(mode="json", exclude_none=True),
    )


# --------------------------------------------------------------------------- inbound


class Channel(StrEnum):
    viber = "viber"
    telegram = "telegram"


class ChannelUser(BaseModel):
    """What a channel tells us about the person. ``name`` is personal data: never log it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str | None = None
    language: str | None = None
    country: str | None = None
    api_version: int | None = None


class MessageKind(StrEnum):
    text = "text"
    contact = "contact"
    location = "location"
    picture = "picture"
    video = "video"
    file = "file"
    sticker = "sticker"
    url = "url"
    other = "other"


class InboundContent(BaseModel):
    """A resident's message, channel-neutral. A tapped ``reply`` button arrives as
    ``text`` equal to the button's code."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: MessageKind
    text: str | None = None
    phone: str | None = None  # kind=contact
    contact_name: str | None = None
    lat: float | None = None  # kind=location
    lon: float | None = None
    media_url: str | None = None
    file_name: str | None = None
    tracking_data: str | None = None


class InboundMessage(EventData):
    type: ClassVar[str] = "inbound.message"
    channel: Channel
    channel_user_id: str
    channel_message_id: str
    sent_at: datetime
    user: ChannelUser = ChannelUser()
    content: InboundContent


class InboundConversationStarted(EventData):
    type: ClassVar[str] = "inbound.conversation_started"
    channel: Channel
    channel_user_id: str
    channel_message_id: str
    sent_at: datetime
    user: ChannelUser = ChannelUser()
    context: str | None = None
    subscribed: bool = False


class InboundSubscribed(EventData):
    type: ClassVar[str] = "inbound.subscribed"
    channel: Channel
    channel_user_id: str
    channel_message_id: str
    sent_at: datetime
    user: ChannelUser = ChannelUser()


class InboundUnsubscribed(EventData):
    type: ClassVar[str] = "inbound.unsubscribed"
    channel: Channel
    channel_user_id: str
    channel_message_id: str
    sent_at: datetime


# --------------------------------------------------------------------------- delivery


class DeliveryDelivered(EventData):
    type: ClassVar[str] = "delivery.delivered"
    channel: Channel
    channel_user_id: str
    channel_message_id: str
    at: datetime


class DeliverySeen(EventData):
    type: ClassVar[str] = "delivery.seen"
    channel: Channel
    channel_user_id: str
    channel_message_id: str
    at: datetime


class DeliveryFailed(EventData):
    """A message could not reach a resident: reported by the channel (``failed``
    callback) or by the gateway when the API refused to send (e.g. Viber status 5/6)."""

    type: ClassVar[str] = "delivery.failed"
    channel: Channel
    channel_user_id: str
    at: datetime
    reason: str
    channel_message_id: str | None = None
    status_code: int | None = None
    outbound_event_id: str | None = None
    resident_id: str | None = None


# --------------------------------------------------------------------------- outbound


class ButtonAction(StrEnum):
    reply = "reply"  # tapping sends ``code`` back as the resident's text
    open_url = "open-url"  # opens ``url``
    share_phone = "share-phone"  # sends the phone as a contact message
    location = "location-picker"  # sends a location


class Button(BaseModel):
    """A neutral button. ``code`` is a stable machine code (``menu:tickets``), never the
    visible label; ``columns`` is a width hint out of 6."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = Field(min_length=1, max_length=250)
    code: str = Field(min_length=1, max_length=250)
    action: ButtonAction = ButtonAction.reply
    url: str | None = None
    columns: int = Field(default=6, ge=1, le=6)


class Lane(StrEnum):
    reply = "reply"  # an answer to something the resident just did
    bulk = "bulk"  # a mailing the bot starts itself


#: Most receivers one outbound event may carry: what ONE Viber ``broadcast_message``
#: call takes. One event is one API call, so the gateway can remember each batch Viber
#: accepted and never send it again (viber-api.md: mailings are paid).
MAX_RECEIVERS = 300


class OutboundMessage(EventData):
    """One message to one or more residents on one channel, sent with ONE API call:
    ``send_message`` (one receiver) or ``broadcast_message`` (2…:data:`MAX_RECEIVERS`).
    A producer with a larger audience splits it with :func:`split_receivers`."""

    # The type names the payload model. Event types are per channel: a Telegram gateway
    # adds ``outbound.telegram`` (this same model) to the catalog. The routing key comes
    # from ``channel`` and ``lane`` in the data (:func:`routing_key`), never from the type.
    type: ClassVar[str] = "outbound.viber"
    channel: Channel = Channel.viber
    lane: Lane = Lane.reply
    receivers: list[str] = Field(min_length=1, max_length=MAX_RECEIVERS)
    text: str = Field(min_length=1, max_length=7000)
    buttons: list[Button] = Field(default_factory=list)
    tracking_data: str | None = Field(default=None, max_length=4000)
    # parallel to receivers, if known
    resident_ids: list[str] = Field(default_factory=list, max_length=MAX_RECEIVERS)


def split_receivers(
    parent_id: str,
    receivers: Sequence[str],
    resident_ids: Sequence[str] = (),
    *,
    size: int = MAX_RECEIVERS,
    **fields: Any,
) -> Iterator[tuple[str, OutboundMessage]]:
    """An audience of any size as outbound messages of at most ``size`` receivers
    each, with deterministic event ids ``derived_id(parent_id, "batch", n)``: a
    producer that runs again for the same ``parent_id`` (the mailing, the outage
    notice…) re-emits the same ids, and the gateway, which remembers every batch Viber
    accepted by its event id, sends none of them twice. Pass the receivers in a stable
    order (the same receivers must land in the same batch). ``fields`` are the rest of
    the message (``text``, ``buttons``, ``lane``…); ``resident_ids``, when given, is
    parallel to ``receivers`` and split with it. Yields ``(event id, message)``.
    """
    if not 0 < size <= MAX_RECEIVERS:
        raise ValueError(f"size must be 1..{MAX_RECEIVERS}")
    if resident_ids and len(resident_ids) != len(receivers):
        raise ValueError("resident_ids must be parallel to receivers")
    for n, start in enumerate(range(0, len(receivers), size)):
        end = start + size
        message = OutboundMessage(receivers=list(receivers[start:end]),
                                  resident_ids=list(resident_ids[start:end]), **fields)
        yield derived_id(parent_id, "batch", n), message


# --------------------------------------------------------------------------- residents


class NotifyScope(StrEnum):
    address = "address"  # outages at my address(es)
    city = "city"  # everything in my settlement
    none = "none"


class ChannelAddress(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    channel: Channel
    channel_user_id: str


class ResidentAddress(BaseModel):
    """A normalised address; ``key`` is what outage matching compares
    (``<settlement_id>|<street_id>|<house>``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    settlement_id: str
    street_id: str
    house: str
    apartment: str | None = None
    key: str


class ResidentSnapshot(EventData):
    """Base for resident events: what the notifier needs for audiences (S7, C1, C9)."""

    resident_id: str
    channels: list[ChannelAddress]
    settlement_id: str | None = None
    addresses: list[ResidentAddress] = Field(default_factory=list)
    notify: NotifyScope = NotifyScope.address
    birth_date: str | None = None  # ISO date, optional (greetings)
    subscribed: bool = True


class ResidentRegistered(ResidentSnapshot):
    type: ClassVar[str] = "resident.registered"


class ResidentUpdated(ResidentSnapshot):
    type: ClassVar[str] = "resident.updated"


class ResidentDeleted(EventData):
    type: ClassVar[str] = "resident.deleted"
    resident_id: str
    channels: list[ChannelAddress] = Field(default_factory=list)


EVENT_TYPES: dict[str, type[EventData]] = {
    model.type: model
    for model in (
        InboundMessage,
        InboundConversationStarted,
        InboundSubscribed,
        InboundUnsubscribed,
        DeliveryDelivered,
        DeliverySeen,
        DeliveryFailed,
        OutboundMessage,
        ResidentRegistered,
        ResidentUpdated,
        ResidentDeleted,
    )
}


def routing_key(event: CloudEvent) -> str:
    """Routing key = event type; for an outbound message ``outbound.<channel>.<lane>``,
    read from its data (absent: the model's defaults), so a Telegram message can never
    land in the Viber gateway's queues; an unknown channel or lane raises ``ValueError``
    at the publisher. The only place routing keys are derived."""
    model = EVENT_TYPES.get(event.type)
    if model is not None and issubclass(model, OutboundMessage):
        fields = model.model_fields
        channel = Channel(event.data.get("channel", fields["channel"].default))
        lane = Lane(event.data.get("lane", fields["lane"].default))
        return f"outbound.{channel.value}.{lane.value}"
    return event.type
