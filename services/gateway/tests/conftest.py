"""Gateway test helpers: the service's real log output, captured."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from chatbot_common.logging import configure_logging


class LogOutput:
    """Everything the service would write to its log stream: structlog's JSON lines and
    the standard library's lines (aiohttp's), as production configures them."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[str]:
        return [line for line in self.text.splitlines() if line.strip()]

    def records(self) -> list[dict[str, Any]]:
        """The JSON lines, decoded (a line that is not JSON is skipped)."""
        out = []
        for line in self.lines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r.get("event") == name]

    def tracebacks(self) -> int:
        """How many tracebacks were logged: plain ``Traceback`` lines (the standard
        library's) and JSON lines carrying one (structlog's ``exception`` field)."""
        count = 0
        for line in self.lines():
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if isinstance(record, dict):
                count += "exception" in record or "exc_info" in record or "Traceback (most" in line
            else:
                count += "Traceback (most recent call last)" in line
        return count

    def clear(self) -> None:
        self.stream.seek(0)
        self.stream.truncate()


@pytest.fixture
def service_log() -> Iterator[LogOutput]:
    """The gateway's logging as ``run_service`` configures it (JSON, INFO), into memory;
    the previous logging set-up is restored afterwards."""
    output = LogOutput()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    configure_logging("gateway", "INFO", "json", stream=output.stream)
    try:
        yield output
    finally:
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
