"""Render a channel-neutral outbound message as Viber ``send_message`` JSON.

Buttons become a keyboard (``Type: keyboard``); ``share-phone`` and
``location-picker`` need ``min_api_version`` 3 (viber-api.md). The visible label is
only ``Text``; ``ActionBody`` carries the stable code the dialog understands.

The lanes render straight from an event's ``data`` (:func:`render_data`): the bus has
validated it against :class:`OutboundMessage` before the handler runs, so it is not
validated a second time; absent optional fields take the model's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from chatbot_common.events import Button, ButtonAction, OutboundMessage

BUTTON_BG = "#f2f2f7"
NEEDS_API_3 = frozenset({ButtonAction.share_phone.value, ButtonAction.location.value})
_OPEN_URL = ButtonAction.open_url.value
_REPLY = ButtonAction.reply.value
# The model's defaults, for buttons given as (validated) JSON without them.
_DEFAULT_ACTION = Button.model_fields["action"].default.value
_DEFAULT_COLUMNS = Button.model_fields["columns"].default


def _button(label: str, code: str, action: str, url: str | None, columns: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Columns": columns,
        "Rows": 1,
        "ActionType": action,
        "ActionBody": url if action == _OPEN_URL and url else code,
        "Text": escape(label, quote=False),
        "TextSize": "regular",
        "BgColor": BUTTON_BG,
    }
    if action == _OPEN_URL:
        body["OpenURLType"] = "external"
    if action == _REPLY:
        # The tap sends the machine code (``consent:yes``) as the resident's message;
        # Silent keeps that code out of the resident's chat.
        body["Silent"] = True
    return body


def render_button(button: Button) -> dict[str, Any]:
    return _button(button.label, button.code, button.action.value, button.url, button.columns)


def _button_data(button: Mapping[str, Any]) -> dict[str, Any]:
    return _button(button["label"], button["code"], button.get("action") or _DEFAULT_ACTION, button.get("url"),
                   button.get("columns") or _DEFAULT_COLUMNS)


def _keyboard(buttons: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Type": "keyboard", "DefaultHeight": False, "InputFieldState": "regular", "Buttons": buttons}


def render_keyboard(buttons: list[Button]) -> dict[str, Any]:
    return _keyboard([render_button(b) for b in buttons])


#: Viber's limit on a picture message's text (viber-api.md); a longer text goes as a
#: text message (the producer keeps the picture's link in it).
PICTURE_TEXT_MAX = 768


def _body(text: str, buttons: list[dict[str, Any]], sender_name: str, sender_avatar: str | None,
          tracking_data: str | None, media_url: str | None = None) -> dict[str, Any]:
    sender: dict[str, Any] = {"name": sender_name[:28]}
    if sender_avatar:
        sender["avatar"] = sender_avatar
    if media_url and len(text) <= PICTURE_TEXT_MAX:
        # One event, one Viber call: the picture with the text as its caption.
        body: dict[str, Any] = {"type": "picture", "media": media_url, "text": text, "sender": sender}
    else:
        body = {"type": "text", "text": text, "sender": sender}
    if buttons:
        body["keyboard"] = _keyboard(buttons)
        body["min_api_version"] = 3 if any(b["ActionType"] in NEEDS_API_3 for b in buttons) else 1
    if tracking_data:
        body["tracking_data"] = tracking_data
    return body


def render_text(
    text: str, buttons: Sequence[Button], *, sender_name: str, sender_avatar: str | None = None,
    tracking_data: str | None = None,
) -> dict[str, Any]:
    """A text message body without ``receiver``/``broadcast_list`` (added by the caller)."""
    return _body(text, [render_button(b) for b in buttons], sender_name, sender_avatar, tracking_data)


def render_message(message: OutboundMessage, *, sender_name: str, sender_avatar: str | None = None) -> dict[str, Any]:
    return _body(message.text, [render_button(b) for b in message.buttons], sender_name, sender_avatar,
                 message.tracking_data, message.media_url)


def render_data(data: Mapping[str, Any], *, sender_name: str, sender_avatar: str | None = None) -> dict[str, Any]:
    """:func:`render_message` of an outbound event's ``data`` as the bus validated it
    (JSON: enums as their values, optional fields possibly absent)."""
    return _body(data["text"], [_button_data(b) for b in data.get("buttons") or ()], sender_name, sender_avatar,
                 data.get("tracking_data"), data.get("media_url"))
