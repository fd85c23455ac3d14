"""Greetings (issue 9, C9) with an injected clock: the birthday greeting at the
configured Europe/Kyiv time to residents born that day — not the day before or after,
29 February on 28 February in a non-leap year, never to those who opted out, exactly
once even if the notifier dies at the send time, once a year per resident — and a
staff-defined day (the City Day) to its segment at its time, once; the newest
configuration wins; a bad configuration is parked."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from chatbot_common.events import (
    GreetingEvent,
    GreetingsConfigured,
    NotifyScope,
    ResidentDeleted,
    ResidentUpdated,
    Segment,
    SegmentStreet,
)
from notifier.mailings import CHUNKS
from notifier.staff import birthday_job_id, event_job_id

from notifier_testkit import FakeClock, Harness, eventually, resident

K = "khmelnytskyi"
BIRTHDAY_TEXT = "🎂 Вітаємо Вас із днем народження! Міська рада бажає Вам здоров'я та добра."


def kyiv(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    """A Kyiv wall-clock time in winter (UTC+2) as UTC."""
    return datetime(y, m, d, hh, mm, tzinfo=UTC) - timedelta(hours=2)


def config(revision: int = 1, *, birthday: bool = True, events: list[GreetingEvent] = (),
           time: str = "10:00") -> GreetingsConfigured:
    return GreetingsConfigured(revision=revision, birthday_enabled=birthday, birthday_text=BIRTHDAY_TEXT,
                               birthday_time=time, events=list(events), at=datetime(2026, 11, 1, tzinfo=UTC))


async def seed(h: Harness, residents: list) -> None:
    for data in residents:
        await h.publish(data)
    await eventually(lambda: h.notifier.audience.index.entries.keys() >= {
        r.resident_id for r in residents if r.subscribed and r.notify != NotifyScope.none}, "residents projected")


def greeted(h: Harness, job_id: str) -> Counter:
    batches = {e.id: e for e in h.outbound() if e.correlationid == job_id}
    return Counter(r for e in batches.values() for r in e.data["receivers"])


async def configured(h: Harness, data: GreetingsConfigured) -> None:
    await h.publish(data)
    await eventually(lambda: h.notifier.greetings.collection.find_one({"_id": "config", "revision": data.revision}),
                     "configuration stored")


async def quiet() -> None:
    """Long enough for the greetings job (every 0.05 s here) to run many times."""
    await asyncio.sleep(0.4)


async def start(h: Harness, clock: FakeClock, **kwargs: Any) -> None:
    h.settings = h.settings.model_copy(update={"notifier_scheduler_seconds": 0.05})
    await h.start(clock=clock, **kwargs)


async def test_birthday_today_at_the_time_once_and_never_to_those_who_opted_out(harness: Harness):
    """At 09:59 Kyiv nothing; from 10:00 the residents born on 1 December get the
    greeting once (the job runs again and again); born the day before or after, no
    notices, unsubscribed, deleted, or no birth date: nothing. Progress: subject
    «greeting», subject id «birthday:2026-12-01»."""
    h = harness
    clock = FakeClock(kyiv(2026, 12, 1, 9, 59))
    await start(h, clock)
    await seed(h, [
        resident("today", birth_date="1990-12-01"),
        resident("today-city", birth_date="1961-12-01", notify=NotifyScope.city),
        resident("yesterday", birth_date="1990-11-30"),
        resident("tomorrow", birth_date="1990-12-02"),
        resident("no-date"),
        resident("bad-date", birth_date="1 грудня"),
        resident("none", birth_date="1990-12-01", notify=NotifyScope.none),
        resident("unsub", birth_date="1990-12-01", subscribed=False),
        resident("deleted", birth_date="1990-12-01"),
    ])
    await h.publish(ResidentDeleted(resident_id="deleted"))
    await eventually(lambda: "deleted" not in h.notifier.audience.index.entries, "deleted")
    await configured(h, config())
    await quiet()
    assert h.outbound() == []
    clock.now = kyiv(2026, 12, 1, 10, 0)
    job = birthday_job_id(datetime(2026, 12, 1).date())
    await eventually(lambda: sum(greeted(h, job).values()) == 2, "the greetings")
    await quiet()
    assert greeted(h, job) == Counter({"v-today": 1, "v-today-city": 1})
    batch = h.outbound()[0].data
    assert batch["text"] == BIRTHDAY_TEXT and batch["lane"] == "bulk"
    assert [b["code"] for b in batch["buttons"]] == ["nav:home"]
    progress = await eventually(lambda: [e.data for e in h.of_type("mailing.progress")], "progress")
    assert progress[-1]["subject"] == "greeting" and progress[-1]["subject_id"] == "birthday:2026-12-01"
    assert progress[-1]["targeted"] == 2


async def test_29_february_in_a_non_leap_and_a_leap_year(harness: Harness):
    """2027 has no 29 February: those born then are greeted on the 28th with those born
    on the 28th; in 2028 each on their own day; 1 March only those born then."""
    h = harness
    clock = FakeClock(kyiv(2027, 2, 27, 12))
    await start(h, clock)
    await seed(h, [resident("feb28", birth_date="1990-02-28"), resident("feb29", birth_date="1988-02-29"),
                   resident("mar1", birth_date="1990-03-01")])
    await configured(h, config())
    await quiet()
    assert h.outbound() == []

    def on(y: int, m: int, d: int) -> Counter:
        return greeted(h, birthday_job_id(datetime(y, m, d).date()))

    for day, want in (((2027, 2, 28), {"v-feb28", "v-feb29"}), ((2027, 3, 1), {"v-mar1"}),
                      ((2028, 2, 28), {"v-feb28"}), ((2028, 2, 29), {"v-feb29"}), ((2028, 3, 1), {"v-mar1"})):
        clock.now = kyiv(*day, 10, 30)
        await eventually(lambda d=day, w=want: set(on(*d)) == w, f"greetings of {day}")
        await quiet()
        assert on(*day) == Counter({r: 1 for r in want}), day
    assert sum(len(e.data["receivers"]) for e in {e.id: e for e in h.outbound()}.values()) == 6


async def test_a_restart_at_the_send_time_greets_each_exactly_once(harness: Harness):
    """700 residents born today, one batch per chunk: the notifier dies at 10:00 having
    stored the first chunk; started again it greets the rest — each exactly once; a
    third start sends nothing. A resident who then changes their birth date to
    tomorrow is not greeted again this year."""
    h = harness
    h.settings = h.settings.model_copy(update={"notifier_chunk_batches": 1})
    clock = FakeClock(kyiv(2026, 12, 1, 9, 0))
    await start(h, clock, delivery_limit=50)
    born = [resident(f"b{i:04d}", birth_date="1980-12-01") for i in range(700)]
    await seed(h, born)
    await configured(h, config())
    crashed = h.die_planning_after(1)
    clock.now = kyiv(2026, 12, 1, 10, 0)
    await asyncio.wait_for(crashed.wait(), 15)
    await asyncio.sleep(0.3)
    await h.stop()
    store = h.store()
    assert await store[CHUNKS].count_documents({}) == 1

    await start(h, clock, delivery_limit=50)
    job = birthday_job_id(datetime(2026, 12, 1).date())
    await eventually(lambda: sum(greeted(h, job).values()) >= 700, "the rest of the greetings")
    await quiet()
    await h.stop()
    await start(h, clock, delivery_limit=50)
    await quiet()
    assert greeted(h, job) == Counter({f"v-b{i:04d}": 1 for i in range(700)})

    # once a year: b0000 says they were born on 2 December after all
    await h.publish(ResidentUpdated(**{**born[0].model_dump(), "birth_date": "1980-12-02"}))
    await h.publish(resident("new", birth_date="1999-12-02"))
    await eventually(lambda: "new" in h.notifier.audience.index.entries, "projected")
    clock.now = kyiv(2026, 12, 2, 10, 0)
    tomorrow = birthday_job_id(datetime(2026, 12, 2).date())
    await eventually(lambda: greeted(h, tomorrow), "2 December's greetings")
    await quiet()
    assert greeted(h, tomorrow) == Counter({"v-new": 1})


async def test_city_day_to_its_segment_at_its_time_once(harness: Harness):
    """The City Day (12 September, 12:00) goes to its segment — residents of
    Proskurivska — at 12:00, once; a cancelled day sends nothing; a stale configuration
    (lower revision) arriving late changes nothing. Progress: subject «greeting»,
    subject id = the event's id."""
    h = harness
    clock = FakeClock(kyiv(2026, 9, 12, 11, 59) - timedelta(hours=1))  # summer: UTC+3
    await start(h, clock)
    await seed(h, [resident("p1", houses=[(K, "proskurivska", "1")]), resident("p2", houses=[(K, "proskurivska", "2")]),
                   resident("kam", houses=[(K, "kamianetska", "1")]),
                   resident("p-none", houses=[(K, "proskurivska", "1")], notify=NotifyScope.none)])
    street = Segment(streets=[SegmentStreet(settlement_id=K, street_id="proskurivska")])
    city_day = GreetingEvent(event_id="city-day-2026", date="2026-09-12", send_time="12:00",
                             text="🎉 З Днем міста, шановні мешканці!", segment=street)
    other_day = GreetingEvent(event_id="concert", date="2026-09-12", send_time="12:00", text="Концерт скасовано",
                              segment=Segment(), cancelled=True)
    await configured(h, config(2, birthday=False, events=[city_day, other_day]))
    await h.publish(config(1, birthday=False, events=[city_day.model_copy(update={"segment": Segment()}),
                                                      other_day.model_copy(update={"cancelled": False})]))
    await quiet()
    assert h.outbound() == []
    clock.now = kyiv(2026, 9, 12, 12, 0) - timedelta(hours=1)
    job = event_job_id("city-day-2026")
    await eventually(lambda: greeted(h, job), "the City Day greeting")
    await quiet()
    assert greeted(h, job) == Counter({"v-p1": 1, "v-p2": 1})
    assert {e.correlationid for e in h.outbound()} == {job}  # the cancelled one: nothing
    assert h.outbound()[0].data["text"] == "🎉 З Днем міста, шановні мешканці!"
    progress = await eventually(lambda: [e.data for e in h.of_type("mailing.progress")], "progress")
    assert progress[-1]["subject"] == "greeting" and progress[-1]["subject_id"] == "city-day-2026"
    # the next day: nothing more
    clock.now += timedelta(days=1)
    await quiet()
    assert greeted(h, job) == Counter({"v-p1": 1, "v-p2": 1})


async def test_a_bad_configuration_is_parked_and_the_stored_one_stays(harness: Harness):
    """A send time that is not HH:MM, or a date that is not a date: parked with the
    reason (nothing lost), the configuration before it stays in force."""
    h = harness
    clock = FakeClock(kyiv(2026, 12, 1, 8))
    await start(h, clock)
    await configured(h, config(1))
    bad_time = await h.publish(config(2, time="25:00"))
    bad_date = await h.publish(config(3, events=[GreetingEvent(event_id="e", date="12.09.2026", text="x")]))

    async def both_parked() -> list:
        parked = await h.runtime.bus.dead_letters("notifier.mailings")
        return parked if len(parked) == 2 else []

    parked = await eventually(both_parked, "both parked")
    assert {json.loads(p)["id"] for p in parked} == {bad_time.id, bad_date.id}
    assert (await h.notifier.greetings.config()).revision == 1


async def test_a_day_cancelled_while_its_greeting_is_under_way_stops_before_the_next_chunk(harness: Harness):
    """900 residents, one batch per chunk: a newer configuration cancels the day while
    its second chunk is being stored — two chunks go out, the third is never planned,
    and the progress counts the 600 handed over."""
    h = harness
    h.settings = h.settings.model_copy(update={"notifier_chunk_batches": 1})
    clock = FakeClock(kyiv(2026, 12, 5, 9))
    await start(h, clock)
    await seed(h, [resident(f"r{i:04d}") for i in range(900)])
    day = GreetingEvent(event_id="volunteers", date="2026-12-05", send_time="10:00", text="Дякуємо волонтерам!")
    await configured(h, config(1, birthday=False, events=[day]))
    chunks = h.notifier.mailer.chunks
    real_insert = chunks.insert_one
    inserts = 0

    async def insert_then_cancel(doc: dict, *args: Any, **kwargs: Any) -> Any:
        nonlocal inserts
        inserts += 1
        if inserts == 2:
            await configured(h, config(2, birthday=False, events=[day.model_copy(update={"cancelled": True})]))
        return await real_insert(doc, *args, **kwargs)

    chunks.insert_one = insert_then_cancel  # type: ignore[method-assign]
    clock.now = kyiv(2026, 12, 5, 10)
    job = event_job_id("volunteers")
    await eventually(lambda: sum(greeted(h, job).values()) >= 600, "two chunks")
    await quiet()
    got = greeted(h, job)
    assert sum(got.values()) == 600 and max(got.values()) == 1
    assert await h.store()[CHUNKS].count_documents({}) == 2
    job_doc = await h.notifier.mailer.jobs.find_one({"_id": job})
    assert job_doc["cancelled"] is True
    progress = await eventually(lambda: [e.data for e in h.of_type("mailing.progress") if e.data["targeted"]],
                                "progress")
    assert progress[-1]["targeted"] == 600
