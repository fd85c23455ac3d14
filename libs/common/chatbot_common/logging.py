"""structlog JSON logs carrying service, event id, correlation id and resident id.

Personal data never reaches a log in clear: values under personal keys are replaced
and phone numbers inside any string are masked (architecture: observability).
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

PERSONAL_KEYS = frozenset(
    {"phone", "phone_number", "name", "first_name", "last_name", "text", "contact_name",
     "display_name", "address", "birth_date", "body", "message_text"}
)
_PHONE = re.compile(r"(?<!\d)(?:\+?38)?0\d{2}[\s\-()]*\d{3}[\s\-]*\d{2}[\s\-]*\d{2}(?!\d)")
REDACTED = "[redacted]"


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return _PHONE.sub("[phone]", value)
    if isinstance(value, dict):
        return {k: (REDACTED if k in PERSONAL_KEYS else redact_value(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    return value


#: How much of a (non-pydantic) exception's message reaches the log.
MAX_ERROR_MESSAGE = 120


def describe_error(exc: BaseException) -> str:
    """An error for the log without the data that caused it: pydantic's messages quote
    the input (a resident's text, name or phone), so only locations and kinds are kept.
    Any other exception: its class and the first ``MAX_ERROR_MESSAGE`` characters of its
    message with phone numbers masked — enough to tell what broke, too short to carry a
    document's worth of personal data."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['type']}" for e in exc.errors(include_input=False)]
        return f"{exc.error_count()} validation error(s): " + "; ".join(parts[:10])
    # Mask first, then cut: a phone number cut in half would no longer match the mask.
    return f"{type(exc).__name__}: {redact_value(str(exc))[:MAX_ERROR_MESSAGE]}"


def redact_personal_data(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask personal fields and phone numbers everywhere."""
    for key, value in list(event_dict.items()):
        if key in PERSONAL_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact_value(value)
    return event_dict


def configure_logging(service: str, level: str = "INFO", fmt: str = "json", stream: Any = None) -> None:
    stream = stream or sys.stderr
    logging.basicConfig(format="%(message)s", stream=stream, level=level.upper(), force=True)
    for noisy in ("aio_pika", "aiormq", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    renderer: Any = structlog.processors.JSONRenderer(ensure_ascii=False) if fmt == "json" else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_personal_data,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(**initial: Any) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(**initial)
