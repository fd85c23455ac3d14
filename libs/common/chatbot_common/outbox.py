"""The transactional outbox every service uses (issue 6): state change and the events it
causes are ONE document write; a relay publishes them and forgets them only after the
broker confirmed.

How it works, with single-document atomicity only (the embedded store has none more):

- The outputs of handling one *input* (an inbound event, an HTTP command, a poll
  result, a scheduled job) are an **entry** ``{"input": <input id>, "at": <time>,
  "events": [<CloudEvent JSON>…]}`` pushed (``$push``) onto the ``outbox`` array of the
  document whose state changed, in the same ``update_one``/``insert_one`` as the change
  (:func:`push`). Entries are never overwritten: each input adds its own, and the array
  keeps them in the order the inputs were handled.
- :meth:`Outbox.flush` publishes a document's entries oldest first, each event waiting
  for its confirm, and ``$pull``s an entry only once all its events are confirmed. It
  stops at the first failure, so a later entry never overtakes an earlier one.
- The handling path flushes right after its write. Whatever it could not publish (the
  broker blocked or gone, the process killed) is picked up by the **relay**
  (:meth:`Outbox.relay`), a background job that flushes every document holding an entry
  older than ``grace`` seconds.
- Two flushers of one document (the handling path and the relay, or two replicas) may
  publish an event twice; never out of order — an event is published only after every
  event before it was confirmed by *some* flusher. Events have deterministic ids
  (``events.derived_id``), so consumers' inboxes drop the repeat.

The relay is a *recovery* path: it only looks at entries older than ``grace``, so it
does not race the handling path in the common case.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import Any

import structlog

from .bus import Bus, PublishError
from .events import CloudEvent, utcnow
from .locks import wait_event
from .metrics import OUTBOX_UNPUBLISHED
from .store import Store

log = structlog.get_logger("chatbot.outbox")

FIELD = "outbox"


def entry(input_id: str, events: Iterable[CloudEvent]) -> dict[str, Any]:
    """The outbox entry for the outputs of one input."""
    return {"input": input_id, "at": utcnow(), "events": [e.model_dump(mode="json") for e in events]}


def push(input_id: str, events: Iterable[CloudEvent]) -> dict[str, Any]:
    """The update operator that appends one input's outputs; merge it into the update
    that writes the state change (``{"$set": {...}, **push(...)}``)."""
    return {"$push": {FIELD: entry(input_id, events)}}


class Outbox:
    """Publishes the outbox entries kept in one collection's documents."""

    def __init__(self, bus: Bus, store: Store, collection: str, *, grace: float = 5.0) -> None:
        self.bus = bus
        self.collection = store[collection]
        self.name = collection
        self.grace = grace
        #: whether other processes write this collection too (MongoDB). An in-memory
        #: store is this process's own and starts empty: only this process's failed
        #: flushes can leave anything behind, so the relay skips its periodic scan —
        #: a scan the in-memory store answers by reading every document, which stalled
        #: the event loop for ~180 ms at 15 000 residents (``make bench``, p99).
        self.shared = not store.in_memory
        #: set when a flush could not publish: the relay then looks soon
        self.failed = asyncio.Event()
        OUTBOX_UNPUBLISHED.labels(collection=collection)  # the series exists at 0 (alerts)

    async def setup(self) -> None:
        # The relay's query: documents with an entry older than the grace period.
        await self.collection.create_index(f"{FIELD}.at", sparse=True)

    async def flush(self, doc_id: Any, entries: list[dict[str, Any]] | None = None) -> bool:
        """Publish the document's pending entries in order; ``True`` when none is left.

        ``entries`` may be passed when the caller already holds the document (saves a
        read); they must be the document's entries as just written."""
        if entries is None:
            doc = await self.collection.find_one({"_id": doc_id}, {FIELD: 1})
            entries = (doc or {}).get(FIELD) or []
        for pending in entries:
            try:
                for raw in pending["events"]:
                    await self.bus.publish(CloudEvent.model_validate(raw))
            except PublishError as exc:
                log.warning("outbox.publish_failed", collection=self.name, input=pending["input"], error=str(exc)[:200])
                self.unpublished()
                return False
            await self.collection.update_one({"_id": doc_id}, {"$pull": {FIELD: {"input": pending["input"]}}})
        return True

    def unpublished(self) -> None:
        """A publish of this outbox's entries was not confirmed (here or by a caller
        that publishes them itself): counted for ops, and the relay looks soon."""
        OUTBOX_UNPUBLISHED.labels(collection=self.name).inc()
        self.failed.set()

    async def relay_once(self) -> int:
        """Flush every document holding an entry older than ``grace``; returns how many
        documents were flushed completely."""
        cutoff = utcnow() - timedelta(seconds=self.grace)
        flushed = 0
        # ``$lte``: stored times are whole milliseconds (BSON), so with a grace of 0 an entry
        # written in this very millisecond still counts as due.
        cursor = self.collection.find({f"{FIELD}.at": {"$lte": cutoff}}, {"_id": 1})
        ids = [doc["_id"] async for doc in cursor]
        for doc_id in ids:
            if await self.flush(doc_id):
                flushed += 1
            else:
                break  # the broker refuses: try again next round rather than hammer it
        if ids:
            log.info("outbox.relayed", collection=self.name, documents=len(ids), flushed=flushed)
        return flushed

    async def relay(self, safety_scan: float = 30.0, scan: Callable[[], Awaitable[object]] | None = None) -> None:
        """Background job, forever: ``scan()`` (default :meth:`relay_once`; a service with
        more to recover passes its own) at start, ``grace`` seconds after a flush here
        failed (a flush that fails — in a scan too — sets :attr:`failed`), and every
        ``safety_scan`` seconds otherwise (another replica died) when the collection is
        :attr:`shared`. A scan per second would cost more than the messages."""
        scan = scan or self.relay_once
        while True:
            try:
                await scan()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the relay must outlive a bad round
                log.warning("outbox.relay_failed", collection=self.name, error=repr(exc)[:200])
            if not await wait_event(self.failed, safety_scan if self.shared else None):
                continue
            self.failed.clear()
            await asyncio.sleep(self.grace)
