"""Outages: the request models, their validation against the shared street directory,
and the repository that writes each change as ONE document write with its outbox entry
and its audit record.

Document (collection ``outages``, ``_id`` = the outage id): the outage as it now is
(the fields of ``events.OutageSnapshot``) plus ``created_at``/``updated_at``/
``created_by``, the ``outbox`` entries not yet confirmed by the broker and the
``pending_audit`` records not yet copied to the audit log. Every change is an
``update_one`` conditional on the revision it read (a concurrent change makes it read
again), setting the new fields and ``revision + 1`` and pushing the ``outage.*`` event
(id ``derived_id(outage id, revision, type)``) and the audit record, then flushes both.
Outages imported by contactcenter-sync (``source: contactcenter``) are stored in the
same collection from its events, newest revision wins, and are read-only here.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from chatbot_common import outbox as outbox_mod
from chatbot_common.directory import CityData, normalise_phone
from chatbot_common.directory.house_spec import HouseSpecError, describe, parse_house_spec
from chatbot_common.events import (
    MailingProgress,
    OutageAddress,
    OutageCancelled,
    OutageKind,
    OutagePublished,
    OutageResolved,
    OutageSnapshot,
    OutageState,
    OutageUpdated,
    Utility,
    derived_id,
    make_event,
    utcnow,
)
from chatbot_common.outbox import Outbox
from chatbot_common.store import Store

from . import audit
from .errors import ApiError, FieldError
from .figures import Delivery, Figures
from .staff import Staff

log = structlog.get_logger("admin.outages")

SOURCE = "/admin"
COLLECTION = "outages"
DELIVERIES = "deliveries"
MAX_ADDRESSES = 200
#: the fields of an outage a PATCH may change (kind/utility/settlement: a new outage)
PATCHABLE = ("kind", "starts_at", "ends_at", "description", "contact_phone", "city_wide", "addresses")
_SHORT_PHONE = re.compile(r"^\d{3,5}$")


def _millis(value: datetime) -> datetime:
    """UTC, to the millisecond (what BSON keeps): the event and the stored outage agree."""
    return value.astimezone(UTC).replace(microsecond=value.microsecond // 1000 * 1000)


class AddressIn(BaseModel):
    """One street: ``street`` is a street id or its name as residents write it;
    ``houses`` a house spec (``1-15``, ``2-20 парні``, ``12а, 14/2``), empty = whole street."""

    model_config = ConfigDict(extra="forbid", title="OutageAddressInput")
    street: str = Field(min_length=1, max_length=100)
    houses: str = Field(default="", max_length=2000)


class OutageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: OutageKind
    utility: Utility
    settlement_id: str = Field(min_length=1, max_length=60)
    city_wide: bool = False
    addresses: list[AddressIn] = Field(default_factory=list, max_length=MAX_ADDRESSES)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    description: str = Field(default="", max_length=2000)
    contact_phone: str | None = Field(default=None, max_length=40)

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _ms(cls, value: datetime) -> datetime:
        return _millis(value)


class OutagePatch(BaseModel):
    """What may change in a published outage: the end moved, the description, the
    streets… ``revision``, when given, must be the outage's current revision (else 409)."""

    model_config = ConfigDict(extra="forbid")
    revision: int | None = Field(default=None, ge=1)
    kind: OutageKind | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    description: str | None = Field(default=None, max_length=2000)
    contact_phone: str | None = Field(default=None, max_length=40)
    city_wide: bool | None = None
    addresses: list[AddressIn] | None = Field(default=None, max_length=MAX_ADDRESSES)

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _ms(cls, value: datetime | None) -> datetime | None:
        return _millis(value) if value else value


class Outage(BaseModel):
    """An outage as it now is."""

    id: str
    revision: int
    source: str
    external_id: str | None = None
    kind: OutageKind
    utility: Utility
    settlement_id: str
    city_wide: bool
    addresses: list[OutageAddress]
    starts_at: datetime
    ends_at: datetime
    description: str
    contact_phone: str | None = None
    state: OutageState
    created_at: datetime
    updated_at: datetime
    created_by: str | None = None
    read_only: bool = Field(description="true: imported from the contact center, resolved or cancelled")


def to_outage(doc: dict[str, Any]) -> Outage:
    return Outage(
        id=doc["_id"], revision=doc["revision"], source=doc.get("source", "admin"), external_id=doc.get("external_id"),
        kind=doc["kind"], utility=doc["utility"], settlement_id=doc["settlement_id"],
        city_wide=doc.get("city_wide", False), addresses=[OutageAddress(**a) for a in doc.get("addresses", [])],
        starts_at=doc["starts_at"], ends_at=doc["ends_at"], description=doc.get("description", ""),
        contact_phone=doc.get("contact_phone"), state=doc["state"], created_at=doc["created_at"],
        updated_at=doc["updated_at"], created_by=doc.get("created_by"),
        read_only=doc.get("source", "admin") != "admin" or doc["state"] != OutageState.active.value,
    )


# --------------------------------------------------------------------------- validation


class Validator:
    """Checks an outage against the community's data; collects every problem with its
    field path, so staff fix them all in one go."""

    def __init__(self, city: CityData) -> None:
        self.city = city

    def check(self, *, settlement_id: str, city_wide: bool, addresses: list[AddressIn] | None,
              starts_at: datetime, ends_at: datetime, contact_phone: str | None,
              current: list[OutageAddress] | None = None) -> tuple[list[OutageAddress], str | None]:
        """Resolved addresses and the normalised phone, or :class:`ApiError` (422)."""
        errors: list[FieldError] = []
        settlement = self.city.settlement(settlement_id)
        if settlement is None:
            known = ", ".join(s.id for s in self.city.settlements[:10])
            errors.append(FieldError(path="settlement_id",
                                     message=f"невідомий населений пункт «{settlement_id}» (відомі: {known} …)"))
        if ends_at <= starts_at:
            errors.append(FieldError(path="ends_at", message="кінець має бути пізніше за початок (starts_at)"))
        resolved: list[OutageAddress] = []
        if addresses is None:
            resolved = list(current or [])
        elif settlement is not None:
            resolved = self._addresses(settlement_id, addresses, errors)
        if city_wide and (addresses or (addresses is None and resolved)):
            errors.append(FieldError(path="addresses", message="для city_wide: true список адрес має бути порожнім"))
        if settlement and not city_wide and not resolved and not any(e.path.startswith("addresses") for e in errors):
            errors.append(FieldError(path="addresses", message="вкажіть хоча б одну адресу або city_wide: true"))
        phone = None
        if contact_phone:
            phone = normalise_phone(contact_phone)
            if phone is None:
                short = re.sub(r"[\s\-()]", "", contact_phone)
                phone = short if _SHORT_PHONE.match(short) else None
            if phone is None:
                errors.append(FieldError(path="contact_phone", message="не схоже на номер телефону (+380…, 0…, 1580)"))
        if errors:
            raise ApiError(422, "validation_failed", "Перевірте дані відключення", errors)
        return resolved, phone

    def _addresses(self, settlement_id: str, addresses: list[AddressIn], errors: list[FieldError],
                   prefix: str = "addresses", index: list[int] | None = None) -> list[OutageAddress]:
        """Streets by id or name (``prefix[n].street``/``…houses`` name the field);
        ``index`` maps row n to its position in the request when only some rows are given."""
        directory = self.city.street_directory(settlement_id)
        resolved: list[OutageAddress] = []
        seen: dict[str, int] = {}
        for n, address in enumerate(addresses):
            n = index[n] if index else n
            path = f"{prefix}[{n}]"
            street = directory.get(address.street.strip())
            if street is None:
                match = directory.match(address.street)
                if match.street and not match.typo and not match.house and not match.bad_house:
                    street = match.street
                elif not directory:
                    errors.append(FieldError(path=f"{path}.street",
                                             message="для цього населеного пункту немає довідника вулиць; "
                                                     "позначте city_wide: true"))
                elif match.house or match.bad_house:
                    errors.append(FieldError(path=f"{path}.street",
                                             message="лише назва вулиці; номери будинків — у полі houses"))
                elif match.street:  # a single close typo: staff confirm it rather than we guess
                    errors.append(FieldError(path=f"{path}.street",
                                             message=f"вулицю «{address.street}» не знайдено; можливо, "
                                                     f"«{match.street.label}» (id {match.street.id})?"))
                elif match.suggestions:
                    options = "; ".join(f"«{s.label}» (id {s.id})" for s in match.suggestions)
                    errors.append(FieldError(path=f"{path}.street",
                                             message=f"неоднозначно: «{address.street}» — це {options}"))
                else:
                    errors.append(FieldError(path=f"{path}.street",
                                             message=f"вулицю «{address.street}» не знайдено в довіднику"))
            try:
                houses = parse_house_spec(address.houses)
            except HouseSpecError as exc:
                errors.append(FieldError(path=f"{path}.houses", message=str(exc)))
                continue
            if street is None:
                continue
            if street.id in seen:
                errors.append(FieldError(path=f"{path}.street",
                                         message=f"вулиця вже є у списку ({prefix}[{seen[street.id]}]); "
                                                 "об'єднайте будинки в одному рядку"))
                continue
            seen[street.id] = n
            resolved.append(OutageAddress(street_id=street.id, street_name=street.label,
                                          spec=" ".join(address.houses.split()), houses=houses))
        return resolved


# --------------------------------------------------------------------------- repository

EVENT_OF = {"published": OutagePublished, "updated": OutageUpdated, "resolved": OutageResolved,
            "cancelled": OutageCancelled}


def _audit_value(key: str, value: Any) -> Any:
    if key == "addresses":
        return [describe(a["houses"], a["street_name"]) for a in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _summary(doc: dict[str, Any], keys: list[str] | tuple[str, ...]) -> dict[str, Any]:
    return {k: _audit_value(k, doc.get(k)) for k in keys}


SUMMARY_KEYS = ("kind", "utility", "settlement_id", "city_wide", "addresses", "starts_at", "ends_at", "description",
                "contact_phone", "state")


class OutageRepository:
    def __init__(self, store: Store, outbox: Outbox, audit_log: audit.AuditLog) -> None:
        self.store = store
        self.collection = store[COLLECTION]
        self.figures = Figures(store)
        self.outbox = outbox
        self.audit = audit_log

    async def setup(self) -> None:
        await self.outbox.setup()
        await self.figures.setup()
        await self.collection.create_index([("state", 1), ("settlement_id", 1), ("starts_at", DESCENDING)])

    async def get(self, outage_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": outage_id}, {"outbox": 0, audit.PENDING: 0})

    async def list(self, *, active: bool | None = None, settlement_id: str | None = None,
                   utility: str | None = None, source: str | None = None, limit: int = 100,
                   offset: int = 0) -> list[dict[str, Any]]:
        query: dict[str, Any] = {}
        if active is True:
            query["state"] = OutageState.active.value
        elif active is False:
            query["state"] = {"$ne": OutageState.active.value}
        if settlement_id:
            query["settlement_id"] = settlement_id
        if utility:
            query["utility"] = utility
        if source:
            query["source"] = source
        cursor = (self.collection.find(query, {"outbox": 0, audit.PENDING: 0})
                  .sort([("starts_at", DESCENDING), ("_id", 1)]).skip(offset).limit(limit))
        return [d async for d in cursor]

    def _event(self, doc: dict[str, Any], what: str, changed: list[str], at: datetime) -> Any:
        model = EVENT_OF[what]
        snapshot = model(
            outage_id=doc["_id"], revision=doc["revision"], source="admin", kind=doc["kind"], utility=doc["utility"],
            settlement_id=doc["settlement_id"], city_wide=doc["city_wide"],
            addresses=[OutageAddress(**a) for a in doc["addresses"]], starts_at=doc["starts_at"],
            ends_at=doc["ends_at"], description=doc["description"], contact_phone=doc.get("contact_phone"),
            state=doc["state"], changed=changed, at=at,
        )
        return make_event(snapshot, source=SOURCE, id=derived_id(doc["_id"], doc["revision"], model.type),
                          correlationid=doc["_id"])

    def _record(self, actor: Staff, doc: dict[str, Any], what: str, before: dict[str, Any] | None,
                after: dict[str, Any], at: datetime) -> dict[str, Any]:
        return audit.record(id=derived_id("audit", "outage", doc["_id"], doc["revision"]), at=at, actor_id=actor.id,
                            actor_email=actor.email, action=f"outage.{what}", entity="outage", entity_id=doc["_id"],
                            before=before, after=after)

    async def create(self, actor: Staff, body: OutageCreate, addresses: list[OutageAddress],
                     phone: str | None, *, idempotency_key: str | None = None) -> tuple[dict[str, Any], bool]:
        """Insert a new outage with its ``outage.published``; returns (document, created).
        With ``idempotency_key`` the id is derived from it (and the staff member), so a
        retried request returns the outage it created instead of publishing a second one."""
        outage_id = derived_id("outage", actor.id, idempotency_key).replace("-", "") if idempotency_key \
            else uuid.uuid4().hex
        if idempotency_key and (existing := await self.get(outage_id)) is not None:
            return existing, False
        now = _millis(utcnow())
        doc: dict[str, Any] = {
            "_id": outage_id, "revision": 1, "source": "admin", "kind": body.kind.value,
            "utility": body.utility.value, "settlement_id": body.settlement_id, "city_wide": body.city_wide,
            "addresses": [a.model_dump() for a in addresses], "starts_at": body.starts_at, "ends_at": body.ends_at,
            "description": body.description.strip(), "contact_phone": phone, "state": OutageState.active.value,
            "created_at": now, "updated_at": now, "created_by": actor.id,
        }
        event = self._event(doc, "published", [], now)
        entry = outbox_mod.entry(f"{doc['_id']}:1", [event])
        rec = self._record(actor, doc, "published", None, _summary(doc, SUMMARY_KEYS), now)
        try:
            await self.collection.insert_one({**doc, outbox_mod.FIELD: [entry], audit.PENDING: [rec]})
        except DuplicateKeyError:
            existing = await self.get(outage_id)  # the same key, concurrently
            if existing is None:
                raise
            return existing, False
        await self._after_write(doc["_id"], rec, entry)
        return doc, True

    async def change(self, actor: Staff, outage_id: str, what: str, fields: dict[str, Any] | None = None,
                     expected_revision: int | None = None, prepare: Any = None) -> tuple[dict[str, Any], bool]:
        """Apply a change (``what``: updated/resolved/cancelled) as one conditional write.
        ``prepare(doc)`` (optional) returns the new field values from the current
        document (validation raises :class:`ApiError`). Returns (document, changed)."""
        for _attempt in range(5):
            doc = await self.get(outage_id)
            if doc is None:
                raise ApiError(404, "not_found", "Відключення не знайдено")
            if doc.get("source", "admin") != "admin":
                raise ApiError(409, "read_only", "Це відключення імпортовано з контакт-центру: змінюйте його там")
            if doc["state"] != OutageState.active.value:
                raise ApiError(409, "closed", f"Відключення вже {'завершено' if doc['state'] == 'resolved' else 'скасовано'}"
                                                 ": його не можна змінити")
            if expected_revision is not None and expected_revision != doc["revision"]:
                raise ApiError(409, "stale_revision",
                                  f"Відключення вже змінено (ревізія {doc['revision']}, а не {expected_revision})")
            new = dict(fields or {})
            if prepare is not None:
                new.update(prepare(doc))
            changed = [k for k, v in new.items() if doc.get(k) != v]
            if not changed:
                return doc, False
            now = _millis(utcnow())
            updated = {**doc, **new, "revision": doc["revision"] + 1, "updated_at": now}
            event = self._event(updated, what, changed if what == "updated" else ["state"], now)
            entry = outbox_mod.entry(f"{outage_id}:{updated['revision']}", [event])
            rec = self._record(actor, updated, what, _summary(doc, changed), _summary(updated, changed), now)
            result = await self.collection.update_one(
                {"_id": outage_id, "revision": doc["revision"]},
                audit.merge({"$set": {**{k: new[k] for k in changed}, "revision": updated["revision"],
                                      "updated_at": now}},
                            {"$push": {outbox_mod.FIELD: entry, audit.PENDING: rec}}),
            )
            if result.matched_count == 1:
                await self._after_write(outage_id, rec, entry)
                return updated, True
            if expected_revision is not None:
                raise ApiError(409, "stale_revision", "Відключення щойно змінив хтось інший; оновіть і повторіть")
        raise ApiError(409, "conflict", "Відключення змінюють одночасно; повторіть")

    async def _after_write(self, outage_id: str, rec: dict[str, Any], entry: dict[str, Any]) -> None:
        await self.audit.settle(COLLECTION, outage_id, [rec])
        # Our entry last: entries of earlier changes still pending go first, in order.
        await self.outbox.flush(outage_id)

    async def relay_once(self, grace: float) -> int:
        """The relay's scan: audit records and outbox entries a crash left behind."""
        await self.audit.settle_all(COLLECTION, grace)
        await self.audit.settle_all("staff", grace)
        return await self.outbox.relay_once()

    # ------------------------------------------------------------------ consumed events

    async def import_external(self, data: OutageSnapshot) -> None:
        """An outage from contactcenter-sync: keep its newest revision, read-only."""
        now = _millis(utcnow())
        fields = {
            "revision": data.revision, "source": data.source, "external_id": data.external_id,
            "kind": data.kind.value, "utility": data.utility.value, "settlement_id": data.settlement_id,
            "city_wide": data.city_wide, "addresses": [a.model_dump() for a in data.addresses],
            "starts_at": _millis(data.starts_at), "ends_at": _millis(data.ends_at), "description": data.description,
            "contact_phone": data.contact_phone, "state": data.state.value, "updated_at": now,
        }
        result = await self.collection.update_one(
            {"_id": data.outage_id, "source": data.source, "revision": {"$lt": data.revision}}, {"$set": fields})
        if result.matched_count:
            return
        try:
            await self.collection.insert_one({"_id": data.outage_id, **fields, "created_at": now, "created_by": None})
        except DuplicateKeyError:
            pass  # this revision or a newer one is there already (redelivery, out of order)

    async def record_progress(self, data: MailingProgress) -> None:
        """Figures per mailing of the outage (``admin.figures``: a late report of an
        earlier mailing no longer overwrites the current one's)."""
        await self.figures.record(data)

    async def delivery(self, outage_id: str) -> Delivery:
        """The figures of the outage's latest mailing."""
        return await self.figures.latest("outage", outage_id)

    async def mailings(self, outage_id: str) -> list[Delivery]:
        return await self.figures.mailings("outage", outage_id)
