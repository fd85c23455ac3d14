"""Checks of free-text answers that are not addresses: names and birth dates."""

from __future__ import annotations

import re
from datetime import date

MAX_NAME = 60
_NAME_PUNCTUATION = set(" -'’ʼ.")
_DATE = re.compile(r"^(\d{1,2})[.\-/ ](\d{1,2})[.\-/ ](\d{4})$")
#: Oldest age we accept: a typo like 1825 instead of 1985 should be caught.
MAX_AGE = 120


def clean_name(raw: str) -> str | None:
    """The name with single spaces, or ``None`` when it is not a name: empty, too long,
    emoji only, digits or symbols."""
    name = " ".join(raw.split())
    if not 2 <= len(name) <= MAX_NAME:
        return None
    if sum(ch.isalpha() for ch in name) < 2:
        return None
    if not all(ch.isalpha() or ch in _NAME_PUNCTUATION for ch in name):
        return None
    return name


def parse_birth_date(raw: str, today: date) -> date | None:
    """``дд.мм.рррр`` (also with ``/``, ``-`` or spaces); a real date, not in the future,
    not more than :data:`MAX_AGE` years ago."""
    m = _DATE.match(raw.strip())
    if not m:
        return None
    day, month, year = (int(part) for part in m.groups())
    try:
        born = date(year, month, day)
    except ValueError:
        return None
    if born > today or year < today.year - MAX_AGE:
        return None
    return born


def display_date(iso: str) -> str:
    """``1985-12-05`` → ``05.12.1985`` (G3)."""
    return date.fromisoformat(iso).strftime("%d.%m.%Y")
