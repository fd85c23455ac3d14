"""The knowledge base in the staff's hands (C3, issue 10): the entries residents' questions
are answered from, edited here and delivered to the dialog as ``faq.changed``; and the
questions residents asked (``faq.feedback``: unanswered, 👍, 👎), listed for staff so
the knowledge base grows from real questions.

Entries — collection ``faq``, one document per entry (``_id`` = entry id): ``entry``
(``chatbot_common.events.FaqEntry`` as JSON, ``None`` once deleted — a tombstone keeps
the revision counter, so a re-created id continues it and the dialog, which keeps the
highest revision, applies it), ``revision`` (0 = the seed file; staff changes count
from 1, as docs/faq.md asks), ``source`` (``seed`` | ``staff``), ``updated_at``,
``changed_by``. Every change is ONE conditional write (on the revision read) that sets
the entry and ``revision + 1`` and pushes the ``faq.changed`` event (id
``derived_id("faq", entry id, revision, "faq.changed")``) onto the outbox and the audit
record onto ``pending_audit``; both are then flushed, the relay takes what a crash
leaves — the outages/info pattern.

Seeding — at start, from the same file the dialog seeds from (the packaged
``chatbot_common/directory/data/faq.toml``, read by ``chatbot_common.faq_seed``), or
``ADMIN_FAQ_FILE``: entries missing here are inserted at revision 0, no event (the
dialog reads the same file). A file with a higher ``version`` than the one applied
(``faq_meta``) updates only entries still ``source: seed`` at revision 0 — staff edits
win over the file, as in the dialog.

Questions — collection ``faq_questions``, one document per ``faq.feedback`` event
(``_id`` = event id: a redelivered event is stored once), plus ``handled`` /
``handled_at`` / ``handled_by`` once staff dealt with it.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pymongo import DESCENDING
from pymongo.errors import BulkWriteError, DuplicateKeyError

from chatbot_common import outbox as outbox_mod
from chatbot_common.directory import CityData
from chatbot_common.directory.text import fold
from chatbot_common.events import FaqChanged, FaqEntry, FaqFeedback, FaqLink, derived_id, make_event, utcnow
from chatbot_common.faq_seed import load_seed
from chatbot_common.outbox import Outbox
from chatbot_common.store import Store

from . import audit
from .errors import ApiError, FieldError
from .staff import Staff
from .validators import button_label, web_url

log = structlog.get_logger("admin.faq")

COLLECTION = "faq"
META = "faq_meta"
QUESTIONS = "faq_questions"
SOURCE = "/admin"
ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: path segments under /api/v1/faq/ that are not entries
RESERVED_IDS = frozenset({"questions", "new"})
TOPIC = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_ANSWER = 1000
MAX_QUESTION = 200
MAX_LINES = 30
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]{1,24}$")
Verdict = Literal["unanswered", "helpful", "not_helpful"]


def _millis(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _lines(value: list[str]) -> list[str]:
    """Trimmed, without empty lines and repeats (in order)."""
    return list(dict.fromkeys(" ".join(v.split()) for v in value if v and v.strip()))


class FaqLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid", title="FaqLinkInput")
    label: str = Field(min_length=1, max_length=40, description="the button's label (Viber shows ~40 characters)")
    url: str = Field(min_length=1, max_length=1000)

    @field_validator("label")
    @classmethod
    def _label(cls, value: str) -> str:
        return button_label(value, "напис кнопки не може бути порожнім")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return web_url(value)


class FaqEntryFields(BaseModel):
    """What staff write in an entry. The answer is what the resident reads: formal «Ви»
    is the editor's job; an empty or too long one is refused."""

    model_config = ConfigDict(extra="forbid", title="FaqEntryFields")
    topic: str = Field(min_length=1, max_length=64, description="a short Latin code: water, heating, cnap …")
    question: str = Field(min_length=3, max_length=MAX_QUESTION, description="the canonical question")
    phrasings: list[str] = Field(default_factory=list, max_length=MAX_LINES,
                                 description="other ways residents ask it")
    answer: str = Field(min_length=1, max_length=20000, description=f"≤ {MAX_ANSWER} characters (after trimming)")
    phones: list[str] = Field(default_factory=list, max_length=10)
    links: list[FaqLinkIn] = Field(default_factory=list, max_length=3, description="≤ 3 open-url buttons")
    keywords: list[str] = Field(default_factory=list, max_length=MAX_LINES)
    settlement: str | None = Field(default=None, max_length=60,
                                   description="a settlement id: the entry only answers its residents")

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        value = value.strip().lower()
        if not TOPIC.match(value):
            raise ValueError("тема — короткий код латиницею (water, heating, cnap …)")
        return value

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        value = " ".join(value.split())
        if len(value) < 3:
            raise ValueError("запитання має містити щонайменше 3 символи")
        return value

    @field_validator("answer")
    @classmethod
    def _answer(cls, value: str) -> str:
        value = value.replace("\r\n", "\n").strip()
        if not value:
            raise ValueError("відповідь не може бути порожньою")
        if len(value) > MAX_ANSWER:
            raise ValueError(f"відповідь довша за {MAX_ANSWER} символів ({len(value)})")
        return value

    @field_validator("phrasings", "keywords")
    @classmethod
    def _list(cls, value: list[str]) -> list[str]:
        value = _lines(value)
        for item in value:
            if len(item) > MAX_QUESTION:
                raise ValueError(f"рядок довший за {MAX_QUESTION} символів: «{item[:40]}…»")
        return value

    @field_validator("phones")
    @classmethod
    def _phones(cls, value: list[str]) -> list[str]:
        value = _lines(value)
        for item in value:
            if not _PHONE.match(item):
                raise ValueError(f"«{item[:40]}» не схоже на номер телефону (+380…, 0…, 1580, 112)")
        return value

    @field_validator("settlement")
    @classmethod
    def _settlement(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None


class FaqEntryCreate(FaqEntryFields):
    model_config = ConfigDict(extra="forbid", title="FaqEntryCreate")
    id: str = Field(min_length=1, max_length=64,
                    description="Latin, stable (button codes and feedback use it): heating-start")

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        value = value.strip()
        if not ID.match(value):
            raise ValueError("лише малі латинські літери, цифри, «_» і «-» (до 64), спочатку літера чи цифра")
        if value in RESERVED_IDS:
            raise ValueError(f"«{value}» зарезервовано (це адреса в API); оберіть інший")
        return value


class FaqEntryUpdate(FaqEntryFields):
    """The whole entry after the change. ``revision``, when given, must be the entry's
    current revision (else 409: someone changed it meanwhile)."""

    model_config = ConfigDict(extra="forbid", title="FaqEntryUpdate")
    revision: int | None = Field(default=None, ge=0)


class FaqItem(BaseModel):
    """An entry as staff see it."""

    id: str
    revision: int
    topic: str
    question: str
    phrasings: list[str]
    answer: str
    phones: list[str]
    links: list[FaqLink]
    keywords: list[str]
    settlement: str | None = None
    source: str = Field(description="seed: as in the packaged file; staff: changed in the panel/API")
    updated_at: datetime | None = None
    changed_by: str | None = None


class FaqQuestion(BaseModel):
    """A resident's question as the dialog reported it (no personal data)."""

    id: str
    verdict: Verdict
    question: str | None = None
    entry_id: str | None = None
    suggestions: list[str] = []
    score: float | None = None
    settlement_id: str | None = None
    at: datetime
    handled: bool = False
    handled_at: datetime | None = None
    handled_by: str | None = None


class FaqEntryCount(BaseModel):
    entry_id: str
    question: str | None = Field(default=None, description="the entry's question now (None: deleted)")
    helpful: int = 0
    not_helpful: int = 0
    suggested: int = Field(default=0, description="offered as a suggestion to an unanswered question")


class FaqQuestionGroup(BaseModel):
    """The same question (case and spacing aside) asked several times."""

    question: str
    verdict: Verdict
    entry_id: str | None = None
    count: int
    last_at: datetime
    ids: list[str]


class FaqQuestions(BaseModel):
    """Residents' questions in the period, newest first, with counts."""

    totals: dict[str, int] = Field(description="unanswered / helpful / not_helpful in the period (any handled state)")
    per_entry: list[FaqEntryCount] = Field(description="verdicts per entry, most 👎 first")
    groups: list[FaqQuestionGroup] = Field(description="the listed questions grouped by their text, most asked first")
    questions: list[FaqQuestion]


def to_item(doc: dict[str, Any]) -> FaqItem:
    entry = doc["entry"]
    return FaqItem(id=doc["_id"], revision=doc["revision"], topic=entry["topic"], question=entry["question"],
                   phrasings=entry.get("phrasings", []), answer=entry["answer"], phones=entry.get("phones", []),
                   links=[FaqLink(**link) for link in entry.get("links", [])], keywords=entry.get("keywords", []),
                   settlement=entry.get("settlement"), source=doc.get("source", "seed"),
                   updated_at=doc.get("updated_at"), changed_by=doc.get("changed_by"))


def _field(path: str, message: str, status: int = 422) -> ApiError:
    return ApiError(status, "validation_failed", f"{path}: {message}", [FieldError(path=path, message=message)])


def _summary(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    """The audit's before/after: the whole entry (no personal data in it)."""
    return dict(entry) if entry is not None else None


class FaqRepository:
    def __init__(self, store: Store, outbox: Outbox, audit_log: audit.AuditLog, city: CityData,
                 seed_file: Path | None = None) -> None:
        self.collection = store[COLLECTION]
        self.meta = store[META]
        self.questions = store[QUESTIONS]
        self.outbox = outbox
        self.audit = audit_log
        self.city = city
        self.seed_file = seed_file

    async def setup(self) -> None:
        await self.outbox.setup()
        await self.collection.create_index("entry.topic")
        await self.questions.create_index([("at", DESCENDING)])
        await self.questions.create_index([("verdict", 1), ("handled", 1), ("at", DESCENDING)])
        await self.seed()

    async def seed(self) -> int:
        """Insert the file's entries this copy lacks (revision 0, no event); with a newer
        file version, also update entries still as seeded. Returns how many changed."""
        seed = load_seed(self.seed_file)
        version, entries = seed.version, seed.entries
        meta = await self.meta.find_one({"_id": "seed"}) or {}
        now = _millis(utcnow())
        docs = [{"_id": e.id, "entry": e.model_dump(mode="json"), "revision": 0, "source": "seed",
                 "updated_at": now, "changed_by": None} for e in entries]
        changed = 0
        if docs and await self.collection.count_documents({}, limit=1) == 0:
            try:
                result = await self.collection.insert_many(docs, ordered=False)
                changed = len(result.inserted_ids)
            except BulkWriteError as exc:  # another replica seeded at the same time
                changed = exc.details.get("nInserted", 0)
        elif version > meta.get("version", 0):
            for doc in docs:
                result = await self.collection.update_one(
                    {"_id": doc["_id"], "source": "seed", "revision": 0},
                    {"$set": {"entry": doc["entry"], "updated_at": now}})
                changed += result.modified_count
                if not result.matched_count:
                    try:
                        await self.collection.insert_one(doc)
                        changed += 1
                    except DuplicateKeyError:
                        pass  # edited or deleted by staff: their version wins
        if version > meta.get("version", 0):
            await self.meta.update_one({"_id": "seed"}, {"$max": {"version": version}}, upsert=True)
        if changed:
            log.info("faq.seeded", entries=changed, version=version)
        return changed

    # ------------------------------------------------------------------ reading

    async def list(self, *, topic: str | None = None, q: str | None = None, limit: int = 500,
                   offset: int = 0) -> list[FaqItem]:
        query: dict[str, Any] = {"entry": {"$ne": None}}
        if topic:
            query["entry.topic"] = topic
        docs = [d async for d in self.collection.find(query, {outbox_mod.FIELD: 0, audit.PENDING: 0})
                .sort([("entry.topic", 1), ("_id", 1)])]
        if q:
            words = fold(q).split()
            docs = [d for d in docs if all(w in _haystack(d) for w in words)]
        return [to_item(d) for d in docs[offset:offset + limit]]

    async def topics(self) -> list[str]:
        return sorted({d["entry"]["topic"] async for d in self.collection.find({"entry": {"$ne": None}},
                                                                              {"entry.topic": 1})})

    async def get(self, entry_id: str) -> FaqItem | None:
        doc = await self.collection.find_one({"_id": entry_id, "entry": {"$ne": None}},
                                             {outbox_mod.FIELD: 0, audit.PENDING: 0})
        return to_item(doc) if doc else None

    # ------------------------------------------------------------------ changes

    async def create(self, actor: Staff, body: FaqEntryCreate) -> FaqItem:
        return await self._change(actor, body.id, None, body, creating=True)

    async def update(self, actor: Staff, entry_id: str, body: FaqEntryUpdate) -> FaqItem:
        return await self._change(actor, entry_id, body.revision, body, creating=False)

    async def delete(self, actor: Staff, entry_id: str, revision: int | None = None) -> None:
        await self._change(actor, entry_id, revision, None, creating=False)

    def _entry(self, entry_id: str, body: FaqEntryFields) -> FaqEntry:
        if body.settlement is not None and self.city.settlement(body.settlement) is None:
            known = ", ".join(s.id for s in self.city.settlements[:8])
            raise _field("settlement", f"невідомий населений пункт «{body.settlement}» (відомі: {known} …)")
        data = body.model_dump(exclude={"id", "revision"})
        try:
            return FaqEntry(id=entry_id, **data)
        except ValidationError as exc:  # the event's own rules (should agree with ours)
            from .http import from_validation_error

            raise from_validation_error(exc) from None

    async def _change(self, actor: Staff, entry_id: str, expected: int | None, body: FaqEntryFields | None, *,
                      creating: bool) -> Any:
        entry = self._entry(entry_id, body) if body is not None else None
        new = entry.model_dump(mode="json") if entry is not None else None
        for _attempt in range(5):
            doc = await self.collection.find_one({"_id": entry_id}, {outbox_mod.FIELD: 0, audit.PENDING: 0})
            alive = doc is not None and doc.get("entry") is not None
            if creating and alive:
                raise ApiError(409, "exists", f"Запис «{entry_id}» уже є: змініть його або оберіть інший ідентифікатор",
                               [FieldError(path="id", message="такий ідентифікатор уже є")])
            if not creating and not alive:
                raise ApiError(404, "not_found", "Запис бази знань не знайдено")
            current = doc["revision"] if doc is not None else 0
            if expected is not None and expected != current:
                raise ApiError(409, "stale_revision",
                               f"Запис уже змінено (ревізія {current}, а не {expected}); оновіть сторінку")
            before = doc.get("entry") if doc is not None else None
            if before == new:
                return to_item(doc) if doc is not None and new is not None else None  # nothing changes
            revision = current + 1
            now = _millis(utcnow())
            data = FaqChanged(entry_id=entry_id, revision=revision, entry=entry, at=now, changed_by=actor.id)
            event = make_event(data, source=SOURCE, id=derived_id("faq", entry_id, revision, FaqChanged.type),
                               correlationid=entry_id)
            out = outbox_mod.entry(f"faq:{entry_id}:{revision}", [event])
            action = "faq.created" if before is None else "faq.deleted" if new is None else "faq.changed"
            rec = audit.record(id=derived_id("audit", "faq", entry_id, revision), at=now, actor_id=actor.id,
                               actor_email=actor.email, action=action, entity="faq", entity_id=entry_id,
                               before=_summary(before), after=_summary(new))
            fields = {"entry": new, "revision": revision, "source": "staff", "updated_at": now,
                      "changed_by": actor.id}
            push = {"$push": {outbox_mod.FIELD: out, audit.PENDING: rec}}
            if doc is None:
                try:
                    await self.collection.insert_one({"_id": entry_id, **fields, outbox_mod.FIELD: [out],
                                                      audit.PENDING: [rec]})
                    matched = True
                except DuplicateKeyError:
                    matched = False
            else:
                result = await self.collection.update_one({"_id": entry_id, "revision": current},
                                                          {"$set": fields, **push})
                matched = result.matched_count == 1
            if matched:
                await self.audit.settle(COLLECTION, entry_id, [rec])
                await self.outbox.flush(entry_id)
                return to_item({"_id": entry_id, **fields}) if new is not None else None
            if expected is not None:
                raise ApiError(409, "stale_revision", "Запис щойно змінив хтось інший; оновіть сторінку")
        raise ApiError(409, "conflict", "Запис змінюють одночасно; повторіть")

    async def relay_once(self, grace: float) -> int:
        await self.audit.settle_all(COLLECTION, grace)
        await self.audit.settle_all(QUESTIONS, grace)
        return await self.outbox.relay_once()

    # ------------------------------------------------------------------ residents' questions

    async def record_feedback(self, event_id: str, data: FaqFeedback) -> bool:
        """Keep one document per event (a redelivery changes nothing). True: new."""
        try:
            await self.questions.insert_one({
                "_id": event_id, "verdict": data.verdict, "question": data.question, "entry_id": data.entry_id,
                "suggestions": list(data.suggestions), "score": data.score, "settlement_id": data.settlement_id,
                "at": _millis(data.at), "received_at": _millis(utcnow()), "handled": False})
            return True
        except DuplicateKeyError:
            return False

    async def feedback(self, *, verdicts: list[str] | None = None, since: datetime | None = None,
                       until: datetime | None = None, handled: bool | None = None,
                       limit: int = 200) -> FaqQuestions:
        period: dict[str, Any] = {}
        if since:
            period["$gte"] = since
        if until:
            period["$lt"] = until
        base: dict[str, Any] = {"at": period} if period else {}
        totals: Counter[str] = Counter()
        per_entry: dict[str, Counter[str]] = defaultdict(Counter)
        async for d in self.questions.find(base, {"verdict": 1, "entry_id": 1, "suggestions": 1}):
            totals[d["verdict"]] += 1
            if d["verdict"] in ("helpful", "not_helpful") and d.get("entry_id"):
                per_entry[d["entry_id"]][d["verdict"]] += 1
            elif d["verdict"] == "unanswered":
                for suggestion in d.get("suggestions") or []:
                    per_entry[suggestion]["suggested"] += 1
        query = dict(base)
        if verdicts:
            query["verdict"] = {"$in": verdicts}
        if handled is not None:
            query["handled"] = handled
        docs = [d async for d in self.questions.find(query).sort([("at", DESCENDING), ("_id", 1)]).limit(limit)]
        questions = [FaqQuestion(id=d.pop("_id"), **{k: v for k, v in d.items() if k in FaqQuestion.model_fields})
                     for d in docs]
        names = {d["_id"]: d["entry"]["question"] async for d in self.collection.find(
            {"_id": {"$in": list(per_entry)}, "entry": {"$ne": None}}, {"entry.question": 1})}
        counts = [FaqEntryCount(entry_id=k, question=names.get(k), helpful=v["helpful"],
                                not_helpful=v["not_helpful"], suggested=v["suggested"]) for k, v in per_entry.items()]
        counts.sort(key=lambda c: (-c.not_helpful, -c.suggested, c.helpful, c.entry_id))
        groups: dict[tuple[str, str, str | None], FaqQuestionGroup] = {}
        for item in questions:
            if not item.question:
                continue
            key = (" ".join(fold(item.question).split()), item.verdict, item.entry_id)
            group = groups.get(key)
            if group is None:
                groups[key] = FaqQuestionGroup(question=item.question, verdict=item.verdict, entry_id=item.entry_id,
                                               count=1, last_at=item.at, ids=[item.id])
            else:
                group.count += 1
                group.ids.append(item.id)
        ordered = sorted(groups.values(), key=lambda g: (-g.count, -g.last_at.timestamp()))
        return FaqQuestions(totals={v: totals[v] for v in ("unanswered", "helpful", "not_helpful")},
                            per_entry=counts, groups=ordered, questions=questions)

    async def mark_handled(self, actor: Staff, question_id: str, handled: bool = True) -> FaqQuestion:
        """Mark a question handled (or not): one write with its audit record."""
        doc = await self.questions.find_one({"_id": question_id}, {audit.PENDING: 0})
        if doc is None:
            raise ApiError(404, "not_found", "Питання не знайдено")
        if doc.get("handled", False) != handled:
            now = _millis(utcnow())
            rec = audit.record(id=derived_id("audit", "faq_question", question_id, handled, now.isoformat()), at=now,
                               actor_id=actor.id, actor_email=actor.email,
                               action="faq.question_handled" if handled else "faq.question_reopened",
                               entity="faq_question", entity_id=question_id,
                               before={"handled": not handled}, after={"handled": handled})
            fields = {"handled": handled, "handled_at": now if handled else None,
                      "handled_by": actor.id if handled else None}
            result = await self.questions.update_one({"_id": question_id, "handled": doc.get("handled", False)},
                                                     {"$set": fields, "$push": {audit.PENDING: rec}})
            if result.matched_count:
                await self.audit.settle(QUESTIONS, question_id, [rec])
            doc = await self.questions.find_one({"_id": question_id}, {audit.PENDING: 0})
            assert doc is not None
        return FaqQuestion(id=doc.pop("_id"), **{k: v for k, v in doc.items() if k in FaqQuestion.model_fields})


def _haystack(doc: dict[str, Any]) -> str:
    entry = doc["entry"]
    parts = [doc["_id"], entry["topic"], entry["question"], entry["answer"], *entry.get("phrasings", []),
             *entry.get("keywords", [])]
    return fold(" ".join(parts))
