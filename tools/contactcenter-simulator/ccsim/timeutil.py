"""Time helpers: UTC inside, Europe/Kyiv on the wire and on the page, ISO-8601 with offset."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

KYIV = ZoneInfo("Europe/Kyiv")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(value: datetime | None) -> str | None:
    """ISO-8601 in Kyiv time with its offset, to the second (e.g. ``2026-11-29T04:19:28+02:00``).

    Stored instants keep microseconds; the wire value is truncated, so a client that
    passes a seen value back as ``updated_after`` may see an item again (overlap, which
    it de-duplicates) but never misses one.
    """
    if value is None:
        return None
    return value.astimezone(KYIV).replace(microsecond=0).isoformat()


def parse_iso(text: str) -> datetime:
    """Parse an ISO-8601 instant; a value without offset is Kyiv time.

    A ``+`` that arrived unescaped in a query string (decoded as a space) is restored.
    Raises ``ValueError`` for anything else.
    """
    raw = text.strip()
    if not raw:
        raise ValueError("empty date")
    if " " in raw and "T" in raw:
        raw = raw.replace(" ", "+")
    value = datetime.fromisoformat(raw)
    if value.tzinfo is None:
        value = value.replace(tzinfo=KYIV)
    return value.astimezone(timezone.utc)


def kyiv_text(value: datetime | None) -> str:
    """``дд.мм.рррр ГГ:ХХ`` in Kyiv time for the operator page ('—' when unset)."""
    if value is None:
        return "—"
    return value.astimezone(KYIV).strftime("%d.%m.%Y %H:%M")
