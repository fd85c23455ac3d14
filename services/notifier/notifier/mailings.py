"""Mailings: one text to many residents, once each, through the outbox; and their
delivery figures.

A mailing is a **job** (collection ``jobs``, ``_id`` = a deterministic job id, e.g.
``derived_id(outage_id, revision, change)``) and its **chunks** (collection
``mail_chunks``, ``_id`` = ``<job id>:<n>``). A chunk holds the resident ids it covers
(``rids``, sorted), the receivers it sends to (``to``), the outbound batch ids it
carries (``events``) and, in the same insert, an outbox entry
(``chatbot_common.outbox``) with those outbound events — at most
``NOTIFIER_CHUNK_BATCHES`` batches of ≤ 300 receivers, so a 300 000 mailing is 40
documents of well under 16 MB each (MongoDB's document limit).

Planning (:meth:`Mailer.run`):

1. the job document is inserted once (its text fixed at that moment, ``state:
   planning``);
2. the chunks already stored are read; the audience is computed and every resident
   (and every receiver: one Viber user under two resident ids) already in a stored
   chunk is left out; the rest is cut into new chunks, batch ids
   ``derived_id(job id, "batch", n)`` continuing the numbering (the ids
   ``events.split_receivers`` gives), each chunk ONE insert with its outbox entry;
3. the job becomes ``ready`` (targeted and unreachable counted);
4. each chunk is published as soon as it is stored, while the next ones are planned
   (``NOTIFIER_PUBLISH_CONCURRENCY`` chunks at once, a chunk's batches all at once:
   their order does not matter), its outbox entry pulled only after every one of its
   events was confirmed; what a failure left is published by the same run once
   planning is over (``Outbox.flush``) or else by the outbox relay.

A crash anywhere leaves a state the redelivered input (or, for step 4, the outbox
relay) completes: a stored chunk is never rebuilt, so no resident lands in two batches;
a resident not yet in a chunk is planned on the next run, so none is missed; a batch
published twice has the same event id, and the gateway never sends an event id twice.

Delivery figures (:class:`Figures`) are kept per chunk in small documents of their own
(collection ``mail_figures``), each update one conditional write on one of them, so a
redelivered ``delivery.*`` event counts once and a resident's ``delivered``/``seen``
once each. A chunk's figures are spread over ``FIGURE_BUCKETS`` documents (``_id`` =
``<chunk id>#<bucket>``, the bucket a hash of the value counted once — a batch id or a
receiver — each made on its first figure), so the lists that say what was counted stay
short: Viber sends a ``delivered`` and a ``seen`` receipt for nearly every receiver,
and with one list per chunk each of a 300 000 mailing's ~600 000 receipts rewrote a
document of up to 7 500 ids (quadratic: 1.3 ms a receipt at the end of a chunk in the
in-memory store; against MongoDB a ~300 KB document written per receipt). Not on the
chunk itself either: a chunk carries up to 7 500 resident ids and its outbox entry.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from pymongo.errors import DuplicateKeyError

from chatbot_common.bus import Bus, PublishError
from chatbot_common.events import (
    MAX_RECEIVERS,
    Button,
    CloudEvent,
    DeliveryDelivered,
    DeliveryFailed,
    DeliverySeen,
    DeliverySent,
    Lane,
    MailingProgress,
    OutboundMessage,
    derived_id,
    make_event,
    utcnow,
)
from chatbot_common.outbox import FIELD as OUTBOX
from chatbot_common.outbox import Outbox, entry
from chatbot_common.store import Store

log = structlog.get_logger("notifier.mailings")
SOURCE = "/notifier"
JOBS = "jobs"
CHUNKS = "mail_chunks"
TOKENS = "mail_tokens"
EARLY = "mail_early_receipts"
FIGURES = "mail_figures"
#: documents a chunk's figures are spread over (by a hash of the value counted once)
FIGURE_BUCKETS = 32
#: the figures ``totals`` adds up (``unreachable_channel``: Viber said 5/6 after accepting)
COUNTS = ("sent", "failed", "delivered", "seen", "unreachable_channel")
#: batch → chunk entries a process remembers before it starts afresh (a 300 000 mailing has 1 000 batches)
MEMO_BATCHES = 100_000
#: Viber statuses that mean the resident cannot be reached (not subscribed, no Viber)
UNREACHABLE_STATUSES = frozenset({5, 6})
#: a receipt for a message token not known yet waits this long for its ``delivery.sent``
EARLY_RECEIPT_TTL = timedelta(hours=1)

Recipients = Sequence[tuple[str, str | None]]  # (resident id, receiver or None), sorted
Stop = Callable[[], Awaitable[bool]]


def chunk_id(job_id: str, n: int) -> str:
    return f"{job_id}:{n:05d}"


def figures_id(chunk: str, value: str) -> str:
    """The figures document of ``chunk`` that counts ``value`` (a batch id, a receiver)."""
    return f"{chunk}#{zlib.crc32(value.encode()) % FIGURE_BUCKETS:02d}"


@dataclass(frozen=True)
class Job:
    job_id: str
    subject: str  # MailingProgress.subject
    subject_id: str
    kind: str  # published / reminder / end_moved / resolved / cancelled …
    text: str
    buttons: tuple[Button, ...] = ()
    lane: Lane = Lane.bulk
    media_url: str | None = None  # a picture with the text (staff mailings)


class Mailer:
    def __init__(self, bus: Bus, store: Store, *, chunk_batches: int = 25, concurrency: int = 4,
                 grace: float = 5.0) -> None:
        self.bus = bus
        self.jobs = store[JOBS]
        self.chunks = store[CHUNKS]
        self.outbox = Outbox(bus, store, CHUNKS, grace=grace)
        self.chunk_batches = chunk_batches
        self.concurrency = concurrency
        #: jobs whose figures changed here since they were last published
        self.dirty: set[str] = set()
        #: chunks being published at once
        self._gate = asyncio.Semaphore(concurrency)
        #: outbound batch id → ``{"_id": chunk id, "job_id": …}`` for the batches planned
        #: or looked up here (a chunk's batches never change); see :meth:`chunk_of_batch`
        self._chunk_of: dict[str, dict[str, str]] = {}

    async def setup(self) -> None:
        await self.outbox.setup()
        await self.chunks.create_index("job_id")
        await self.chunks.create_index([("subject_id", 1), ("kind", 1)])
        await self.chunks.create_index("events")
        await self.chunks.create_index("kind")
        await self.jobs.create_index("state")

    async def chunk_of_batch(self, batch_id: str) -> dict[str, str] | None:
        """The chunk (``_id``, ``job_id``) that carries an outbound batch, or ``None``
        (a reply, a ticket notice). Remembered in the process: a mailing's ``delivery.*``
        events each ask, and the in-memory store answers the query by reading every
        chunk (``make bench-mailing``: 6 % of the notifier's CPU during a mailing);
        another replica's batches are looked up once each."""
        found = self._chunk_of.get(batch_id)
        if found is None:
            doc = await self.chunks.find_one({"events": batch_id}, {"_id": 1, "job_id": 1})
            if doc is None:
                return None
            found = self._remember(batch_id, doc["_id"], doc["job_id"])
        return found

    def _remember(self, batch_id: str, chunk: str, job_id: str) -> dict[str, str]:
        if len(self._chunk_of) >= MEMO_BATCHES:
            self._chunk_of.clear()  # bounded; what is still needed is looked up again
        found = self._chunk_of[batch_id] = {"_id": chunk, "job_id": job_id}
        return found

    # ------------------------------------------------------------------ planning

    async def run(self, job: Job, audience: Callable[[], Awaitable[Recipients]],
                  stop: Stop | None = None) -> dict[str, Any]:
        """Plan (or finish planning) and publish one mailing; idempotent. ``stop`` (a
        staff mailing's cancel) is asked before each new chunk is stored: once it says
        yes, no further chunk is planned and nothing pending is published."""
        doc = await self._job(job)
        sending: list[asyncio.Task[bool]] = []
        try:
            if doc["state"] == "planning":
                doc = await self._plan(job, doc, await audience(), sending, stop)
        finally:
            await asyncio.gather(*sending, return_exceptions=True)
        if stop is not None and await stop():
            await self.cancel(job.job_id)  # a chunk stored as the cancel came is withdrawn too
            return doc
        await self.publish(job.job_id)  # what is still pending: an earlier run's, a failed publish
        return doc

    async def cancel(self, job_id: str) -> int:
        """Withdraw what of a mailing has not gone to the broker: the job is marked
        ``cancelled`` and every chunk still holding its outbox entry that no publisher
        has claimed loses it (marked ``withdrawn``; its residents are not counted as
        targeted). Chunks claimed or published are sent — Viber cannot take a message
        back; a claimed chunk whose publish failed is still published by the relay.
        Returns the chunks withdrawn."""
        await self.jobs.update_one({"_id": job_id}, {"$set": {"cancelled": True}})
        # a plan cut short stays cut short: its figures are those of the chunks stored
        await self.jobs.update_one({"_id": job_id, "state": "planning"},
                                   {"$set": {"state": "ready", "ready_at": utcnow()}})
        result = await self.chunks.update_many(
            {"job_id": job_id, f"{OUTBOX}.0": {"$exists": True}, "claimed": {"$ne": True}},
            {"$set": {OUTBOX: [], "withdrawn": True}})
        self.dirty.add(job_id)
        log.info("mailing.cancelled", job=job_id, withdrawn_chunks=result.modified_count)
        return result.modified_count

    async def covered(self, kind: str) -> set[str]:
        """Resident ids in any chunk of mailings of ``kind`` (e.g. the birthday
        greetings of one year), withdrawn chunks excepted."""
        rids: set[str] = set()
        async for c in self.chunks.find({"kind": kind, "withdrawn": {"$ne": True}}, {"rids": 1}):
            rids.update(c["rids"])
        return rids

    async def _send_chunk(self, cid: str, pending: dict[str, Any], events: list[CloudEvent]) -> bool:
        """Publish a chunk just planned, all its batches at once (their order does not
        matter), and pull its outbox entry once every one was confirmed; on a failure
        the entry stays for :meth:`publish` or the relay."""
        async with self._gate:
            # Claimed for publishing in one conditional write: a cancel (another task or
            # replica) withdraws only chunks nobody claimed, so what it withdraws was
            # never handed to the broker.
            claimed = await self.chunks.update_one({"_id": cid, "withdrawn": {"$ne": True}},
                                                   {"$set": {"claimed": True}})
            if not claimed.matched_count:
                return False
            results = await asyncio.gather(*(self.bus.publish(e) for e in events), return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                log.warning("mailing.publish_failed", chunk=cid, failed=len(failures), error=repr(failures[0])[:200])
                self.outbox.unpublished()
                return False
            await self.chunks.update_one({"_id": cid}, {"$pull": {OUTBOX: {"input": pending["input"]}}})
            return True

    async def _job(self, job: Job) -> dict[str, Any]:
        doc = await self.jobs.find_one({"_id": job.job_id})
        if doc is not None:
            return doc
        doc = {
            "_id": job.job_id, "subject": job.subject, "subject_id": job.subject_id, "kind": job.kind,
            "text": job.text, "buttons": [b.model_dump(mode="json") for b in job.buttons], "lane": job.lane.value,
            "media_url": job.media_url, "state": "planning", "created_at": utcnow(), "done": False,
        }
        try:
            await self.jobs.insert_one(doc)
        except DuplicateKeyError:
            doc = await self.jobs.find_one({"_id": job.job_id})
        return doc

    async def _plan(self, job: Job, doc: dict[str, Any], recipients: Recipients,
                    sending: list[asyncio.Task[bool]], stop: Stop | None = None) -> dict[str, Any]:
        job_id = job.job_id
        planned: set[str] = set()
        # Receivers already in a stored chunk: a Viber user behind two resident ids
        # (two records of one person) gets one message, also when the plan is resumed.
        seen_receivers: set[str] = set()
        next_chunk = next_batch = 0
        async for chunk in self.chunks.find({"job_id": job_id}, {"rids": 1, "to": 1, "n": 1, "batches": 1}):
            planned.update(chunk["rids"])
            seen_receivers.update(chunk.get("to") or ())
            next_chunk = max(next_chunk, chunk["n"] + 1)
            next_batch += chunk["batches"]
        # The text and buttons stored with the job: a resumed run sends the same message.
        text = doc["text"]
        buttons = [Button.model_validate(b) for b in doc.get("buttons") or []]
        lane = Lane(doc.get("lane", Lane.bulk.value))
        media_url = doc.get("media_url")
        per_chunk = self.chunk_batches * MAX_RECEIVERS
        todo: list[tuple[str, str | None]] = []
        for rid, receiver in recipients:
            if rid in planned:
                continue
            if receiver is not None:
                if receiver in seen_receivers:
                    receiver = None  # one Viber user, two resident ids: never twice
                else:
                    seen_receivers.add(receiver)
            todo.append((rid, receiver))
        for start in range(0, len(todo), per_chunk):
            if stop is not None and await stop():
                log.info("mailing.stopped", job=job_id, planned_chunks=next_chunk)
                break
            part = todo[start:start + per_chunk]
            reachable = [(rid, r) for rid, r in part if r is not None]
            events: list[CloudEvent] = []
            for b in range(0, len(reachable), MAX_RECEIVERS):
                batch = reachable[b:b + MAX_RECEIVERS]
                message = OutboundMessage(lane=lane, receivers=[r for _, r in batch],
                                          resident_ids=[rid for rid, _ in batch], text=text, buttons=buttons,
                                          media_url=media_url)
                events.append(make_event(message, source=SOURCE, id=derived_id(job_id, "batch", next_batch),
                                         correlationid=job_id))
                next_batch += 1
            cid = chunk_id(job_id, next_chunk)
            chunk_doc: dict[str, Any] = {
                "_id": cid, "job_id": job_id, "subject_id": job.subject_id, "kind": doc["kind"], "n": next_chunk,
                "rids": [rid for rid, _ in part], "to": [r for _, r in reachable], "targeted": len(part),
                "events": [e.id for e in events],
                "batches": len(events), "receivers": len(reachable), "unreachable": len(part) - len(reachable),
            }
            pending = entry(cid, events) if events else None
            if pending is not None:
                chunk_doc[OUTBOX] = [pending]
            try:
                await self.chunks.insert_one(chunk_doc)
            except DuplicateKeyError:
                raise RuntimeError(f"chunk {cid} planned twice at once; the input runs again") from None
            next_chunk += 1
            for e in events:
                self._remember(e.id, cid, job_id)
            if pending is not None:
                # Stored: it may go out while the next chunks are planned.
                sending.append(asyncio.create_task(self._send_chunk(cid, pending, events)))
                await asyncio.sleep(0)
        totals = await self._planned_totals(job_id)
        update = {"state": "ready", "targeted": totals["targeted"], "unreachable": totals["unreachable"],
                  "receivers": totals["receivers"], "batches": totals["batches"], "ready_at": utcnow()}
        await self.jobs.update_one({"_id": job_id, "state": "planning"}, {"$set": update})
        self.dirty.add(job_id)
        log.info("mailing.planned", job=job_id, kind=doc["kind"], **totals)
        return {**doc, **update}

    async def _planned_totals(self, job_id: str) -> dict[str, int]:
        totals = {"targeted": 0, "unreachable": 0, "receivers": 0, "batches": 0, "chunks": 0}
        async for c in self.chunks.find({"job_id": job_id},
                                        {"targeted": 1, "unreachable": 1, "receivers": 1, "batches": 1}):
            totals["targeted"] += await self.targeted(c)
            totals["unreachable"] += c["unreachable"]
            totals["receivers"] += c["receivers"]
            totals["batches"] += c["batches"]
            totals["chunks"] += 1
        return totals

    async def targeted(self, chunk: dict[str, Any]) -> int:
        """Residents in a chunk (its count; a chunk stored by an older version has only
        its list of ids)."""
        if "targeted" in chunk:
            return int(chunk["targeted"])
        doc = await self.chunks.find_one({"_id": chunk["_id"]}, {"rids": 1})
        return len((doc or {}).get("rids") or [])

    async def publish(self, job_id: str) -> bool:
        """Publish the job's pending chunks, a few at once; ``True`` when none is left."""
        pending = [c async for c in self.chunks.find({"job_id": job_id, f"{OUTBOX}.0": {"$exists": True}},
                                                     {OUTBOX: 1})]
        if not pending:
            return True
        gate = asyncio.Semaphore(self.concurrency)

        async def one(chunk: dict[str, Any]) -> bool:
            async with gate:
                return await self.outbox.flush(chunk["_id"], chunk[OUTBOX])

        results = await asyncio.gather(*(one(c) for c in pending))
        return all(results)

    async def notified(self, subject_id: str, kinds: Sequence[str]) -> tuple[set[str], set[str]]:
        """The resident ids earlier mailings of ``kinds`` about ``subject_id`` covered,
        and the receivers they were sent to (chunks planned before chunks recorded
        them count none) — one read of those chunks."""
        rids: set[str] = set()
        receivers: set[str] = set()
        async for c in self.chunks.find({"subject_id": subject_id, "kind": {"$in": list(kinds)}}, {"rids": 1, "to": 1}):
            rids.update(c["rids"])
            receivers.update(c.get("to") or ())
        return rids, receivers

    async def relay(self, safety_scan: float = 30.0) -> None:
        await self.outbox.relay(safety_scan)


class Figures:
    """Delivery figures per mailing from ``delivery.*`` events, and their publication
    as ``mailing.progress`` at a bounded rate."""

    def __init__(self, bus: Bus, store: Store, mailer: Mailer) -> None:
        self.bus = bus
        self.mailer = mailer
        self.jobs = mailer.jobs
        self.chunks = mailer.chunks
        self.figures = store[FIGURES]
        self.tokens = store[TOKENS]
        self.early = store[EARLY]

    async def setup(self) -> None:
        await self.early.create_index("at", expireAfterSeconds=int(EARLY_RECEIPT_TTL.total_seconds()))
        await self.early.create_index("token")
        await self.figures.create_index("job_id")

    async def handle(self, event: CloudEvent) -> None:
        data = event.payload()
        if isinstance(data, DeliverySent):
            await self._sent(data)
        elif isinstance(data, DeliveryFailed):
            await self._failed(data)
        elif isinstance(data, DeliveryDelivered | DeliverySeen):
            await self._receipt(data, "seen" if isinstance(data, DeliverySeen) else "delivered", event.id)

    async def _bump(self, chunk: dict[str, Any], once_per: str, value: str, inc: dict[str, int]) -> None:
        """Count ``inc`` on the chunk's figures once per ``value`` (kept in the list
        ``once_per`` of the value's bucket): ONE conditional write, so a redelivered
        event counts once. A bucket's document is made on its first figure."""
        doc_id = figures_id(chunk["_id"], value)
        for _ in range(2):
            result = await self.figures.update_one({"_id": doc_id, once_per: {"$ne": value}},
                                                   {"$push": {once_per: value}, "$inc": inc})
            if result.modified_count:
                self.mailer.dirty.add(chunk["job_id"])
                return
            if await self.figures.count_documents({"_id": doc_id}, limit=1):
                return  # counted already (a repeat)
            try:
                await self.figures.insert_one({"_id": doc_id, "chunk": chunk["_id"], "job_id": chunk["job_id"]})
            except DuplicateKeyError:
                pass  # another event of the chunk made it meanwhile

    async def _sent(self, data: DeliverySent) -> None:
        chunk = await self.mailer.chunk_of_batch(data.outbound_event_id)
        if chunk is None:
            return  # not a mailing batch (a reply, a ticket notice)
        await self.tokens.update_one({"_id": data.channel_message_id},
                                     {"$set": {"chunk": chunk["_id"], "job_id": chunk["job_id"]}}, upsert=True)
        await self._bump(chunk, "sent_events", data.outbound_event_id, {"sent": data.receivers - data.failed})
        # receipts that arrived before this event
        async for early in self.early.find({"token": data.channel_message_id}):
            await self._count(chunk, early["kind"], early["user"])
            await self.early.delete_one({"_id": early["_id"]})

    async def _failed(self, data: DeliveryFailed) -> None:
        chunk = None
        after_acceptance = False
        if data.outbound_event_id:
            chunk = await self.mailer.chunk_of_batch(data.outbound_event_id)
        elif data.channel_message_id:
            token = await self.tokens.find_one({"_id": data.channel_message_id})
            if token is not None:
                chunk = {"_id": token["chunk"], "job_id": token["job_id"]}
                after_acceptance = True  # Viber had accepted it: counted as sent, now failed
        if chunk is None:
            return
        field = "unreachable_channel" if data.status_code in UNREACHABLE_STATUSES else "failed"
        inc: dict[str, int] = {field: 1}
        if after_acceptance:
            inc["sent"] = -1
        await self._bump(chunk, "failed_users", data.channel_user_id, inc)

    async def _receipt(self, data: DeliveryDelivered | DeliverySeen, kind: str, event_id: str) -> None:
        token = await self.tokens.find_one({"_id": data.channel_message_id})
        if token is None:
            # Most are receipts of replies; a mailing's may overtake its delivery.sent.
            await self.early.update_one(
                {"_id": event_id},
                {"$set": {"token": data.channel_message_id, "kind": kind, "user": data.channel_user_id,
                          "at": utcnow()}},
                upsert=True,
            )
            return
        chunk = {"_id": token["chunk"], "job_id": token["job_id"]}
        await self._count(chunk, kind, data.channel_user_id)

    async def _count(self, chunk: dict[str, Any], kind: str, user: str) -> None:
        kinds = ["delivered", "seen"] if kind == "seen" else ["delivered"]  # seen implies delivered
        for k in kinds:
            await self._bump(chunk, f"{k}_users", user, {k: 1})

    # ------------------------------------------------------------------ progress

    async def totals(self, job_id: str) -> dict[str, Any] | None:
        job = await self.jobs.find_one({"_id": job_id})
        if job is None or job["state"] == "planning":
            return None
        figures = {"sent": 0, "failed": 0, "delivered": 0, "seen": 0, "unreachable": 0}
        queued = viber_unreachable = 0
        targeted = job.get("targeted", 0)
        cancelled = bool(job.get("cancelled"))
        if cancelled:
            targeted = 0  # those whose batches had gone to the broker before the cancel
        counted: dict[str, dict[str, int]] = {}
        async for f in self.figures.find({"job_id": job_id}, {"chunk": 1, **dict.fromkeys(COUNTS, 1)}):
            sums = counted.setdefault(f.get("chunk", f["_id"]), dict.fromkeys(COUNTS, 0))  # no "chunk": one per chunk (older)
            for k in COUNTS:
                sums[k] += f.get(k, 0)
        fields = {"unreachable": 1, "receivers": 1, "withdrawn": 1, "targeted": 1}
        async for c in self.chunks.find({"job_id": job_id}, fields):
            if c.get("withdrawn"):
                continue  # never handed to the broker (cancelled): nobody there was targeted
            if cancelled:
                targeted += await self.mailer.targeted(c)
            f = counted.get(c["_id"], {})
            figures["sent"] += f.get("sent", 0)
            figures["failed"] += f.get("failed", 0)
            figures["delivered"] += f.get("delivered", 0)
            figures["seen"] += f.get("seen", 0)
            figures["unreachable"] += c["unreachable"] + f.get("unreachable_channel", 0)
            viber_unreachable += f.get("unreachable_channel", 0)
            queued += c["receivers"]
        # done: every receiver queued has an outcome (accepted, failed or unreachable)
        done = figures["sent"] + figures["failed"] + viber_unreachable >= queued
        return {"job": job, "targeted": targeted, "done": done, **figures}

    async def progress(self, job_id: str) -> MailingProgress | None:
        totals = await self.totals(job_id)
        if totals is None:
            return None
        job = totals.pop("job")
        progress = MailingProgress(mailing_id=job_id, subject=job["subject"], subject_id=job["subject_id"],
                                   at=utcnow(), **totals)
        await self.bus.publish(make_event(progress, source=SOURCE, correlationid=job_id))
        if progress.done and not job.get("done"):
            await self.jobs.update_one({"_id": job_id}, {"$set": {"done": True, "state": "done", "done_at": utcnow()}})
            log.info("mailing.done", job=job_id, targeted=progress.targeted, sent=progress.sent,
                     failed=progress.failed, unreachable=progress.unreachable)
        return progress

    async def publish_dirty(self) -> int:
        dirty, self.mailer.dirty = self.mailer.dirty, set()
        published = 0
        for job_id in sorted(dirty):
            try:
                if await self.progress(job_id) is not None:
                    published += 1
            except PublishError as exc:
                self.mailer.dirty.add(job_id)
                log.warning("mailing.progress_not_published", job=job_id, error=str(exc)[:200])
        return published

    async def reporter(self, every: float) -> None:
        """Background job: publish changed figures at most every ``every`` seconds;
        at start, those of every mailing not done yet."""
        async for job in self.jobs.find({"done": False}, {"_id": 1}):
            self.mailer.dirty.add(job["_id"])
        while True:
            await self.publish_dirty()
            await asyncio.sleep(every)
