"""Routing keys: derived in one place, from the event's data."""

from __future__ import annotations

import pytest

from chatbot_common import events
from chatbot_common.events import (
    Channel,
    DeliverySeen,
    Lane,
    OutboundMessage,
    derived_id,
    make_event,
    routing_key,
    utcnow,
)


@pytest.mark.parametrize("channel", list(Channel))
@pytest.mark.parametrize("lane", list(Lane))
def test_outbound_routing_key_is_outbound_channel_lane_from_the_data(channel, lane):
    event = make_event(OutboundMessage(channel=channel, lane=lane, receivers=["u"], text="t"), source="test")
    assert routing_key(event) == f"outbound.{channel.value}.{lane.value}"


def test_a_telegram_message_is_never_routed_to_the_viber_queues():
    event = make_event(OutboundMessage(channel=Channel.telegram, lane=Lane.bulk, receivers=["u"], text="t"),
                       source="test")
    assert not routing_key(event).startswith("outbound.viber")


def test_outbound_routing_key_defaults_are_the_models_defaults():
    event = make_event(OutboundMessage(receivers=["u"], text="t"), source="test")
    event.data.pop("channel", None)
    event.data.pop("lane", None)
    assert routing_key(event) == "outbound.viber.reply"


def test_other_events_are_routed_by_their_type():
    seen = DeliverySeen(channel=Channel.viber, channel_user_id="u", channel_message_id="1", at=utcnow())
    assert routing_key(make_event(seen, source="test")) == "delivery.seen"


def test_the_outbound_model_has_no_second_routing_key_derivation():
    assert not hasattr(OutboundMessage, "routing_key")
    assert events.routing_key is routing_key


def test_an_outbound_message_for_an_unknown_channel_is_refused_at_the_publisher():
    event = make_event(OutboundMessage(receivers=["u"], text="t"), source="test")
    event.data["channel"] = "carrier-pigeon"
    with pytest.raises(ValueError):
        routing_key(event)


@pytest.mark.parametrize("parts", [
    ("viber-callback", "message:5429366191458497000"),
    ("3f8cd794-3bfa-54ab-8ce7-077e59fe8b8d", "reply", 0),
    ("survey", "s-1", "r-5e0d2d716c0d5cca83f1845f588d8b88", "survey.answered"),
    (1, 2.5, None, True),
    ("Проскурівська", "✅ 🔗"),
    ("",),
    (),
])
def test_derived_id_is_the_uuid5_of_the_joined_parts(parts):
    """Ids already in stores and inboxes must not change: ``derived_id`` computes the
    very uuid5 that ``uuid.uuid5`` gives (version 5, RFC 4122 variant)."""
    import uuid

    from chatbot_common.events import EVENT_NAMESPACE

    expected = uuid.uuid5(EVENT_NAMESPACE, "/".join(str(p) for p in parts))
    got = derived_id(*parts)
    assert got == str(expected)
    assert uuid.UUID(got).version == 5
