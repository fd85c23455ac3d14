"""The dialog's own database: residents, channel identities, and a per-resident outbox.

Atomicity without transactions (the in-memory store has none, testing.md): the new
resident state, the events it must publish (outbox) and the id of the inbound event
that caused them are written in ONE document write. A crash after that write and before
the publishes is repaired when the inbound event is redelivered: the handler sees
``last_event_id`` and re-publishes the stored outbox (same deterministic ids, so
downstream drops duplicates) instead of answering twice.
"""

from __future__ import annotations

from typing import Any

from chatbot_common.events import Channel, CloudEvent, utcnow
from chatbot_common.store import Store

from .conversation.model import Resident, identity_key


class ResidentRepository:
    def __init__(self, store: Store) -> None:
        self.residents = store["residents"]
        self.identities = store["identities"]

    async def setup(self) -> None:
        await self.residents.create_index("phone", sparse=True)
        await self.identities.create_index("resident_id")

    # --- lookups
    async def resident_id_for(self, channel: Channel, channel_user_id: str) -> str | None:
        doc = await self.identities.find_one({"_id": identity_key(channel, channel_user_id)})
        return doc["resident_id"] if doc else None

    async def load(self, resident_id: str) -> tuple[Resident | None, dict[str, Any] | None]:
        """The resident (``None`` if deleted) and the raw document (outbox, markers)."""
        doc = await self.residents.find_one({"_id": resident_id})
        if doc is None or doc.get("deleted"):
            return None, doc
        return Resident.model_validate(doc["resident"]), doc

    async def by_id(self, resident_id: str) -> Resident | None:
        resident, _doc = await self.load(resident_id)
        return resident

    async def by_phone(self, phone: str) -> Resident | None:
        """S7: the registered resident who verified this phone (any channel)."""
        doc = await self.residents.find_one({"phone": phone, "deleted": {"$ne": True}})
        return Resident.model_validate(doc["resident"]) if doc else None

    # --- writes
    async def save(self, resident: Resident, *, caused_by: str, outbox: list[CloudEvent],
                   linked: frozenset[str] = frozenset()) -> None:
        """Write the resident with its outbox; ``linked`` are identity keys already
        pointing at this resident, so only new links are written (not one per message)."""
        await self.residents.replace_one(
            {"_id": resident.id},
            {
                "_id": resident.id,
                "resident": resident.model_dump(mode="json"),
                "phone": resident.phone if resident.phone_verified else None,
                "last_event_id": caused_by,
                "outbox": [e.model_dump(mode="json") for e in outbox],
                "updated_at": utcnow(),
            },
            upsert=True,
        )
        for identity in resident.identities:
            if identity.key in linked:
                continue
            await self.identities.update_one(
                {"_id": identity.key}, {"$set": {"resident_id": resident.id}}, upsert=True
            )

    async def forget(self, resident: Resident, *, caused_by: str, outbox: list[CloudEvent]) -> None:
        """C10: delete all personal data at once, keeping only a tombstone with the pending
        outbox (the farewell reply and ``resident.deleted``) and the identity links, so a
        redelivery finds the outbox. :meth:`erase` removes both once it is published."""
        await self.residents.replace_one(
            {"_id": resident.id},
            {
                "_id": resident.id,
                "deleted": True,
                "last_event_id": caused_by,
                "outbox": [e.model_dump(mode="json") for e in outbox],
                "updated_at": utcnow(),
            },
            upsert=True,
        )

    async def erase(self, resident_id: str) -> None:
        """The last trace of a deleted resident: tombstone and channel identity links."""
        await self.identities.delete_many({"resident_id": resident_id})
        await self.residents.delete_one({"_id": resident_id, "deleted": True})

    async def drop(self, resident_id: str) -> None:
        """Remove a record another resident took over (S7); its identities were
        re-pointed by that resident's :meth:`save`."""
        await self.residents.delete_one({"_id": resident_id})

    async def outbox_sent(self, resident_id: str, caused_by: str) -> None:
        await self.residents.update_one(
            {"_id": resident_id, "last_event_id": caused_by}, {"$set": {"outbox": []}}
        )
