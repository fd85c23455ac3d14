"""The tickets: stored first, posted to the contact center, followed until done.

One document per ticket in ``tickets`` (``_id`` = our ticket id). Every change and the
events it causes are ONE write of that document (the outbox, ``chatbot_common.outbox``);
a write that must not happen twice is conditional on the state it was computed from, and
every derived event has a deterministic id (``events.derived_id``), so a replayed input,
a crash between the write and the publish, or a restart at any point never yields a
second notice. docs/contactcenter.md tells the whole story; in short:

``state``: ``pending`` (stored, waiting for the contact center) → ``posting`` (claimed:
a POST may be under way) → ``registered`` (it has a number) | ``awaiting_token`` (the
contact center answered with a token) → ``registered`` | ``rejected`` (400/403/404 with
an Open311 error body). A ``posting`` ticket found by a new submitter (the previous one
died mid-call) is posted again with the same ``Idempotency-Key`` — the contact center
answers the first answer again, so the request is filed exactly once.

Times: retries are scheduled on the real clock (``utcnow``); deadlines (reminder,
overdue) are judged by the injectable ``clock`` so tests need not wait for hours.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from prometheus_client import Counter, Gauge
from pymongo.errors import DuplicateKeyError

from chatbot_common.events import (
    CloudEvent,
    ContactCenterServices,
    EventData,
    TicketDeadlineChanged,
    TicketDeadlineReminder,
    TicketOverdue,
    TicketRated,
    TicketRegistered,
    TicketRejected,
    TicketStatus,
    TicketStatusChanged,
    TicketSubmitted,
    derived_id,
    make_event,
    utcnow,
)
from chatbot_common.locks import wait_event
from chatbot_common.outbox import FIELD as OUTBOX
from chatbot_common.outbox import Outbox, entry
from chatbot_common.store import Store

from .open311 import (
    Open311Client,
    Open311Error,
    RequestRecord,
    StatusUpdate,
    Unavailable,
    gather_limited,
    map_status,
    service_info,
)
from .settings import ContactCenterSyncSettings

log = structlog.get_logger("contactcenter.sync")
SOURCE = "contactcenter-sync"

TICKETS = Counter("chatbot_contactcenter_tickets_total", "Tickets by what happened to them", ["outcome"])
UPDATES = Counter("chatbot_contactcenter_updates_total", "Status updates and records read", ["outcome"])
CONFIGURED = Gauge("chatbot_contactcenter_configured", "1 when CONTACTCENTER_URL is set")
REACHABLE = Gauge("chatbot_contactcenter_reachable", "1 when the last call reached the contact center")
PENDING = Gauge("chatbot_contactcenter_pending_tickets", "Tickets stored but not registered yet")

PENDING_STATES = ("pending", "posting")
#: how long an unresolved token holds the updates cursor back
TOKEN_HOLD = timedelta(days=1)
Clock = Callable[[], datetime]


def ms(value: datetime | None) -> datetime | None:
    """MongoDB keeps milliseconds: compare and store times at that precision (else a
    deadline read back from the database never equals the one the contact center sent)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class TicketSync:
    def __init__(self, settings: ContactCenterSyncSettings, store: Store, outbox: Outbox,
                 services_outbox: Outbox, client: Open311Client | None, *, clock: Clock = utcnow) -> None:
        self.settings = settings
        self.store = store
        self.tickets = store["tickets"]
        self.state = store["sync_state"]
        self.services = store["services"]
        self.outbox = outbox
        self.services_outbox = services_outbox
        self.client = client
        self.clock = clock
        self.wake = asyncio.Event()
        self.run_id = utcnow().isoformat()
        self.updates_offered: bool | None = None

    async def setup(self) -> None:
        await self.outbox.setup()
        await self.services_outbox.setup()
        await self.tickets.create_index([("state", 1), ("next_attempt_at", 1)])
        await self.tickets.create_index("service_request_id", sparse=True)
        await self.tickets.create_index([("forward", 1), ("forward_at", 1)], sparse=True)

    # ------------------------------------------------------------------ outputs

    def _event(self, data: EventData, event_id: str, correlationid: str | None = None) -> CloudEvent:
        return make_event(data, source=SOURCE, id=event_id, correlationid=correlationid)

    async def _write(self, filter_: dict[str, Any], update: dict[str, Any], events: list[CloudEvent]) -> bool:
        """One conditional write of a ticket with its events; publish them at once
        (the relay takes over what could not be published). ``False``: the ticket was
        not in the state the change was computed from (nothing written)."""
        if events:
            update.setdefault("$push", {})[OUTBOX] = entry(events[0].id, events)
        result = await self.tickets.update_one(filter_, update)
        if result.modified_count == 0:
            return False
        if events:
            await self.outbox.flush(filter_["_id"])
        return True

    def _base(self, doc: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
        return {"ticket_id": doc["_id"], "resident_id": doc.get("resident_id", ""),
                "service_name": doc.get("service_name", ""), "at": at or utcnow()}

    # ------------------------------------------------------------------ inputs

    async def handle(self, event: CloudEvent) -> None:
        """``contactcenter.tickets``: ticket.submitted and ticket.rated."""
        data = event.payload()
        if isinstance(data, TicketSubmitted):
            await self.submitted(event, data)
        elif isinstance(data, TicketRated):
            await self.rated(event, data)

    async def submitted(self, event: CloudEvent, data: TicketSubmitted) -> None:
        """Store the request before anything is sent (idempotent: a redelivery finds it)."""
        now = utcnow()
        doc = {
            "_id": data.ticket_id, "resident_id": data.resident_id, "service_code": data.service_code,
            "service_name": data.service_name, "request": data.model_dump(mode="json"),
            "correlationid": event.correlationid, "input": event.id,
            "state": "pending", "status": TicketStatus.submitted.value, "attempts": 0,
            "next_attempt_at": now, "stored_at": now, "seen_updates": [], "deadline_version": 0,
        }
        try:
            await self.tickets.insert_one(doc)
        except DuplicateKeyError:
            log.info("ticket.already_stored", ticket_id=data.ticket_id)
            return
        TICKETS.labels(outcome="stored").inc()
        log.info("ticket.stored", ticket_id=data.ticket_id, service_code=data.service_code)
        self.wake.set()

    async def rated(self, event: CloudEvent, data: TicketRated) -> None:
        """Store the rating (and the wish to reopen) on the ticket; the forwarder sends
        them to the contact center. A replayed rating changes nothing."""
        now = utcnow()
        rating = {"rating": data.rating, "comment": data.comment, "reopen": data.reopen,
                  "at": data.at, "event_id": event.id}
        update: dict[str, Any] = {
            "$set": {"rating": rating, "rating_state": "pending", "forward": True, "forward_at": now},
            "$setOnInsert": {"resident_id": data.resident_id, "state": "unknown", "service_name": "",
                             "seen_updates": [], "deadline_version": 0},
        }
        if data.service_request_id:
            update["$setOnInsert"]["service_request_id"] = data.service_request_id
        if data.reopen:
            update["$set"]["reopen_state"] = "pending"
        try:
            result = await self.tickets.update_one(
                {"_id": data.ticket_id, "rating.event_id": {"$ne": event.id}}, update, upsert=True)
        except DuplicateKeyError:
            return  # this very rating was stored already
        if result.upserted_id is not None:
            log.warning("ticket.rated_unknown", ticket_id=data.ticket_id)
        log.info("ticket.rating_stored", ticket_id=data.ticket_id, reopen=data.reopen)
        self.wake.set()

    # ------------------------------------------------------------------ submitter

    def backoff(self, attempts: int) -> float:
        s = self.settings
        return min(s.contactcenter_retry_max_seconds, s.contactcenter_retry_min_seconds * 2 ** max(attempts - 1, 0))

    async def submitter(self) -> None:
        """Forever (under the lease): post due tickets and forward ratings, with bounded
        concurrency; sleep until the next one is due or a new one arrives."""
        assert self.client is not None
        # A previous submitter may have died mid-call: post those again (same key).
        await self.tickets.update_many({"state": "posting"}, {"$set": {"state": "pending", "next_attempt_at": utcnow()}})
        while True:
            self.wake.clear()
            try:
                await self.submit_due()
                await self.forward_due()
                await self._refresh_pending_gauge()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database away for a moment: go on
                log.error("contactcenter.submitter_failed", error=repr(exc)[:300])
                await asyncio.sleep(self.settings.contactcenter_poll_seconds)
            await self._sleep_until_due()

    async def _sleep_until_due(self) -> None:
        timeout = self.settings.contactcenter_poll_seconds
        nxt = await self.tickets.find_one({"state": "pending"}, {"next_attempt_at": 1}, sort=[("next_attempt_at", 1)])
        fwd = await self.tickets.find_one({"forward": True}, {"forward_at": 1}, sort=[("forward_at", 1)])
        now = utcnow()
        for doc, key in ((nxt, "next_attempt_at"), (fwd, "forward_at")):
            if doc and doc.get(key):
                timeout = min(timeout, max((_aware(doc[key]) - now).total_seconds(), 0.0))
        if timeout <= 0:
            await asyncio.sleep(0)
            return
        await wait_event(self.wake, timeout)

    async def _refresh_pending_gauge(self) -> None:
        try:
            PENDING.set(await self.tickets.count_documents({"state": {"$in": [*PENDING_STATES, "awaiting_token"]}}))
        except Exception:  # noqa: BLE001 - a metric must never stop the work
            pass

    async def submit_due(self) -> int:
        limit = self.settings.contactcenter_concurrency * 4
        cursor = self.tickets.find({"state": "pending", "next_attempt_at": {"$lte": utcnow()}},
                                   sort=[("next_attempt_at", 1)], limit=limit)
        docs = [d async for d in cursor]
        results = await gather_limited(self.settings.contactcenter_concurrency, (self.submit(d) for d in docs))
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, Exception):
                raise r
            if isinstance(r, Exception):
                log.error("ticket.submit_failed", error=repr(r)[:300])
        return len(docs)

    async def submit(self, doc: dict[str, Any]) -> None:
        """Claim the ticket, post it, record the answer."""
        assert self.client is not None
        ticket_id = doc["_id"]
        claimed = await self.tickets.update_one(
            {"_id": ticket_id, "state": "pending"},
            {"$set": {"state": "posting", "posting_at": utcnow()}, "$inc": {"attempts": 1}})
        if claimed.modified_count == 0:
            return
        attempts = doc.get("attempts", 0) + 1
        ticket = TicketSubmitted.model_validate(doc["request"])
        try:
            answer = await self.client.post_request(ticket, idempotency_key=ticket_id)
        except Open311Error as exc:
            REACHABLE.set(1)
            if exc.has_body:
                await self._rejected(doc, exc)
                return
            await self._retry(ticket_id, attempts, f"HTTP {exc.http_status} without an Open311 error body")
            return
        except Unavailable as exc:
            REACHABLE.set(0)
            await self._retry(ticket_id, attempts, str(exc))
            return
        REACHABLE.set(1)
        if answer.service_request_id:
            await self._registered(doc, answer.service_request_id, answer.service_notice, "posting")
        else:
            await self.tickets.update_one(
                {"_id": ticket_id, "state": "posting"},
                {"$set": {"state": "awaiting_token", "token": answer.token, "service_notice": answer.service_notice,
                          "token_at": utcnow()}})
            TICKETS.labels(outcome="token").inc()
            log.info("ticket.token", ticket_id=ticket_id)

    async def _retry(self, ticket_id: str, attempts: int, why: str) -> None:
        delay = self.backoff(attempts)
        await self.tickets.update_one(
            {"_id": ticket_id, "state": "posting"},
            {"$set": {"state": "pending", "next_attempt_at": utcnow() + timedelta(seconds=delay), "last_error": why}})
        TICKETS.labels(outcome="retry").inc()
        log.warning("ticket.post_failed", ticket_id=ticket_id, attempts=attempts, retry_in=delay, error=why)

    async def _rejected(self, doc: dict[str, Any], exc: Open311Error) -> None:
        ticket_id = doc["_id"]
        data = TicketRejected(**self._base(doc), http_status=exc.http_status, code=exc.code, reason=exc.description)
        event = self._event(data, derived_id(ticket_id, "rejected"), doc.get("correlationid"))
        await self._write({"_id": ticket_id, "state": "posting"},
                          {"$set": {"state": "rejected", "status": TicketStatus.rejected.value,
                                    "rejection": {"http_status": exc.http_status, "code": exc.code,
                                                  "reason": exc.description}}}, [event])
        TICKETS.labels(outcome="rejected").inc()
        log.warning("ticket.rejected", ticket_id=ticket_id, http_status=exc.http_status, code=exc.code)

    async def _registered(self, doc: dict[str, Any], srid: str, notice: str | None, from_state: str) -> None:
        """The contact center gave its number: one ``ticket.registered`` (with the
        deadline when the request record already has one)."""
        ticket_id = doc["_id"]
        record: RequestRecord | None = None
        try:
            assert self.client is not None
            record = await self.client.request(srid)
        except (Open311Error, Unavailable) as exc:
            log.info("ticket.record_unavailable", ticket_id=ticket_id, error=str(exc)[:200])
        expected = ms(record.expected_datetime) if record else None
        data = TicketRegistered(**self._base(doc), service_request_id=srid, expected_at=expected,
                                service_notice=notice or doc.get("service_notice") or (record.service_notice if record else None))
        event = self._event(data, derived_id(ticket_id, "registered"), doc.get("correlationid"))
        fields: dict[str, Any] = {"state": "registered", "service_request_id": srid, "status": TicketStatus.open.value,
                                  "raw_status": "open", "registered_at": utcnow(), "expected_at": expected,
                                  "deadline_version": 1 if expected else 0}
        if self._told_within_reminder(expected):
            fields["reminded_version"] = 1
        if record is not None:
            fields["record_key"] = _record_key(record)
            fields["status_at"] = ms(record.updated_datetime)
        if await self._write({"_id": ticket_id, "state": from_state}, {"$set": fields}, [event]):
            TICKETS.labels(outcome="registered").inc()
            log.info("ticket.registered", ticket_id=ticket_id, service_request_id=srid)

    # ------------------------------------------------------------------ ratings

    async def forward_due(self) -> None:
        cursor = self.tickets.find({"forward": True, "forward_at": {"$lte": utcnow()}}, limit=50)
        docs = [d async for d in cursor]
        await gather_limited(self.settings.contactcenter_concurrency, (self.forward(d) for d in docs))

    async def forward(self, doc: dict[str, Any]) -> None:
        """Send a stored rating (and reopen) to the contact center's extension. 404 =
        not offered (or it does not know the request): stored, marked, no retry loop."""
        assert self.client is not None
        srid = doc.get("service_request_id")
        rating = doc.get("rating") or {}
        event_id = rating.get("event_id")
        if not srid:
            if doc.get("state") in ("rejected", "unknown"):
                await self._forward_done(doc, event_id, {"rating_state": "no_request"})
            else:
                await self._forward_later(doc, event_id, 1, "no number yet")
            return
        done: dict[str, Any] = {}
        try:
            if doc.get("rating_state") == "pending":
                try:
                    await self.client.rate(srid, rating["rating"], rating.get("comment"))
                    done["rating_state"] = "forwarded"
                except Open311Error as exc:
                    done["rating_state"] = "not_offered" if exc.http_status == 404 else "refused"
                    log.info("ticket.rating_not_forwarded", ticket_id=doc["_id"], http_status=exc.http_status)
            if doc.get("reopen_state") == "pending":
                try:
                    await self.client.reopen(srid, rating.get("comment"))
                    done["reopen_state"] = "forwarded"
                except Open311Error as exc:
                    done["reopen_state"] = "not_offered" if exc.http_status == 404 else "refused"
                    log.info("ticket.reopen_not_forwarded", ticket_id=doc["_id"], http_status=exc.http_status)
        except Unavailable as exc:
            if done:  # the rating went, the reopen did not: keep what went
                await self.tickets.update_one({"_id": doc["_id"], "rating.event_id": event_id}, {"$set": done})
            await self._forward_later(doc, event_id, doc.get("forward_attempts", 0) + 1, str(exc))
            return
        await self._forward_done(doc, event_id, done)
        log.info("ticket.rating_forwarded", ticket_id=doc["_id"], **done)

    async def _forward_done(self, doc: dict[str, Any], event_id: str | None, fields: dict[str, Any]) -> None:
        await self.tickets.update_one({"_id": doc["_id"], "rating.event_id": event_id},
                                      {"$set": fields, "$unset": {"forward": "", "forward_at": ""}})

    async def _forward_later(self, doc: dict[str, Any], event_id: str | None, attempts: int, why: str) -> None:
        await self.tickets.update_one(
            {"_id": doc["_id"], "rating.event_id": event_id},
            {"$set": {"forward_at": utcnow() + timedelta(seconds=self.backoff(attempts)), "forward_attempts": attempts}})
        log.info("ticket.rating_later", ticket_id=doc["_id"], error=why[:200])

    # ------------------------------------------------------------------ poller

    async def poller(self) -> None:
        """Forever (under the lease): tokens, status updates, records, deadlines."""
        while True:
            try:
                await self.poll_once()
            except Unavailable as exc:
                REACHABLE.set(0)
                log.warning("contactcenter.poll_failed", error=str(exc)[:200])
            except Open311Error as exc:
                log.warning("contactcenter.poll_refused", http_status=exc.http_status, code=exc.code)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - one bad round must not stop following
                log.error("contactcenter.poll_error", error=repr(exc)[:300])
            await asyncio.sleep(self.settings.contactcenter_poll_seconds)

    async def poll_once(self) -> None:
        await self.resolve_tokens()
        await self.poll_updates()
        await self.poll_records()
        await self.check_deadlines()
        REACHABLE.set(1)

    async def resolve_tokens(self) -> None:
        assert self.client is not None
        async for doc in self.tickets.find({"state": "awaiting_token"}):
            srid = await self.client.token(doc["token"])
            if srid:
                await self._registered(doc, srid, doc.get("service_notice"), "awaiting_token")

    async def poll_updates(self) -> None:
        """``servicerequestupdates`` from the persisted cursor minus the overlap; the
        cursor is the newest ``updated_datetime`` seen (the contact center's own clock,
        so our clock's skew does not matter). 404 → not offered: records are used."""
        assert self.client is not None
        cursor_doc = await self.state.find_one({"_id": "updates"}) or {}
        cursor = _aware(cursor_doc.get("cursor"))
        overlap = timedelta(seconds=self.settings.contactcenter_updates_overlap_seconds)
        if cursor is None:
            first = await self.tickets.find_one({"registered_at": {"$exists": True}}, {"registered_at": 1},
                                                sort=[("registered_at", 1)])
            cursor = _aware(first["registered_at"]) if first else utcnow()
        try:
            updates = await self.client.updates(cursor - overlap)
        except Open311Error as exc:
            if exc.http_status != 404:
                raise Unavailable(f"servicerequestupdates: HTTP {exc.http_status}") from exc
            if self.updates_offered is not False:
                log.info("contactcenter.updates_not_offered")
            self.updates_offered = False
            return
        self.updates_offered = True
        newest = cursor
        for update in sorted(updates, key=lambda u: (_aware(u.updated_datetime), u.update_id.zfill(20))):
            await self.apply_update(update)
            newest = max(newest, _aware(update.updated_datetime))
        # Updates of a request whose token is not resolved yet were passed over: keep the
        # cursor before its POST (for a day at most) so they come back once it has a number.
        waiting = await self.tickets.find_one(
            {"state": "awaiting_token", "token_at": {"$gt": utcnow() - TOKEN_HOLD}}, {"token_at": 1},
            sort=[("token_at", 1)])
        if waiting is not None:
            newest = min(newest, max(cursor, _aware(waiting["token_at"])))
        if newest != cursor or cursor_doc.get("cursor") is None:
            await self.state.update_one({"_id": "updates"}, {"$set": {"cursor": newest}}, upsert=True)

    async def apply_update(self, update: StatusUpdate, doc: dict[str, Any] | None = None) -> bool:
        """One status update → at most one ``ticket.status_changed``; the update id is
        recorded in the same write, so a replay (the overlap, a restart) finds it."""
        doc = doc or await self.tickets.find_one({"service_request_id": update.service_request_id})
        if doc is None or doc.get("state") != "registered":
            UPDATES.labels(outcome="unknown_request").inc()
            return False
        if update.update_id in (doc.get("seen_updates") or []):
            UPDATES.labels(outcome="duplicate").inc()
            return False
        status = map_status(update.status)
        previous = TicketStatus(doc.get("status", TicketStatus.open.value))
        at = ms(update.updated_datetime)
        status_at = _aware(doc.get("status_at"))
        newer = status_at is None or at >= status_at
        events = []
        fields: dict[str, Any] = {}
        if newer:
            fields = {"status": status.value, "raw_status": update.status, "status_at": at}
            if status != previous or update.description:
                data = TicketStatusChanged(**self._base(doc, at), service_request_id=doc["service_request_id"],
                                           update_id=update.update_id, status=status, raw_status=update.status,
                                           notes=update.description, previous_status=previous)
                events.append(self._event(data, derived_id(doc["_id"], "status", update.update_id)))
        change: dict[str, Any] = {"$push": {"seen_updates": update.update_id}}
        if fields:
            change["$set"] = fields
        written = await self._write({"_id": doc["_id"], "seen_updates": {"$ne": update.update_id}}, change, events)
        UPDATES.labels(outcome="applied" if events and written else "no_news").inc()
        if written and events:
            log.info("ticket.status_changed", ticket_id=doc["_id"], status=status.value)
        return written and bool(events)

    def _followed(self) -> dict[str, Any]:
        """Tickets whose records are polled: registered, not final — or final but with a
        reopen asked for (its reopen update must still be seen)."""
        final = [s.value for s in TicketStatus if s.final]
        return {"state": "registered", "$or": [{"status": {"$nin": final}}, {"reopen_state": "forwarded"}]}

    async def poll_records(self) -> None:
        """Request records of followed tickets by id lists (chunked): deadlines always;
        statuses too when ``servicerequestupdates`` is not offered (de-duplicated by
        ``(status, updated_datetime)``)."""
        assert self.client is not None
        docs = {d["service_request_id"]: d async for d in self.tickets.find(self._followed())}
        if not docs:
            return
        for record in await self.client.requests(sorted(docs)):
            doc = docs.get(record.service_request_id)
            if doc is not None:
                await self.apply_record(record, doc)

    async def apply_record(self, record: RequestRecord, doc: dict[str, Any]) -> None:
        if self.updates_offered is False:
            key = _record_key(record)
            if key != doc.get("record_key"):
                update = StatusUpdate(update_id=f"record:{key}", service_request_id=record.service_request_id,
                                      status=record.status, updated_datetime=record.updated_datetime or utcnow(),
                                      description=record.status_notes)
                await self.apply_update(update, doc)
                await self.tickets.update_one({"_id": doc["_id"]}, {"$set": {"record_key": key}})
                doc = await self.tickets.find_one({"_id": doc["_id"]}) or doc
        expected = ms(record.expected_datetime)
        previous = _aware(doc.get("expected_at"))
        if expected is None or expected == previous:
            return
        version = doc.get("deadline_version", 0) + 1
        data = TicketDeadlineChanged(**self._base(doc), service_request_id=doc["service_request_id"],
                                     expected_at=expected, previous_expected_at=previous)
        event = self._event(data, derived_id(doc["_id"], "deadline", version))
        fields = {"expected_at": expected, "deadline_version": version}
        if self._told_within_reminder(expected):
            fields["reminded_version"] = version
        if await self._write({"_id": doc["_id"], "deadline_version": doc.get("deadline_version", 0)},
                             {"$set": fields}, [event]):
            log.info("ticket.deadline_changed", ticket_id=doc["_id"], version=version)

    def _told_within_reminder(self, expected: datetime | None) -> bool:
        """A deadline the resident is told about when it is already within the reminder
        window: the notice that tells it is the reminder (no second paid message minutes
        later saying the same)."""
        if expected is None:
            return False
        before = timedelta(hours=self.settings.contactcenter_deadline_reminder_hours)
        return expected - before <= self.clock() < expected

    async def check_deadlines(self) -> None:
        """A reminder ``CONTACTCENTER_DEADLINE_REMINDER_HOURS`` before the deadline and a
        notice once it passed, each once per deadline value (``deadline_version``),
        only while the request is still open."""
        now = self.clock()
        before = timedelta(hours=self.settings.contactcenter_deadline_reminder_hours)
        final = [s.value for s in TicketStatus if s.final]
        query = {"state": "registered", "expected_at": {"$ne": None}, "status": {"$nin": final}}
        async for doc in self.tickets.find(query):
            expected = _aware(doc["expected_at"])
            version = doc.get("deadline_version", 0)
            if now >= expected and doc.get("overdue_version") != version:
                data = TicketOverdue(**self._base(doc, now), service_request_id=doc["service_request_id"],
                                     expected_at=expected)
                await self._write({"_id": doc["_id"], "deadline_version": version, "overdue_version": doc.get("overdue_version")},
                                  {"$set": {"overdue_version": version, "reminded_version": version}},
                                  [self._event(data, derived_id(doc["_id"], "overdue", version))])
                log.info("ticket.overdue", ticket_id=doc["_id"])
            elif expected - before <= now < expected and doc.get("reminded_version") != version:
                data = TicketDeadlineReminder(**self._base(doc, now), service_request_id=doc["service_request_id"],
                                              expected_at=expected)
                await self._write({"_id": doc["_id"], "deadline_version": version, "reminded_version": doc.get("reminded_version")},
                                  {"$set": {"reminded_version": version}},
                                  [self._event(data, derived_id(doc["_id"], "reminder", version))])
                log.info("ticket.deadline_reminder", ticket_id=doc["_id"])

    # ------------------------------------------------------------------ services

    async def refresh_services(self, *, force: bool = False) -> bool:
        """Fetch the service list and every definition; publish ``contactcenter.services``
        when it changed (content hash) or ``force`` (at start). ``True`` = published."""
        assert self.client is not None
        services = await self.client.services()
        infos = []
        for service in services:
            definition = None
            if service.metadata:
                try:
                    definition = await self.client.service_definition(service.service_code)
                except Open311Error as exc:
                    log.warning("contactcenter.definition_missing", service_code=service.service_code,
                                http_status=exc.http_status)
            infos.append(service_info(service, definition))
        listed = [i.model_dump(mode="json", exclude_none=True) for i in infos]  # as the event carries it
        digest = hashlib.sha256(json.dumps(listed, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        current = await self.services.find_one({"_id": "current"}, {"hash": 1})
        now = utcnow()
        if current and current.get("hash") == digest and not force:
            await self.services.update_one({"_id": "current"}, {"$set": {"checked_at": now}})
            return False
        data = ContactCenterServices(services=infos, fetched_at=now)
        event = make_event(data, source=SOURCE, id=derived_id("contactcenter.services", digest, self.run_id))
        await self.services.update_one(
            {"_id": "current"},
            {"$set": {"hash": digest, "services": listed, "fetched_at": now, "checked_at": now},
             "$push": {OUTBOX: entry(event.id, [event])}}, upsert=True)
        await self.services_outbox.flush("current")
        log.info("contactcenter.services_published", services=len(infos), changed=not (current and current.get("hash") == digest))
        return True

    async def services_loop(self) -> None:
        first = True
        while True:
            try:
                await self.refresh_services(force=first)
                first = False
                wait = self.settings.contactcenter_services_refresh_seconds
            except (Unavailable, Open311Error) as exc:
                log.warning("contactcenter.services_failed", error=str(exc)[:200])
                wait = min(self.settings.contactcenter_poll_seconds, self.settings.contactcenter_services_refresh_seconds)
            await asyncio.sleep(wait)

    async def stored_services(self) -> dict[str, Any] | None:
        return await self.services.find_one({"_id": "current"}, {OUTBOX: 0})


def _record_key(record: RequestRecord) -> str:
    updated = ms(record.updated_datetime)
    return f"{record.status}|{updated.isoformat() if updated else ''}"
