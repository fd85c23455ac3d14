"""Mailing figures from the notifier's ``mailing.progress`` (queue ``admin.mailings``),
kept per mailing: collection ``deliveries``, one document per ``(subject, subject_id,
mailing_id)``.

An outage has several mailings (published, end moved, resolved…), a staff mailing one,
a greeting event one per send. Keeping them per ``mailing_id`` means a late report of
an outage's first mailing can no longer overwrite the figures of its second (the known
issue of keeping one document per outage). What a page shows is the **latest mailing**
of the subject: the one whose first report arrived last (``started_at``), with its own
newest figures (``at`` decides; a repeated or older report changes nothing — idempotent
without an inbox). :meth:`Figures.mailings` lists them all for a per-mailing table.
"""

from __future__ import annotations

import re

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from chatbot_common.events import MailingProgress
from chatbot_common.store import Store

COLLECTION = "deliveries"
FIGURES = ("targeted", "sent", "delivered", "seen", "failed", "unreachable", "done")


class Delivery(BaseModel):
    """Figures of one mailing (from the notifier's mailing.progress); zeros and
    ``done: false`` before the first report."""

    targeted: int = 0
    sent: int = 0
    delivered: int = 0
    seen: int = 0
    failed: int = 0
    unreachable: int = 0
    done: bool = False
    mailing_id: str | None = None
    at: datetime | None = None


def _key(subject: str, subject_id: str, mailing_id: str) -> str:
    return f"{subject}|{subject_id}|{mailing_id}"


class Figures:
    def __init__(self, store: Store) -> None:
        self.collection = store[COLLECTION]

    async def setup(self) -> None:
        await self.collection.create_index([("subject", 1), ("subject_id", 1), ("started_at", DESCENDING)])

    async def record(self, data: MailingProgress) -> None:
        key = _key(data.subject, data.subject_id, data.mailing_id)
        figures = {k: getattr(data, k) for k in FIGURES} | {"at": data.at}
        result = await self.collection.update_one({"_id": key, "at": {"$lte": data.at}}, {"$set": figures})
        if result.matched_count:
            # the mailing began no later than its earliest report
            await self.collection.update_one({"_id": key, "started_at": {"$gt": data.at}},
                                             {"$set": {"started_at": data.at}})
            return
        try:
            await self.collection.insert_one({"_id": key, "subject": data.subject, "subject_id": data.subject_id,
                                              "mailing_id": data.mailing_id, "started_at": data.at, **figures})
        except DuplicateKeyError:
            # newer figures are there already; this older report may still date the start
            await self.collection.update_one({"_id": key, "started_at": {"$gt": data.at}},
                                             {"$set": {"started_at": data.at}})

    async def latest(self, subject: str, subject_id: str) -> Delivery:
        """The figures of the subject's latest mailing (zeros before any report)."""
        cursor = self.collection.find({"subject": subject, "subject_id": subject_id}).sort(
            [("started_at", DESCENDING), ("_id", DESCENDING)]).limit(1)
        docs = [d async for d in cursor]
        return _delivery(docs[0]) if docs else Delivery()

    async def mailings(self, subject: str, subject_id: str) -> list[Delivery]:
        """Every mailing of the subject, latest first."""
        cursor = self.collection.find({"subject": subject, "subject_id": subject_id}).sort(
            [("started_at", DESCENDING), ("_id", DESCENDING)])
        return [_delivery(d) async for d in cursor]

    async def latest_many(self, subject: str, subject_ids: list[str]) -> dict[str, Delivery]:
        found: dict[str, Delivery] = {}
        if not subject_ids:
            return found
        cursor = self.collection.find({"subject": subject, "subject_id": {"$in": subject_ids}}).sort(
            [("started_at", DESCENDING), ("_id", DESCENDING)])
        async for doc in cursor:
            found.setdefault(doc["subject_id"], _delivery(doc))
        return found


    async def latest_with_prefix(self, subject: str, prefix: str) -> Delivery | None:
        """The latest mailing whose subject id starts with ``prefix`` (the notifier reports
        each day's birthday greetings as ``birthday:<date>``)."""
        cursor = self.collection.find({"subject": subject, "subject_id": {"$regex": f"^{re.escape(prefix)}"}}).sort(
            [("started_at", DESCENDING), ("_id", DESCENDING)]).limit(1)
        async for doc in cursor:
            return _delivery(doc)
        return None


def _delivery(doc: dict[str, Any]) -> Delivery:
    return Delivery(**{k: doc.get(k, 0 if k != "done" else False) for k in FIGURES},
                    mailing_id=doc.get("mailing_id"), at=doc.get("at"))
