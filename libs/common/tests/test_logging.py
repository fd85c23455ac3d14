"""Logs never carry phone numbers, names or message texts in clear."""

from __future__ import annotations

import io
import json

import structlog

from chatbot_common.logging import configure_logging


def test_personal_fields_and_phone_numbers_are_redacted_in_json_logs():
    out = io.StringIO()
    configure_logging("test-service", "INFO", "json", stream=out)
    try:
        log = structlog.get_logger("test")
        with structlog.contextvars.bound_contextvars(event_id="e-1", correlationid="c-1"):
            log.info(
                "resident.said", name="Тарас Шевченко", phone="+380671234567", text="Мій номер 067 123 45 67",
                error="could not reach 0671234567 or +38 (067) 123-45-67",
                data={"contact_name": "Леся", "kind": "text"}, resident_id="r-123",
            )
    finally:
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
    line = out.getvalue().strip().splitlines()[-1]
    record = json.loads(line)
    assert record["service"] == "test-service"
    assert record["event_id"] == "e-1" and record["correlationid"] == "c-1"
    assert record["resident_id"] == "r-123"  # ids are fine: they are how support finds things
    for secret in ("Тарас", "Шевченко", "380671234567", "0671234567", "123 45 67", "123-45-67", "Леся", "Мій номер"):
        assert secret not in line
    assert record["data"]["kind"] == "text"


def test_validation_errors_are_logged_without_the_input_that_caused_them():
    from pydantic import ValidationError

    from chatbot_common.events import InboundMessage
    from chatbot_common.logging import describe_error

    try:
        InboundMessage.model_validate({"channel": "viber", "channel_user_id": "u", "channel_message_id": "1",
                                       "sent_at": "not a date", "content": {"kind": "text", "text": "Мене звати Тарас"},
                                       "user": {"name": "Тарас Шевченко", "age": 30}})
    except ValidationError as exc:
        described = describe_error(exc)
    assert "sent_at: datetime_from_date_parsing" in described
    assert "user.age: extra_forbidden" in described
    assert "Тарас" not in described


def test_other_errors_are_logged_as_class_and_a_short_masked_message():
    from chatbot_common.logging import MAX_ERROR_MESSAGE, describe_error

    described = describe_error(RuntimeError("call 0671234567 " + "x" * 200 + " Тарас Шевченко"))
    assert described.startswith("RuntimeError: call [phone] ")
    assert len(described) == len("RuntimeError: ") + MAX_ERROR_MESSAGE
    assert "Тарас" not in described and "0671234567" not in described


async def test_handler_failures_are_logged_without_the_events_data():
    from structlog.testing import capture_logs

    from chatbot_common.bus.base import Outcome, PermanentError, Subscription, run_handler
    from chatbot_common.events import InboundContent, InboundMessage, MessageKind, make_event, utcnow

    data = InboundMessage(channel="viber", channel_user_id="user-7", channel_message_id="1", sent_at=utcnow(),
                          user={"name": "Тарас Шевченко"},
                          content=InboundContent(kind=MessageKind.contact, phone="+380671234567",
                                                 contact_name="Леся Українка", text="Мене звати Тарас"))
    body = make_event(data, source="test").to_json()

    async def transient(event):
        raise RuntimeError("store unavailable " + "x" * 200 + event.data["user"]["name"])

    async def permanent(event):
        raise PermanentError(f"cannot reach {event.data['content']['phone']}")

    with capture_logs() as logs:
        assert await run_handler(Subscription("q", ["#"], transient, 1), body, 0, 5) == Outcome.REQUEUE
        assert await run_handler(Subscription("q", ["#"], permanent, 1), body, 0, 5) == Outcome.PARK
    assert [entry["event"] for entry in logs] == ["handler.failed", "handler.permanent_failure"]
    dump = repr(logs)
    for secret in ("Тарас", "Шевченко", "Леся", "380671234567", "Мене звати", "user-7"):
        assert secret not in dump, f"{secret!r} logged: {dump[:400]}"
    assert all("exc_info" not in entry for entry in logs)
