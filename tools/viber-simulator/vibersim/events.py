"""Builders for the callback bodies Viber POSTs to a bot's webhook.

Field names follow Viber's documentation so the official SDK's ``create_request``
parses every one of them.
"""

from __future__ import annotations

from typing import Any

from .state import SimState
from .tokens import chat_hostname, timestamp_ms
from .users import User

Event = dict[str, Any]


def _base(state: SimState, event: str) -> Event:
    return {
        "event": event,
        "timestamp": timestamp_ms(state.now()),
        "chat_hostname": chat_hostname(),
        "message_token": state.new_token(),
    }


def webhook(state: SimState) -> Event:
    """The check Viber sends when a webhook is being set."""
    return _base(state, "webhook")


def conversation_started(state: SimState, user: User, context: str | None = None) -> Event:
    """The user opened the chat (the only moment a welcome message may be answered)."""
    event = _base(state, "conversation_started")
    event.update({"type": "open", "user": user.profile(), "subscribed": user.subscribed})
    if context is not None:
        event["context"] = context
    return event


def message(state: SimState, user: User, content: dict[str, Any]) -> Event:
    """A message from the user; carries the bot's last ``tracking_data`` back, as Viber does."""
    body = dict(content)
    if user.tracking_data is not None and "tracking_data" not in body:
        body["tracking_data"] = user.tracking_data
    event = _base(state, "message")
    event.update({"sender": user.profile(), "message": body, "silent": False})
    return event


def subscribed(state: SimState, user: User) -> Event:
    """The user subscribed to the bot."""
    event = _base(state, "subscribed")
    event["user"] = user.profile()
    return event


def unsubscribed(state: SimState, user: User) -> Event:
    """The user unsubscribed; only the id is sent."""
    event = _base(state, "unsubscribed")
    event["user_id"] = user.id
    return event


def delivered(state: SimState, user_id: str, message_token: int) -> Event:
    """Receipt for a message the bot sent (same token as the send answer)."""
    event = _base(state, "delivered")
    event.update({"message_token": message_token, "user_id": user_id})
    return event


def failed(state: SimState, user_id: str, message_token: int, desc: str) -> Event:
    """A message accepted with status 0 that could not be delivered after all."""
    event = _base(state, "failed")
    event.update({"message_token": message_token, "user_id": user_id, "desc": desc})
    return event
