"""Survey invitations and the «answered a survey» segment (issue 9, C8), the notifier's
side, with an injected clock on the in-memory bus: the invitation goes once per resident
of the survey's segment when the survey starts — not before, exactly once across a
restart at the start time — on the bulk lane in ≤ 300-receiver batches with «Відповісти»
(``survey:open:<id>``) and «🏠 Головне меню»; a survey cancelled or closed before its
start sends nothing; one cancelled while inviting stops before the next chunk;
``survey.answered`` is remembered once, those who answered are not invited and
``Segment.answered_survey_id`` matches exactly them (in the segment preview too);
malformed events are parked, nothing lost. One run on real RabbitMQ."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest

from chatbot_common.events import (
    MAX_RECEIVERS,
    DeliverySent,
    MailingRequested,
    NotifyScope,
    ResidentDeleted,
    Segment,
    SegmentStreet,
    SurveyAnswer,
    SurveyAnswered,
    SurveyOption,
    SurveyPublished,
    SurveyQuestion,
    SurveyQuestionKind,
    SurveyState,
    make_event,
)
from notifier.audience import AudienceIndex, document_of
from notifier.mailings import CHUNKS
from notifier.staff import job_id_of
from notifier.surveys import ANSWERS, SURVEYS, invitation_job_id

from notifier_testkit import T0, FakeClock, Harness, eventually, resident, running

K = "khmelnytskyi"
STREET = "proskurivska"
ON_STREET = Segment(streets=[SegmentStreet(settlement_id=K, street_id=STREET)])
TITLE = "Якість прибирання у Вашому дворі"
INTRO = "Міська рада хоче знати, як працюють комунальні служби у Вашому районі."


def survey(survey_id: str = "s1", *, revision: int = 1, state: SurveyState = SurveyState.scheduled,
           segment: Segment = ON_STREET, starts_at: datetime = T0, ends_at: datetime | None = None,
           **extra: Any) -> SurveyPublished:
    question = SurveyQuestion(question_id="q1", kind=SurveyQuestionKind.single, text="Чи задоволені Ви прибиранням?",
                              options=[SurveyOption(key="yes", label="Так"), SurveyOption(key="no", label="Ні")])
    return SurveyPublished(survey_id=survey_id, revision=revision, title=extra.pop("title", TITLE),
                           intro=extra.pop("intro", INTRO), questions=[question], segment=segment,
                           starts_at=starts_at, ends_at=ends_at or starts_at + timedelta(days=7), state=state,
                           at=T0 - timedelta(days=1), **extra)


def answered(survey_id: str, rid: str) -> SurveyAnswered:
    return SurveyAnswered(survey_id=survey_id, resident_id=rid,
                          answers=[SurveyAnswer(question_id="q1", options=["yes"])], at=T0)


def population(n: int) -> list:
    """``n`` residents on Proskurivska, 5 elsewhere, and three who are never reached."""
    residents = [resident(f"a{i:04d}", houses=[(K, STREET, str(1 + i % 40))]) for i in range(n)]
    residents += [resident(f"x{i}", houses=[(K, "kamianetska", "1")]) for i in range(5)]
    residents += [resident("none", houses=[(K, STREET, "1")], notify=NotifyScope.none),
                  resident("unsub", houses=[(K, STREET, "1")], subscribed=False),
                  resident("city", notify=NotifyScope.city)]
    return residents


def street_receivers(n: int) -> set[str]:
    return {f"v-a{i:04d}" for i in range(n)}


async def seed(h: Harness, residents: list) -> None:
    for data in residents:
        await h.publish(data)
    want = sum(1 for r in residents if r.subscribed and r.notify != NotifyScope.none)
    await eventually(lambda: len(h.notifier.audience.index) == want, "residents projected")


def invited(h: Harness, survey_id: str = "s1") -> Counter:
    """Receivers of the invitation's distinct batches (the gateway sends an event id once)."""
    batches = {e.id: e for e in h.outbound() if e.correlationid == invitation_job_id(survey_id)}
    return Counter(r for e in batches.values() for r in e.data["receivers"])


async def start(h: Harness, clock: FakeClock, **settings: Any) -> None:
    h.settings = h.settings.model_copy(update={"notifier_scheduler_seconds": 0.05, **settings})
    await h.start(clock=clock, delivery_limit=50)


async def stored(h: Harness, survey_id: str = "s1", revision: int = 1) -> None:
    await eventually(lambda: h.store()[SURVEYS].find_one({"_id": survey_id, "revision": revision}), "survey stored")


async def _equals(awaitable: Any, n: int) -> bool:
    return await awaitable == n


async def quiet() -> None:
    """Long enough for the scheduler (every 0.05 s here) to look many times."""
    await asyncio.sleep(0.4)


async def test_invited_once_per_resident_at_the_start_across_a_restart(harness: Harness):
    """700 residents on the street, one batch per chunk: before the start nothing; at the
    start the notifier dies having stored one chunk of three; started again it finishes
    — each resident of the segment exactly once, nobody outside it, nobody with no
    notices or unsubscribed; a third start sends nothing more. The message: the title,
    the intro, until when (Kyiv time), «Відповісти» → ``survey:open:s1`` and «🏠 Головне
    меню», bulk lane, ≤ 300 receivers a batch. Progress: subject «survey», subject id
    the survey's, done once the batches are reported sent."""
    h = harness
    clock = FakeClock(T0 - timedelta(minutes=30))
    await start(h, clock, notifier_chunk_batches=1)
    await seed(h, population(700))
    await h.publish(survey())
    await stored(h)
    await quiet()
    assert h.outbound() == []

    crashed = h.die_planning_after(1)
    clock.now = T0
    await asyncio.wait_for(crashed.wait(), 15)
    await asyncio.sleep(0.3)
    await h.stop()
    store = h.store()
    assert await store[CHUNKS].count_documents({}) == 1
    assert (await store[SURVEYS].find_one({"_id": "s1"}))["invitation"] == "sending"

    await start(h, clock, notifier_chunk_batches=1)
    await eventually(lambda: sum(invited(h).values()) >= 700, "the rest of the invitations")
    await eventually(lambda: store[SURVEYS].find_one({"_id": "s1", "invitation": "sent"}), "marked sent")
    await h.stop()
    await start(h, clock, notifier_chunk_batches=1)
    await quiet()
    assert invited(h) == Counter({r: 1 for r in street_receivers(700)})

    batches = list({e.id: e for e in h.outbound()}.values())
    assert len(batches) == 3
    for e in batches:
        assert e.data["lane"] == "bulk" and len(e.data["receivers"]) <= MAX_RECEIVERS
        assert len(e.data["receivers"]) == len(e.data["resident_ids"])
        text = e.data["text"]
        assert TITLE in text and INTRO in text and "08.12.2026 10:00" in text  # ends_at, Kyiv time
        answer, home = e.data["buttons"]
        assert (answer["label"], answer["code"], answer["action"]) == ("Відповісти", "survey:open:s1", "reply")
        assert (home["label"], home["code"]) == ("🏠 Головне меню", "nav:home")
    for e in batches:
        await h.publish(DeliverySent(channel="viber", lane="bulk", outbound_event_id=e.id,
                                     channel_message_id=f"tok-{e.id}", receivers=len(e.data["receivers"]), at=T0))
    done = await eventually(lambda: [e.data for e in h.of_type("mailing.progress")
                                     if e.data["subject"] == "survey" and e.data["done"]], "progress done")
    assert done[-1]["subject_id"] == "s1" and done[-1]["mailing_id"] == invitation_job_id("s1")
    assert (done[-1]["targeted"], done[-1]["sent"]) == (700, 700)


async def test_cancelled_or_closed_before_the_start_nothing_is_sent(harness: Harness):
    """s1 cancelled (revision 2) and s2 closed before their start: nothing once the time
    comes, however long the scheduler looks; a late, older revision 1 of s1 arriving
    afterwards (still «scheduled») changes nothing. s3, which starts at the same time,
    is invited — so the scheduler did run."""
    h = harness
    clock = FakeClock(T0 - timedelta(hours=2))
    await start(h, clock)
    await seed(h, population(10))
    await h.publish(survey("s1"))
    await h.publish(survey("s2"))
    await h.publish(survey("s3"))
    await h.publish(survey("s1", revision=2, state=SurveyState.cancelled))
    await h.publish(survey("s2", revision=2, state=SurveyState.closed))
    await h.publish(survey("s1", revision=1))  # late and older: ignored
    await stored(h, "s2", 2)
    await stored(h, "s1", 2)
    await quiet()
    clock.now = T0 + timedelta(minutes=1)
    await eventually(lambda: sum(invited(h, "s3").values()) == 10, "s3's invitations")
    await quiet()
    assert invited(h, "s1") == Counter() and invited(h, "s2") == Counter()
    store = h.store()
    assert (await store[SURVEYS].find_one({"_id": "s1"}))["state"] == "cancelled"
    assert await store["jobs"].find_one({"_id": invitation_job_id("s1")}) is None
    assert await store["jobs"].find_one({"_id": invitation_job_id("s2")}) is None


async def test_cancelled_while_inviting_stops_before_the_next_chunk(harness: Harness):
    """900 residents, one batch per chunk: the cancel lands while the second chunk is
    being stored — the first two chunks go out, the third is never planned; nobody twice."""
    h = harness
    clock = FakeClock(T0)
    await start(h, clock, notifier_chunk_batches=1)
    await seed(h, population(900))
    chunks = h.notifier.mailer.chunks
    real_insert = chunks.insert_one
    inserts = 0

    async def insert_then_cancel(doc: dict, *args: Any, **kwargs: Any) -> Any:
        nonlocal inserts
        inserts += 1
        if inserts == 2:  # the cancel arrives while this chunk is being stored
            await h.publish(survey(revision=2, state=SurveyState.cancelled))
            await stored(h, "s1", 2)
        return await real_insert(doc, *args, **kwargs)

    chunks.insert_one = insert_then_cancel  # type: ignore[method-assign]
    await h.publish(survey())
    await eventually(lambda: sum(invited(h).values()) >= 600, "two chunks")
    await eventually(lambda: h.store()[SURVEYS].find_one({"_id": "s1", "invitation": "stopped"}), "stopped")
    await quiet()
    got = invited(h)
    assert sum(got.values()) == 600 and set(got) < street_receivers(900) and max(got.values()) == 1
    assert await h.store()[CHUNKS].count_documents({}) == 2


async def test_answers_are_remembered_once_and_answered_residents_are_not_invited(harness: Harness):
    """``survey.answered`` for a0000 and a0001 (one of them delivered twice, the other
    answered twice with different event ids) is remembered once each. When the survey
    starts, they are not invited; the other 8 on the street are. A new revision (new
    intro) afterwards sends nothing more."""
    h = harness
    clock = FakeClock(T0 - timedelta(hours=1))
    await start(h, clock)
    await seed(h, population(10))
    await h.publish(survey())
    once = await h.publish(answered("s1", "a0000"))
    await h.publisher.publish(once)  # redelivered
    await h.publish(answered("s1", "a0001"))
    await h.publish(answered("s1", "a0001"))  # a second event about the same answer
    await eventually(lambda: _equals(h.store()[ANSWERS].count_documents({}), 2), "two answers recorded")
    await quiet()
    assert await h.store()[ANSWERS].count_documents({}) == 2
    clock.now = T0
    await eventually(lambda: sum(invited(h).values()) == 8, "the invitations")
    assert invited(h) == Counter({r: 1 for r in street_receivers(10) - {"v-a0000", "v-a0001"}})
    await eventually(lambda: h.store()[SURVEYS].find_one({"_id": "s1", "invitation": "sent"}), "sent")
    await h.publish(survey(revision=2, state=SurveyState.active, intro="Оновлений опис."))
    await stored(h, "s1", 2)
    await quiet()
    assert sum(invited(h).values()) == 8


async def test_answered_survey_segment_in_the_preview_and_a_staff_mailing(harness: Harness):
    """``POST /api/segment/preview`` with ``answered_survey_id``: before any answer 0
    (the endpoint keeps working), then exactly those who answered s1 and are still
    reachable (the one with no notices is not), combined with a street filter too; an
    unknown survey matches nobody. A staff mailing to «answered s1» reaches exactly
    them, once. A deleted resident's answer record is erased."""
    h = harness
    await start(h, FakeClock(T0))
    await seed(h, population(10) + [resident("y1", houses=[(K, "kamianetska", "2")])])
    url = f"http://127.0.0.1:{h.runtime.bound_port}/api/segment/preview"

    async def preview(segment: dict) -> Any:
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json=segment) as resp:
                assert resp.status == 200, await resp.text()
                return await resp.json()

    assert await preview({"answered_survey_id": "s1"}) == {"residents": 0, "messages": 0}
    for rid in ("a0000", "a0003", "y1", "none"):
        await h.publish(answered("s1", rid))
    await h.publish(answered("s2", "a0005"))
    await eventually(lambda: _equals(h.store()[ANSWERS].count_documents({}), 5), "answers recorded")
    assert await preview({"answered_survey_id": "s1"}) == {"residents": 3, "messages": 3}
    on_street = ON_STREET.model_dump(mode="json")
    assert await preview({**on_street, "answered_survey_id": "s1"}) == {"residents": 2, "messages": 2}
    assert await preview({"answered_survey_id": "s1", "settlement_ids": [K], "notify_scopes": ["address"]}) == {
        "residents": 3, "messages": 3}
    assert await preview({"answered_survey_id": "unknown"}) == {"residents": 0, "messages": 0}

    await h.publish(MailingRequested(mailing_id="m1", text="Дякуємо, що взяли участь в опитуванні!",
                                     segment=Segment(answered_survey_id="s1"), requested_by="staff-1", at=T0))
    batches = lambda: {e.id: e for e in h.outbound() if e.correlationid == job_id_of("m1")}  # noqa: E731
    await eventually(lambda: sum(len(e.data["receivers"]) for e in batches().values()) == 3, "the mailing")
    await quiet()
    assert Counter(r for e in batches().values() for r in e.data["receivers"]) == Counter(
        {"v-a0000": 1, "v-a0003": 1, "v-y1": 1})

    await h.publish(ResidentDeleted(resident_id="a0003"))
    await eventually(lambda: _equals(h.store()[ANSWERS].count_documents({"resident_id": "a0003"}), 0), "erased")
    assert await preview({"answered_survey_id": "s1"}) == {"residents": 2, "messages": 2}


async def test_a_bad_answered_segment_in_the_preview_is_a_422(harness: Harness):
    """A segment whose ``answered_survey_id`` is not a string gets a 422 naming the
    field — a clear answer, nothing changed."""
    h = harness
    await start(h, FakeClock(T0))
    url = f"http://127.0.0.1:{h.runtime.bound_port}/api/segment/preview"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"answered_survey_id": ["s1"]}) as resp:
            assert resp.status == 422
            body = await resp.json()
    assert body["errors"][0]["loc"] == ["answered_survey_id"]


def test_segment_matching_with_answered_survey():
    """The index alone: ``answered_survey_id`` matches those in ``answered`` who are
    eligible, AND the other filters; no notices / unsubscribed / deleted never; without
    the answered set (no surveys store) nobody matches rather than everybody."""
    from datetime import UTC

    index = AudienceIndex()
    for data in population(4) + [resident("c2", notify=NotifyScope.city)]:
        index.put(data.resident_id, document_of(data, datetime.now(UTC)))
    answered_s1 = {"a0000", "a0002", "c2", "none", "unsub", "ghost"}
    seg = Segment(answered_survey_id="s1")
    assert index.match_segment(seg, answered=answered_s1) == {"a0000", "a0002", "c2"}
    assert index.match_segment(seg) == set()
    assert index.match_segment(Segment(answered_survey_id="s1", notify_scopes=[NotifyScope.city]),
                               answered=answered_s1) == {"c2"}
    assert index.match_segment(Segment(answered_survey_id="s1", streets=ON_STREET.streets),
                               answered=answered_s1) == {"a0000", "a0002"}
    assert index.match_segment(Segment(answered_survey_id="s1", has_open_request=True),
                               open_requests={"a0002", "a0003"}, answered=answered_s1) == {"a0002"}


async def test_a_survey_whose_end_passed_before_it_could_be_invited_to_is_not(harness: Harness):
    """The notifier was down from before the start until after the end (the survey still
    says «active»): no invitation to a survey nobody can answer any more."""
    h = harness
    clock = FakeClock(T0 + timedelta(days=8))
    await start(h, clock)
    await seed(h, population(5))
    await h.publish(survey(state=SurveyState.active))
    await eventually(lambda: h.store()[SURVEYS].find_one({"_id": "s1", "invitation": "expired"}), "expired")
    await quiet()
    assert invited(h) == Counter()


async def test_a_malformed_survey_event_is_parked_and_the_next_one_still_goes_out(harness: Harness):
    """A ``survey.published`` without questions and a ``survey.answered`` without a
    resident are parked in ``notifier.surveys.dead`` (kept for ops, not retried, not
    lost) and change nothing; the next valid survey is invited to as usual."""
    h = harness
    await start(h, FakeClock(T0))
    await seed(h, population(3))
    bad = make_event(survey("bad"), source="/test").model_dump(mode="json")
    del bad["data"]["questions"]
    await h.publisher.publish_raw("survey.published", json.dumps(bad).encode())
    bad_answer = make_event(answered("s1", "a0000"), source="/test").model_dump(mode="json")
    del bad_answer["data"]["resident_id"]
    await h.publisher.publish_raw("survey.answered", json.dumps(bad_answer).encode())
    await h.publish(survey("good"))
    await eventually(lambda: sum(invited(h, "good").values()) == 3, "the valid survey's invitations")

    async def both_parked() -> list:
        parked = await h.runtime.bus.dead_letters("notifier.surveys")
        return parked if len(parked) == 2 else []

    parked = await eventually(both_parked, "both parked")
    assert {json.loads(p)["id"] for p in parked} == {bad["id"], bad_answer["id"]}
    assert await h.store()[SURVEYS].find_one({"_id": "bad"}) is None
    assert await h.store()[ANSWERS].count_documents({}) == 0


@pytest.mark.rabbitmq
async def test_survey_invitation_on_rabbitmq(vhost_amqp_url: str, unique: str):
    """On real RabbitMQ: an answer arrives, then a survey for the street starts — each
    resident there who has not answered is invited once, in one bulk batch, nobody else;
    a cancel afterwards changes nothing that was sent."""
    async with running(vhost_amqp_url, unique) as h:
        clock = FakeClock(T0 - timedelta(minutes=5))
        await start(h, clock)
        await seed(h, population(30))
        await h.publish(answered("s1", "a0007"))
        await h.publish(survey())
        await stored(h)
        await eventually(lambda: _equals(h.store()[ANSWERS].count_documents({}), 1), "answer recorded", timeout=30)
        clock.now = T0
        await eventually(lambda: sum(invited(h).values()) == 29, "the invitations", timeout=30)
        await eventually(lambda: h.store()[SURVEYS].find_one({"_id": "s1", "invitation": "sent"}), "sent")
        await h.publish(survey(revision=2, state=SurveyState.cancelled))
        await stored(h, "s1", 2)
        await quiet()
        assert invited(h) == Counter({r: 1 for r in street_receivers(30) - {"v-a0007"}})
        assert len({e.id for e in h.outbound()}) == 1
