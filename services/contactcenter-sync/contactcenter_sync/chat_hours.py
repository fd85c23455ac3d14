"""Operators' working hours (``CHAT_WORKING_HOURS``, ``CHAT_HOLIDAYS``), local time.

Syntax: rules separated by ``;``, each ``<days> <HH:MM>-<HH:MM>[, <HH:MM>-<HH:MM>…]``;
days are ``mon tue wed thu fri sat sun``, a range ``mon-fri`` or a list ``sat,sun``.
Example: ``mon-fri 08:00-20:00; sat 09:00-15:00``. ``24:00`` ends a day. Empty = always
open. Holidays (ISO dates, comma or space separated) are closed all day. A bad value is
refused at start with a message that names it (no silent "always open").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RULE = re.compile(r"^\s*(?P<days>[a-z,\-\s]+?)\s+(?P<spans>\d.*)$")
_SPAN = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


def _days(text: str) -> set[int]:
    found: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if "-" in part:
            first, last = part.split("-", 1)
            a, b = DAYS.index(first), DAYS.index(last)
            found.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        else:
            found.add(DAYS.index(part))
    return found


def _minutes(hours: str, minutes: str) -> int:
    value = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or value > 24 * 60:
        raise ValueError(f"{hours}:{minutes}")
    return value


@dataclass(frozen=True)
class WorkingHours:
    #: weekday (0 = Monday) → [(start minute, end minute)]
    spans: dict[int, tuple[tuple[int, int], ...]]
    holidays: frozenset[date]
    zone: ZoneInfo

    @classmethod
    def parse(cls, hours: str, holidays: str = "", zone: str = "Europe/Kyiv") -> WorkingHours:
        spans: dict[int, list[tuple[int, int]]] = {}
        for rule in filter(None, (r.strip().lower() for r in hours.split(";"))):
            match = _RULE.match(rule)
            try:
                if match is None:
                    raise ValueError(rule)
                days = _days(match["days"])
                for span in match["spans"].split(","):
                    m = _SPAN.match(span.strip())
                    if m is None:
                        raise ValueError(span)
                    start, end = _minutes(m[1], m[2]), _minutes(m[3], m[4])
                    if start >= end:
                        raise ValueError(span)
                    for day in days:
                        spans.setdefault(day, []).append((start, end))
            except ValueError:
                raise ValueError(f"CHAT_WORKING_HOURS: cannot read {rule!r} "
                                 "(expected e.g. 'mon-fri 08:00-20:00; sat 09:00-15:00')") from None
        days_off: set[date] = set()
        for item in re.split(r"[,\s]+", holidays.strip()):
            if item:
                try:
                    days_off.add(date.fromisoformat(item))
                except ValueError:
                    raise ValueError(f"CHAT_HOLIDAYS: {item!r} is not an ISO date (YYYY-MM-DD)") from None
        return cls({d: tuple(sorted(s)) for d, s in spans.items()}, frozenset(days_off), ZoneInfo(zone))

    @property
    def always(self) -> bool:
        return not self.spans and not self.holidays

    def _day_spans(self, day: date) -> tuple[tuple[int, int], ...]:
        if day in self.holidays:
            return ()
        if not self.spans:
            return ((0, 24 * 60),)
        return self.spans.get(day.weekday(), ())

    def opens_at(self, now: datetime) -> datetime | None:
        """``None`` when operators are there at ``now``; else the next opening (aware, in
        the configured zone); ``None`` too when nothing opens within a year… which a
        caller treats as closed with no known time: see :meth:`is_open`."""
        local = now.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        for offset in range(0, 370):
            day = local.date() + timedelta(days=offset)
            for start, end in self._day_spans(day):
                if offset == 0 and start <= minute < end:
                    return None
                if offset > 0 or start > minute:
                    return datetime.combine(day, time(start // 60, start % 60), self.zone)
        return None

    def is_open(self, now: datetime) -> bool:
        if self.always:
            return True
        local = now.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self._day_spans(local.date()))
