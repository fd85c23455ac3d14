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

import hashlib
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

CONTENT_TYPE = "application/cloudevents+json"
#: Namespace for deterministic event ids (uuid5 of input id + purpose).
EVENT_NAMESPACE = uuid.UUID("6f1c8d1e-6a43-4b0e-9a55-2c3c8f0a7d11")


_NAMESPACE_BYTES = EVENT_NAMESPACE.bytes


def derived_id(*parts: object) -> str:
    """A deterministic event id: replaying the same input re-emits the same id, so
    downstream inboxes drop the duplicate (architecture: at-least-once everywhere).

    ``str(uuid.uuid5(EVENT_NAMESPACE, "/".join(parts)))``, computed without building a
    ``UUID`` object (a few per message; a test checks it against ``uuid.uuid5``)."""
    name = "/".join([p if type(p) is str else str(p) for p in parts])
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode(), usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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


class DeliverySent(EventData):
    """The channel accepted one outbound event (one API call): its ``message_token``
    (``channel_message_id``) is what the channel's later ``delivered``/``seen``
    callbacks carry, so a mailing's producer can count its deliveries. Published by the
    gateway in the same write that records the batch as sent."""

    type: ClassVar[str] = "delivery.sent"
    channel: Channel
    outbound_event_id: str
    channel_message_id: str
    lane: str
    receivers: int
    failed: int = 0
    at: datetime


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
    # a picture sent with the text (staff mailings, issue 9); a gateway that cannot show
    # one yet sends the text alone (the notifier then also puts the link in the text)
    media_url: str | None = None


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
    registered_at: datetime | None = None  # segments: registered before/after (S7)


class ResidentRegistered(ResidentSnapshot):
    type: ClassVar[str] = "resident.registered"


class ResidentUpdated(ResidentSnapshot):
    type: ClassVar[str] = "resident.updated"


class ResidentDeleted(EventData):
    type: ClassVar[str] = "resident.deleted"
    resident_id: str
    channels: list[ChannelAddress] = Field(default_factory=list)


class AudienceResyncRequested(EventData):
    """A command to the dialog (which owns residents): publish ``resident.updated`` for
    every resident (or those in ``resident_ids``), so a projection started late or
    rebuilt from scratch (the notifier's audience) misses nobody. ``requested_by`` names
    the service; the dialog answers each request id once."""

    type: ClassVar[str] = "audience.resync_requested"
    requested_by: str
    resident_ids: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------- tickets
# Requests to the Contact Center (P1, C2, C6, S1, S2, S6). ``ticket_id`` is ours (issued
# by the dialog when the resident sends the request); ``service_request_id`` is the
# contact center's number, known once it registered the request (Open311).


class TicketStatus(StrEnum):
    """Resident-facing status groups. contactcenter-sync maps the Open311 statuses
    (``open``/``closed``) and FixMyStreet's richer vocabulary onto these; a value it does
    not know becomes ``unknown`` (the raw value travels in ``raw_status``). Catalog:
    ``ticket_status.<value>``."""

    submitted = "submitted"  # stored by us, not yet registered by the contact center
    open = "open"  # registered, not yet being worked on
    in_progress = "in_progress"
    action_scheduled = "action_scheduled"
    investigating = "investigating"
    fixed = "fixed"
    closed = "closed"
    duplicate = "duplicate"
    not_responsible = "not_responsible"  # not_councils_responsibility
    no_further_action = "no_further_action"
    cancelled = "cancelled"
    reopened = "reopened"
    rejected = "rejected"  # the contact center refused it (Open311 4xx)
    unknown = "unknown"

    @property
    def final(self) -> bool:
        """The work is over: the resident is asked to rate it (P3, S1)."""
        return self in FINAL_TICKET_STATUSES


FINAL_TICKET_STATUSES = frozenset({
    TicketStatus.fixed, TicketStatus.closed, TicketStatus.duplicate, TicketStatus.not_responsible,
    TicketStatus.no_further_action, TicketStatus.cancelled,
})


class TicketLocation(BaseModel):
    """Where the problem is: a directory address (``key`` as ``ResidentAddress.key``,
    used to spot a duplicate request), a pin (``lat``/``long``), or both.
    ``address_string`` is what goes to Open311 (readable, with the settlement)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    address_string: str | None = None
    lat: float | None = None
    long: float | None = None
    address_id: str | None = None
    settlement_id: str | None = None
    street_id: str | None = None
    house: str | None = None
    apartment: str | None = None
    key: str | None = None


class TicketContact(BaseModel):
    """The resident's name and phone sent with the request (S6). Personal data: never log."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    email: str | None = None


class TicketSubmitted(EventData):
    """The resident sent a request (dialog → contactcenter-sync, and the dialog's own
    projection). contactcenter-sync stores it before calling the contact center."""

    type: ClassVar[str] = "ticket.submitted"
    ticket_id: str
    resident_id: str
    service_code: str
    service_name: str
    description: str = Field(max_length=4000)
    location: TicketLocation
    media_urls: list[str] = Field(default_factory=list)
    #: Open311 ``attribute[code]``: one value, or several for a multivaluelist
    attributes: dict[str, str | list[str]] = Field(default_factory=dict)
    contact: TicketContact = TicketContact()
    submitted_at: datetime


class TicketEvent(EventData):
    """Base of what contactcenter-sync reports about one ticket."""

    ticket_id: str
    resident_id: str
    service_name: str
    service_request_id: str | None = None
    at: datetime


class TicketRegistered(TicketEvent):
    """The contact center registered the request: its number (and maybe a deadline)."""

    type: ClassVar[str] = "ticket.registered"
    service_request_id: str
    expected_at: datetime | None = None
    service_notice: str | None = None


class TicketRejected(TicketEvent):
    """The contact center refused the request (Open311 400/403/404 with an error body):
    the resident is told why and may fix it and send again (the dialog)."""

    type: ClassVar[str] = "ticket.rejected"
    http_status: int
    code: str | None = None
    reason: str | None = None  # the contact center's description, as it wrote it


class TicketStatusChanged(TicketEvent):
    """One status update, de-duplicated by ``update_id`` (one notice per change)."""

    type: ClassVar[str] = "ticket.status_changed"
    service_request_id: str
    update_id: str
    status: TicketStatus
    raw_status: str
    notes: str | None = None  # the contact center's own words (the outcome on closing)
    previous_status: TicketStatus | None = None


class TicketDeadlineChanged(TicketEvent):
    """``expected_datetime`` first set (``previous_expected_at`` empty) or moved (C6)."""

    type: ClassVar[str] = "ticket.deadline_changed"
    service_request_id: str
    expected_at: datetime
    previous_expected_at: datetime | None = None


class TicketDeadlineReminder(TicketEvent):
    """The deadline is near and the request is still open (C6)."""

    type: ClassVar[str] = "ticket.deadline_reminder"
    service_request_id: str
    expected_at: datetime


class TicketOverdue(TicketEvent):
    """The deadline passed and the request is still open (C6)."""

    type: ClassVar[str] = "ticket.overdue"
    service_request_id: str
    expected_at: datetime


class TicketRated(EventData):
    """The resident rated completed work (P3, S1); ``reopen`` asks the contact center to
    reopen it (offered for a rating of 1–2). dialog → contactcenter-sync."""

    type: ClassVar[str] = "ticket.rated"
    ticket_id: str
    resident_id: str
    service_request_id: str | None = None
    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=1000)
    reopen: bool = False
    at: datetime


class ServiceValue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    name: str


class ServiceAttribute(BaseModel):
    """One extra question of a category (Open311 service definition attribute)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str
    variable: bool = True
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool = False
    datatype_description: str | None = None
    order: int = 0
    description: str
    values: list[ServiceValue] = Field(default_factory=list)


class ServiceInfo(BaseModel):
    """A category residents choose from (Open311 service) with its definition."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    service_code: str
    service_name: str
    description: str | None = None
    group: str | None = None
    keywords: list[str] = Field(default_factory=list)
    type: str = "realtime"
    attributes: list[ServiceAttribute] = Field(default_factory=list)


class ContactCenterServices(EventData):
    """The contact center's whole service list with definitions (S2, S8), published by
    contactcenter-sync when it changes and on request; the dialog keeps the latest."""

    type: ClassVar[str] = "contactcenter.services"
    services: list[ServiceInfo]
    fetched_at: datetime


# --------------------------------------------------------------------------- outages
# Planned and emergency outages (P2, C1, S3), published by admin (staff) or
# contactcenter-sync (the contact center's feed). Every event carries the whole outage
# as it now is (a snapshot with a growing ``revision``), so a consumer needs no history.


class OutageKind(StrEnum):
    planned = "planned"
    emergency = "emergency"


class Utility(StrEnum):
    cold_water = "cold_water"
    hot_water = "hot_water"
    heating = "heating"
    electricity = "electricity"
    gas = "gas"
    sewerage = "sewerage"
    other = "other"


class OutageState(StrEnum):
    active = "active"  # published: planned (not started yet) or under way
    resolved = "resolved"
    cancelled = "cancelled"


class OutageAddress(BaseModel):
    """One street of an outage. ``houses`` empty = the whole street. ``spec`` is the
    staff's house list as written (``2-20 парні``), ``houses`` what it expands to
    (canonical numbers, :func:`chatbot_common.directory.parse_house`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    street_id: str
    street_name: str
    spec: str = ""
    houses: list[str] = Field(default_factory=list)


class OutageSnapshot(EventData):
    outage_id: str
    revision: int = Field(ge=1)
    source: Literal["admin", "contactcenter"] = "admin"
    external_id: str | None = None  # the contact center's id (S3 feed)
    kind: OutageKind
    utility: Utility
    settlement_id: str
    city_wide: bool = False
    addresses: list[OutageAddress] = Field(default_factory=list)
    starts_at: datetime
    ends_at: datetime
    description: str = ""
    contact_phone: str | None = None
    state: OutageState = OutageState.active
    #: for ``outage.updated``: which fields changed (``ends_at``, ``description``…)
    changed: list[str] = Field(default_factory=list)
    at: datetime

    def keys(self) -> set[str]:
        """Address keys this outage affects (``ResidentAddress.key`` form; a whole
        street as ``<settlement>|<street>|*``). Empty for a city-wide outage."""
        from .directory import address_key, street_key

        keys: set[str] = set()
        for a in self.addresses:
            if a.houses:
                keys.update(address_key(self.settlement_id, a.street_id, h) for h in a.houses)
            else:
                keys.add(street_key(self.settlement_id, a.street_id))
        return keys


class OutagePublished(OutageSnapshot):
    type: ClassVar[str] = "outage.published"


class OutageUpdated(OutageSnapshot):
    type: ClassVar[str] = "outage.updated"


class OutageResolved(OutageSnapshot):
    type: ClassVar[str] = "outage.resolved"


class OutageCancelled(OutageSnapshot):
    type: ClassVar[str] = "outage.cancelled"


class MailingProgress(EventData):
    """Progress of one mailing (an outage notice, a staff mailing…), notifier → admin.
    Figures are totals so far (idempotent: the latest wins by ``at``)."""

    type: ClassVar[str] = "mailing.progress"
    mailing_id: str
    subject: Literal["outage", "mailing", "survey", "greeting"]
    subject_id: str
    targeted: int = 0
    sent: int = 0
    delivered: int = 0
    seen: int = 0
    failed: int = 0
    unreachable: int = 0
    done: bool = False
    at: datetime


# --------------------------------------------------------------------------- operator chat
# Live chat with a Contact Center operator (P4, issue 11). The dialog owns the resident's
# side (chat mode, what they typed); contactcenter-sync bridges to the contact center's
# chat (Chatwoot's API channel, docs/operator-chat.md). ``chat_id`` is ours, one per chat
# session, issued by the dialog.


class ChatMessageKind(StrEnum):
    text = "text"
    picture = "picture"
    location = "location"
    contact = "contact"
    file = "file"


class ChatRequested(EventData):
    """The resident asked for an operator (dialog → contactcenter-sync). ``note`` is the
    private note for the operator: the last bot exchanges and the resident's open
    requests, so the operator doesn't ask again. Name and phone per S6: never log."""

    type: ClassVar[str] = "chat.requested"
    chat_id: str
    resident_id: str
    name: str | None = None
    phone: str | None = None
    note: str = ""
    at: datetime


class ChatResidentMessage(EventData):
    """One thing the resident wrote in a chat, in order (``seq`` from 1 per chat)."""

    type: ClassVar[str] = "chat.resident_message"
    chat_id: str
    resident_id: str
    message_id: str  # deterministic from the inbound event
    seq: int = Field(ge=1)
    kind: ChatMessageKind = ChatMessageKind.text
    text: str | None = None
    media_url: str | None = None
    lat: float | None = None
    lon: float | None = None
    at: datetime


class ChatEndRequested(EventData):
    """The resident ended the chat («Завершити чат») or went quiet too long."""

    type: ClassVar[str] = "chat.end_requested"
    chat_id: str
    resident_id: str
    reason: Literal["resident", "idle"] = "resident"
    at: datetime


class ChatRated(EventData):
    type: ClassVar[str] = "chat.rated"
    chat_id: str
    resident_id: str
    rating: int = Field(ge=1, le=5)
    at: datetime


class ChatOpened(EventData):
    """The contact center has the conversation: the resident is in the queue."""

    type: ClassVar[str] = "chat.opened"
    chat_id: str
    resident_id: str
    conversation_id: str
    at: datetime


class ChatDeclined(EventData):
    """No chat now: outside working hours (``opens_at`` = when operators are there),
    the contact center unavailable, or chat not configured."""

    type: ClassVar[str] = "chat.declined"
    chat_id: str
    resident_id: str
    reason: Literal["outside_hours", "unavailable", "disabled"]
    opens_at: datetime | None = None
    at: datetime


class ChatOperatorMessage(EventData):
    """An operator's answer to relay to the resident (never a private note, never the
    bridge's own echo, each contact-center message once)."""

    type: ClassVar[str] = "chat.operator_message"
    chat_id: str
    resident_id: str
    message_id: str
    operator_name: str | None = None
    text: str | None = None
    attachments: list[str] = Field(default_factory=list)
    at: datetime


class ChatUnanswered(EventData):
    """No operator answered within the configured time: tell the resident, offer a
    request or a call (the chat stays open)."""

    type: ClassVar[str] = "chat.unanswered"
    chat_id: str
    resident_id: str
    at: datetime


class ChatUndelivered(EventData):
    """What the resident wrote could not be delivered to the contact center (it was down
    past the retry budget): the dialog tells them plainly."""

    type: ClassVar[str] = "chat.undelivered"
    chat_id: str
    resident_id: str
    message_ids: list[str] = Field(default_factory=list)
    at: datetime


class ChatClosed(EventData):
    """The chat is over: the operator resolved it, the resident ended it, or it idled out.
    After ``by="operator"`` the dialog asks the resident to rate the chat."""

    type: ClassVar[str] = "chat.closed"
    chat_id: str
    resident_id: str
    by: Literal["operator", "resident", "idle"]
    at: datetime


# --------------------------------------------------------------------------- questions (C3)


class FaqLink(BaseModel):
    """An open-url button under an answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = Field(min_length=1, max_length=40)
    url: str = Field(pattern=r"^https?://")


class FaqEntry(BaseModel):
    """One knowledge-base entry (docs/faq.md): the canonical question, other phrasings,
    the answer (formal «Ви», ≤ 1000 characters), topic, phones, links and, optionally,
    the one settlement it is for."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    topic: str = Field(min_length=1, max_length=64)
    question: str = Field(min_length=3, max_length=200)
    phrasings: list[str] = Field(default_factory=list)
    answer: str = Field(min_length=1, max_length=1000)
    phones: list[str] = Field(default_factory=list)
    links: list[FaqLink] = Field(default_factory=list, max_length=3)
    keywords: list[str] = Field(default_factory=list)
    settlement: str | None = None


class FaqChanged(EventData):
    """Staff changed the knowledge base (admin ``/api/v1/faq``) → the dialog. ``entry``
    is the whole entry after the change, ``None`` when it was deleted. ``revision``
    grows with every change of one entry: the dialog keeps the highest it saw, so
    replays and late arrivals change nothing."""

    type: ClassVar[str] = "faq.changed"
    entry_id: str
    revision: int = Field(ge=1)
    entry: FaqEntry | None = None
    at: datetime
    changed_by: str | None = None  # staff account id, for the audit trail


class FaqFeedback(EventData):
    """A question the dialog could not answer, or a verdict on an answer (👍/👎). No
    personal data: ``question`` has phones, e-mails and names removed, and no resident
    id travels. The dialog keeps these for staff (docs/faq.md)."""

    type: ClassVar[str] = "faq.feedback"
    verdict: Literal["unanswered", "helpful", "not_helpful"]
    question: str | None = None
    entry_id: str | None = None
    suggestions: list[str] = Field(default_factory=list)
    score: float | None = None
    settlement_id: str | None = None
    at: datetime


class InfoSectionItem(BaseModel):
    """One section of the useful information (C11): a button that opens a text, or a
    menu of subsections. ``parent_id`` None = top level; siblings in list order."""

    id: str
    title: str
    text: str = ""
    parent_id: str | None = None


class InfoLinkItem(BaseModel):
    """An open-url button (C7): the city's website, apps…"""

    id: str
    label: str
    url: str


class InfoChanged(EventData):
    """Staff changed the useful information or the links (admin ``/api/v1/info``) → the
    dialog. The whole content after the change (sections flat, parents before their
    children, in display order; links in order). ``revision`` grows with every change:
    the dialog keeps the highest it saw, so replays and late arrivals change nothing."""

    type: ClassVar[str] = "info.changed"
    revision: int = Field(ge=1)
    sections: list[InfoSectionItem] = Field(default_factory=list)
    links: list[InfoLinkItem] = Field(default_factory=list)
    at: datetime
    changed_by: str | None = None  # staff account id, for the audit trail


# --------------------------------------------------------------------------- staff mailings and greetings
# Issue 9 (C9, S7): staff compose a message for a segment in the admin panel; the notifier
# resolves the segment to resident ids from its audience projection — never to channel
# ids — and sends it like an outage notice (one per resident, ≤ 300-receiver batches on
# the bulk lane, mailing.progress). Residents who chose «no notices» get no mailing or
# greeting; unsubscribed and deleted residents get nothing.


class SegmentStreet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    settlement_id: str
    street_id: str
    houses: list[str] = Field(default_factory=list)  # empty: the whole street


class Segment(BaseModel):
    """Who a mailing is for. Every list that is empty does not filter; all the filters
    given must hold (AND)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    settlement_ids: list[str] = Field(default_factory=list)
    streets: list[SegmentStreet] = Field(default_factory=list)  # one of the resident's addresses on one of them
    notify_scopes: list[NotifyScope] = Field(default_factory=list)  # ``none`` is never reached anyway
    channels: list[Channel] = Field(default_factory=list)
    registered_after: datetime | None = None
    registered_before: datetime | None = None
    has_open_request: bool | None = None
    answered_survey_id: str | None = None


class MailingRequested(EventData):
    """A staff mailing (admin → notifier): sent at ``send_at`` (now when empty)."""

    type: ClassVar[str] = "mailing.requested"
    mailing_id: str
    text: str = Field(min_length=1, max_length=7000)
    image_url: str | None = None
    link_label: str | None = Field(default=None, max_length=40)
    link_url: str | None = None
    segment: Segment = Segment()
    send_at: datetime | None = None
    requested_by: str
    at: datetime


class MailingCancelled(EventData):
    """Staff cancelled a scheduled mailing (nothing is sent if it has not started; a
    mailing already under way stops before its next batch)."""

    type: ClassVar[str] = "mailing.cancelled"
    mailing_id: str
    at: datetime


class GreetingEvent(BaseModel):
    """A staff-defined day (e.g. the City Day): ``text`` to ``segment`` on ``date`` at
    ``send_time`` (Europe/Kyiv)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event_id: str
    date: str  # ISO date
    send_time: str = "10:00"  # HH:MM, Europe/Kyiv
    text: str = Field(min_length=1, max_length=7000)
    segment: Segment = Segment()
    cancelled: bool = False


class GreetingsConfigured(EventData):
    """The whole greetings configuration as staff left it (admin → notifier; the highest
    ``revision`` wins): the birthday greeting (C9; 29 February → 28 February in other
    years) and the staff-defined days."""

    type: ClassVar[str] = "greeting.configured"
    revision: int = Field(ge=1)
    birthday_enabled: bool = False
    birthday_text: str = ""
    birthday_time: str = "10:00"  # HH:MM, Europe/Kyiv
    events: list[GreetingEvent] = Field(default_factory=list)
    at: datetime


# --------------------------------------------------------------------------- surveys
# Issue 9 (C8): staff build a survey in the admin panel for a segment; the notifier sends
# the invitation (one per resident) when it starts; residents answer in the dialog
# («📊 Опитування», or the invitation's button) — one answer per resident per survey,
# resumable; the admin counts the answers.


class SurveyQuestionKind(StrEnum):
    single = "single"  # one of the options
    multiple = "multiple"  # any of the options
    scale = "scale"  # 1–5
    text = "text"  # free text


class SurveyOption(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    label: str = Field(min_length=1, max_length=40)  # a button


class SurveyQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    question_id: str
    kind: SurveyQuestionKind
    text: str = Field(min_length=1, max_length=1000)
    options: list[SurveyOption] = Field(default_factory=list)  # single / multiple
    required: bool = True


class SurveyState(StrEnum):
    scheduled = "scheduled"  # published, starts later
    active = "active"
    closed = "closed"  # ended (its end passed, or staff closed it)
    cancelled = "cancelled"


class SurveyPublished(EventData):
    """The whole survey as it now is (admin → notifier, dialog; the highest revision wins).
    Published once when staff publish it and again on every change of state."""

    type: ClassVar[str] = "survey.published"
    survey_id: str
    revision: int = Field(ge=1)
    title: str = Field(min_length=1, max_length=200)
    intro: str = Field(default="", max_length=2000)
    questions: list[SurveyQuestion] = Field(min_length=1)
    segment: Segment = Segment()
    starts_at: datetime
    ends_at: datetime
    state: SurveyState = SurveyState.scheduled
    at: datetime


class SurveyAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    question_id: str
    options: list[str] = Field(default_factory=list)  # keys (single: one)
    scale: int | None = Field(default=None, ge=1, le=5)
    text: str | None = Field(default=None, max_length=2000)


class SurveyAnswered(EventData):
    """A resident finished a survey (dialog → admin, notifier): one per resident per
    survey (the event id is derived from both). ``resident_id`` lets the notifier build
    the «answered a survey» segment; the admin counts answers without personal data."""

    type: ClassVar[str] = "survey.answered"
    survey_id: str
    resident_id: str
    answers: list[SurveyAnswer]
    at: datetime


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
        DeliverySent,
        OutboundMessage,
        ResidentRegistered,
        ResidentUpdated,
        ResidentDeleted,
        AudienceResyncRequested,
        TicketSubmitted,
        TicketRegistered,
        TicketRejected,
        TicketStatusChanged,
        TicketDeadlineChanged,
        TicketDeadlineReminder,
        TicketOverdue,
        TicketRated,
        ContactCenterServices,
        OutagePublished,
        OutageUpdated,
        OutageResolved,
        OutageCancelled,
        MailingProgress,
        ChatRequested,
        ChatResidentMessage,
        ChatEndRequested,
        ChatRated,
        ChatOpened,
        ChatDeclined,
        ChatOperatorMessage,
        ChatUnanswered,
        ChatUndelivered,
        ChatClosed,
        FaqChanged,
        FaqFeedback,
        InfoChanged,
        MailingRequested,
        MailingCancelled,
        GreetingsConfigured,
        SurveyPublished,
        SurveyAnswered,
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
