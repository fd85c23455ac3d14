"""The notifier's own view of the residents (S7, C1): the audience projection.

Fed by ``resident.registered`` / ``resident.updated`` / ``resident.deleted`` (queue
``notifier.residents``). One document per resident in the collection ``audience``
(``_id`` = resident id) holds what mailings need — never a name or a phone:

``receiver`` (the one channel address a mailing goes to), ``settlement_id``,
``settlements`` (that and every address's), ``keys`` (address keys), ``notify``,
``subscribed``, ``deleted``, ``birth_date``, ``channels`` (the channel names the
resident is subscribed on; segments), ``registered_at`` (segments), ``at`` (the time of the event that wrote
it: an older event never overwrites a newer one, and a deleted resident stays a
tombstone so a late ``resident.updated`` cannot bring it back) and ``updated_at`` (when
it was written: how other replicas' in-memory indexes catch up).

Matching runs against :class:`AudienceIndex`, an in-memory index of the *eligible*
residents (subscribed, not deleted, notify ≠ none) by address key, by street and by
settlement, so one outage against 300 000 residents is a few set unions (milliseconds),
not a scan. The index is loaded from the collection at start and kept current by the
handler; before each match :meth:`Audience.refresh` reads what other replicas wrote since
(documents whose ``updated_at`` is newer than the last refresh less an overlap).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Any

import structlog

from chatbot_common.directory import address_key, parse_house, street_key
from chatbot_common.events import (
    Channel,
    EventData,
    NotifyScope,
    OutageSnapshot,
    ResidentDeleted,
    ResidentSnapshot,
    Segment,
    utcnow,
)
from chatbot_common.segments import SegmentRule
from chatbot_common.store import Store

log = structlog.get_logger("notifier.audience")
COLLECTION = "audience"
#: Documents written up to this long before the last refresh are read again (clocks of
#: replicas and in-flight writes).
REFRESH_OVERLAP = timedelta(seconds=60)


def pick_receiver(channels: Iterable[Any]) -> str | None:
    """The one address a message to this resident goes to: the first Viber identity in
    the snapshot's ``channels``. The dialog lists only *subscribed* identities there, in
    the order they joined the resident (the first app, then linked ones); the only
    outbound gateway is Viber's, so a resident reachable on no Viber identity is
    *unreachable* (counted, never sent)."""
    for ch in channels:
        channel = ch["channel"] if isinstance(ch, dict) else ch.channel
        user = ch["channel_user_id"] if isinstance(ch, dict) else ch.channel_user_id
        if Channel(channel) == Channel.viber:
            return str(user)
    return None


def street_of(key: str) -> str:
    """``s|st|h`` → ``s|st|*`` (the whole-street key the address falls under)."""
    settlement, street, _house = key.split("|", 2)
    return f"{settlement}|{street}|*"


def document_of(data: ResidentSnapshot, at: datetime) -> dict[str, Any]:
    settlements = {a.settlement_id for a in data.addresses}
    if data.settlement_id:
        settlements.add(data.settlement_id)
    return {
        "receiver": pick_receiver(data.channels),
        "settlement_id": data.settlement_id,
        "settlements": sorted(settlements),
        "keys": sorted({a.key.lower() for a in data.addresses}),
        "notify": data.notify.value,
        "subscribed": data.subscribed,
        "deleted": False,
        "birth_date": data.birth_date,
        "channels": sorted({Channel(ch.channel).value for ch in data.channels}),
        "registered_at": data.registered_at,
        "at": at,
    }


@dataclass(slots=True, frozen=True)
class Entry:
    """One eligible resident in the index."""

    receiver: str | None
    notify: str
    keys: tuple[str, ...]
    settlements: tuple[str, ...]
    channels: tuple[str, ...] = ()
    registered_at: datetime | None = None
    birthday: str | None = None  # "MM-DD"


def birthday_of(birth_date: Any) -> str | None:
    """``YYYY-MM-DD`` → ``MM-DD``; anything else (missing, malformed) → ``None``."""
    if not isinstance(birth_date, str):
        return None
    try:
        day = date.fromisoformat(birth_date.strip()[:10])
    except ValueError:
        return None
    return f"{day.month:02d}-{day.day:02d}"


def aware(moment: Any) -> datetime | None:
    """A stored time as an aware UTC datetime (BSON gives naive UTC back)."""
    if not isinstance(moment, datetime):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def eligible(doc: dict[str, Any]) -> bool:
    return bool(doc.get("subscribed")) and not doc.get("deleted") and doc.get("notify") != NotifyScope.none.value


class AudienceIndex:
    """Eligible residents by address key, by street (``s|st|*``), and by settlement
    (``city``: those who chose the whole settlement; ``anyone``: everyone eligible
    there, for a city-wide outage)."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.by_key: dict[str, set[str]] = {}
        self.by_street: dict[str, set[str]] = {}
        self.city: dict[str, set[str]] = {}
        self.anyone: dict[str, set[str]] = {}
        #: the addresses of eligible residents who did NOT choose "my address" (segments
        #: match every eligible resident's addresses: ``by_key``/``by_street`` + these)
        self.other_key: dict[str, set[str]] = {}
        self.other_street: dict[str, set[str]] = {}
        #: ``MM-DD`` → eligible residents born that day (greetings)
        self.by_birthday: dict[str, set[str]] = {}
        self._channel_sets: dict[tuple[str, ...], tuple[str, ...]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    @staticmethod
    def _add(table: dict[str, set[str]], key: str, rid: str) -> None:
        bucket = table.get(key)
        if bucket is None:
            table[key] = {rid}
        else:
            bucket.add(rid)

    @staticmethod
    def _drop(table: dict[str, set[str]], key: str, rid: str) -> None:
        bucket = table.get(key)
        if bucket is not None:
            bucket.discard(rid)
            if not bucket:
                del table[key]

    def remove(self, rid: str) -> None:
        entry = self.entries.pop(rid, None)
        if entry is None:
            return
        if entry.notify == NotifyScope.address.value:
            for key in entry.keys:
                self._drop(self.by_key, key, rid)
                self._drop(self.by_street, street_of(key), rid)
        else:
            for key in entry.keys:
                self._drop(self.other_key, key, rid)
                self._drop(self.other_street, street_of(key), rid)
        if entry.birthday is not None:
            self._drop(self.by_birthday, entry.birthday, rid)
        if entry.notify == NotifyScope.city.value:
            for s in entry.settlements:
                self._drop(self.city, s, rid)
        for s in entry.settlements:
            self._drop(self.anyone, s, rid)

    def put(self, rid: str, doc: dict[str, Any]) -> None:
        """Index (or re-index) one resident from its projection document."""
        self.remove(rid)
        if not eligible(doc):
            return
        intern = sys.intern
        keys = tuple(intern(k) for k in doc.get("keys") or ())
        settlements = tuple(intern(s) for s in doc.get("settlements") or ())
        channels = tuple(sorted(doc.get("channels") or ()))
        channels = self._channel_sets.setdefault(channels, channels)  # a few distinct tuples, shared
        birthday = birthday_of(doc.get("birth_date"))
        entry = Entry(doc.get("receiver"), intern(doc["notify"]), keys, settlements, channels,
                      aware(doc.get("registered_at")), intern(birthday) if birthday else None)
        self.entries[rid] = entry
        if entry.notify == NotifyScope.address.value:
            for key in keys:
                self._add(self.by_key, key, rid)
                self._add(self.by_street, intern(street_of(key)), rid)
        else:
            for key in keys:
                self._add(self.other_key, key, rid)
                self._add(self.other_street, intern(street_of(key)), rid)
        if entry.birthday is not None:
            self._add(self.by_birthday, entry.birthday, rid)
        if entry.notify == NotifyScope.city.value:
            for s in settlements:
                self._add(self.city, s, rid)
        for s in settlements:
            self._add(self.anyone, s, rid)

    def match(self, outage: OutageSnapshot) -> set[str]:
        """Resident ids in the outage's audience: subscribed, not deleted, notify ≠ none,
        and an address key affected (``s|st|h`` matches ``s|st|h`` or ``s|st|*``) for
        "my address", the same settlement for "whole city", or any eligible resident of
        the settlement when the outage is city-wide."""
        settlement = outage.settlement_id
        if outage.city_wide:
            return set(self.anyone.get(settlement, ()))
        found: set[str] = set(self.city.get(settlement, ()))
        for key in outage.keys():
            bucket = (self.by_street if key.endswith("|*") else self.by_key).get(key.lower())
            if bucket:
                found |= bucket
        return found

    def match_segment(self, segment: Segment, open_requests: set[str] | None = None,
                      answered: set[str] | None = None) -> set[str]:
        """Resident ids in a staff mailing's segment (S7): eligible (subscribed, not
        deleted, notify ≠ none) and every filter given holds — one of the settlements
        (theirs or an address's); an address on one of the streets (the houses listed,
        or any house when none is); one of the notify scopes; an identity on one of the
        channels; registered at or after ``registered_after`` and before
        ``registered_before`` (an unknown registration time never matches either); an
        open request or none (``open_requests``: resident ids with an open request,
        needed when ``has_open_request`` is set); answered the survey
        ``answered_survey_id`` (``answered``: the resident ids who answered it, needed
        when it is set — without them nobody matches)."""
        if segment.answered_survey_id is not None and answered is None:
            return set()
        scopes = {s.value for s in segment.notify_scopes} - {NotifyScope.none.value}
        if segment.notify_scopes and not scopes:
            return set()
        settlements = set(segment.settlement_ids)
        if segment.streets:
            found: set[str] = set()
            for street in segment.streets:
                if street.houses:
                    for house in street.houses:
                        key = address_key(street.settlement_id, street.street_id,
                                          parse_house(house) or house.strip()).lower()
                        found |= self.by_key.get(key, set()) | self.other_key.get(key, set())
                else:
                    key = street_key(street.settlement_id, street.street_id).lower()
                    found |= self.by_street.get(key, set()) | self.other_street.get(key, set())
        elif settlements:
            found = set()
            for s in settlements:
                found |= self.anyone.get(s, set())
            settlements = set()  # already holds
        elif segment.answered_survey_id is not None and answered is not None:
            found = {rid for rid in answered if rid in self.entries}
        elif segment.has_open_request and open_requests is not None:
            found = {rid for rid in open_requests if rid in self.entries}
        else:
            found = set(self.entries)
        if not (settlements or scopes or segment.channels or segment.registered_after or segment.registered_before
                or segment.has_open_request is not None or segment.answered_survey_id is not None):
            return found
        rule = SegmentRule(segment)
        entries = self.entries
        wants_open = segment.has_open_request is not None
        wants_answer = segment.answered_survey_id is not None
        return {rid for rid in found if rule.holds(
            notify=entries[rid].notify, settlements=entries[rid].settlements, keys=None,
            channels=entries[rid].channels, registered_at=entries[rid].registered_at,
            has_open_request=(rid in (open_requests or ())) if wants_open else None,
            answered=(rid in (answered or ())) if wants_answer else None)}

    def born_on(self, days: Iterable[str]) -> set[str]:
        """Eligible residents whose birthday (``MM-DD``) is one of ``days``."""
        found: set[str] = set()
        for day in days:
            found |= self.by_birthday.get(day, set())
        return found

    def eligible(self, rids: Iterable[str]) -> list[tuple[str, str | None]]:
        """``(resident id, receiver)`` of those ``rids`` still eligible, sorted by id."""
        entries = self.entries
        return [(rid, entries[rid].receiver) for rid in sorted(set(rids)) if rid in entries]

    def recipients(self, rids: set[str]) -> list[tuple[str, str | None]]:
        """``(resident id, receiver)`` sorted by resident id (a stable batch order).

        A large audience is collected by walking the index in its own order and then
        sorted, rather than looked up id by id in sorted order: the lookups jump all over
        memory (300 000 residents: 640 ms, the walk and sort 230 ms — the first call of a
        city-wide mailing goes that much sooner). A small one is looked up."""
        entries = self.entries
        if len(rids) * 8 < len(entries):
            return [(rid, entries[rid].receiver) for rid in sorted(rids)]
        found = [(rid, entry.receiver) for rid, entry in entries.items() if rid in rids]
        found.sort(key=itemgetter(0))
        return found


class Audience:
    """The projection (collection ``audience``) and its in-memory index."""

    def __init__(self, store: Store) -> None:
        self.collection = store[COLLECTION]
        self.index = AudienceIndex()
        self._refreshed_at: datetime | None = None

    async def setup(self) -> None:
        await self.collection.create_index("updated_at")

    async def load(self) -> int:
        """(Re)build the index from the whole projection (at start)."""
        self.index = AudienceIndex()
        started = utcnow()
        async for doc in self.collection.find({}):
            self.index.put(doc["_id"], doc)
        self._refreshed_at = started
        log.info("audience.loaded", residents=len(self.index))
        return len(self.index)

    async def refresh(self) -> int:
        """Read what was written since the last refresh (by any replica)."""
        if self._refreshed_at is None:
            return await self.load()
        started = utcnow()
        count = 0
        async for doc in self.collection.find({"updated_at": {"$gte": self._refreshed_at - REFRESH_OVERLAP}}):
            self.index.put(doc["_id"], doc)
            count += 1
        self._refreshed_at = started
        return count

    async def is_empty(self) -> bool:
        return await self.collection.find_one({}, {"_id": 1}) is None

    async def apply(self, data: EventData, at: datetime) -> bool:
        """Apply one resident event; ``False`` when an event at least as new was
        applied already (a redelivery or an older event arriving late)."""
        if isinstance(data, ResidentDeleted):
            doc: dict[str, Any] = {"deleted": True, "subscribed": False, "receiver": None, "keys": [],
                                   "settlements": [], "birth_date": None, "channels": [], "registered_at": None,
                                   "at": at}
        elif isinstance(data, ResidentSnapshot):
            doc = document_of(data, at)
        else:
            raise TypeError(f"not a resident event: {type(data).__name__}")
        rid = data.resident_id
        doc["updated_at"] = utcnow()
        # Conditional on ``at``: newer-or-equal events win; an older one changes nothing.
        result = await self.collection.update_one(
            {"_id": rid, "$or": [{"at": {"$lte": at}}, {"at": {"$exists": False}}]}, {"$set": doc}
        )
        if result.matched_count == 0:
            from pymongo.errors import DuplicateKeyError

            try:
                await self.collection.insert_one({"_id": rid, **doc})
            except DuplicateKeyError:
                return False  # a newer event is there already
        self.index.put(rid, doc)
        return True
