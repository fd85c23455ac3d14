"""The lanes render an outbound event's validated ``data`` directly (no second
validation): it must give exactly what rendering the typed message gives."""

from __future__ import annotations

import pytest

from chatbot_common.events import Button, ButtonAction, OutboundMessage, make_event
from gateway.render import render_data, render_message

BUTTONS = [
    Button(label="✅ Погоджуюсь", code="consent:yes", columns=3),
    Button(label="📱 Номер", code="phone:share", action=ButtonAction.share_phone, columns=3),
    Button(label="📍 Де я", code="loc:pick", action=ButtonAction.location),
    Button(label="🌐 <Сайт>", code="link:site", action=ButtonAction.open_url, url="https://example.gov.ua/"),
    Button(label="Без адреси", code="link:none", action=ButtonAction.open_url),
]


@pytest.mark.parametrize("buttons", [[], BUTTONS[:1], BUTTONS, [BUTTONS[3]]], ids=["none", "reply", "all", "url"])
@pytest.mark.parametrize("tracking", [None, "step:phone"])
@pytest.mark.parametrize("avatar", [None, "https://example.gov.ua/a.png"])
def test_rendering_event_data_equals_rendering_the_message(buttons, tracking, avatar):
    message = OutboundMessage(receivers=["u"], text="Привіт", buttons=buttons, tracking_data=tracking)
    data = make_event(message, source="test").data
    expected = render_message(message, sender_name="Контактний центр міста", sender_avatar=avatar)
    assert render_data(data, sender_name="Контактний центр міста", sender_avatar=avatar) == expected


def test_rendering_data_without_the_optional_fields_uses_the_models_defaults():
    data = {"receivers": ["u"], "text": "Т", "buttons": [{"label": "Так", "code": "yes"}]}
    message = OutboundMessage.model_validate(data)
    assert render_data(data, sender_name="Бот") == render_message(message, sender_name="Бот")


def test_a_message_with_a_picture_is_a_viber_picture_message_with_its_caption():
    message = OutboundMessage(receivers=["u"], text="День міста!", media_url="https://example.gov.ua/day.jpg",
                              buttons=BUTTONS[:1])
    body = render_data(make_event(message, source="test").data, sender_name="Бот")
    assert (body["type"], body["media"], body["text"]) == ("picture", "https://example.gov.ua/day.jpg", "День міста!")
    assert body["keyboard"]["Buttons"][0]["ActionBody"] == "consent:yes"
    assert body == render_message(message, sender_name="Бот")


def test_a_picture_whose_text_is_longer_than_vibers_caption_goes_as_text():
    """Viber takes at most 768 characters with a picture: a longer text is sent as a text
    message (the producer keeps the picture's link in it), never cut."""
    text = "ї" * 769
    message = OutboundMessage(receivers=["u"], text=text, media_url="https://example.gov.ua/day.jpg")
    body = render_message(message, sender_name="Бот")
    assert (body["type"], body["text"]) == ("text", text) and "media" not in body
