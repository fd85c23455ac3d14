"""Surveys (issue 9, C8) and the useful information staff edit (C11, C7) through the
dialog service on the in-memory bus: ``survey.published`` kept by the highest revision
whatever the order or repeats; one ``survey.answered`` per resident per survey, with an
id derived from both, even when the «Надіслати» tap is redelivered or tapped again;
``info.changed`` shown from the next screen on, an older or replayed one changing
nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from chatbot_common.events import (
    CloudEvent,
    InfoChanged,
    InfoSectionItem,
    SurveyOption,
    SurveyPublished,
    SurveyQuestion,
    SurveyQuestionKind,
    SurveyState,
    utcnow,
)
from chatbot_common.texts import catalog
from dialog.handlers import survey_answered_id
from dialog.projections import Projections
from test_service import RECORDED, Dialog, eventually, register, running_dialog

t = catalog()


@pytest.fixture
async def dialog(unique: str, mongodb_url: str) -> AsyncIterator[Dialog]:
    async with running_dialog(unique, mongodb_url, [*RECORDED, "survey.answered"]) as d:
        yield d


def survey(revision: int, state: SurveyState = SurveyState.active, title: str = "Опитування про двір") -> SurveyPublished:
    now = utcnow()
    return SurveyPublished(
        survey_id="s1", revision=revision, title=title, state=state, at=now,
        starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=1),
        questions=[SurveyQuestion(question_id="q1", kind=SurveyQuestionKind.single, text="Чи чисто у дворі?",
                                  options=[SurveyOption(key="yes", label="Так"), SurveyOption(key="no", label="Ні")])],
    )


async def stored_revision(d: Dialog) -> int | None:
    doc = await d.store["surveys"].find_one({"_id": "s1"})
    return doc["revision"] if doc else None


def codes(reply: CloudEvent) -> list[str]:
    return [b["code"] for b in reply.data["buttons"]]


async def test_the_survey_projection_keeps_the_highest_revision_whatever_the_order(dialog: Dialog):
    await register(dialog, "u1")
    await dialog.event(survey(2, title="Друга редакція"), "p2")
    await eventually(lambda: stored_revision(dialog), "revision 2 stored")
    await dialog.event(survey(1, SurveyState.closed), "p1")  # late
    await dialog.event(survey(2, title="Друга редакція"), "p2")  # redelivered
    await dialog.event(survey(2, SurveyState.cancelled), "p2-other-id")  # same revision, another id
    projections = Projections(dialog.store)

    async def settled() -> bool:
        return len(await projections.surveys()) == 1

    await eventually(settled, "still active")
    [kept] = await projections.surveys()
    assert kept.revision == 2 and kept.title == "Друга редакція" and kept.state == SurveyState.active
    reply = await dialog.say("u1", "menu:surveys")
    assert "survey:open:s1" in codes(reply)
    await dialog.event(survey(3, SurveyState.closed), "p3")

    async def closed() -> bool:
        return await stored_revision(dialog) == 3

    await eventually(closed, "revision 3 stored")
    reply = await dialog.say("u1", "survey:open:s1")  # the invitation's button after the end
    assert reply.data["text"].startswith(t("surveys.closed"))


async def test_one_answer_per_resident_per_survey_even_when_send_is_redelivered_or_tapped_again(dialog: Dialog):
    await register(dialog, "u2")
    await dialog.event(survey(1), "a1")
    await eventually(lambda: stored_revision(dialog), "the survey stored")
    await dialog.say("u2", "survey:open:s1")
    reply = await dialog.say("u2", "sv:o:1")
    assert codes(reply)[:2] == ["sv:send", "sv:edit"]
    send = dialog.inbound("u2", "sv:send")
    reply = await dialog.send(send)
    assert reply.data["text"].startswith(t("surveys.sent"))
    await dialog.bus.publish(send)  # redelivered: nothing again
    reply = await dialog.say("u2", "sv:send")  # the old summary's button tapped again
    assert not reply.data["text"].startswith(t("surveys.sent"))
    reply = await dialog.say("u2", "survey:open:s1")
    assert reply.data["text"].startswith(t("surveys.already"))
    answered = await eventually(lambda: _answered(dialog), "survey.answered published")
    [event] = answered
    resident_id = event.data["resident_id"]
    assert event.id == survey_answered_id("s1", resident_id)
    assert event.data["answers"] == [{"question_id": "q1", "options": ["no"]}]
    assert "u2" not in str(event.data) and "Коваленко" not in str(event.data)
    doc = await dialog.store["residents"].find_one({"_id": resident_id})
    assert doc["resident"]["surveys_answered"] == ["s1"]


async def _answered(d: Dialog) -> list[CloudEvent]:
    return d.of_type("survey.answered")


def info(revision: int, text: str) -> InfoChanged:
    return InfoChanged(revision=revision, at=utcnow(), sections=[
        InfoSectionItem(id="news", title="📰 Новини", text=text)])


async def test_info_changed_is_shown_from_the_next_screen_and_replays_change_nothing(dialog: Dialog):
    await register(dialog, "u3")
    reply = await dialog.say("u3", "menu:info")
    assert codes(reply)[0] == "info:emergency"  # the packaged sections before any change

    async def revision() -> int | None:
        doc = await dialog.store["info"].find_one({"_id": "content"})
        return doc["revision"] if doc else None

    await dialog.event(info(2, "Друга редакція."), "i2")
    await eventually(revision, "info stored")
    reply = await dialog.say("u3", "menu:info")
    assert codes(reply) == ["info:news", "nav:home"]
    await dialog.event(info(1, "Перша редакція."), "i1")  # late
    await dialog.event(info(2, "Друга редакція."), "i2")  # replayed

    async def handled() -> bool:
        return await dialog.store["events_inbox"].find_one({"_id": "i1"}) is not None

    await eventually(handled, "the late one handled")
    assert await revision() == 2
    reply = await dialog.say("u3", "info:news")
    assert "Друга редакція." in reply.data["text"]
    await dialog.event(info(3, "Третя редакція."), "i3")

    async def third() -> bool:
        return await revision() == 3

    await eventually(third, "revision 3 stored")
    reply = await dialog.say("u3", "info:news")  # the same replica: its cache follows the revision
    assert "Третя редакція." in reply.data["text"]
