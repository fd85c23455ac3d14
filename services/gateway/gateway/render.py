"""Render a channel-neutral outbound message as Viber ``send_message`` JSON.

Buttons become a keyboard (``Type: keyboard``); ``share-phone`` and
``location-picker`` need ``min_api_version`` 3 (viber-api.md). The visible label is
only ``Text``; ``ActionBody`` carries the stable code the dialog understands.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from chatbot_common.events import Button, ButtonAction, OutboundMessage

BUTTON_BG = "#f2f2f7"
NEEDS_API_3 = {ButtonAction.share_phone, ButtonAction.location}


def render_button(button: Button) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Columns": button.columns,
        "Rows": 1,
        "ActionType": button.action.value,
        "ActionBody": button.url if button.action == ButtonAction.open_url and button.url else button.code,
        "Text": escape(button.label, quote=False),
        "TextSize": "regular",
        "BgColor": BUTTON_BG,
    }
    if button.action == ButtonAction.open_url:
        body["OpenURLType"] = "external"
    if button.action == ButtonAction.reply:
        # The tap sends the machine code (``consent:yes``) as the resident's message;
        # Silent keeps that code out of the resident's chat.
        body["Silent"] = True
    return body


def render_keyboard(buttons: list[Button]) -> dict[str, Any]:
    return {
        "Type": "keyboard",
        "DefaultHeight": False,
        "InputFieldState": "regular",
        "Buttons": [render_button(b) for b in buttons],
    }


def render_text(
    text: str, buttons: Sequence[Button], *, sender_name: str, sender_avatar: str | None = None,
    tracking_data: str | None = None,
) -> dict[str, Any]:
    """A text message body without ``receiver``/``broadcast_list`` (added by the caller)."""
    sender: dict[str, Any] = {"name": sender_name[:28]}
    if sender_avatar:
        sender["avatar"] = sender_avatar
    body: dict[str, Any] = {"type": "text", "text": text, "sender": sender}
    if buttons:
        body["keyboard"] = render_keyboard(list(buttons))
        body["min_api_version"] = 3 if any(b.action in NEEDS_API_3 for b in buttons) else 1
    if tracking_data:
        body["tracking_data"] = tracking_data
    return body


def render_message(message: OutboundMessage, *, sender_name: str, sender_avatar: str | None = None) -> dict[str, Any]:
    return render_text(message.text, message.buttons, sender_name=sender_name, sender_avatar=sender_avatar,
                       tracking_data=message.tracking_data)
