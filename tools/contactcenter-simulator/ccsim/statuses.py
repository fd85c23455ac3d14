"""Status vocabulary: Open311's open/closed plus FixMyStreet's richer update statuses.

A request record (``requests.json``) carries only ``open`` or ``closed`` (the schema's
enum); the detailed status travels in ``servicerequestupdates.json``. Statuses in
:data:`CLOSING` close the request; any other value (also ones not listed here, which the
control API accepts so tests can send "values nobody knows") leaves it open.
"""

from __future__ import annotations

import re

# Ukrainian labels for the operator page (the FixMyStreet vocabulary, in workflow order).
LABELS: dict[str, str] = {
    "open": "Відкрито",
    "investigating": "Перевіряється",
    "in_progress": "У роботі",
    "action_scheduled": "Роботи заплановано",
    "fixed": "Виконано",
    "closed": "Закрито",
    "duplicate": "Дублікат",
    "not_councils_responsibility": "Не належить до компетенції міста",
    "no_further_action": "Подальші дії не потрібні",
    "cancelled": "Скасовано",
    "reopen": "Відкрито повторно",
}

CLOSING = frozenset({"fixed", "closed", "duplicate", "not_councils_responsibility", "no_further_action", "cancelled"})
# Statuses the operator may pick when moving an open request along.
MOVE_CHOICES = ("open", "investigating", "in_progress", "action_scheduled", "reopen")
# Statuses that finish a request with an outcome.
CLOSE_CHOICES = ("fixed", "closed", "no_further_action", "not_councils_responsibility", "duplicate", "cancelled")

_STATUS_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def valid_status(value: str) -> bool:
    """A status word: lower-case letters, digits and underscores, starting with a letter."""
    return bool(_STATUS_RE.match(value))


def is_closing(status: str) -> bool:
    return status in CLOSING


def label(status: str) -> str:
    """The Ukrainian label, or the raw value for statuses nobody knows."""
    return LABELS.get(status, status)
