"""Survey invitations and the «answered a survey» segment (issue 9, C8): queue
``notifier.surveys`` (single active, prefetch 1).

- ``survey.published`` carries the whole survey; the highest ``revision`` is kept
  (collection ``surveys``, ``_id`` = survey id), a lower or equal one changes nothing.
  The handler never sends: a first revision stores ``invitation: pending``.
- The **scheduler** (a singleton under the lease ``survey-invitations``, clock
  injectable) invites each survey whose ``starts_at`` has come and whose state is
  ``scheduled`` or ``active``: it claims it (``pending → sending``, one conditional
  write), runs the job ``derived_id(survey_id, "survey-invitation")`` through the
  :class:`~notifier.mailings.Mailer` — one message per resident of the survey's segment,
  resolved at that moment like a staff mailing's, ≤ 300-receiver batches on the bulk lane
  through the outbox, ``mailing.progress`` with subject ``survey`` — and marks it
  ``sent``. A restart resumes a ``sending`` survey: the mailer never plans a resident
  twice and plans everyone not yet planned. A survey whose end passed before anyone
  could invite (no replica ran) is marked ``expired``, not sent.
- A survey ``cancelled`` or ``closed`` before it starts is never invited to; one
  cancelled or closed while the invitations go out stops before the next chunk, and what
  had not reached the broker is withdrawn (``Mailer.cancel``).
- ``survey.answered`` → ``(survey id, resident id)`` remembered (collection
  ``survey_answers``, ``_id`` = ``<survey id>|<resident id>``, idempotent): those who
  answered are never invited to that survey (a resident may answer from «📊 Опитування»
  before the invitation reaches them), and ``Segment.answered_survey_id`` matches them.
  A deleted resident's records are erased (``forget``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from pymongo.errors import DuplicateKeyError

from chatbot_common.events import (
    Button,
    Segment,
    SurveyAnswered,
    SurveyPublished,
    SurveyState,
    derived_id,
    utcnow,
)
from chatbot_common.locks import wait_event
from chatbot_common.store import Store
from chatbot_common.texts import catalog

from .audience import aware
from .mailings import Job, Mailer, Recipients
from .texts import when

log = structlog.get_logger("notifier.surveys")
SURVEYS = "surveys"
ANSWERS = "survey_answers"
#: the invitation button's code, handled by the dialog (``dialog/conversation/codes.py``)
OPEN_CODE = "survey:open:"
#: states in which a survey is invited to (when its start has come)
OPEN_STATES = (SurveyState.scheduled.value, SurveyState.active.value)
MAX_TEXT = 7000
Clock = Callable[[], datetime]


def invitation_job_id(survey_id: str) -> str:
    return derived_id(survey_id, "survey-invitation")


def answer_id(survey_id: str, resident_id: str) -> str:
    return f"{survey_id}|{resident_id}"


def invitation_message(survey: dict[str, Any]) -> tuple[str, tuple[Button, ...]]:
    """The invitation: the title, the intro (when there is one), until when it runs
    (Kyiv time); «Відповісти» (``survey:open:<id>``) and «🏠 Головне меню»."""
    t = catalog()
    intro = (survey.get("intro") or "").strip()
    text = t("survey_invitation.text", title=survey["title"].strip(),
             intro=t("survey_invitation.intro", intro=intro) if intro else "",
             ends=when(aware(survey["ends_at"])))
    buttons = (
        Button(label=t("survey_invitation.answer"), code=f"{OPEN_CODE}{survey['_id']}"[:250], columns=6),
        Button(label=t("notice_button.home"), code="nav:home", columns=6),
    )
    return text[:MAX_TEXT], buttons


class SurveyAnswers:
    """Who answered which survey (``survey_answers``): residents' ids only."""

    def __init__(self, store: Store) -> None:
        self.collection = store[ANSWERS]

    async def setup(self) -> None:
        await self.collection.create_index("survey_id")
        await self.collection.create_index("resident_id")

    async def record(self, data: SurveyAnswered) -> bool:
        """Remember that the resident answered; ``False`` when it was known already
        (a redelivery, a second answer event)."""
        try:
            await self.collection.insert_one({"_id": answer_id(data.survey_id, data.resident_id),
                                              "survey_id": data.survey_id, "resident_id": data.resident_id,
                                              "at": data.at, "created_at": utcnow()})
        except DuplicateKeyError:
            return False
        return True

    async def residents(self, survey_id: str) -> set[str]:
        return {d["resident_id"] async for d in self.collection.find({"survey_id": survey_id}, {"resident_id": 1})}

    async def forget(self, resident_id: str) -> int:
        """A deleted resident's records go («Видалити мої дані»)."""
        result = await self.collection.delete_many({"resident_id": resident_id})
        return result.deleted_count


class Surveys:
    """The surveys as last published, and the invitations' scheduler."""

    def __init__(self, store: Store, mailer: Mailer, answers: SurveyAnswers,
                 resolve: Callable[[Segment], Any], *, clock: Clock = utcnow) -> None:
        self.collection = store[SURVEYS]
        self.mailer = mailer
        self.answers = answers
        self.resolve = resolve  # StaffMailings.resolve: the segment → (resident id, receiver)
        self.clock = clock
        #: set when a survey due now arrives, so this replica's scheduler does not wait
        self.wake = asyncio.Event()

    async def setup(self) -> None:
        await self.collection.create_index([("invitation", 1), ("starts_at", 1)])
        await self.answers.setup()

    # ------------------------------------------------------------------ events

    async def published(self, data: SurveyPublished) -> bool:
        """Keep the survey if this revision is newer than the one stored; ``False``
        when it is not (a redelivery or a late older revision: nothing changes)."""
        doc = {
            "revision": data.revision, "title": data.title, "intro": data.intro,
            "segment": data.segment.model_dump(mode="json"), "starts_at": aware(data.starts_at),
            "ends_at": aware(data.ends_at), "state": data.state.value, "published_at": data.at,
            "updated_at": utcnow(),
        }
        result = await self.collection.update_one({"_id": data.survey_id, "revision": {"$lt": data.revision}},
                                                  {"$set": doc})
        if not result.matched_count:
            try:
                await self.collection.insert_one({"_id": data.survey_id, "job_id": invitation_job_id(data.survey_id),
                                                  "invitation": "pending", "created_at": utcnow(), **doc})
            except DuplicateKeyError:
                log.info("survey.stale", survey=data.survey_id, revision=data.revision)
                return False
        log.info("survey.published", survey=data.survey_id, revision=data.revision, state=data.state.value,
                 starts_at=doc["starts_at"].isoformat())
        if data.state.value not in OPEN_STATES:
            await self._stop_invitations(data.survey_id)
        elif doc["starts_at"] <= self.clock():
            self.wake.set()
        return True

    async def answered(self, data: SurveyAnswered) -> bool:
        fresh = await self.answers.record(data)
        log.info("survey.answered" if fresh else "survey.answered_known", survey=data.survey_id)
        return fresh

    async def _stop_invitations(self, survey_id: str) -> None:
        """Cancelled or closed: an invitation under way stops before its next chunk (the
        scheduler asks :meth:`_stopped`), and chunks nobody claimed are withdrawn now."""
        job_id = invitation_job_id(survey_id)
        job = await self.mailer.jobs.find_one({"_id": job_id}, {"done": 1, "cancelled": 1})
        if job is not None and not job.get("done") and not job.get("cancelled"):
            await self.mailer.cancel(job_id)
            log.info("survey.invitation_stopped", survey=survey_id)

    # ------------------------------------------------------------------ the scheduler

    async def _stopped(self, survey_id: str) -> bool:
        doc = await self.collection.find_one({"_id": survey_id}, {"state": 1})
        return doc is None or doc["state"] not in OPEN_STATES

    async def run_due(self) -> int:
        """Invite to every survey whose start has come (and finish any invitation a
        crash left half-sent); returns how many ran."""
        now = self.clock()
        ran = 0
        cursor = self.collection.find({"invitation": {"$in": ["pending", "sending"]}, "state": {"$in": list(OPEN_STATES)},
                                       "starts_at": {"$lte": now}})
        for doc in sorted([d async for d in cursor], key=lambda d: (aware(d["starts_at"]), d["_id"])):
            survey_id = doc["_id"]
            if doc["invitation"] == "pending":
                if aware(doc["ends_at"]) <= now:
                    await self.collection.update_one({"_id": survey_id, "invitation": "pending"},
                                                     {"$set": {"invitation": "expired"}})
                    log.info("survey.invitation_expired", survey=survey_id)
                    continue
                claimed = await self.collection.update_one(
                    {"_id": survey_id, "invitation": "pending", "state": {"$in": list(OPEN_STATES)}},
                    {"$set": {"invitation": "sending", "invitation_started_at": utcnow()}})
                if not claimed.modified_count:
                    continue  # cancelled or claimed meanwhile
            await self._invite(doc)
            outcome = "stopped" if await self._stopped(survey_id) else "sent"
            await self.collection.update_one({"_id": survey_id, "invitation": "sending"},
                                             {"$set": {"invitation": outcome, "invitation_sent_at": utcnow()}})
            ran += 1
        return ran

    async def _invite(self, doc: dict[str, Any]) -> None:
        survey_id = doc["_id"]
        segment = Segment.model_validate(doc["segment"])
        text, buttons = invitation_message(doc)
        job = Job(job_id=doc["job_id"], subject="survey", subject_id=survey_id, kind="survey-invitation",
                  text=text, buttons=buttons)

        async def audience() -> Recipients:
            recipients = await self.resolve(segment)
            answered = await self.answers.residents(survey_id)
            return [(rid, receiver) for rid, receiver in recipients if rid not in answered]

        await self.mailer.run(job, audience, stop=lambda: self._stopped(survey_id))
        log.info("survey.invited", survey=survey_id)

    async def scheduler(self, every: float) -> None:
        """Singleton background job: due invitations every ``every`` seconds, or at
        once when a survey due now arrived on this replica."""
        while True:
            self.wake.clear()
            await self.run_due()
            await wait_event(self.wake, every)
