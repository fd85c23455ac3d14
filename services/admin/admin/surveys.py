"""Surveys (issue 9, C8): the builder's data, its checks, the lifecycle that publishes
``survey.published`` and the anonymous answers with their results.

- ``surveys`` (``_id`` = the survey id, which goes into the button code
  ``survey:open:<id>``): title, intro, questions (the event's ``SurveyQuestion`` as JSON),
  the resolved ``Segment``, ``starts_at``/``ends_at`` (UTC, ms), ``state`` (``draft`` until
  published, then the state last published), ``revision`` (of the last ``survey.published``;
  0 for a draft), ``version`` (every write; the optimistic check of the forms), the
  ``outbox`` and ``pending_audit``. Every change is ONE conditional write (on the version
  read) that sets the fields, pushes the audit record and — once published — ONE
  ``survey.published`` with the whole survey and ``revision + 1`` (id
  ``derived_id(survey id, revision, "survey.published")``).
- The lifecycle job (``tick``, under the lease ``survey-lifecycle``): a ``scheduled``
  survey whose start came is published ``active`` (the dialog shows only active ones), a
  ``scheduled``/``active`` one whose end passed is published ``closed``. Each is the same
  conditional write, so a restart or a second replica publishes it once.
- ``survey_answers``: one document per (survey, resident), ``_id`` = SHA-256 of
  ``survey id | resident id`` — the resident id itself is never stored; the answers and
  the day (Kyiv) they came. Inserting it twice changes nothing (idempotent without an
  inbox). Results and the CSV come from these documents only: anonymous.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

import structlog
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from chatbot_common import outbox as outbox_mod
from chatbot_common.directory import CityData
from chatbot_common.events import (
    Segment,
    SurveyAnswered,
    SurveyOption,
    SurveyPublished,
    SurveyQuestion,
    SurveyQuestionKind,
    SurveyState,
    derived_id,
    make_event,
    utcnow,
)
from chatbot_common.outbox import Outbox
from chatbot_common.store import Store

from . import audit
from .errors import ApiError, FieldError
from .figures import Delivery, Figures
from .mailings import KYIV, SegmentChecker, SegmentIn, describe_segment
from .outages import _millis
from .staff import Staff

log = structlog.get_logger("admin.surveys")

SOURCE = "/admin"
COLLECTION = "surveys"
ANSWERS = "survey_answers"
MAX_TITLE = 200
MAX_INTRO = 2000
MAX_QUESTION = 1000
MAX_QUESTIONS = 30
MIN_OPTIONS, MAX_OPTIONS = 2, 30
MAX_LABEL = 40  # a Viber button
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,60}$")  # survey:open:<id>
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,30}$")
STATES: tuple[str, ...] = ("draft", "scheduled", "active", "closed", "cancelled")
SurveyStateOut = Literal["draft", "scheduled", "active", "closed", "cancelled"]
SYSTEM = ("system", "system")  # the lifecycle job's audit actor
#: what staff may still change once someone answered (the questions are locked)
STILL_EDITABLE = "назву, вступ, сегмент і дату завершення"


# --------------------------------------------------------------------------- input


class SurveyOptionIn(BaseModel):
    """An option of a single/multiple-choice question: ``label`` is a Viber button (≤ 40);
    ``key`` is kept for an existing option of the same label when left out."""

    model_config = ConfigDict(extra="forbid", title="SurveyOptionInput")
    key: str | None = Field(default=None, max_length=31)
    label: str = Field(max_length=400)


class SurveyQuestionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", title="SurveyQuestionInput")
    question_id: str | None = Field(default=None, max_length=31,
                                    description="kept across edits; generated (q1, q2…) when left out")
    kind: SurveyQuestionKind
    text: str = Field(max_length=4000)
    options: list[SurveyOptionIn] = Field(default_factory=list, max_length=100,
                                          description="2–30 for single/multiple; none for scale/text")
    required: bool = True


class SurveyIn(BaseModel):
    """The builder's data (create a draft, or change a survey). Times are ISO-8601 with an
    offset (Europe/Kyiv in the panel); a draft may leave them out. ``version``, when
    given, must be the survey's current one (someone else's change → 409)."""

    model_config = ConfigDict(extra="forbid", title="SurveyInput")
    survey_id: str | None = Field(default=None, max_length=200,
                                  description="lower-case Latin, digits, _ and - (it goes into button codes); "
                                              "generated when left out; only on create")
    title: str = Field(max_length=1000)
    intro: str = Field(default="", max_length=8000)
    questions: list[SurveyQuestionIn] = Field(default_factory=list, max_length=100)
    segment: SegmentIn = Field(default_factory=SegmentIn)
    starts_at: AwareDatetime | None = Field(default=None, description="empty: when published")
    ends_at: AwareDatetime | None = None
    version: int | None = Field(default=None, ge=0)


class SurveyAction(BaseModel):
    """Publish / close / cancel: ``version``, when given, must be the current one."""

    model_config = ConfigDict(extra="forbid")
    version: int | None = Field(default=None, ge=0)


# --------------------------------------------------------------------------- output


class Survey(BaseModel):
    id: str
    title: str
    intro: str
    questions: list[SurveyQuestion]
    segment: Segment
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    state: SurveyStateOut
    revision: int = Field(description="of the last survey.published; 0: a draft")
    version: int = Field(description="changes with every write; send it back to detect others' changes")
    respondents: int
    questions_locked: bool = Field(description="someone answered: the questions can no longer change")
    created_at: datetime
    created_by: str | None = None
    updated_at: datetime | None = None
    published_at: datetime | None = None
    closed_at: datetime | None = None
    cancelled_at: datetime | None = None


class OptionCount(BaseModel):
    key: str
    label: str
    count: int
    percent: float = Field(description="of the respondents who answered the question")


class QuestionResult(BaseModel):
    question_id: str
    kind: SurveyQuestionKind
    text: str
    required: bool
    answered: int
    skipped: int
    options: list[OptionCount] = Field(default_factory=list)
    scale: list[int] = Field(default_factory=list, description="how many chose 1, 2, 3, 4, 5")
    average: float | None = None
    texts: list[str] = Field(default_factory=list)


class SurveyResults(BaseModel):
    """Counts per option, the 1–5 distribution and average, free-text answers, the
    number of respondents, and the invitation's figures (mailing.progress subject
    ``survey``). Anonymous: nothing identifies a respondent."""

    survey_id: str
    title: str
    state: SurveyStateOut
    respondents: int
    questions: list[QuestionResult]
    invitations: Delivery


# --------------------------------------------------------------------------- checks


def _clean(text: str) -> str:
    return text.replace("\r\n", "\n").strip()


class SurveyChecker:
    def __init__(self, city: CityData) -> None:
        self.segments = SegmentChecker(city)

    def check(self, body: SurveyIn, current: list[dict[str, Any]], errors: list[FieldError],
              survey_id: str) -> dict[str, Any]:
        """The survey's fields (questions as the event's JSON), collecting every problem
        with its path. ``current``: the stored questions (their option keys are kept)."""
        title = " ".join(body.title.split())
        if not title:
            errors.append(FieldError(path="title", message="вкажіть назву опитування"))
        elif len(title) > MAX_TITLE:
            errors.append(FieldError(path="title", message=f"не більше {MAX_TITLE} символів (зараз {len(title)})"))
        intro = _clean(body.intro)
        if len(intro) > MAX_INTRO:
            errors.append(FieldError(path="intro", message=f"не більше {MAX_INTRO} символів (зараз {len(intro)})"))
        if len(body.questions) > MAX_QUESTIONS:
            errors.append(FieldError(path="questions", message=f"не більше {MAX_QUESTIONS} питань"))
        questions = self._questions(body.questions, current, errors)
        segment = self.segments.check(body.segment, "segment", errors)
        if body.segment.answered_survey_id == survey_id:
            errors.append(FieldError(path="segment.answered_survey_id",
                                     message="опитування не може бути для тих, хто вже відповів на нього"))
        starts = _millis(body.starts_at) if body.starts_at else None
        ends = _millis(body.ends_at) if body.ends_at else None
        if starts and ends and ends <= starts:
            errors.append(FieldError(path="ends_at", message="має бути пізніше за початок"))
        return {"title": title, "intro": intro, "questions": questions,
                "segment": segment.model_dump(mode="json") if segment else None, "starts_at": starts, "ends_at": ends}

    def _questions(self, given: list[SurveyQuestionIn], current: list[dict[str, Any]],
                   errors: list[FieldError]) -> list[dict[str, Any]]:
        by_id = {q["question_id"]: q for q in current}
        taken = {q.question_id for q in given if q.question_id}
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        counter = 0
        for n, q in enumerate(given):
            path = f"questions[{n}]"
            qid = q.question_id
            if qid is None:
                while True:
                    counter += 1
                    qid = f"q{counter}"
                    if qid not in taken and qid not in seen:
                        break
            elif not _KEY.match(qid):
                errors.append(FieldError(path=f"{path}.question_id",
                                         message="лише малі латинські літери, цифри, «_» і «-» (до 31)"))
            if qid in seen:
                errors.append(FieldError(path=f"{path}.question_id", message="таке питання вже є в опитуванні"))
            seen.add(qid)
            text = _clean(q.text)
            if not text:
                errors.append(FieldError(path=f"{path}.text", message="вкажіть текст питання"))
            elif len(text) > MAX_QUESTION:
                errors.append(FieldError(path=f"{path}.text", message=f"не більше {MAX_QUESTION} символів"))
            options = self._options(q, by_id.get(qid, {}).get("options") or [], path, errors)
            out.append({"question_id": qid, "kind": q.kind.value, "text": text, "options": options,
                        "required": q.required})
        return out

    def _options(self, q: SurveyQuestionIn, current: list[dict[str, Any]], path: str,
                 errors: list[FieldError]) -> list[dict[str, str]]:
        if q.kind in (SurveyQuestionKind.scale, SurveyQuestionKind.text):
            if q.options:
                errors.append(FieldError(path=f"{path}.options",
                                         message="варіанти відповіді бувають лише в питаннях з вибором"))
            return []
        if not MIN_OPTIONS <= len(q.options) <= MAX_OPTIONS:
            errors.append(FieldError(path=f"{path}.options",
                                     message=f"від {MIN_OPTIONS} до {MAX_OPTIONS} варіантів (зараз {len(q.options)})"))
        old = {o["label"].casefold(): o["key"] for o in current}
        given_keys = {o.key for o in q.options if o.key}
        out: list[dict[str, str]] = []
        labels: set[str] = set()
        keys: set[str] = set()
        counter = 0
        for m, option in enumerate(q.options):
            opath = f"{path}.options[{m}]"
            label = " ".join(option.label.split())
            if not label:
                errors.append(FieldError(path=f"{opath}.label", message="порожній варіант"))
            elif len(label) > MAX_LABEL:
                errors.append(FieldError(path=f"{opath}.label",
                                         message=f"це кнопка Viber: не більше {MAX_LABEL} символів (зараз {len(label)})"))
            elif label.casefold() in labels:
                errors.append(FieldError(path=f"{opath}.label", message="такий варіант уже є"))
            labels.add(label.casefold())
            key = option.key or old.get(label.casefold())
            if key is None or key in keys:
                while True:
                    counter += 1
                    key = f"o{counter}"
                    if key not in keys and key not in given_keys and key not in old.values():
                        break
            elif not _KEY.match(key):
                errors.append(FieldError(path=f"{opath}.key",
                                         message="лише малі латинські літери, цифри, «_» і «-» (до 31)"))
            keys.add(key)
            out.append({"key": key, "label": label})
        return out


def _publish_errors(fields: dict[str, Any], now: datetime) -> list[FieldError]:
    """What a survey needs before it can be published (beyond the builder's checks)."""
    errors: list[FieldError] = []
    if not fields["questions"]:
        errors.append(FieldError(path="questions", message="додайте хоча б одне питання"))
    if fields["ends_at"] is None:
        errors.append(FieldError(path="ends_at", message="вкажіть, коли опитування завершується"))
    elif fields["ends_at"] <= now:
        errors.append(FieldError(path="ends_at", message="час завершення вже минув"))
    elif fields["starts_at"] and fields["ends_at"] <= fields["starts_at"]:
        errors.append(FieldError(path="ends_at", message="має бути пізніше за початок"))
    return errors


# --------------------------------------------------------------------------- the repository


def answer_key(survey_id: str, resident_id: str) -> str:
    """The answer's id: one per resident per survey, without keeping the resident's id."""
    return hashlib.sha256(f"{survey_id}|{resident_id}".encode()).hexdigest()


class SurveyRepository:
    def __init__(self, store: Store, outbox: Outbox, audit_log: audit.AuditLog, city: CityData,
                 figures: Figures) -> None:
        self.collection = store[COLLECTION]
        self.answers = store[ANSWERS]
        self.outbox = outbox
        self.audit = audit_log
        self.city = city
        self.checker = SurveyChecker(city)
        self.figures = figures

    async def setup(self) -> None:
        await self.outbox.setup()
        await self.collection.create_index([("created_at", DESCENDING)])
        await self.collection.create_index([("state", 1), ("starts_at", 1)])
        await self.collection.create_index([("state", 1), ("ends_at", 1)])
        await self.answers.create_index("survey_id")

    # ------------------------------------------------------------------ reads

    async def _doc(self, survey_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": survey_id}, {outbox_mod.FIELD: 0, audit.PENDING: 0})

    async def _require(self, survey_id: str) -> dict[str, Any]:
        doc = await self._doc(survey_id)
        if doc is None:
            raise ApiError(404, "not_found", "Опитування не знайдено")
        return doc

    async def respondents(self, survey_id: str) -> int:
        return await self.answers.count_documents({"survey_id": survey_id})

    async def get(self, survey_id: str) -> Survey | None:
        doc = await self._doc(survey_id)
        return _to_survey(doc, await self.respondents(survey_id)) if doc else None

    async def list(self, *, state: str | None = None, limit: int = 100, offset: int = 0) -> list[Survey]:
        query = {"state": state} if state else {}
        cursor = self.collection.find(query, {outbox_mod.FIELD: 0, audit.PENDING: 0}).sort(
            [("created_at", DESCENDING), ("_id", 1)]).skip(offset).limit(limit)
        docs = [d async for d in cursor]
        counts: dict[str, int] = {}
        if docs:
            async for row in self.answers.aggregate([
                    {"$match": {"survey_id": {"$in": [d["_id"] for d in docs]}}},
                    {"$group": {"_id": "$survey_id", "n": {"$sum": 1}}}]):
                counts[row["_id"]] = row["n"]
        return [_to_survey(d, counts.get(d["_id"], 0)) for d in docs]

    # ------------------------------------------------------------------ changes

    async def create(self, actor: Staff, body: SurveyIn) -> Survey:
        survey_id = (body.survey_id or "").strip() or f"sv-{secrets.token_hex(4)}"
        errors: list[FieldError] = []
        if not _ID.match(survey_id):
            errors.append(FieldError(path="survey_id", message="лише малі латинські літери, цифри, «_» і «-» "
                                                               "(до 61; воно стає частиною коду кнопки)"))
        fields = self.checker.check(body, [], errors, survey_id)
        if errors:
            raise ApiError(422, "validation_failed", "Перевірте опитування", errors)
        now = _millis(utcnow())
        doc = {"_id": survey_id, **fields, "state": "draft", "revision": 0, "version": 1, "created_at": now,
               "created_by": actor.id, "updated_at": now, "updated_by": actor.id}
        rec = self._record(actor, survey_id, 1, "survey.created", None, doc, now)
        try:
            await self.collection.insert_one({**doc, outbox_mod.FIELD: [], audit.PENDING: [rec]})
        except DuplicateKeyError:
            raise ApiError(409, "exists", f"Опитування «{survey_id}» уже є; оберіть інший ідентифікатор") from None
        await self.audit.settle(COLLECTION, survey_id, [rec])
        log.info("survey.created", survey_id=survey_id)
        return _to_survey(doc, 0)

    async def update(self, actor: Staff, survey_id: str, body: SurveyIn) -> Survey:
        """Change the builder's data. A draft: anything. Published (scheduled/active): a new
        revision at once; the questions only while nobody answered (409 after), the start
        only before it came. Closed/cancelled: 409."""
        if body.survey_id and body.survey_id != survey_id:
            raise ApiError(422, "validation_failed", "Ідентифікатор опитування змінити не можна",
                           [FieldError(path="survey_id", message="ідентифікатор змінити не можна")])

        async def change(doc: dict[str, Any], now: datetime) -> tuple[dict[str, Any], str]:
            if doc["state"] in ("closed", "cancelled"):
                raise ApiError(409, "final", "Опитування вже завершене або скасоване: змінити його не можна")
            errors: list[FieldError] = []
            fields = self.checker.check(body, doc["questions"], errors, survey_id)
            if errors:
                raise ApiError(422, "validation_failed", "Перевірте опитування", errors)
            if doc["state"] == "draft":
                return fields, "survey.changed"
            if fields["starts_at"] is None:
                fields["starts_at"] = doc["starts_at"]
            if fields["questions"] != doc["questions"] and (answered := await self.respondents(survey_id)):
                raise ApiError(409, "questions_locked",
                               f"Питання змінити не можна: на опитування вже відповіли ({answered}). "
                               f"Можна змінити {STILL_EDITABLE}.")
            if fields["starts_at"] != doc["starts_at"] and doc["state"] == "active":
                errors.append(FieldError(path="starts_at", message="опитування вже почалося: початок не змінити"))
            elif fields["starts_at"] != doc["starts_at"] and fields["starts_at"] <= now:
                errors.append(FieldError(path="starts_at",
                                         message="початок уже минув; щоб почати зараз, опублікуйте з теперішнім часом"))
            errors += _publish_errors(fields, now)
            if errors:
                raise ApiError(422, "validation_failed", "Перевірте опитування", errors)
            return fields, "survey.changed"

        return await self._change(actor, survey_id, body.version, change)

    async def publish(self, actor: Staff, survey_id: str, version: int | None = None) -> Survey:
        """A draft → ``scheduled`` (or ``active`` when it starts now: an empty or past start
        becomes now). Publishing a published survey returns it unchanged (a double click)."""

        async def change(doc: dict[str, Any], now: datetime) -> tuple[dict[str, Any], str]:
            if doc["state"] != "draft":
                if doc["state"] in ("scheduled", "active"):
                    return {}, ""
                raise ApiError(409, "final", "Опитування вже завершене або скасоване")
            fields = {k: doc[k] for k in ("questions", "starts_at", "ends_at")}
            errors = _publish_errors(fields, now)
            if errors:
                raise ApiError(422, "validation_failed", "Опитування ще не готове до публікації", errors)
            starts = doc["starts_at"] if doc["starts_at"] and doc["starts_at"] > now else now
            state = "active" if starts <= now else "scheduled"
            return {"starts_at": starts, "state": state, "published_at": now}, "survey.published"

        return await self._change(actor, survey_id, version, change)

    async def close(self, actor: Staff | None, survey_id: str, version: int | None = None) -> Survey:
        """Close early (staff) — residents can no longer answer; the results stay."""

        async def change(doc: dict[str, Any], now: datetime) -> tuple[dict[str, Any], str]:
            if doc["state"] == "closed":
                return {}, ""
            if doc["state"] in ("draft", "cancelled"):
                raise ApiError(409, "not_published", "Закрити можна лише опубліковане опитування, що не скасоване")
            return {"state": "closed", "closed_at": now}, "survey.closed"

        return await self._change(actor, survey_id, version, change)

    async def cancel(self, actor: Staff, survey_id: str, version: int | None = None) -> Survey:
        """Cancel: a draft is just marked cancelled (nothing was published); a published one
        is published ``cancelled`` (not yet invited: nobody will be)."""

        async def change(doc: dict[str, Any], now: datetime) -> tuple[dict[str, Any], str]:
            if doc["state"] == "cancelled":
                return {}, ""
            if doc["state"] == "closed":
                raise ApiError(409, "final", "Опитування вже завершене: скасувати його не можна")
            return {"state": "cancelled", "cancelled_at": now}, "survey.cancelled"

        return await self._change(actor, survey_id, version, change)

    async def _change(self, actor: Staff | None, survey_id: str, expected: int | None,
                      change: Callable[[dict[str, Any], datetime], Any]) -> Survey:
        for _attempt in range(5):
            doc = await self._require(survey_id)
            if expected is not None and expected != doc["version"]:
                raise ApiError(409, "stale_version",
                               "Опитування вже змінив хтось інший; відкрийте його знову й повторіть")
            now = _millis(utcnow())
            new, action = await change(doc, now)
            changed = {k: v for k, v in new.items() if doc.get(k) != v}
            if not changed or not action:
                return _to_survey(doc, await self.respondents(survey_id))
            if await self._write(actor, doc, changed, action, now):
                return await self.get(survey_id)  # type: ignore[return-value]
            if expected is not None:
                raise ApiError(409, "stale_version", "Опитування щойно змінив хтось інший; оновіть і повторіть")
        raise ApiError(409, "conflict", "Опитування змінюють одночасно; повторіть")

    async def _write(self, actor: Staff | None, doc: dict[str, Any], changed: dict[str, Any], action: str,
                     now: datetime) -> bool:
        """ONE conditional write: the fields, the audit record and (once published) the
        whole survey as ``survey.published`` with the next revision. False: someone else
        wrote first."""
        survey_id = doc["_id"]
        after = {**doc, **changed}
        version = doc["version"] + 1
        sets: dict[str, Any] = {**changed, "version": version, "updated_at": now,
                                "updated_by": actor.id if actor else SYSTEM[0]}
        push: dict[str, Any] = {audit.PENDING: self._record(actor, survey_id, version, action, doc, after, now)}
        if doc["state"] != "draft" or after["state"] in ("scheduled", "active"):  # a draft was never published
            revision = doc["revision"] + 1
            sets["revision"] = revision
            event = make_event(SurveyPublished(
                survey_id=survey_id, revision=revision, title=after["title"], intro=after["intro"],
                questions=[SurveyQuestion(**q) for q in after["questions"]], segment=Segment(**after["segment"]),
                starts_at=after["starts_at"], ends_at=after["ends_at"], state=SurveyState(after["state"]), at=now),
                source=SOURCE, id=derived_id(survey_id, revision, SurveyPublished.type), correlationid=survey_id)
            push[outbox_mod.FIELD] = outbox_mod.entry(f"{survey_id}:{revision}", [event])
        result = await self.collection.update_one({"_id": survey_id, "version": doc["version"]},
                                                  {"$set": sets, "$push": push})
        if not result.matched_count:
            return False
        await self.audit.settle(COLLECTION, survey_id, [push[audit.PENDING]])
        if outbox_mod.FIELD in push:
            await self.outbox.flush(survey_id)
        log.info("survey.changed", survey_id=survey_id, action=action, state=after["state"],
                 revision=sets.get("revision", doc["revision"]))
        return True

    def _record(self, actor: Staff | None, survey_id: str, version: int, action: str,
                before: dict[str, Any] | None, after: dict[str, Any], now: datetime) -> dict[str, Any]:
        actor_id, email = (actor.id, actor.email) if actor else SYSTEM
        return audit.record(id=derived_id("audit", "survey", survey_id, version), at=now, actor_id=actor_id,
                            actor_email=email, action=action, entity="survey", entity_id=survey_id,
                            before=self._summary(before) if before else None, after=self._summary(after))

    def _summary(self, doc: dict[str, Any]) -> dict[str, Any]:
        """What the audit log keeps of a survey: its shape, times, state and segment."""
        return {"title": doc["title"], "intro_length": len(doc.get("intro") or ""), "state": doc["state"],
                "questions": [f"{q['question_id']} ({q['kind']}{', обов.' if q['required'] else ''}"
                              f"{', ' + str(len(q['options'])) + ' варіантів' if q['options'] else ''}): "
                              f"{q['text'][:80]}" for q in doc["questions"]],
                "segment": describe_segment(Segment(**doc["segment"]), self.city) if doc.get("segment") else None,
                "starts_at": doc["starts_at"].isoformat() if doc.get("starts_at") else None,
                "ends_at": doc["ends_at"].isoformat() if doc.get("ends_at") else None}

    # ------------------------------------------------------------------ the lifecycle job

    async def tick(self, now: datetime | None = None) -> int:
        """Publish ``closed`` for every published survey whose end passed, then ``active``
        for every scheduled one whose start came. Conditional writes: exactly once across
        replicas and restarts. Returns how many it published."""
        now = now or utcnow()
        done = 0
        ended = self.collection.find({"state": {"$in": ["scheduled", "active"]}, "ends_at": {"$lte": now}},
                                     {outbox_mod.FIELD: 0, audit.PENDING: 0})
        for doc in [d async for d in ended]:
            done += await self._write(None, doc, {"state": "closed", "closed_at": _millis(now)}, "survey.ended",
                                      _millis(now))
        started = self.collection.find({"state": "scheduled", "starts_at": {"$lte": now}},
                                       {outbox_mod.FIELD: 0, audit.PENDING: 0})
        for doc in [d async for d in started]:
            done += await self._write(None, doc, {"state": "active"}, "survey.started", _millis(now))
        return done

    async def relay_once(self, grace: float) -> int:
        await self.audit.settle_all(COLLECTION, grace)
        return await self.outbox.relay_once()

    # ------------------------------------------------------------------ answers

    async def record_answer(self, data: SurveyAnswered) -> bool:
        """Store one answer per (survey, resident), without the resident's id. True: new."""
        doc = {"_id": answer_key(data.survey_id, data.resident_id), "survey_id": data.survey_id,
               "answers": [a.model_dump(mode="json") for a in data.answers],
               "day": data.at.astimezone(KYIV).date().isoformat()}
        try:
            await self.answers.insert_one(doc)
        except DuplicateKeyError:
            return False
        log.info("survey.answer_recorded", survey_id=data.survey_id)
        return True

    async def _answers(self, survey_id: str) -> list[dict[str, Any]]:
        # ordered by the hash: a stable order that says nothing about who or when
        return [d async for d in self.answers.find({"survey_id": survey_id}).sort("_id", 1)]

    async def results(self, survey_id: str) -> SurveyResults:
        doc = await self._require(survey_id)
        rows = await self._answers(survey_id)
        questions = [SurveyQuestion(**q) for q in doc["questions"]]
        out: list[QuestionResult] = []
        for q in questions:
            given = [a for row in rows for a in row["answers"] if a["question_id"] == q.question_id]
            result = QuestionResult(question_id=q.question_id, kind=q.kind, text=q.text, required=q.required,
                                    answered=0, skipped=0)
            if q.kind in (SurveyQuestionKind.single, SurveyQuestionKind.multiple):
                known = {o.key for o in q.options}
                chosen = [[k for k in a.get("options") or [] if k in known] for a in given]
                chosen = [c for c in chosen if c]
                result.answered = len(chosen)
                for o in q.options:
                    n = sum(o.key in c for c in chosen)
                    result.options.append(OptionCount(key=o.key, label=o.label, count=n,
                                                      percent=round(100 * n / len(chosen), 1) if chosen else 0.0))
            elif q.kind == SurveyQuestionKind.scale:
                values = [a["scale"] for a in given if isinstance(a.get("scale"), int) and 1 <= a["scale"] <= 5]
                result.answered = len(values)
                result.scale = [values.count(v) for v in range(1, 6)]
                result.average = round(sum(values) / len(values), 2) if values else None
            else:
                result.texts = [t for a in given if (t := (a.get("text") or "").strip())]
                result.answered = len(result.texts)
            result.skipped = len(rows) - result.answered
            out.append(result)
        return SurveyResults(survey_id=survey_id, title=doc["title"], state=doc["state"], respondents=len(rows),
                             questions=out, invitations=await self.figures.latest("survey", survey_id))

    async def csv(self, survey_id: str, delimiter: str = ",") -> bytes:
        """One row per respondent (a number, never an id), one column per question; UTF-8
        with a BOM so Excel reads the Cyrillic. Cells that a spreadsheet would run as a
        formula are prefixed with «'»."""
        doc = await self._require(survey_id)
        questions = [SurveyQuestion(**q) for q in doc["questions"]]
        rows = await self._answers(survey_id)
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(["№", "День відповіді", *[f"{n}. {q.text}" for n, q in enumerate(questions, 1)]])
        for number, row in enumerate(rows, 1):
            given = {a["question_id"]: a for a in row["answers"]}
            cells = []
            for q in questions:
                a = given.get(q.question_id) or {}
                if q.kind in (SurveyQuestionKind.single, SurveyQuestionKind.multiple):
                    labels = {o.key: o.label for o in q.options}
                    cells.append("; ".join(labels[k] for k in a.get("options") or [] if k in labels))
                elif q.kind == SurveyQuestionKind.scale:
                    cells.append(str(a["scale"]) if a.get("scale") else "")
                else:
                    cells.append((a.get("text") or "").strip())
            writer.writerow([number, row.get("day", ""), *[_safe_cell(c) for c in cells]])
        return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


def _safe_cell(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _to_survey(doc: dict[str, Any], respondents: int) -> Survey:
    return Survey(id=doc["_id"], title=doc["title"], intro=doc["intro"],
                  questions=[SurveyQuestion(**q) for q in doc["questions"]],
                  segment=Segment(**doc["segment"]) if doc.get("segment") else Segment(),
                  starts_at=doc.get("starts_at"), ends_at=doc.get("ends_at"), state=doc["state"],
                  revision=doc["revision"], version=doc["version"], respondents=respondents,
                  questions_locked=respondents > 0, created_at=doc["created_at"], created_by=doc.get("created_by"),
                  updated_at=doc.get("updated_at"), published_at=doc.get("published_at"),
                  closed_at=doc.get("closed_at"), cancelled_at=doc.get("cancelled_at"))


__all__ = ["SurveyRepository", "SurveyIn", "Survey", "SurveyResults", "SurveyOption", "answer_key"]
