"""Outage notices (P2, C1, S3): ``outage.*`` snapshots → one mailing per change.

What each event sends (one message per resident per change, paid — viber-api.md):

- ``outage.published`` → the notice, to the outage's audience (matching:
  :meth:`AudienceIndex.match`);
- ``outage.updated`` with ``ends_at`` in ``changed`` → «end moved», to everyone notified
  about this outage before (if nobody was — the notifier never saw it published — to
  the current audience); with ``addresses`` / ``city_wide`` / ``settlement_id`` in
  ``changed`` → the notice, to those the outage now affects who were never told about
  it (kind ``extended``; those no longer affected hear nothing until it is resolved).
  Any other change (description, contact phone…) sends nothing: a paid message for a
  reworded description is not worth it; the «⚠️ Відключення» screen shows the
  current text;
- ``outage.resolved`` → «restored», to everyone notified before;
- ``outage.cancelled`` → «cancelled», to everyone notified before, and only them;
- planned works: announced on publication and again ``NOTIFIER_PLANNED_REMINDER_HOURS``
  before they start (:class:`Reminders`, a singleton job), to the current audience —
  unless they were published later than that (the announcement is the reminder).

"Notified before" means: in a mailing of this outage of kind published, reminder or
end_moved; those still eligible now (subscribed, not deleted, notify ≠ none) get it.

Each mailing's job id is ``derived_id(outage_id, revision, change)`` (the reminder's:
``derived_id(outage_id, "reminder", starts_at)``), so a redelivered event or a restart
re-runs the same job, which never sends anyone twice (``mailings``). Outage snapshots
are kept in the collection ``outages``; an event older than the revision stored
(arriving late) changes nothing and sends nothing.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

import structlog

from chatbot_common.bus import PermanentError
from chatbot_common.events import (
    CloudEvent,
    OutageCancelled,
    OutageKind,
    OutagePublished,
    OutageResolved,
    OutageSnapshot,
    OutageState,
    OutageUpdated,
    derived_id,
    utcnow,
)
from chatbot_common.locks import KeyedLocks
from chatbot_common.store import Store

from .audience import Audience
from .mailings import Job, Mailer, Recipients
from .texts import outage_buttons, outage_text

log = structlog.get_logger("notifier.outages")
COLLECTION = "outages"
NOTIFIED_KINDS = ("published", "reminder", "end_moved", "extended")
#: ``changed`` fields of an ``outage.updated`` that may widen the audience
WIDER = frozenset({"addresses", "city_wide", "settlement_id"})


def change_of(data: OutageSnapshot) -> str | None:
    match data:
        case OutagePublished():
            return "published"
        case OutageUpdated():
            return "end_moved" if "ends_at" in data.changed and data.state == OutageState.active else None
        case OutageResolved():
            return "resolved"
        case OutageCancelled():
            return "cancelled"
    return None


class Outages:
    def __init__(self, store: Store, audience: Audience, mailer: Mailer, *, reminder_hours: float) -> None:
        self.collection = store[COLLECTION]
        self.audience = audience
        self.mailer = mailer
        self.reminder = timedelta(hours=reminder_hours)
        self.locks = KeyedLocks()
        #: the last match's duration in seconds, and of putting it in batch order (the benchmark)
        self.last_match_seconds = 0.0
        self.last_order_seconds = 0.0

    async def setup(self) -> None:
        await self.collection.create_index("reminder_at", sparse=True)

    async def match(self, outage: OutageSnapshot) -> Recipients:
        await self.audience.refresh()
        started = time.perf_counter()
        rids = self.audience.index.match(outage)
        matched = time.perf_counter()
        recipients = self.audience.index.recipients(rids)
        self.last_match_seconds = matched - started
        self.last_order_seconds = time.perf_counter() - matched
        return recipients

    async def handle(self, event: CloudEvent) -> None:
        data = event.payload()
        if not isinstance(data, OutageSnapshot):
            raise PermanentError(f"not an outage event: {event.type}")
        # The queue hands several events to this consumer at once: one outage's events
        # are handled one after the other, in the order they came.
        async with self.locks.hold(data.outage_id):
            await self._handle(data)

    async def _handle(self, data: OutageSnapshot) -> None:
        stored = await self.collection.find_one({"_id": data.outage_id})
        if stored is not None and stored["revision"] > data.revision:
            log.info("outage.stale", outage=data.outage_id, revision=data.revision, stored=stored["revision"])
            return
        change = change_of(data)
        previous_ends = None
        if stored is not None and stored["revision"] < data.revision:
            previous_ends = OutageSnapshot.model_validate(stored["snapshot"]).ends_at
        elif stored is not None:
            previous_ends = stored.get("previous_ends_at")
        await self._save(data, stored, previous_ends)
        if change is None and not (isinstance(data, OutageUpdated) and WIDER & set(data.changed)):
            log.info("outage.no_notice", outage=data.outage_id, revision=data.revision, changed=data.changed)
            return
        if change is not None:
            job = Job(job_id=derived_id(data.outage_id, data.revision, change), subject="outage",
                      subject_id=data.outage_id, kind=change,
                      text=outage_text(data, change, previous_ends), buttons=tuple(outage_buttons()))
            if change == "published":
                audience = lambda: self.match(data)  # noqa: E731
            else:
                audience = lambda: self._notified_before(data, fallback=change == "end_moved")  # noqa: E731
            await self.mailer.run(job, audience)
        if isinstance(data, OutageUpdated) and data.state == OutageState.active and WIDER & set(data.changed):
            # More houses (or the whole settlement) now: those newly affected get the notice.
            job = Job(job_id=derived_id(data.outage_id, data.revision, "extended"), subject="outage",
                      subject_id=data.outage_id, kind="extended", text=outage_text(data, "published"),
                      buttons=tuple(outage_buttons()))
            await self.mailer.run(job, lambda: self._newly_affected(data))

    async def _newly_affected(self, outage: OutageSnapshot) -> Recipients:
        """Those the wider outage affects and no earlier notice about it reached — by
        resident id, and by receiver (one Viber user under two resident ids)."""
        notified, reached = await self.mailer.notified(outage.outage_id, NOTIFIED_KINDS)
        return [(rid, receiver) for rid, receiver in await self.match(outage)
                if rid not in notified and receiver not in reached]

    async def _notified_before(self, outage: OutageSnapshot, *, fallback: bool) -> Recipients:
        rids, _ = await self.mailer.notified(outage.outage_id, NOTIFIED_KINDS)
        if not rids and fallback:
            return await self.match(outage)
        await self.audience.refresh()
        return self.audience.index.eligible(rids)

    async def _save(self, data: OutageSnapshot, stored: dict[str, Any] | None,
                    previous_ends: datetime | None) -> None:
        doc: dict[str, Any] = {
            "revision": data.revision, "snapshot": data.model_dump(mode="json"), "state": data.state.value,
            "kind": data.kind.value, "starts_at": data.starts_at, "previous_ends_at": previous_ends,
        }
        reminder_at = data.starts_at - self.reminder
        published_at = stored["published_at"] if stored and stored.get("published_at") else data.at
        doc["published_at"] = published_at
        if data.kind == OutageKind.planned and data.state == OutageState.active and reminder_at > published_at:
            doc["reminder_at"] = reminder_at
        else:
            doc["reminder_at"] = None
        await self.collection.update_one(
            {"_id": data.outage_id, "$or": [{"revision": {"$lte": data.revision}}, {"revision": {"$exists": False}}]},
            {"$set": doc}, upsert=True,
        )

    # ------------------------------------------------------------------ reminders

    async def remind_due(self) -> int:
        """Send the reminders that are due (planned, active, not started yet); returns
        how many mailings ran."""
        now = utcnow()
        sent = 0
        cursor = self.collection.find({"reminder_at": {"$ne": None, "$lte": now}, "state": OutageState.active.value,
                                       "kind": OutageKind.planned.value})
        for doc in [d async for d in cursor]:
            outage = OutageSnapshot.model_validate(doc["snapshot"])
            if doc.get("reminded_for") == doc["reminder_at"] or outage.starts_at <= now:
                continue
            job = Job(job_id=derived_id(outage.outage_id, "reminder", outage.starts_at.isoformat()),
                      subject="outage", subject_id=outage.outage_id, kind="reminder",
                      text=outage_text(outage, "reminder"), buttons=tuple(outage_buttons()))
            await self.mailer.run(job, lambda o=outage: self.match(o))
            await self.collection.update_one({"_id": doc["_id"], "revision": doc["revision"]},
                                             {"$set": {"reminded_for": doc["reminder_at"]}})
            sent += 1
        return sent

    async def reminders(self, every: float) -> None:
        """Singleton background job: look for due reminders every ``every`` seconds."""
        while True:
            await self.remind_due()
            await asyncio.sleep(every)
