"""Staff mailings to segments (S7) and greetings (C9): queue ``notifier.mailings``.

A staff mailing is an outage notice with a different audience and text: the segment is
resolved to resident ids from the audience projection (:meth:`AudienceIndex.match_segment`,
never to channel ids) and sent by the same :class:`~notifier.mailings.Mailer` — one
message per resident, ≤ 300-receiver batches on the bulk lane, chunks through the
outbox, deterministic ids from the mailing id, ``mailing.progress`` (subject
``mailing``).

- ``mailing.requested`` stores the mailing (collection ``staff_mailings``, ``_id`` =
  mailing id, ``state: scheduled``, ``due_at`` = ``send_at`` or the request's time).
  Sending is never done in the handler: the queue is single active with prefetch 1, so
  a long mailing would hold back its own cancel. The **scheduler** (a singleton under the
  lease ``staff-mailings``) claims due mailings (``scheduled → sending``, one
  conditional write), runs the job (``derived_id(mailing_id, "staff-mailing")``) and
  marks it ``sent``. A restart resumes a ``sending`` mailing: the mailer never plans a
  resident twice, so nobody gets it twice and nobody is missed; a mailing whose time
  passed while no replica ran is sent when one runs again (late, never dropped).
- ``mailing.cancelled``: a scheduled mailing becomes ``cancelled`` and nothing is sent
  (``mailing.progress`` with zeros and ``done``); one under way stops before its next
  chunk, and what had not reached the broker is withdrawn (``Mailer.cancel``). A cancel
  for a mailing not seen yet is remembered, so the late request sends nothing.
- ``greeting.configured`` (:class:`Greetings`): the newest revision is kept; the job
  (lease ``greetings``) sends, at the configured Europe/Kyiv time of each day, the
  birthday greeting to eligible residents born that day (29 February → 28 February in
  other years; once per resident per year) and each staff-defined day's text to its
  segment (once per event).
"""

from __future__ import annotations

import asyncio
import calendar
import re
from collections.abc import Callable
from datetime import date, datetime, time
from urllib.parse import urlparse

import structlog
from pymongo.errors import DuplicateKeyError

from chatbot_common.bus import Bus, PermanentError, PublishError
from chatbot_common.events import (
    Button,
    ButtonAction,
    GreetingEvent,
    GreetingsConfigured,
    MailingCancelled,
    MailingProgress,
    MailingRequested,
    Segment,
    derived_id,
    make_event,
    utcnow,
)
from chatbot_common.locks import wait_event
from chatbot_common.store import Store
from chatbot_common.texts import catalog

from .audience import Audience
from .mailings import SOURCE, Job, Mailer, Recipients
from .surveys import SurveyAnswers
from .texts import kyiv
from .tickets import OpenRequests

log = structlog.get_logger("notifier.staff")
STAFF = "staff_mailings"
GREETINGS = "greetings"
CONFIG_ID = "config"
MAX_TEXT = 7000
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
Clock = Callable[[], datetime]


def job_id_of(mailing_id: str) -> str:
    return derived_id(mailing_id, "staff-mailing")


def birthday_job_id(day: date) -> str:
    return derived_id("greeting", "birthday", day.isoformat())


def event_job_id(event_id: str) -> str:
    return derived_id("greeting", "event", event_id)


def aware(moment: datetime) -> datetime:
    """A time without a zone is Kyiv wall time (what the panel's form shows)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=kyiv())


def web_url(url: str | None) -> bool:
    if not url:
        return False
    parsed = urlparse(url.strip())
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def home_button() -> Button:
    return Button(label=catalog()("notice_button.home"), code="nav:home", columns=6)


#: Viber's limit on a picture's caption: a longer text goes as a text message (gateway).
PICTURE_CAPTION_MAX = 768


def mailing_message(data: MailingRequested, *, image_link_in_text: bool) -> tuple[str, list[Button], str | None]:
    """The text, buttons and picture of a staff mailing: the staff's text as written
    (the picture's link appended when the gateway will send it as text — Viber takes at
    most 768 characters with a picture — or when NOTIFIER_IMAGE_LINK_IN_TEXT says so),
    the link button (open-url) if given, and «🏠 Головне меню»."""
    text = data.text.strip() or data.text
    media = data.image_url.strip() if data.image_url else None
    if media and (image_link_in_text or len(text) > PICTURE_CAPTION_MAX):
        line = catalog()("staff_mailing.image", url=media)
        text = text[:MAX_TEXT - len(line)] + line
    buttons: list[Button] = []
    if data.link_url and data.link_label:
        buttons.append(Button(label=data.link_label.strip(), code=f"mailing:link:{data.mailing_id}"[:250],
                              action=ButtonAction.open_url, url=data.link_url.strip(), columns=6))
    buttons.append(home_button())
    return text, buttons, media


def check_request(data: MailingRequested) -> None:
    """A request that can never be sent right is parked with the reason (kept in the
    parking queue, nothing lost, nothing sent)."""
    if bool(data.link_label and data.link_label.strip()) != bool(data.link_url and data.link_url.strip()):
        raise PermanentError(f"mailing {data.mailing_id}: link_label and link_url go together")
    if data.link_url and not web_url(data.link_url):
        raise PermanentError(f"mailing {data.mailing_id}: link_url must be an http(s) address")
    if data.image_url and not web_url(data.image_url):
        raise PermanentError(f"mailing {data.mailing_id}: image_url must be an http(s) address")
    if not data.text.strip():
        raise PermanentError(f"mailing {data.mailing_id}: the text is blank")


class StaffMailings:
    def __init__(self, bus: Bus, store: Store, audience: Audience, mailer: Mailer, open_requests: OpenRequests,
                 *, clock: Clock = utcnow, image_link_in_text: bool = True,
                 answers: SurveyAnswers | None = None) -> None:
        self.bus = bus
        #: who answered which survey (``Segment.answered_survey_id``); ``None``: nobody matches
        self.answers = answers
        self.collection = store[STAFF]
        self.audience = audience
        self.mailer = mailer
        self.open_requests = open_requests
        self.clock = clock
        self.image_link_in_text = image_link_in_text
        #: set by a request due now, so this replica's scheduler does not wait its period
        self.wake = asyncio.Event()

    async def setup(self) -> None:
        await self.collection.create_index([("state", 1), ("due_at", 1)])

    # ------------------------------------------------------------------ the segment

    async def resolve(self, segment: Segment) -> Recipients:
        """``(resident id, receiver)`` of the segment, sorted (a stable batch order)."""
        await self.audience.refresh()
        open_requests = await self.open_requests.residents() if segment.has_open_request is not None else None
        answered = None
        if segment.answered_survey_id is not None and self.answers is not None:
            answered = await self.answers.residents(segment.answered_survey_id)
        rids = self.audience.index.match_segment(segment, open_requests, answered)
        return self.audience.index.recipients(rids)

    async def preview(self, segment: Segment) -> dict[str, int]:
        """What sending to ``segment`` now would cost: residents matched and paid Viber
        messages (distinct reachable Viber users) — the same resolution and the same
        de-duplication the mailing then uses."""
        recipients = await self.resolve(segment)
        return {"residents": len(recipients),
                "messages": len({receiver for _, receiver in recipients if receiver is not None})}

    # ------------------------------------------------------------------ requests

    async def requested(self, data: MailingRequested) -> None:
        check_request(data)
        text, buttons, media = mailing_message(data, image_link_in_text=self.image_link_in_text)
        due = aware(data.send_at or data.at)
        doc = {
            "_id": data.mailing_id, "job_id": job_id_of(data.mailing_id), "state": "scheduled", "due_at": due,
            "text": text, "buttons": [b.model_dump(mode="json") for b in buttons], "media_url": media,
            "segment": data.segment.model_dump(mode="json"), "requested_by": data.requested_by,
            "requested_at": data.at, "created_at": utcnow(),
        }
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError:
            stored = await self.collection.find_one({"_id": data.mailing_id}, {"state": 1})
            log.info("staff_mailing.known", mailing=data.mailing_id, state=stored and stored.get("state"))
            return  # a redelivery, or a request its cancel overtook: nothing more
        log.info("staff_mailing.scheduled", mailing=data.mailing_id, due_at=due.isoformat(),
                 requested_by=data.requested_by)
        if due <= self.clock():
            self.wake.set()

    async def cancelled(self, data: MailingCancelled) -> None:
        for _ in range(3):  # the scheduler may claim it between our read and our write
            stored = await self.collection.find_one({"_id": data.mailing_id}, {"state": 1, "job_id": 1})
            if stored is None:
                try:
                    await self.collection.insert_one({"_id": data.mailing_id, "job_id": job_id_of(data.mailing_id),
                                                      "state": "cancelled", "cancelled_at": data.at,
                                                      "created_at": utcnow()})
                    log.info("staff_mailing.cancelled_unknown", mailing=data.mailing_id)
                    return
                except DuplicateKeyError:
                    continue
            state = stored["state"]
            if state == "scheduled":
                result = await self.collection.update_one({"_id": data.mailing_id, "state": "scheduled"},
                                                          {"$set": {"state": "cancelled", "cancelled_at": data.at}})
                if result.modified_count:
                    log.info("staff_mailing.cancelled", mailing=data.mailing_id, started=False)
                    await self._progress_nothing_sent(data.mailing_id, stored["job_id"])
                    return
                continue
            if state == "sending":
                result = await self.collection.update_one({"_id": data.mailing_id, "state": "sending"},
                                                          {"$set": {"state": "cancelled", "cancelled_at": data.at}})
                if result.modified_count:
                    log.info("staff_mailing.cancelled", mailing=data.mailing_id, started=True)
                    await self.mailer.cancel(stored["job_id"])
                    return
                continue
            log.info("staff_mailing.cancel_too_late" if state == "sent" else "staff_mailing.cancel_repeated",
                     mailing=data.mailing_id, state=state)
            return
        raise RuntimeError(f"mailing {data.mailing_id}: its state kept changing; the cancel comes again")

    async def _progress_nothing_sent(self, mailing_id: str, job_id: str) -> None:
        progress = MailingProgress(mailing_id=job_id, subject="mailing", subject_id=mailing_id, done=True, at=utcnow())
        try:
            await self.bus.publish(make_event(progress, source=SOURCE, id=derived_id(job_id, "cancelled-progress"),
                                              correlationid=job_id))
        except PublishError as exc:  # the figures are zeros; the admin knows it cancelled
            log.warning("staff_mailing.progress_not_published", mailing=mailing_id, error=str(exc)[:200])

    # ------------------------------------------------------------------ the scheduler

    async def _stopped(self, mailing_id: str) -> bool:
        doc = await self.collection.find_one({"_id": mailing_id}, {"state": 1})
        return doc is None or doc["state"] == "cancelled"

    async def run_due(self) -> int:
        """Send every mailing that is due (and finish any a crash left half-sent);
        returns how many ran."""
        now = self.clock()
        ran = 0
        cursor = self.collection.find({"state": {"$in": ["scheduled", "sending"]}, "due_at": {"$lte": now}})
        for doc in sorted([d async for d in cursor], key=lambda d: (d["due_at"], d["_id"])):
            mailing_id = doc["_id"]
            if doc["state"] == "scheduled":
                claimed = await self.collection.update_one({"_id": mailing_id, "state": "scheduled"},
                                                           {"$set": {"state": "sending", "started_at": utcnow()}})
                if not claimed.modified_count:
                    continue  # cancelled meanwhile
            segment = Segment.model_validate(doc["segment"])
            job = Job(job_id=doc["job_id"], subject="mailing", subject_id=mailing_id, kind="staff",
                      text=doc["text"], buttons=tuple(Button.model_validate(b) for b in doc["buttons"]),
                      media_url=doc.get("media_url"))
            await self.mailer.run(job, lambda s=segment: self.resolve(s), stop=lambda m=mailing_id: self._stopped(m))
            await self.collection.update_one({"_id": mailing_id, "state": "sending"},
                                             {"$set": {"state": "sent", "sent_at": utcnow()}})
            ran += 1
        return ran

    async def scheduler(self, every: float) -> None:
        """Singleton background job: due mailings every ``every`` seconds, or at once
        when a request due now arrived on this replica."""
        while True:
            self.wake.clear()
            await self.run_due()
            await wait_event(self.wake, every)


# ---------------------------------------------------------------------- greetings


def check_config(data: GreetingsConfigured) -> None:
    if not HHMM.match(data.birthday_time):
        raise PermanentError(f"greetings revision {data.revision}: birthday_time must be HH:MM")
    for n, ev in enumerate(data.events):
        if not HHMM.match(ev.send_time):
            raise PermanentError(f"greetings revision {data.revision}: events[{n}].send_time must be HH:MM")
        try:
            date.fromisoformat(ev.date)
        except ValueError:
            raise PermanentError(f"greetings revision {data.revision}: events[{n}].date must be YYYY-MM-DD") from None


def birthdays_on(day: date) -> list[str]:
    """The birthdays (``MM-DD``) greeted on ``day``: that day, and 29 February on 28
    February of a year that has none."""
    days = [f"{day.month:02d}-{day.day:02d}"]
    if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
        days.append("02-29")
    return days


class Greetings:
    """The greetings configuration (collection ``greetings``, the newest revision) and
    the daily job that sends what is due."""

    def __init__(self, store: Store, staff: StaffMailings, mailer: Mailer, *, clock: Clock = utcnow) -> None:
        self.collection = store[GREETINGS]
        self.staff = staff
        self.mailer = mailer
        self.clock = clock

    async def configure(self, data: GreetingsConfigured) -> bool:
        """Keep the configuration if it is newer than the one stored; an event that
        was cancelled or removed stops if its mailing is under way."""
        check_config(data)
        previous = await self.collection.find_one({"_id": CONFIG_ID})
        doc = {"revision": data.revision, "config": data.model_dump(mode="json"), "updated_at": utcnow()}
        result = await self.collection.update_one({"_id": CONFIG_ID, "revision": {"$lt": data.revision}},
                                                  {"$set": doc})
        if not result.matched_count:
            try:
                await self.collection.insert_one({"_id": CONFIG_ID, **doc})
            except DuplicateKeyError:
                log.info("greetings.stale", revision=data.revision)
                return False
        log.info("greetings.configured", revision=data.revision, birthday=data.birthday_enabled,
                 events=len(data.events))
        if previous is not None:
            active = {ev.event_id for ev in data.events if not ev.cancelled}
            for ev in previous["config"].get("events", []):
                if ev["event_id"] not in active:
                    job = await self.mailer.jobs.find_one({"_id": event_job_id(ev["event_id"])}, {"done": 1})
                    if job is not None and not job.get("done"):
                        await self.mailer.cancel(event_job_id(ev["event_id"]))
        return True

    async def config(self) -> GreetingsConfigured | None:
        doc = await self.collection.find_one({"_id": CONFIG_ID})
        return GreetingsConfigured.model_validate(doc["config"]) if doc else None

    async def _event_active(self, event_id: str) -> bool:
        config = await self.config()
        return config is not None and any(ev.event_id == event_id and not ev.cancelled for ev in config.events)

    async def run_due(self) -> int:
        """Send what is due today (Europe/Kyiv) at or after its time; returns how many
        mailings ran. Safe to call any number of times: each greeting is one job with a
        fixed id, and a job that was planned is never planned again."""
        config = await self.config()
        if config is None:
            return 0
        now = self.clock().astimezone(kyiv())
        today, clock_time = now.date(), now.time()
        ran = 0
        if config.birthday_enabled and config.birthday_text.strip() and clock_time >= time.fromisoformat(config.birthday_time):
            await self._birthdays(today, config.birthday_text.strip())
            ran += 1
        for ev in config.events:
            if ev.cancelled or ev.date != today.isoformat() or clock_time < time.fromisoformat(ev.send_time):
                continue
            await self._event(ev)
            ran += 1
        return ran

    async def _birthdays(self, today: date, text: str) -> None:
        kind = f"birthday-{today.year}"
        days = birthdays_on(today)

        async def audience() -> Recipients:
            await self.staff.audience.refresh()
            index = self.staff.audience.index
            greeted = await self.mailer.covered(kind)  # once a year, whatever the day
            return index.recipients({rid for rid in index.born_on(days) if rid not in greeted})

        job = Job(job_id=birthday_job_id(today), subject="greeting", subject_id=f"birthday:{today.isoformat()}",
                  kind=kind, text=text[:MAX_TEXT], buttons=(home_button(),))
        await self.mailer.run(job, audience)

    async def _event(self, ev: GreetingEvent) -> None:
        job = Job(job_id=event_job_id(ev.event_id), subject="greeting", subject_id=ev.event_id, kind="greeting-event",
                  text=ev.text.strip()[:MAX_TEXT], buttons=(home_button(),))
        await self.mailer.run(job, lambda: self.staff.resolve(ev.segment),
                              stop=lambda: self._stopped(ev.event_id))

    async def _stopped(self, event_id: str) -> bool:
        return not await self._event_active(event_id)

    async def scheduler(self, every: float) -> None:
        """Singleton background job: what is due, every ``every`` seconds."""
        while True:
            await self.run_due()
            await asyncio.sleep(every)
