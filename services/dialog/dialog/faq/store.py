"""The knowledge base and the question feedback in the dialog's database (C3).

- ``faq``: one document per entry (``_id`` = entry id): ``entry`` (``None`` once
  deleted), ``revision`` (0 for the seed file, staff changes count from 1), ``source``
  (``seed`` or ``staff``), ``updated_at``.
- ``faq_meta``: ``{_id: "seed", version}`` — the seed file version applied;
  ``{_id: "generation", n}`` — grows with every change, so replicas know to rebuild.
- ``faq_questions``: one document per ``faq.feedback`` event (``_id`` = event id):
  unanswered questions, 👍 and 👎, without personal data. Staff read them through the
  admin API later (docs/faq.md); ``feedback()`` is the query it needs.

Every write is idempotent: a change applies only over a lower revision, feedback is
keyed by its event id, a seed only over seed-sourced entries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from chatbot_common.events import FaqChanged, FaqEntry, FaqFeedback, utcnow
from chatbot_common.store import Store

from .kb import Seed


class FaqStore:
    def __init__(self, store: Store) -> None:
        self.docs = store["faq"]
        self.meta = store["faq_meta"]
        self.questions = store["faq_questions"]

    async def setup(self) -> None:
        await self.questions.create_index([("verdict", 1), ("at", -1)])

    async def seed(self, seed: Seed) -> int:
        """Apply the packaged file when the base is empty or holds an older version;
        entries staff changed are left as they are. Returns how many entries it wrote."""
        meta = await self.meta.find_one({"_id": "seed"})
        if meta is not None and int(meta.get("version", 0)) >= seed.version:
            return 0
        now = utcnow()
        written = 0
        ids = [e.id for e in seed.entries]
        for entry in seed.entries:
            doc = {"entry": entry.model_dump(mode="json"), "revision": 0, "source": "seed",
                   "seed_version": seed.version, "updated_at": now}
            try:
                result = await self.docs.update_one({"_id": entry.id, "source": "seed"}, {"$set": doc}, upsert=True)
                written += bool(result.upserted_id or result.modified_count)
            except DuplicateKeyError:
                pass  # staff own this entry now
        # Entries a newer file no longer has (and nobody edited) are withdrawn.
        await self.docs.update_many({"source": "seed", "_id": {"$nin": ids}},
                                    {"$set": {"entry": None, "updated_at": now}})
        await self.meta.update_one({"_id": "seed"}, {"$set": {"version": seed.version}}, upsert=True)
        await self._bump()
        return written

    async def apply(self, change: FaqChanged) -> bool:
        """A staff change, applied only over a lower revision (replays change nothing)."""
        doc = {"entry": change.entry.model_dump(mode="json") if change.entry else None, "revision": change.revision,
               "source": "staff", "updated_at": change.at, "changed_by": change.changed_by}
        try:
            result = await self.docs.update_one({"_id": change.entry_id, "revision": {"$lt": change.revision}},
                                                {"$set": doc}, upsert=True)
        except DuplicateKeyError:
            return False  # a newer (or the same) revision is already there
        changed = bool(result.upserted_id or result.modified_count)
        if changed:
            await self._bump()
        return changed

    async def entries(self) -> list[FaqEntry]:
        out = []
        async for doc in self.docs.find({"entry": {"$ne": None}}).sort("_id", 1):
            out.append(FaqEntry.model_validate(doc["entry"]))
        return out

    async def entry(self, entry_id: str) -> dict[str, Any] | None:
        return await self.docs.find_one({"_id": entry_id})

    async def generation(self) -> int:
        doc = await self.meta.find_one({"_id": "generation"})
        return int(doc["n"]) if doc else 0

    async def _bump(self) -> None:
        await self.meta.update_one({"_id": "generation"}, {"$inc": {"n": 1}}, upsert=True)

    async def record(self, event_id: str, feedback: FaqFeedback) -> None:
        """Keep one ``faq.feedback`` (idempotent by event id)."""
        doc = feedback.model_dump(mode="json", exclude={"at"})
        await self.questions.update_one({"_id": event_id}, {"$setOnInsert": {**doc, "at": feedback.at}}, upsert=True)

    async def feedback(self, verdict: str | None = None, *, since: datetime | None = None,
                       limit: int = 100) -> list[dict[str, Any]]:
        """The newest feedback first (what the admin API will list)."""
        query: dict[str, Any] = {}
        if verdict:
            query["verdict"] = verdict
        if since:
            query["at"] = {"$gte": since}
        return [doc async for doc in self.questions.find(query).sort("at", -1).limit(limit)]
