"""Who a segment holds for (S7): one rule for the notifier (who gets a staff mailing,
a greeting day, a survey invitation) and the dialog (who sees a survey).

Every filter given must hold (AND): a resident who chose «no notices» is in no segment;
settlements are theirs or an address's; streets need one of their addresses (the houses
listed, or any house when none is); one of the notify scopes; an identity on one of the
channels; registered at or after ``registered_after`` and before ``registered_before``
(an unknown registration time never matches either); an open request or none; answered
the survey ``answered_survey_id``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from .directory import address_key, parse_house, street_key
from .events import NotifyScope, Segment


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _street_of(key: str) -> str:
    """``<settlement>|<street>|<house>`` → the whole street's key ``<settlement>|<street>|*``."""
    return key.rsplit("|", 1)[0] + "|*"


class SegmentRule:
    """A segment's filters, prepared once to test many residents."""

    def __init__(self, segment: Segment) -> None:
        self.segment = segment
        self.settlements = frozenset(segment.settlement_ids)
        self.scopes = frozenset(s.value for s in segment.notify_scopes)
        self.channels = frozenset(c.value for c in segment.channels)
        self.after = _aware(segment.registered_after)
        self.before = _aware(segment.registered_before)
        houses: set[str] = set()
        streets: set[str] = set()
        for street in segment.streets:
            if street.houses:
                houses |= {address_key(street.settlement_id, street.street_id, parse_house(h) or h.strip()).lower()
                           for h in street.houses}
            else:
                streets.add(street_key(street.settlement_id, street.street_id).lower())
        self.house_keys = frozenset(houses)
        self.street_keys = frozenset(streets)

    def holds(self, *, notify: str, settlements: Collection[str], keys: Collection[str] | None,
              channels: Collection[str], registered_at: datetime | None,
              has_open_request: bool | None = None, answered: bool | None = None) -> bool:
        """Whether the segment holds for one resident. ``keys`` are their address keys
        (lower case); ``None`` when the caller already chose residents on the segment's
        streets. ``has_open_request`` / ``answered`` are needed only when the segment
        filters on them (absent then: no match)."""
        segment = self.segment
        if notify == NotifyScope.none.value:
            return False
        if self.settlements and self.settlements.isdisjoint(settlements):
            return False
        if segment.streets and keys is not None:
            if self.house_keys.isdisjoint(keys) and self.street_keys.isdisjoint(_street_of(k) for k in keys):
                return False
        if self.scopes and notify not in self.scopes:
            return False
        if self.channels and self.channels.isdisjoint(channels):
            return False
        registered = _aware(registered_at)
        if self.after is not None and (registered is None or registered < self.after):
            return False
        if self.before is not None and (registered is None or registered >= self.before):
            return False
        if segment.has_open_request is not None and has_open_request != segment.has_open_request:
            return False
        return segment.answered_survey_id is None or bool(answered)
