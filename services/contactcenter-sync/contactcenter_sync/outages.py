"""S3: the contact center's outage feed (``x-chatbot/v1/outages.json``) → ``outage.*``
snapshots with ``source="contactcenter"``.

Under the lease, every poll: ``GET x-chatbot/v1/outages.json?updated_after=<cursor −
overlap>``; 404 = the contact center does not offer the feed (logged once, asked again
at each services refresh). Each entry is mapped onto the community's directory
(``chatbot_common.directory``): the settlement by name (``match_settlement``), each
street by the street directory's matching, its house spec by ``parse_house_spec``. An
entry whose settlement or a street cannot be matched, whose house spec is wrong or which
has no end time is skipped — logged by its id and counted
(``chatbot_contactcenter_outages_total{outcome=…}``) — rather than published half right;
once the contact center corrects it, its new ``updated_datetime`` brings it back.

One document per imported outage (``outages``, ``_id`` = the contact center's id): the
snapshot as last published, its ``revision`` and the entry's ``updated_datetime``. A
change and its event are one write (outbox); a replayed entry (the overlap, a restart)
is recognised by its ``updated_datetime`` and by an unchanged snapshot, so it yields
nothing. Events: first sight (active) → ``outage.published``; later ``outage.updated``
(with ``changed``), ``outage.resolved`` or ``outage.cancelled``; the event id is
``derived_id(outage_id, "revision", n)``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import Counter

from chatbot_common.directory import DEFAULT_DATA_DIR, CityData, load_city, match_settlement
from chatbot_common.directory.house_spec import HouseSpecError, parse_house_spec
from chatbot_common.events import (
    OutageAddress,
    OutageCancelled,
    OutageKind,
    OutagePublished,
    OutageResolved,
    OutageState,
    OutageUpdated,
    Utility,
    derived_id,
    make_event,
    utcnow,
)
from chatbot_common.outbox import FIELD as OUTBOX
from chatbot_common.outbox import Outbox, entry
from chatbot_common.store import Store

from .open311 import Open311Client, Open311Error, OutageEntry, Unavailable
from .settings import ContactCenterSyncSettings

log = structlog.get_logger("contactcenter.outages")
OUTAGES = Counter("chatbot_contactcenter_outages_total", "Outage feed entries by outcome", ["outcome"])
SOURCE = "contactcenter-sync"
#: snapshot fields whose change is an ``outage.updated``
COMPARED = ("kind", "utility", "settlement_id", "city_wide", "addresses", "starts_at", "ends_at", "description",
            "contact_phone", "state")


class Skip(ValueError):
    """An entry that cannot be published as it is: ``outcome`` names why (metrics)."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome


class OutageImport:
    def __init__(self, settings: ContactCenterSyncSettings, store: Store, outbox: Outbox,
                 client: Open311Client | None, city: CityData | None = None) -> None:
        self.settings = settings
        self.outages = store["outages"]
        self.state = store["sync_state"]
        self.outbox = outbox
        self.client = client
        data_dir = Path(settings.contactcenter_data_dir) if settings.contactcenter_data_dir else DEFAULT_DATA_DIR
        self._city = city
        self._data_dir = data_dir
        self.offered: bool | None = None

    @property
    def city(self) -> CityData:
        if self._city is None:
            self._city = load_city(self._data_dir)
        return self._city

    async def setup(self) -> None:
        await self.outbox.setup()

    async def loop(self) -> None:
        """Forever (under the lease): import, then wait a poll period (a refresh period
        while the feed is not offered)."""
        while True:
            try:
                await self.import_once()
            except Unavailable as exc:
                log.warning("outages.poll_failed", error=str(exc)[:200])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - one bad round must not stop the import
                log.error("outages.poll_error", error=repr(exc)[:300])
            wait = self.settings.contactcenter_poll_seconds
            if self.offered is False:
                wait = self.settings.contactcenter_services_refresh_seconds
            await asyncio.sleep(wait)

    async def import_once(self) -> int:
        """One poll of the feed; returns how many events were published."""
        assert self.client is not None
        cursor_doc = await self.state.find_one({"_id": "outages"}) or {}
        cursor: datetime | None = cursor_doc.get("cursor")
        if cursor is not None and cursor.tzinfo is None:
            cursor = cursor.replace(tzinfo=UTC)
        overlap = timedelta(seconds=self.settings.contactcenter_updates_overlap_seconds)
        try:
            entries = await self.client.outages(cursor - overlap if cursor else None)
        except Open311Error as exc:
            if exc.http_status != 404:
                raise Unavailable(f"outages: HTTP {exc.http_status}") from exc
            if self.offered is not False:
                log.info("outages.not_offered")
            self.offered = False
            return 0
        self.offered = True
        published = 0
        newest = cursor
        for item in sorted(entries, key=lambda e: e.updated_datetime):
            published += await self.apply(item)
            newest = item.updated_datetime if newest is None else max(newest, item.updated_datetime)
        if newest is not None and newest != cursor:
            await self.state.update_one({"_id": "outages"}, {"$set": {"cursor": newest}}, upsert=True)
        return published

    def snapshot(self, item: OutageEntry) -> dict[str, Any]:
        """The entry in our terms, or :class:`Skip`."""
        settlement = match_settlement(self.city.settlements, item.settlement)
        if settlement is None:
            raise Skip("unknown_settlement", "settlement not in the directory")
        if item.ends_at is None:
            raise Skip("no_end", "no ends_at")
        addresses: list[dict[str, Any]] = []
        if not item.city_wide:
            directory = self.city.street_directory(settlement.id)
            for a in item.addresses:
                street = directory.match(a.street).street
                if street is None:
                    raise Skip("unknown_street", f"street not matched: {a.street[:60]}")
                try:
                    houses = parse_house_spec(a.houses)
                except HouseSpecError as exc:
                    raise Skip("bad_houses", str(exc)[:200]) from exc
                addresses.append(OutageAddress(street_id=street.id, street_name=street.label, spec=a.houses,
                                               houses=houses).model_dump(mode="json"))
            if not addresses:
                raise Skip("no_addresses", "neither city-wide nor any address")
        state = {"resolved": OutageState.resolved, "cancelled": OutageState.cancelled}.get(item.status,
                                                                                          OutageState.active)
        return {
            "kind": item.kind if item.kind in OutageKind.__members__ else OutageKind.planned.value,
            "utility": item.utility if item.utility in Utility.__members__ else Utility.other.value,
            "settlement_id": settlement.id, "city_wide": item.city_wide, "addresses": addresses,
            "starts_at": item.starts_at.isoformat(), "ends_at": item.ends_at.isoformat(),
            "description": item.description, "contact_phone": item.contact_phone or None, "state": state.value,
        }

    async def apply(self, item: OutageEntry) -> int:
        doc = await self.outages.find_one({"_id": item.outage_id})
        seen = doc.get("updated_datetime") if doc else None
        if seen is not None and seen.tzinfo is None:
            seen = seen.replace(tzinfo=UTC)
        if seen is not None and item.updated_datetime < seen:  # older than what we hold (equal: compared below)
            OUTAGES.labels(outcome="replayed").inc()
            return 0
        try:
            snap = self.snapshot(item)
        except Skip as exc:
            OUTAGES.labels(outcome=exc.outcome).inc()
            log.warning("outages.skipped", external_id=item.outage_id, outcome=exc.outcome, detail=str(exc))
            return 0
        before = (doc or {}).get("snapshot")
        changed = [k for k in COMPARED if before is None or before.get(k) != snap[k]]
        if before is None and snap["state"] != OutageState.active.value:
            OUTAGES.labels(outcome="ended_unseen").inc()  # nobody was told it began: nothing to end
            await self.outages.update_one({"_id": item.outage_id}, {"$set": {"updated_datetime": item.updated_datetime}},
                                          upsert=True)
            return 0
        if before is not None and not changed:
            await self.outages.update_one({"_id": item.outage_id, "revision": doc["revision"]},
                                          {"$set": {"updated_datetime": item.updated_datetime}})
            OUTAGES.labels(outcome="unchanged").inc()
            return 0
        if before is not None and before.get("state") != OutageState.active.value:
            OUTAGES.labels(outcome="after_end").inc()  # an ended outage stays ended
            return 0
        revision = (doc or {}).get("revision", 0) + 1
        outage_id = (doc or {}).get("our_id") or derived_id("outage", "contactcenter", item.outage_id)
        model: type[OutagePublished | OutageUpdated | OutageResolved | OutageCancelled]
        if before is None:
            model = OutagePublished
        elif snap["state"] == OutageState.resolved.value:
            model = OutageResolved
        elif snap["state"] == OutageState.cancelled.value:
            model = OutageCancelled
        else:
            model = OutageUpdated
        data = model(outage_id=outage_id, revision=revision, source="contactcenter", external_id=item.outage_id,
                     changed=[] if before is None else changed, at=utcnow(), **snap)
        event = make_event(data, source=SOURCE, id=derived_id(outage_id, "revision", revision))
        fields = {"snapshot": snap, "revision": revision, "our_id": outage_id, "updated_datetime": item.updated_datetime}
        filter_: dict[str, Any] = {"_id": item.outage_id, "revision": (doc or {}).get("revision")}
        update = {"$set": fields, "$push": {OUTBOX: entry(event.id, [event])}}
        if doc is None:
            try:
                await self.outages.insert_one({"_id": item.outage_id, **fields, OUTBOX: [entry(event.id, [event])]})
            except Exception as exc:  # noqa: BLE001 - a concurrent import wrote it first
                log.info("outages.insert_raced", external_id=item.outage_id, error=type(exc).__name__)
                return 0
        elif (await self.outages.update_one(filter_, update)).modified_count == 0:
            return 0
        await self.outbox.flush(item.outage_id)
        OUTAGES.labels(outcome=data.type.split(".")[1]).inc()
        log.info("outages.imported", external_id=item.outage_id, type=data.type, revision=revision)
        return 1
