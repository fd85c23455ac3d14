"""Staff mailings to segments (S7) and greetings (C9): the request models, the segment's
validation against the community's data, and the repositories that write each change
as ONE document write with its outbox entry and its audit record (as outages do).

- ``mailings`` (``_id`` = the mailing id): the mailing as requested (text, image, link
  button, the resolved :class:`~chatbot_common.events.Segment`, ``send_at`` in UTC or
  none = now), ``cancelled_at``, ``created_at``/``created_by``, the ``outbox`` and
  ``pending_audit``. Creating it pushes ``mailing.requested`` (id
  ``derived_id(mailing id, "mailing.requested")``); cancelling pushes
  ``mailing.cancelled``. Its state is derived when read: cancelled; sent (the notifier
  reported ``done``); sending (its time has come, or figures arrived); scheduled.
- ``greetings`` (``_id`` = ``config``): the whole greetings configuration with a growing
  ``revision``; every change that changes something pushes ONE ``greeting.configured``
  (the whole configuration, id ``derived_id("greetings", revision, …)``).

The notifier resolves segments to resident ids and never reaches residents who chose
«no notices», unsubscribed or were deleted.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import aiohttp
import structlog
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from chatbot_common import outbox as outbox_mod
from chatbot_common.directory import CityData
from chatbot_common.events import (
    Channel,
    GreetingEvent,
    GreetingsConfigured,
    MailingCancelled,
    MailingRequested,
    NotifyScope,
    Segment,
    SegmentStreet,
    derived_id,
    make_event,
    utcnow,
)
from chatbot_common.outbox import Outbox
from chatbot_common.store import Store

from . import audit
from .errors import ApiError, FieldError
from .figures import Delivery, Figures
from .outages import AddressIn, Validator, _millis
from .staff import Staff
from .validators import web_url

log = structlog.get_logger("admin.mailings")

KYIV = ZoneInfo("Europe/Kyiv")
SOURCE = "/admin"
MAILINGS = "mailings"
GREETINGS = "greetings"
GREETINGS_ID = "config"
MAX_TEXT = 7000  # one Viber message
MAX_LINK_LABEL = 40
MAX_STREETS = 200
MAX_EVENTS = 100
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_EVENT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,60}$")
MailingState = Literal["scheduled", "sending", "sent", "cancelled"]
STATES: tuple[str, ...] = ("scheduled", "sending", "sent", "cancelled")


def _text(value: str) -> str:
    value = value.replace("\r\n", "\n").strip()
    if not value:
        raise ValueError("текст не може бути порожнім")
    return value


def _url(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return web_url(value)


# --------------------------------------------------------------------------- segments


class SegmentStreetIn(BaseModel):
    """A street of the segment: ``street`` is its id or its name as residents write it
    (as in outages); ``houses`` a house spec, empty = the whole street;
    ``settlement_id`` may be left out when the segment names one settlement."""

    model_config = ConfigDict(extra="forbid", title="SegmentStreetInput")
    settlement_id: str | None = Field(default=None, max_length=60)
    street: str = Field(min_length=1, max_length=100)
    houses: str = Field(default="", max_length=2000)


class SegmentIn(BaseModel):
    """Who gets it: the fields of the ``Segment`` event model, with streets by id or
    name. Every empty list does not filter; the filters given must all hold."""

    model_config = ConfigDict(extra="forbid", title="SegmentInput")
    settlement_ids: list[str] = Field(default_factory=list, max_length=100)
    streets: list[SegmentStreetIn] = Field(default_factory=list, max_length=MAX_STREETS)
    notify_scopes: list[NotifyScope] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    registered_after: AwareDatetime | None = None
    registered_before: AwareDatetime | None = None
    has_open_request: bool | None = None
    answered_survey_id: str | None = Field(default=None, max_length=100)


class SegmentChecker:
    """Resolves a :class:`SegmentIn` to the event's :class:`Segment`, collecting every
    problem with its field path (``segment.streets[1].street``)."""

    def __init__(self, city: CityData) -> None:
        self.city = city
        self.validator = Validator(city)

    def check(self, segment: SegmentIn, prefix: str, errors: list[FieldError]) -> Segment | None:
        before = len(errors)
        for n, sid in enumerate(segment.settlement_ids):
            if self.city.settlement(sid) is None:
                errors.append(FieldError(path=f"{prefix}.settlement_ids[{n}]",
                                         message=f"невідомий населений пункт «{sid}»"))
        by_settlement: dict[str, list[tuple[int, SegmentStreetIn]]] = {}
        for n, street in enumerate(segment.streets):
            sid = street.settlement_id or (segment.settlement_ids[0] if len(segment.settlement_ids) == 1 else None)
            if sid is None:
                errors.append(FieldError(path=f"{prefix}.streets[{n}].settlement_id",
                                         message="вкажіть населений пункт вулиці"))
            elif self.city.settlement(sid) is None:
                errors.append(FieldError(path=f"{prefix}.streets[{n}].settlement_id",
                                         message=f"невідомий населений пункт «{sid}»"))
            elif segment.settlement_ids and sid not in segment.settlement_ids:
                errors.append(FieldError(path=f"{prefix}.streets[{n}].settlement_id",
                                         message="вулиця не в обраних населених пунктах"))
            else:
                by_settlement.setdefault(sid, []).append((n, street))
        streets: list[tuple[int, SegmentStreet]] = []
        for sid, rows in by_settlement.items():
            resolved = self.validator._addresses(
                sid, [AddressIn(street=s.street, houses=s.houses) for _, s in rows], errors,
                prefix=f"{prefix}.streets", index=[n for n, _ in rows])
            if len(resolved) == len(rows):
                streets += [(n, SegmentStreet(settlement_id=sid, street_id=a.street_id, houses=a.houses))
                            for (n, _), a in zip(rows, resolved, strict=True)]
        if (segment.registered_after and segment.registered_before
                and segment.registered_after >= segment.registered_before):
            errors.append(FieldError(path=f"{prefix}.registered_before",
                                     message="має бути пізніше за «зареєстровані після»"))
        if len(errors) > before:
            return None
        return Segment(settlement_ids=list(dict.fromkeys(segment.settlement_ids)),
                       streets=[s for _, s in sorted(streets, key=lambda x: x[0])],
                       notify_scopes=list(dict.fromkeys(segment.notify_scopes)),
                       channels=list(dict.fromkeys(segment.channels)),
                       registered_after=segment.registered_after, registered_before=segment.registered_before,
                       has_open_request=segment.has_open_request, answered_survey_id=segment.answered_survey_id)


def describe_segment(segment: Segment, city: CityData) -> list[str]:
    """The segment in words, for the panel (Ukrainian, for staff)."""
    from chatbot_common.directory.house_spec import describe

    parts: list[str] = []
    if segment.settlement_ids:
        names = [(s.label if (s := city.settlement(i)) else i) for i in segment.settlement_ids]
        parts.append("населені пункти: " + ", ".join(names))
    for street in segment.streets:
        directory = city.street_directory(street.settlement_id)
        found = directory.get(street.street_id) if directory else None
        parts.append(describe(street.houses, found.label if found else street.street_id))
    scopes = {"address": "сповіщення за адресою", "city": "усі сповіщення населеного пункту"}
    if segment.notify_scopes:
        parts.append("обрали: " + ", ".join(scopes.get(s.value, s.value) for s in segment.notify_scopes))
    if segment.channels:
        parts.append("канал: " + ", ".join(c.value.capitalize() for c in segment.channels))
    if segment.registered_after:
        parts.append("зареєстровані після " + segment.registered_after.astimezone(KYIV).strftime("%d.%m.%Y"))
    if segment.registered_before:
        parts.append("зареєстровані до " + segment.registered_before.astimezone(KYIV).strftime("%d.%m.%Y"))
    if segment.has_open_request is True:
        parts.append("мають відкрите звернення")
    elif segment.has_open_request is False:
        parts.append("без відкритих звернень")
    if segment.answered_survey_id:
        parts.append(f"відповіли на опитування {segment.answered_survey_id}")
    return parts or ["усі мешканці, які приймають сповіщення"]


class SegmentPreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    segment: SegmentIn = Field(default_factory=SegmentIn)


class SegmentPreview(BaseModel):
    """How many residents the segment reaches now and what it would cost; ``null``
    figures: the notifier did not answer (sending stays allowed)."""

    segment: Segment
    residents: int | None = None
    messages: int | None = None
    cost_uah: float | None = None
    price_uah: float


async def notifier_preview(base: str | None, segment: Segment) -> tuple[int, int] | None:
    """``POST {ADMIN_NOTIFIER_URL}/api/segment/preview`` with the Segment →
    ``(residents, messages)``; ``None`` when unset, failing, slow (5 s) or malformed."""
    if not base:
        return None
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session, \
                session.post(base.rstrip("/") + "/api/segment/preview",
                             json=segment.model_dump(mode="json")) as resp:
            if resp.status != 200:
                log.warning("segment_preview.refused", status=resp.status)
                return None
            data = await resp.json()
        residents, messages = data["residents"], data["messages"]
        if not (isinstance(residents, int) and isinstance(messages, int)) or residents < 0 or messages < 0:
            raise ValueError("not counts")
        return residents, messages
    except Exception as exc:  # noqa: BLE001 - any failure: «невідомо»
        log.warning("segment_preview.failed", error=type(exc).__name__)
        return None


# --------------------------------------------------------------------------- mailings


class MailingCreate(BaseModel):
    """A mailing to a segment: sent now (``send_at`` empty) or at ``send_at`` (ISO-8601
    with its offset; Europe/Kyiv in the panel). A link button needs both its label and
    its address."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=MAX_TEXT + 1000)
    image_url: str | None = Field(default=None, max_length=1000)
    link_label: str | None = Field(default=None, max_length=200)
    link_url: str | None = Field(default=None, max_length=1000)
    segment: SegmentIn = Field(default_factory=SegmentIn)
    send_at: AwareDatetime | None = None

    @field_validator("image_url", "link_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _url(value)


class Mailing(BaseModel):
    id: str
    text: str
    image_url: str | None = None
    link_label: str | None = None
    link_url: str | None = None
    segment: Segment
    send_at: datetime | None = Field(description="none: sent at once")
    state: MailingState
    created_at: datetime
    created_by: str | None = None
    cancelled_at: datetime | None = None
    figures: Delivery


def _check_text(text: str, path: str, errors: list[FieldError]) -> str:
    text = text.replace("\r\n", "\n").strip()
    if not text:
        errors.append(FieldError(path=path, message="текст не може бути порожнім"))
    elif len(text) > MAX_TEXT:
        errors.append(FieldError(path=path, message=f"не більше {MAX_TEXT} символів (зараз {len(text)})"))
    return text


def _state(doc: dict[str, Any], figures: Delivery, now: datetime) -> str:
    if doc.get("cancelled_at"):
        return "cancelled"
    if figures.done:
        return "sent"
    if doc.get("send_at") is None or doc["send_at"] <= now or figures.at is not None:
        return "sending"
    return "scheduled"


class MailingRepository:
    def __init__(self, store: Store, outbox: Outbox, audit_log: audit.AuditLog, city: CityData,
                 figures: Figures) -> None:
        self.collection = store[MAILINGS]
        self.outbox = outbox
        self.audit = audit_log
        self.city = city
        self.segments = SegmentChecker(city)
        self.figures = figures

    async def setup(self) -> None:
        await self.outbox.setup()
        await self.collection.create_index([("created_at", DESCENDING)])

    def check(self, body: MailingCreate, now: datetime) -> dict[str, Any]:
        """The mailing's fields, or 422 naming every bad field."""
        errors: list[FieldError] = []
        text = _check_text(body.text, "text", errors)
        label = " ".join((body.link_label or "").split()) or None
        if label and len(label) > MAX_LINK_LABEL:
            errors.append(FieldError(path="link_label", message=f"не більше {MAX_LINK_LABEL} символів"))
        if body.link_url and not label:
            errors.append(FieldError(path="link_label", message="напис кнопки потрібен для посилання"))
        if label and not body.link_url:
            errors.append(FieldError(path="link_url", message="вкажіть адресу посилання для кнопки"))
        if body.send_at is not None and body.send_at <= now:
            errors.append(FieldError(path="send_at", message="час уже минув; щоб надіслати зараз, залиште порожнім"))
        segment = self.segments.check(body.segment, "segment", errors)
        if errors:
            raise ApiError(422, "validation_failed", "Перевірте дані розсилки", errors)
        assert segment is not None
        return {"text": text, "image_url": body.image_url, "link_label": label, "link_url": body.link_url,
                "segment": segment.model_dump(mode="json"),
                "send_at": _millis(body.send_at) if body.send_at else None}

    async def create(self, actor: Staff, body: MailingCreate, *, idempotency_key: str | None = None
                     ) -> tuple[Mailing, bool]:
        now = _millis(utcnow())
        fields = self.check(body, now)
        mailing_id = derived_id("mailing", actor.id, idempotency_key).replace("-", "") if idempotency_key \
            else uuid.uuid4().hex
        if idempotency_key and (existing := await self.get(mailing_id)) is not None:
            return existing, False
        doc = {"_id": mailing_id, **fields, "created_at": now, "created_by": actor.id, "cancelled_at": None}
        event = make_event(MailingRequested(mailing_id=mailing_id, text=fields["text"], image_url=fields["image_url"],
                                            link_label=fields["link_label"], link_url=fields["link_url"],
                                            segment=Segment(**fields["segment"]), send_at=fields["send_at"],
                                            requested_by=actor.id, at=now),
                           source=SOURCE, id=derived_id(mailing_id, MailingRequested.type), correlationid=mailing_id)
        entry = outbox_mod.entry(f"{mailing_id}:requested", [event])
        rec = audit.record(id=derived_id("audit", "mailing", mailing_id, "requested"), at=now, actor_id=actor.id,
                           actor_email=actor.email, action="mailing.requested", entity="mailing",
                           entity_id=mailing_id, after=_summary(doc, self.city))
        try:
            await self.collection.insert_one({**doc, outbox_mod.FIELD: [entry], audit.PENDING: [rec]})
        except DuplicateKeyError:
            existing = await self.get(mailing_id)
            if existing is None:
                raise
            return existing, False
        await self._after_write(mailing_id, rec)
        log.info("mailing.requested", mailing_id=mailing_id, scheduled=fields["send_at"] is not None)
        return await self._to_mailing(doc), True

    async def cancel(self, actor: Staff, mailing_id: str) -> Mailing:
        """Cancel a mailing not yet sent: ``mailing.cancelled`` (nothing is sent if it
        has not started; one under way stops before its next batch). 409 once sent;
        cancelling a cancelled one changes nothing."""
        doc = await self._doc(mailing_id)
        if doc is None:
            raise ApiError(404, "not_found", "Розсилку не знайдено")
        mailing = await self._to_mailing(doc)
        if mailing.state == "cancelled":
            return mailing
        if mailing.state == "sent":
            raise ApiError(409, "already_sent", "Розсилку вже надіслано: скасувати її не можна")
        now = _millis(utcnow())
        event = make_event(MailingCancelled(mailing_id=mailing_id, at=now), source=SOURCE,
                           id=derived_id(mailing_id, MailingCancelled.type), correlationid=mailing_id)
        entry = outbox_mod.entry(f"{mailing_id}:cancelled", [event])
        rec = audit.record(id=derived_id("audit", "mailing", mailing_id, "cancelled"), at=now, actor_id=actor.id,
                           actor_email=actor.email, action="mailing.cancelled", entity="mailing",
                           entity_id=mailing_id, before={"state": mailing.state}, after={"state": "cancelled"})
        result = await self.collection.update_one(
            {"_id": mailing_id, "cancelled_at": None},
            {"$set": {"cancelled_at": now, "cancelled_by": actor.id},
             "$push": {outbox_mod.FIELD: entry, audit.PENDING: rec}})
        if result.matched_count:
            await self._after_write(mailing_id, rec)
            log.info("mailing.cancelled", mailing_id=mailing_id)
        return await self._to_mailing(await self._doc(mailing_id) or doc)

    async def _after_write(self, mailing_id: str, rec: dict[str, Any]) -> None:
        await self.audit.settle(MAILINGS, mailing_id, [rec])
        await self.outbox.flush(mailing_id)

    async def relay_once(self, grace: float) -> int:
        await self.audit.settle_all(MAILINGS, grace)
        return await self.outbox.relay_once()

    async def _doc(self, mailing_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": mailing_id}, {outbox_mod.FIELD: 0, audit.PENDING: 0})

    async def get(self, mailing_id: str) -> Mailing | None:
        doc = await self._doc(mailing_id)
        return await self._to_mailing(doc) if doc else None

    async def list(self, *, state: str | None = None, limit: int = 100, offset: int = 0) -> list[Mailing]:
        # the state is derived (time, figures): filter after reading, newest first
        cursor = self.collection.find({}, {outbox_mod.FIELD: 0, audit.PENDING: 0}).sort(
            [("created_at", DESCENDING), ("_id", 1)])
        docs = [d async for d in cursor]
        figures = await self.figures.latest_many("mailing", [d["_id"] for d in docs])
        now = utcnow()
        found = [_to_mailing(d, figures.get(d["_id"], Delivery()), now) for d in docs]
        if state:
            found = [m for m in found if m.state == state]
        return found[offset:offset + limit]

    async def _to_mailing(self, doc: dict[str, Any]) -> Mailing:
        return _to_mailing(doc, await self.figures.latest("mailing", doc["_id"]), utcnow())


def _to_mailing(doc: dict[str, Any], figures: Delivery, now: datetime) -> Mailing:
    return Mailing(id=doc["_id"], text=doc["text"], image_url=doc.get("image_url"), link_label=doc.get("link_label"),
                   link_url=doc.get("link_url"), segment=Segment(**doc["segment"]), send_at=doc.get("send_at"),
                   state=_state(doc, figures, now), created_at=doc["created_at"], created_by=doc.get("created_by"),
                   cancelled_at=doc.get("cancelled_at"), figures=figures)


def _summary(doc: dict[str, Any], city: CityData) -> dict[str, Any]:
    """What the audit log keeps of a mailing: its length, not the text itself."""
    send_at = doc.get("send_at")
    return {"text_length": len(doc["text"]), "image": bool(doc.get("image_url")), "link_url": doc.get("link_url"),
            "segment": describe_segment(Segment(**doc["segment"]), city),
            "send_at": send_at.isoformat() if send_at else None}


# --------------------------------------------------------------------------- greetings


def _hhmm(value: str) -> str:
    value = value.strip()
    if len(value) == 8 and value.endswith(":00"):  # a browser's HH:MM:SS
        value = value[:5]
    if not _HHMM.match(value):
        raise ValueError("час у форматі ГГ:ХХ (наприклад, 10:00)")
    return value


class BirthdayIn(BaseModel):
    """The birthday greeting: sent once a year on the day (29 February → 28 February in
    other years) at ``time`` (HH:MM, Europe/Kyiv) to residents with a birth date who
    accept notices."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    text: str = Field(default="", max_length=MAX_TEXT + 1000)
    time: str = "10:00"
    revision: int | None = Field(default=None, ge=0)

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        return _hhmm(value)


class _EventFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: date
    send_time: str = "10:00"
    text: str = Field(max_length=MAX_TEXT + 1000)
    segment: SegmentIn = Field(default_factory=SegmentIn)
    cancelled: bool = False

    @field_validator("send_time")
    @classmethod
    def _time(cls, value: str) -> str:
        return _hhmm(value)


class GreetingEventIn(_EventFields):
    """A staff-defined day (the City Day…): ``text`` to ``segment`` on ``date`` at
    ``send_time`` (HH:MM, Europe/Kyiv). ``revision``, when given, must be the
    configuration's current one (else 409)."""

    revision: int | None = Field(default=None, ge=0)


class GreetingEventItem(_EventFields):
    """One event of the whole configuration (``PUT /greetings``)."""

    model_config = ConfigDict(extra="forbid", title="GreetingEventInput")
    event_id: str = Field(min_length=1, max_length=61)


class GreetingsIn(BaseModel):
    """The whole configuration (replaces it): the birthday greeting and every event."""

    model_config = ConfigDict(extra="forbid")
    birthday_enabled: bool = False
    birthday_text: str = Field(default="", max_length=MAX_TEXT + 1000)
    birthday_time: str = "10:00"
    events: list[GreetingEventItem] = Field(default_factory=list, max_length=MAX_EVENTS)
    revision: int | None = Field(default=None, ge=0)

    @field_validator("birthday_time")
    @classmethod
    def _time(cls, value: str) -> str:
        return _hhmm(value)


class GreetingEventOut(BaseModel):
    event_id: str
    date: date
    send_time: str
    text: str
    segment: Segment
    cancelled: bool
    figures: Delivery


class Greetings(BaseModel):
    """The greetings configuration (``revision`` 0: never configured); the birthday's
    figures are those of its latest daily mailing."""

    revision: int
    birthday_enabled: bool
    birthday_text: str
    birthday_time: str
    events: list[GreetingEventOut]
    updated_at: datetime | None = None
    birthday_figures: Delivery


EMPTY = {"revision": 0, "birthday_enabled": False, "birthday_text": "", "birthday_time": "10:00", "events": []}


def today_kyiv() -> date:
    return utcnow().astimezone(KYIV).date()


class GreetingsRepository:
    def __init__(self, store: Store, outbox: Outbox, audit_log: audit.AuditLog, city: CityData,
                 figures: Figures) -> None:
        self.collection = store[GREETINGS]
        self.outbox = outbox
        self.audit = audit_log
        self.segments = SegmentChecker(city)
        self.figures = figures

    async def setup(self) -> None:
        await self.outbox.setup()

    async def _doc(self) -> dict[str, Any]:
        doc = await self.collection.find_one({"_id": GREETINGS_ID}, {outbox_mod.FIELD: 0, audit.PENDING: 0})
        return doc or {"_id": GREETINGS_ID, **EMPTY}

    async def get(self) -> Greetings:
        doc = await self._doc()
        ids = [e["event_id"] for e in doc["events"]]
        figures = await self.figures.latest_many("greeting", ids)
        birthday = await self.figures.latest_with_prefix("greeting", "birthday:")
        return Greetings(
            revision=doc["revision"], birthday_enabled=doc["birthday_enabled"], birthday_text=doc["birthday_text"],
            birthday_time=doc["birthday_time"], updated_at=doc.get("updated_at"),
            events=[GreetingEventOut(**{**e, "date": date.fromisoformat(e["date"]), "segment": Segment(**e["segment"]),
                                        "figures": figures.get(e["event_id"], Delivery())}) for e in doc["events"]],
            birthday_figures=birthday or Delivery())

    # ------------------------------------------------------------------ checks

    def _event(self, event_id: str, body: _EventFields, prefix: str, errors: list[FieldError],
               existing: dict[str, Any] | None) -> dict[str, Any] | None:
        if not _EVENT_ID.match(event_id):
            errors.append(FieldError(path=f"{prefix}event_id" if prefix else "id",
                                     message="лише малі латинські літери, цифри, «_» і «-» (до 61)"))
        before = len(errors)
        text = _check_text(body.text, f"{prefix}text", errors)
        unchanged_day = existing is not None and existing["date"] == body.date.isoformat() \
            and existing["send_time"] == body.send_time
        if not body.cancelled and not unchanged_day:
            when = datetime.combine(body.date, time.fromisoformat(body.send_time), KYIV)
            if when <= utcnow():
                errors.append(FieldError(path=f"{prefix}date", message="ця дата й час уже минули"))
        segment = self.segments.check(body.segment, f"{prefix}segment", errors)
        if len(errors) > before or segment is None:
            return None
        return GreetingEvent(event_id=event_id, date=body.date.isoformat(), send_time=body.send_time, text=text,
                             segment=segment, cancelled=body.cancelled).model_dump(mode="json")

    def _birthday(self, enabled: bool, text: str, at: str, prefix: str, errors: list[FieldError]
                  ) -> dict[str, Any]:
        text = text.replace("\r\n", "\n").strip()
        if enabled and not text:
            errors.append(FieldError(path=f"{prefix}text", message="текст привітання не може бути порожнім"))
        elif len(text) > MAX_TEXT:
            errors.append(FieldError(path=f"{prefix}text", message=f"не більше {MAX_TEXT} символів"))
        return {"birthday_enabled": enabled, "birthday_text": text, "birthday_time": at}

    # ------------------------------------------------------------------ changes

    async def replace(self, actor: Staff, body: GreetingsIn) -> Greetings:
        def change(doc: dict[str, Any]) -> dict[str, Any]:
            errors: list[FieldError] = []
            fields = self._birthday(body.birthday_enabled, body.birthday_text, body.birthday_time, "birthday_",
                                    errors)
            current = {e["event_id"]: e for e in doc["events"]}
            events, seen = [], set()
            for n, item in enumerate(body.events):
                if item.event_id in seen:
                    errors.append(FieldError(path=f"events[{n}].event_id", message="така подія вже є у списку"))
                    continue
                seen.add(item.event_id)
                event = self._event(item.event_id, item, f"events[{n}].", errors, current.get(item.event_id))
                if event is not None:
                    events.append(event)
            if errors:
                raise ApiError(422, "validation_failed", "Перевірте налаштування привітань", errors)
            return {**fields, "events": events}

        return await self._change(actor, "greetings.configured", body.revision, change)

    async def put_birthday(self, actor: Staff, body: BirthdayIn) -> Greetings:
        def change(doc: dict[str, Any]) -> dict[str, Any]:
            errors: list[FieldError] = []
            fields = self._birthday(body.enabled, body.text, body.time, "", errors)
            if errors:
                raise ApiError(422, "validation_failed", "Перевірте привітання з днем народження", errors)
            return fields

        return await self._change(actor, "greetings.birthday_changed", body.revision, change)

    async def put_event(self, actor: Staff, event_id: str, body: GreetingEventIn) -> Greetings:
        def change(doc: dict[str, Any]) -> dict[str, Any]:
            errors: list[FieldError] = []
            events = list(doc["events"])
            index = next((i for i, e in enumerate(events) if e["event_id"] == event_id), None)
            if index is None and len(events) >= MAX_EVENTS:
                raise ApiError(409, "too_many", f"Не більше {MAX_EVENTS} подій")
            event = self._event(event_id, body, "", errors, events[index] if index is not None else None)
            if errors or event is None:
                raise ApiError(422, "validation_failed", "Перевірте подію", errors)
            if index is None:
                events.append(event)
            else:
                events[index] = event
            return {"events": events}

        return await self._change(actor, "greetings.event_saved", body.revision, change, entity_detail=event_id)

    async def cancel_event(self, actor: Staff, event_id: str, revision: int | None = None) -> Greetings:
        def change(doc: dict[str, Any]) -> dict[str, Any]:
            events = [dict(e) for e in doc["events"]]
            found = next((e for e in events if e["event_id"] == event_id), None)
            if found is None:
                raise ApiError(404, "not_found", "Подію не знайдено")
            found["cancelled"] = True
            return {"events": events}

        return await self._change(actor, "greetings.event_cancelled", revision, change, entity_detail=event_id)

    async def _change(self, actor: Staff, action: str, expected: int | None,
                      change: Callable[[dict[str, Any]], dict[str, Any]], entity_detail: str | None = None
                      ) -> Greetings:
        for _attempt in range(5):
            doc = await self._doc()
            if expected is not None and expected != doc["revision"]:
                raise ApiError(409, "stale_revision",
                               f"Привітання вже змінено (ревізія {doc['revision']}, а не {expected}); оновіть сторінку")
            new = change(doc)
            changed = [k for k, v in new.items() if doc.get(k) != v]
            if not changed:
                return await self.get()
            now = _millis(utcnow())
            revision = doc["revision"] + 1
            config = {k: doc[k] for k in EMPTY if k != "revision"} | new
            event = make_event(GreetingsConfigured(revision=revision, at=now, **config), source=SOURCE,
                               id=derived_id("greetings", revision, GreetingsConfigured.type),
                               correlationid="greetings")
            entry = outbox_mod.entry(f"greetings:{revision}", [event])
            rec = audit.record(id=derived_id("audit", "greetings", revision), at=now, actor_id=actor.id,
                               actor_email=actor.email, action=action, entity="greetings",
                               entity_id=entity_detail or GREETINGS_ID,
                               before=_greetings_summary(doc, changed), after=_greetings_summary(new, changed))
            update = {"$set": {**{k: new[k] for k in changed}, "revision": revision, "updated_at": now,
                               "updated_by": actor.id},
                      "$push": {outbox_mod.FIELD: entry, audit.PENDING: rec}}
            if doc["revision"] == 0 and "updated_at" not in doc:
                try:
                    await self.collection.insert_one({**{k: v for k, v in doc.items()}, "revision": revision,
                                                      **config, "updated_at": now, "updated_by": actor.id,
                                                      outbox_mod.FIELD: [entry], audit.PENDING: [rec]})
                except DuplicateKeyError:
                    continue  # someone configured it first: read again
            else:
                result = await self.collection.update_one({"_id": GREETINGS_ID, "revision": doc["revision"]}, update)
                if not result.matched_count:
                    if expected is not None:
                        raise ApiError(409, "stale_revision", "Привітання щойно змінив хтось інший; оновіть і повторіть")
                    continue
            await self.audit.settle(GREETINGS, GREETINGS_ID, [rec])
            await self.outbox.flush(GREETINGS_ID)
            log.info("greetings.configured", revision=revision, action=action)
            return await self.get()
        raise ApiError(409, "conflict", "Привітання змінюють одночасно; повторіть")

    async def relay_once(self, grace: float) -> int:
        await self.audit.settle_all(GREETINGS, grace)
        return await self.outbox.relay_once()


def _greetings_summary(doc: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """What the audit log keeps: texts by their length, events by id, date, time, state."""
    out: dict[str, Any] = {}
    for key in keys:
        value = doc.get(key)
        if key == "birthday_text":
            out["birthday_text_length"] = len(value or "")
        elif key == "events":
            out["events"] = [f"{e['event_id']} {e['date']} {e['send_time']}"
                             + (" (скасовано)" if e.get("cancelled") else "") + f", текст {len(e['text'])} симв."
                             for e in value or []]
        else:
            out[key] = value
    return out


def kyiv_datetime(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), KYIV).astimezone(UTC)


__all__ = ["MailingRepository", "GreetingsRepository", "SegmentChecker", "timedelta"]
