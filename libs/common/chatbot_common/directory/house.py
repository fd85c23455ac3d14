"""House and apartment numbers as residents type them.

Outage matching compares address keys, so ``12-А``, ``12 а`` and ``12а`` must be one
house, and ``12 к.2`` the same as ``12 корпус 2``. We keep one canonical spelling:
``12а``, ``12/1``, ``12 корп. 2``.
"""

from __future__ import annotations

import re

#: Highest house number we accept: Ukrainian streets rarely pass a few hundred.
MAX_HOUSE = 999
MAX_APARTMENT = 9999

_LATIN_LOOKALIKES = str.maketrans({"a": "а", "e": "е", "i": "і", "o": "о", "c": "с", "k": "к", "x": "х", "p": "р"})
_LETTER = "[а-яіїєґ]"
_HOUSE = re.compile(
    rf"""^(?P<num>\d{{1,6}})
        (?:\s*-?\s*(?P<letter>{_LETTER}))?
        (?:\s*/\s*(?P<fraction>\d{{1,3}}{_LETTER}?))?
        (?:\s*,?\s*(?:корпус|корп\.?|к\.?)\s*(?P<block>\d{{1,2}}))?$""",
    re.VERBOSE,
)
_HOUSE_PREFIX = re.compile(r"^(?:будинок|буд\.?|б\.|№)\s*")
_APARTMENT = re.compile(rf"^(?P<num>\d{{1,6}})\s*-?\s*(?P<letter>{_LETTER})?$")
_APARTMENT_PREFIX = re.compile(r"^(?:квартира|кв\.?|№)\s*")


def _prepare(raw: str) -> str:
    text = raw.strip().lower().translate(_LATIN_LOOKALIKES)
    return " ".join(text.replace("№", "№ ").split())


def parse_house(raw: str | None) -> str | None:
    """Canonical house number, or ``None`` when it is not one (``0``, ``999999``, ``абв``)."""
    if not raw:
        return None
    text = _HOUSE_PREFIX.sub("", _prepare(raw))
    m = _HOUSE.match(text)
    if not m:
        return None
    number = int(m["num"])
    if not 1 <= number <= MAX_HOUSE:
        return None
    house = f"{number}{m['letter'] or ''}"
    if m["fraction"]:
        fraction = m["fraction"]
        if int(re.sub(r"\D", "", fraction)) == 0:
            return None
        house += f"/{fraction}"
    if m["block"]:
        if int(m["block"]) == 0:
            return None
        house += f" корп. {int(m['block'])}"
    return house


def parse_apartment(raw: str | None) -> str | None:
    """Canonical apartment number (``5``, ``12а``), or ``None`` when it is not one."""
    if not raw:
        return None
    text = _APARTMENT_PREFIX.sub("", _prepare(raw))
    m = _APARTMENT.match(text)
    if not m or not 1 <= int(m["num"]) <= MAX_APARTMENT:
        return None
    return f"{int(m['num'])}{m['letter'] or ''}"


def address_key(settlement_id: str, street_id: str, house: str) -> str:
    """What outage matching compares (``ResidentAddress.key``): one definition for the
    dialog (residents' addresses), admin (outage addresses) and notifier (matching).
    ``house`` is canonical (:func:`parse_house`)."""
    return f"{settlement_id}|{street_id}|{house.lower()}"


def street_key(settlement_id: str, street_id: str) -> str:
    """The key of a whole street (an outage with no house list covers every house)."""
    return f"{settlement_id}|{street_id}|*"
