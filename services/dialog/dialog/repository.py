"""The dialog's own database: residents, channel identities and their outboxes.

One resident document per resident (``residents``), one link per channel identity
(``identities``: ``viber:<id>`` → resident id). Every change a resident's input causes
is ONE conditional write of the resident document (issue 6):

- ``version`` — the write succeeds only if nobody wrote the document since it was read
  (two dialog replicas can never lose an update; a loser reloads and runs again);
- ``inputs`` — the ids of the inputs already applied (the last :data:`INPUTS_KEPT`): a
  redelivered input is recognised in the same document it changed;
- ``outbox`` — the input's outputs, appended (``chatbot_common.outbox``), published by
  the handling path and, failing that, by the relay;
- ``tasks`` — what must follow on *other* documents (point an identity here, drop an
  absorbed record, release an unlinked identity, erase a deleted resident). Tasks are
  idempotent and are completed right after the write, before anything else is done with
  the resident, and by the relay — so a crash between two writes never leaves a second
  resident, a lost link or personal data out of reach of «Видалити мої дані».

New residents never depend on a second write either: the identity link is *claimed*
first (``$setOnInsert`` of a resident id derived from the input), then the resident
document is written under that id; a crash in between leaves a link to a resident that
the redelivered input creates — the same one.

S7 linking (a code typed in a new app joins that identity to an existing resident): the
writer's own record is first marked ``moving`` (to whom, by which input); then the
existing resident is written with the new identity and the tasks to re-point the link
and drop the writer's record. Whoever next reads the marked record completes the move
(the target already applied that input) or clears the mark (it never got there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument

from chatbot_common.events import CloudEvent, derived_id, utcnow
from chatbot_common.outbox import FIELD as OUTBOX
from chatbot_common.outbox import Outbox, entry
from chatbot_common.store import Store

from .conversation.model import Resident

#: How many applied input ids a resident document remembers (redeliveries come soon).
INPUTS_KEPT = 20


class Conflict(RuntimeError):
    """Someone wrote the resident since it was read: reload and run the input again."""


def new_resident_id_for(input_id: str) -> str:
    """The id a brand-new resident gets: derived from the input that created it, so a
    redelivery of that input finds the same resident (S7: ids are ours, not Viber's)."""
    return "r-" + derived_id("resident", input_id).replace("-", "")


@dataclass
class Loaded:
    """A resident document as read: ``resident`` is ``None`` for a tombstone or a
    resident not written yet (``doc`` is ``None`` then)."""

    id: str
    doc: dict[str, Any] | None
    resident: Resident | None

    @property
    def version(self) -> int:
        return int((self.doc or {}).get("version", 0))

    @property
    def inputs(self) -> list[str]:
        return list((self.doc or {}).get("inputs") or [])

    @property
    def pending(self) -> bool:
        """Tasks or outputs of earlier inputs still to complete."""
        return bool(self.doc and (self.doc.get("tasks") or self.doc.get(OUTBOX)))

    @property
    def deleted(self) -> bool:
        return bool(self.doc and self.doc.get("deleted"))

    @property
    def moving(self) -> dict[str, Any] | None:
        return (self.doc or {}).get("moving")


def _loaded(resident_id: str, doc: dict[str, Any] | None) -> Loaded:
    resident = None
    if doc is not None and not doc.get("deleted") and doc.get("resident") is not None:
        resident = Resident.model_validate(doc["resident"])
    return Loaded(resident_id, doc, resident)


@dataclass
class Change:
    """What one input does to one resident document."""

    input_id: str
    events: list[CloudEvent]
    resident: Resident | None  # None: forget (tombstone)
    link: list[str] = field(default_factory=list)  # identity keys to point here
    drop: str | None = None  # a record absorbed into this one
    release: list[str] = field(default_factory=list)  # identity keys to unlink


class ResidentRepository:
    def __init__(self, store: Store, outbox: Outbox) -> None:
        self.residents = store["residents"]
        self.identities = store["identities"]
        #: the projection of the resident's requests (``dialog.projections``): erased with them
        self.tickets = store["tickets"]
        #: ids of erased residents (nothing else): a late ``ticket.*`` event never brings
        #: their requests back into the projection (``Projections``)
        self.erased = store["erased_residents"]
        self.outbox = outbox

    async def setup(self) -> None:
        await self.residents.create_index("link_code", sparse=True)
        await self.residents.create_index("tasks_at", sparse=True)
        await self.residents.create_index("moving.at", sparse=True)
        await self.residents.create_index("chat_active_at", sparse=True)
        await self.identities.create_index("resident_id")
        await self.outbox.setup()

    # --- identities
    async def resident_id_for(self, identity: str) -> str | None:
        doc = await self.identities.find_one({"_id": identity})
        return doc["resident_id"] if doc else None

    async def claim(self, identity: str, candidate: str) -> str:
        """The resident id this identity is linked to, linking it to ``candidate`` if it
        was linked to none (atomic: two replicas agree on one id)."""
        doc = await self.identities.find_one_and_update(
            {"_id": identity}, {"$setOnInsert": {"resident_id": candidate}},
            upsert=True, return_document=ReturnDocument.AFTER,
        )
        return doc["resident_id"]

    async def unlink(self, identity: str, resident_id: str) -> None:
        await self.identities.delete_one({"_id": identity, "resident_id": resident_id})

    # --- residents
    async def load(self, resident_id: str) -> Loaded:
        return _loaded(resident_id, await self.residents.find_one({"_id": resident_id}))

    async def load_by_link_code(self, digest: str) -> Loaded | None:
        """S7: the resident whose current link code has this digest, as read."""
        doc = await self.residents.find_one({"link_code": digest, "deleted": {"$ne": True}})
        return _loaded(doc["_id"], doc) if doc and doc.get("resident") else None

    async def by_id(self, resident_id: str) -> Resident | None:
        return (await self.load(resident_id)).resident

    async def by_link_code(self, digest: str) -> Resident | None:
        loaded = await self.load_by_link_code(digest)
        return loaded.resident if loaded else None

    async def commit(self, loaded: Loaded, change: Change) -> list[dict[str, Any]]:
        """Write ``change`` to the document as it was loaded; raise :class:`Conflict` if
        it changed meanwhile. Returns the document's outbox entries as now written."""
        now = utcnow()
        tasks = list((loaded.doc or {}).get("tasks") or [])
        if change.link:
            tasks.append({"link": change.link})
        if change.drop:
            tasks.append({"drop": change.drop})
        if change.release:
            tasks.append({"release": change.release})
        fields: dict[str, Any] = {
            "version": loaded.version + 1,
            "inputs": [*loaded.inputs, change.input_id][-INPUTS_KEPT:],
            "updated_at": now,
            "tasks": tasks,
        }
        if tasks:
            fields["tasks_at"] = now
        if change.resident is None:  # C10: every personal field goes in this very write
            fields.update({"deleted": True, "resident": None, "link_code": None, "moving": None,
                           "chat_active_at": None})
            fields["tasks"] = [*tasks, {"erase": True}]
            fields["tasks_at"] = now
        else:
            code = change.resident.link_code
            chat = change.resident.chat
            fields.update({
                "resident": change.resident.model_dump(mode="json"),
                "link_code": code.digest if code is not None else None,
                # the idle job's index: the open chat's last activity (None: no chat)
                "chat_active_at": chat.last_activity_at if chat is not None else None,
            })
        new_entry = entry(change.input_id, change.events)
        if loaded.doc is None:
            try:
                await self.residents.insert_one({"_id": loaded.id, **fields, OUTBOX: [new_entry]})
            except Exception as exc:  # DuplicateKeyError: another replica created it first
                raise Conflict(f"resident {loaded.id} created concurrently") from exc
            return [new_entry]
        result = await self.residents.update_one(
            {"_id": loaded.id, "version": loaded.version},
            {"$set": fields, "$push": {OUTBOX: new_entry}},
        )
        if result.modified_count != 1:
            raise Conflict(f"resident {loaded.id} changed since it was read")
        return [*(loaded.doc.get(OUTBOX) or []), new_entry]

    async def mark_moving(self, loaded: Loaded, to: str, input_id: str) -> Loaded:
        """S7 step 1: the writer's record notes where it is going (see the module doc)."""
        moving = {"to": to, "input": input_id, "at": utcnow()}
        if loaded.doc is None:
            try:
                await self.residents.insert_one({"_id": loaded.id, "version": 1, "moving": moving, "resident": None})
            except Exception as exc:
                raise Conflict(f"resident {loaded.id} created concurrently") from exc
        else:
            result = await self.residents.update_one(
                {"_id": loaded.id, "version": loaded.version},
                {"$set": {"moving": moving, "version": loaded.version + 1}},
            )
            if result.modified_count != 1:
                raise Conflict(f"resident {loaded.id} changed since it was read")
        return await self.load(loaded.id)

    async def settle_moving(self, loaded: Loaded) -> bool:
        """Finish or undo an interrupted move; ``True`` if the record moved away."""
        moving = loaded.moving
        if not moving:
            return False
        target = await self.load(moving["to"])
        if moving["input"] in target.inputs:
            await self.complete(target.id)  # re-points the link and drops this record
            return True
        await self.residents.update_one({"_id": loaded.id, "version": loaded.version},
                                        {"$set": {"moving": None, "version": loaded.version + 1}})
        return False

    async def complete(self, resident_id: str, entries: list[dict[str, Any]] | None = None) -> bool:
        """Complete a document's tasks, then publish its outbox, then (a deleted
        resident) erase it. ``True`` when nothing is left pending. Idempotent."""
        doc = await self.residents.find_one({"_id": resident_id}, {"tasks": 1, "deleted": 1, OUTBOX: 1})
        if doc is None:
            return True
        tasks = doc.get("tasks") or []
        for task in tasks:
            if "link" in task:
                for key in task["link"]:
                    await self.identities.update_one({"_id": key}, {"$set": {"resident_id": resident_id}},
                                                     upsert=True)
            if "drop" in task:
                await self.residents.delete_one({"_id": task["drop"]})
            if "release" in task:
                await self.identities.delete_many({"_id": {"$in": task["release"]}, "resident_id": resident_id})
        erase = any("erase" in task for task in tasks)
        done = [task for task in tasks if "erase" not in task]
        if done:
            await self.residents.update_one({"_id": resident_id}, {"$pull": {"tasks": {"$in": done}}})
        if not await self.outbox.flush(resident_id, entries if entries is not None else doc.get(OUTBOX) or []):
            return False
        if erase:
            # The farewell and resident.deleted are out: the last traces go. The id is
            # noted first, so a ticket event applied meanwhile is undone (Projections).
            await self.erased.update_one({"_id": resident_id}, {"$setOnInsert": {"at": utcnow()}}, upsert=True)
            await self.identities.delete_many({"resident_id": resident_id})
            await self.tickets.delete_many({"resident_id": resident_id})  # places and comments (C10)
            await self.residents.delete_one({"_id": resident_id, "deleted": True})
        return True

    async def quiet_chats(self, quiet_since: datetime) -> list[tuple[str, str, datetime]]:
        """Open chats whose last activity is older than ``quiet_since``: (resident id,
        chat id, last activity)."""
        found = []
        async for doc in self.residents.find({"chat_active_at": {"$lt": quiet_since}, "deleted": {"$ne": True}},
                                             {"resident.chat": 1}):
            chat = ((doc.get("resident") or {}).get("chat")) or {}
            if chat.get("chat_id"):
                found.append((doc["_id"], chat["chat_id"], chat.get("last_activity_at")))
        return found

    async def relay_once(self, grace: float = 5.0) -> int:
        """The recovery path: complete every document whose tasks or outputs have waited
        longer than ``grace`` seconds, and settle abandoned moves. Returns how many
        documents are still left pending (the broker refused)."""
        cutoff = utcnow() - timedelta(seconds=grace)
        # ``$lte``: stored times (and the cutoff in the query) are whole milliseconds
        # (BSON), so with ``$lt`` an entry written in the millisecond the cutoff falls in
        # would not be due — and on the in-memory store, which has no periodic scan, the
        # failure-triggered scan that missed it would be the last (as Outbox.relay_once).
        query = {"$or": [{f"{OUTBOX}.at": {"$lte": cutoff}},
                         {"tasks_at": {"$lte": cutoff}, "tasks.0": {"$exists": True}},
                         {"moving.at": {"$lte": cutoff}}]}
        ids = [doc["_id"] async for doc in self.residents.find(query, {"_id": 1})]
        completed = 0
        for resident_id in ids:
            loaded = await self.load(resident_id)
            if loaded.moving:
                await self.settle_moving(loaded)
                continue
            if await self.complete(resident_id):
                completed += 1
            else:
                break  # the broker refuses: next round
        return len(ids) - completed
