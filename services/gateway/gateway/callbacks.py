"""Viber callback shapes and their translation into channel-agnostic events.

Only this module knows Viber's callback JSON; everything it returns speaks of
``channel`` + ``channel_user_id`` (architecture: downstream is channel-agnostic).
Unknown extra fields are ignored (Viber adds fields over time); a missing required
field or an unknown ``event`` is a malformed callback (→ 400).

:func:`parse` turns the raw (already verified) body into a callback. It raises
``ValueError`` (not JSON, not UTF-8, ``NaN``/``Infinity``, a number too big for a float
or an int), ``RecursionError`` (nesting deeper than Python's JSON parser goes) or
``ValidationError`` (not a callback): all of them a malformed callback. **Decision:** a
lone UTF-16 surrogate (``"\\ud800"`` in JSON, or its raw UTF-8-style bytes) can't be
encoded in any event we publish, but it is no reason to lose a resident's message: it
is replaced with U+FFFD (�), as a browser would, and the rest of the text kept.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from chatbot_common.events import (
    Channel,
    ChannelUser,
    DeliveryDelivered,
    DeliveryFailed,
    DeliverySeen,
    EventData,
    InboundContent,
    InboundConversationStarted,
    InboundMessage,
    InboundSubscribed,
    InboundUnsubscribed,
    MessageKind,
)


class _Viber(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ViberUser(_Viber):
    id: str = Field(min_length=1)
    name: str | None = None
    avatar: str | None = None
    country: str | None = None
    language: str | None = None
    api_version: int | None = None

    def neutral(self) -> ChannelUser:
        return ChannelUser(name=self.name, language=self.language, country=self.country, api_version=self.api_version)


class ViberLocation(_Viber):
    lat: float
    lon: float


class ViberContact(_Viber):
    name: str | None = None
    phone_number: str | None = None


class ViberMessage(_Viber):
    type: str
    text: str | None = None
    media: str | None = None
    location: ViberLocation | None = None
    contact: ViberContact | None = None
    tracking_data: str | None = None
    file_name: str | None = None
    sticker_id: int | None = None


#: Epoch milliseconds a ``datetime`` can hold (years 1970–9999). Anything else would
#: make ``datetime.fromtimestamp`` raise while normalising: a malformed callback (400).
MAX_TIMESTAMP_MS = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp() * 1000)
Timestamp = Annotated[int, Field(ge=0, le=MAX_TIMESTAMP_MS)]


class _Callback(_Viber):
    timestamp: Timestamp
    message_token: int


class WebhookCallback(_Callback):
    event: Literal["webhook"]
    # Not turned into an event, so any number will do (Viber's own signature test
    # vector has a timestamp far beyond year 9999).
    timestamp: int


class ConversationStartedCallback(_Callback):
    event: Literal["conversation_started"]
    user: ViberUser
    type: str | None = None
    context: str | None = None
    subscribed: bool = False


class SubscribedCallback(_Callback):
    event: Literal["subscribed"]
    user: ViberUser


class UnsubscribedCallback(_Callback):
    event: Literal["unsubscribed"]
    user_id: str = Field(min_length=1)


class MessageCallback(_Callback):
    event: Literal["message"]
    sender: ViberUser
    message: ViberMessage
    silent: bool | None = None


class ReceiptCallback(_Callback):
    event: Literal["delivered", "seen"]
    user_id: str = Field(min_length=1)


class FailedCallback(_Callback):
    event: Literal["failed"]
    user_id: str = Field(min_length=1)
    desc: str | None = None


Callback = Annotated[
    WebhookCallback
    | ConversationStartedCallback
    | SubscribedCallback
    | UnsubscribedCallback
    | MessageCallback
    | ReceiptCallback
    | FailedCallback,
    Field(discriminator="event"),
]
CALLBACK = TypeAdapter(Callback)

_KINDS = {k.value: k for k in MessageKind}
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _clean(text: str) -> str:
    # json.loads has already joined every proper surrogate pair into one character:
    # any surrogate left is a lone one.
    return text if text.isascii() else _LONE_SURROGATE.sub("\ufffd", text)


def replace_lone_surrogates(value: object) -> object:
    """``value`` (decoded JSON) with every lone surrogate, in keys and strings at any
    depth, replaced by U+FFFD. Iterative: the depth json.loads allowed costs no stack
    here. Containers are changed in place (they are fresh from json.loads)."""
    if isinstance(value, str):
        return _clean(value)
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            for i, item in enumerate(node):
                if isinstance(item, str):
                    node[i] = _clean(item)
                elif isinstance(item, list | dict):
                    stack.append(item)
        elif isinstance(node, dict):
            for key, item in list(node.items()):
                if isinstance(item, str):
                    item = _clean(item)
                elif isinstance(item, list | dict):
                    stack.append(item)
                clean_key = _clean(key)
                if clean_key != key:
                    del node[key]
                node[clean_key] = item
    return value


def parse(body: bytes) -> Callback:  # type: ignore[valid-type]
    """The callback in a raw body (see the module docstring for what it raises)."""
    decoded = json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    return CALLBACK.validate_python(replace_lone_surrogates(decoded))


def _when(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def content_of(message: ViberMessage) -> InboundContent:
    kind = _KINDS.get(message.type, MessageKind.other)
    return InboundContent(
        kind=kind,
        text=message.text,
        phone=message.contact.phone_number if message.contact else None,
        contact_name=message.contact.name if message.contact else None,
        lat=message.location.lat if message.location else None,
        lon=message.location.lon if message.location else None,
        media_url=message.media,
        file_name=message.file_name,
        tracking_data=message.tracking_data,
    )


def normalise(cb: Callback) -> EventData | None:  # type: ignore[valid-type]
    """The channel-agnostic event for a callback; ``None`` for ``webhook``."""
    viber = Channel.viber
    token = str(cb.message_token)
    match cb:
        case WebhookCallback():
            return None
        case ConversationStartedCallback():
            return InboundConversationStarted(
                channel=viber, channel_user_id=cb.user.id, channel_message_id=token, sent_at=_when(cb.timestamp),
                user=cb.user.neutral(), context=cb.context, subscribed=cb.subscribed,
            )
        case SubscribedCallback():
            return InboundSubscribed(
                channel=viber, channel_user_id=cb.user.id, channel_message_id=token, sent_at=_when(cb.timestamp),
                user=cb.user.neutral(),
            )
        case UnsubscribedCallback():
            return InboundUnsubscribed(
                channel=viber, channel_user_id=cb.user_id, channel_message_id=token, sent_at=_when(cb.timestamp)
            )
        case MessageCallback():
            return InboundMessage(
                channel=viber, channel_user_id=cb.sender.id, channel_message_id=token, sent_at=_when(cb.timestamp),
                user=cb.sender.neutral(), content=content_of(cb.message),
            )
        case ReceiptCallback(event="delivered"):
            return DeliveryDelivered(channel=viber, channel_user_id=cb.user_id, channel_message_id=token, at=_when(cb.timestamp))
        case ReceiptCallback():
            return DeliverySeen(channel=viber, channel_user_id=cb.user_id, channel_message_id=token, at=_when(cb.timestamp))
        case FailedCallback():
            return DeliveryFailed(
                channel=viber, channel_user_id=cb.user_id, channel_message_id=token, at=_when(cb.timestamp),
                reason=cb.desc or "failed",
            )
    raise AssertionError(f"unhandled callback {cb!r}")
