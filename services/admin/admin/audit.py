"""The audit log: who changed what, when, with a before/after summary (never password
material).

A change and its audit record are ONE write: the record is ``$push``-ed onto the changed
document (``pending_audit``) in the same ``update_one``/``insert_one`` as the change —
like the outbox — and then copied into the ``audit`` collection under its own
deterministic ``_id`` (an upsert, so copying twice is harmless) and pulled from the
document. A crash between the two leaves the record on the document, where the relay
(a background job) finds and copies it. So no change is ever without its record, and no
record exists for a change that did not happen (which a separate insert before the
write could leave behind when the write then fails or conflicts).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from pymongo import DESCENDING

from chatbot_common.events import utcnow
from chatbot_common.store import Store

PENDING = "pending_audit"
COLLECTION = "audit"


#: what the audit log records changes of (``entity``); the API's filter takes these
ENTITIES = ("outage", "staff", "info", "faq", "faq_question", "mailing", "greetings", "survey")


class AuditRecord(BaseModel):
    id: str
    at: datetime
    actor_id: str
    actor_email: str
    action: str  # outage.published, outage.updated, staff.created, staff.role_changed …
    entity: str  # one of ENTITIES
    entity_id: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


def record(*, id: str, actor_id: str, actor_email: str, action: str, entity: str, entity_id: str,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
           at: datetime | None = None) -> dict[str, Any]:
    """An audit record as stored (``_id`` deterministic from the change)."""
    return {"_id": id, "at": at or utcnow(), "actor_id": actor_id, "actor_email": actor_email, "action": action,
            "entity": entity, "entity_id": entity_id, "before": before, "after": after}


def push(rec: dict[str, Any]) -> dict[str, Any]:
    return {"$push": {PENDING: rec}}


def merge(*updates: dict[str, Any]) -> dict[str, Any]:
    """Merge update documents (``{"$set"…}``, ``{"$push"…}``) into one."""
    merged: dict[str, Any] = {}
    for update in updates:
        for op, fields in update.items():
            merged.setdefault(op, {}).update(fields)
    return merged


class AuditLog:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.collection = store[COLLECTION]

    async def setup(self, *collections: str) -> None:
        await self.collection.create_index([("at", DESCENDING)])
        await self.collection.create_index([("entity", 1), ("entity_id", 1), ("at", DESCENDING)])
        for name in collections:
            await self.store[name].create_index(f"{PENDING}.at", sparse=True)

    async def settle(self, collection: str, doc_id: Any, pending: list[dict[str, Any]] | None = None) -> None:
        """Copy the document's pending records into the log, then pull them."""
        if pending is None:
            doc = await self.store[collection].find_one({"_id": doc_id}, {PENDING: 1})
            pending = (doc or {}).get(PENDING) or []
        for rec in pending:
            await self.collection.replace_one({"_id": rec["_id"]}, rec, upsert=True)
            await self.store[collection].update_one({"_id": doc_id}, {"$pull": {PENDING: {"_id": rec["_id"]}}})

    async def settle_all(self, collection: str, grace: float) -> int:
        """The relay's part: copy records left on documents older than ``grace`` s."""
        cutoff = utcnow() - timedelta(seconds=grace)
        # ``$lte``: stored times are whole milliseconds (BSON), as in Outbox.relay_once
        ids = [d["_id"] async for d in self.store[collection].find({f"{PENDING}.at": {"$lte": cutoff}}, {"_id": 1})]
        for doc_id in ids:
            await self.settle(collection, doc_id)
        return len(ids)

    async def list(self, *, entity: str | None = None, entity_id: str | None = None, actor_id: str | None = None,
                   limit: int = 100, before: datetime | None = None) -> list[AuditRecord]:
        query: dict[str, Any] = {}
        if entity:
            query["entity"] = entity
        if entity_id:
            query["entity_id"] = entity_id
        if actor_id:
            query["actor_id"] = actor_id
        if before:
            query["at"] = {"$lt": before}
        cursor = self.collection.find(query).sort([("at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [AuditRecord(id=d.pop("_id"), **d) async for d in cursor]
