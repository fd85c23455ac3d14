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
