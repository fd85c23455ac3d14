"""Phone numbers as residents type or share them, normalised to ``+380XXXXXXXXX``.

The contact center identifies a person by phone and S7 links channel identities by it,
so every number we keep must have one canonical spelling whatever the resident typed:
``0671234567``, ``(067) 123-45-67``, ``+38 067 123 45 67`` are the same number.
"""

from __future__ import annotations

import re

_ALLOWED = re.compile(r"^[\d\s().+\-]+$")
#: Ukrainian subscriber numbers have nine digits after the trunk ``0`` / country ``380``.
_NATIONAL_DIGITS = 9


def normalise_phone(raw: str | None) -> str | None:
    """The number as ``+380XXXXXXXXX``, or ``None`` when it is not a Ukrainian number.

    Accepted: ``+380…``/``380…`` (12 digits), ``0…`` (10 digits), the old ``80…``
    (11 digits) and ``+38 0…``; separators (spaces, dashes, dots, brackets) are ignored.
    Letters, other country codes and wrong lengths are refused.
    """
    if not raw:
        return None
    text = raw.strip()
    if not text or not _ALLOWED.match(text) or text.count("+") > 1 or "+" in text[1:]:
        return None
    digits = re.sub(r"\D", "", text)
    national: str | None = None
    if len(digits) == 12 and digits.startswith("380"):
        national = digits[3:]
    elif text.startswith("+"):
        return None  # any other international prefix is not Ukrainian
    elif len(digits) == 10 and digits.startswith("0"):
        national = digits[1:]
    elif len(digits) == 11 and digits.startswith("80"):
        national = digits[2:]
    if national is None or len(national) != _NATIONAL_DIGITS or national.startswith("0"):
        return None
    return f"+380{national}"


def display_phone(phone: str) -> str:
    """``+380671234567`` → ``+380 67 123 45 67`` for the profile screen."""
    if len(phone) == 13 and phone.startswith("+380"):
        n = phone[4:]
        return f"+380 {n[:2]} {n[2:5]} {n[5:7]} {n[7:]}"
    return phone
