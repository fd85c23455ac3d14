"""Surveys (issue 9, C8) through the admin API: the builder's checks (422 naming each
field, nothing stored or published), roles, the audit log, exactly one
``survey.published`` per change with a growing revision, the lifecycle job (active at the
start, closed at the end — once, across a restart), the anonymous answers consumed from
``admin.surveys`` (idempotent, counted) and the CSV."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from admin_testkit import ADMIN_EMAIL, ADMIN_PASSWORD, Admin, Client, settings
from admin_testkit import Recorder, recording, running_admin

from admin.service import SURVEY_REPOSITORY, build
from admin.surveys import answer_key
from chatbot_common.bus import create_bus
from chatbot_common.events import (
    MailingProgress,
    SurveyAnswer,
    SurveyAnswered,
    derived_id,
    make_event,
    utcnow,
)
from chatbot_common.store import open_store

QUESTIONS = [
    {"kind": "single", "text": "Як Ви оцінюєте прибирання двору?",
     "options": [{"label": "Добре"}, {"label": "Задовільно"}, {"label": "Погано"}]},
    {"kind": "scale", "text": "Оцініть роботу контакт-центру від 1 до 5"},
    {"kind": "text", "text": "Що нам покращити?", "required": False},
]


def later(seconds: float) -> str:
    return (utcnow() + timedelta(seconds=seconds)).isoformat()


def survey(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"title": "Прибирання двору", "intro": "Кілька питань про Ваш двір.",
                            "questions": QUESTIONS, "segment": {"settlement_ids": ["khmelnytskyi"]},
                            "ends_at": later(7 * 86400)}
    body.update(overrides)
    return body


def survey_recorder(bus_url: str) -> Recorder:
    """Every ``survey.published`` the service publishes (the lifecycle job's too, which
    ticks every 0.1 s: a little longer to be sure none more comes)."""
    return Recorder(bus_url, ["survey.published"], quiet=0.2)


def survey_events(bus_url: str) -> AbstractAsyncContextManager[Recorder]:
    return recording(bus_url, ["survey.published"], quiet=0.2)


@pytest.fixture
async def service(unique: str, mongodb_url: str) -> AsyncIterator[tuple[Admin, Recorder]]:
    async with running_admin(unique, mongodb_url, admin_survey_tick_seconds=0.1) as admin:
        async with survey_events(admin.bus_url) as recorder:
            yield admin, recorder


async def answer(bus_url: str, survey_id: str, resident: str, answers: list[dict[str, Any]],
                 event_id: str | None = None) -> None:
    bus = create_bus(bus_url)
    await bus.publish(make_event(
        SurveyAnswered(survey_id=survey_id, resident_id=resident, answers=[SurveyAnswer(**a) for a in answers],
                       at=utcnow()),
        source="/dialog", id=event_id or derived_id("survey", survey_id, resident, "survey.answered")))
    await bus.close()


async def respondents(admin: Admin, survey_id: str, count: int) -> dict[str, Any]:
    for _ in range(500):
        _, body = await admin.client.get(f"/api/v1/surveys/{survey_id}/results")
        if body["respondents"] >= count:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    _, body = await admin.client.get(f"/api/v1/surveys/{survey_id}/results")
    assert body["respondents"] == count, body
    return body


# --------------------------------------------------------------------------- builder and checks


async def test_a_draft_is_stored_with_ids_and_keys_and_publishes_nothing(service):
    """Creating a draft keeps the builder's data (question ids and option keys generated,
    labels trimmed), publishes nothing and is audited."""
    admin, recorder = service
    status, body = await admin.client.post("/api/v1/surveys", survey(survey_id="dvir-2030"))
    assert status == 201, body
    assert body["id"] == "dvir-2030" and body["state"] == "draft" and body["revision"] == 0
    assert [q["question_id"] for q in body["questions"]] == ["q1", "q2", "q3"]
    assert [o["key"] for o in body["questions"][0]["options"]] == ["o1", "o2", "o3"]
    assert body["questions"][2]["required"] is False and body["starts_at"] is None
    await recorder.payloads(0)
    _, records = await admin.client.get("/api/v1/audit?entity=survey&entity_id=dvir-2030")
    assert [r["action"] for r in records] == ["survey.created"]
    status, again = await admin.client.post("/api/v1/surveys", survey(survey_id="dvir-2030"))
    assert status == 409, again


async def test_bad_builder_data_is_422_naming_each_field_and_nothing_is_stored(service):
    """Every problem at once, each by its path — a 41-character option label (a Viber
    button), a scale question with options, a choice with one option, an empty title, an
    id that cannot go into a button code, an end before the start; nothing is stored."""
    admin, recorder = service
    bad = [dict(QUESTIONS[0]), {"kind": "scale", "text": "1–5", "options": [{"label": "a"}, {"label": "b"}]},
           {"kind": "multiple", "text": "Що саме?", "options": [{"label": "x" * 41}, {"label": "Добре"}]},
           {"kind": "single", "text": "  ", "options": [{"label": "Так"}]}]
    status, body = await admin.client.post("/api/v1/surveys", survey(
        survey_id="Опитування 1", title=" ", questions=bad, starts_at=later(7200), ends_at=later(3600)))
    assert status == 422, body
    paths = {f["path"] for f in body["error"]["fields"]}
    assert paths == {"survey_id", "title", "questions[1].options", "questions[2].options[0].label",
                     "questions[3].text", "questions[3].options", "ends_at"}, paths
    label_error = next(f for f in body["error"]["fields"] if f["path"] == "questions[2].options[0].label")
    assert "40" in label_error["message"]
    status, body = await admin.client.post("/api/v1/surveys", survey(segment={"settlement_ids": ["atlantyda"]}))
    assert status == 422 and body["error"]["fields"][0]["path"] == "segment.settlement_ids[0]"
    _, listed = await admin.client.get("/api/v1/surveys")
    assert listed == []
    await recorder.payloads(0)


async def test_roles_viewer_reads_results_editor_builds_and_publishes(service):
    """A viewer (and an operator) may read surveys and results but not create, change,
    publish, close or cancel (403, nothing changes); no token is 401."""
    admin, recorder = service
    _, created = await admin.client.post("/api/v1/surveys", survey(survey_id="roles"))
    viewer = await admin.client.as_role("viewer")
    operator = await admin.client.as_role("operator")
    for client in (viewer, operator):
        assert (await client.post("/api/v1/surveys", survey()))[0] == 403
        assert (await client.call("PUT", "/api/v1/surveys/roles", survey()))[0] == 403
        for action in ("publish", "close", "cancel"):
            assert (await client.post(f"/api/v1/surveys/roles/{action}", {}))[0] == 403
        assert (await client.get("/api/v1/surveys/roles"))[0] == 200
        assert (await client.get("/api/v1/surveys/roles/results"))[0] == 200
        assert (await client.get("/api/v1/surveys/roles/results.csv"))[0] == 200
    assert (await admin.client.get("/api/v1/surveys", token="nope"))[0] == 401
    editor = await admin.client.as_role("editor")
    status, body = await editor.post("/api/v1/surveys/roles/publish", {})
    assert status == 200 and body["state"] == "active" and body["version"] == created["version"] + 1
    await recorder.payloads(1)


# --------------------------------------------------------------------------- events


async def test_each_change_publishes_exactly_one_survey_published_with_a_growing_revision(service):
    """Publish (starts now → active, rev 1), publish again (a double click: nothing), a
    new intro (rev 2), a change that changes nothing (nothing), close (rev 3 closed); a
    closed survey can be neither changed nor cancelled (409). Every event is the whole
    survey with a deterministic id; the audit log lists each change."""
    admin, recorder = service
    c = admin.client
    await c.post("/api/v1/surveys", survey(survey_id="dvir"))
    status, body = await c.post("/api/v1/surveys/dvir/publish", {})
    assert status == 200 and body["state"] == "active" and body["revision"] == 1, body
    assert (await c.post("/api/v1/surveys/dvir/publish", {}))[1]["revision"] == 1
    [first] = await recorder.payloads(1)
    assert first.survey_id == "dvir" and first.state == "active" and first.revision == 1
    assert [q.kind.value for q in first.questions] == ["single", "scale", "text"]
    assert first.questions[0].options[1].label == "Задовільно" and first.segment.settlement_ids == ["khmelnytskyi"]
    assert recorder.events[0].id == derived_id("dvir", 1, "survey.published")
    status, body = await c.call("PUT", "/api/v1/surveys/dvir", {**survey(intro="Нове вступне слово."),
                                                               "version": body["version"]})
    assert status == 200 and body["revision"] == 2, body
    status, same = await c.call("PUT", "/api/v1/surveys/dvir", {**survey(intro="Нове вступне слово."),
                                                               "ends_at": body["ends_at"]})
    assert status == 200 and same["revision"] == 2
    status, stale = await c.call("PUT", "/api/v1/surveys/dvir", {**survey(), "version": 1})
    assert status == 409 and stale["error"]["code"] == "stale_version"
    status, body = await c.post("/api/v1/surveys/dvir/close", {})
    assert status == 200 and body["state"] == "closed" and body["revision"] == 3
    events = await recorder.payloads(3)
    assert [(e.revision, e.state.value, e.intro) for e in events] == [
        (1, "active", "Кілька питань про Ваш двір."), (2, "active", "Нове вступне слово."),
        (3, "closed", "Нове вступне слово.")]
    assert (await c.post("/api/v1/surveys/dvir/cancel", {}))[0] == 409
    assert (await c.call("PUT", "/api/v1/surveys/dvir", survey()))[0] == 409
    _, records = await c.get("/api/v1/audit?entity=survey&entity_id=dvir")
    assert [r["action"] for r in records][::-1] == ["survey.created", "survey.published", "survey.changed",
                                                    "survey.closed"]


async def test_a_scheduled_survey_and_cancelling(service):
    """A survey starting later is published ``scheduled``; cancelling it publishes
    ``cancelled``. A draft cancelled was never published: no event."""
    admin, recorder = service
    c = admin.client
    await c.post("/api/v1/surveys", survey(survey_id="later", starts_at=later(3600)))
    _, body = await c.post("/api/v1/surveys/later/publish", {})
    assert body["state"] == "scheduled"
    _, body = await c.post("/api/v1/surveys/later/cancel", {})
    assert body["state"] == "cancelled" and body["revision"] == 2
    await c.post("/api/v1/surveys", survey(survey_id="never"))
    _, body = await c.post("/api/v1/surveys/never/cancel", {})
    assert body["state"] == "cancelled" and body["revision"] == 0
    events = await recorder.payloads(2)
    assert [(e.survey_id, e.state.value) for e in events] == [("later", "scheduled"), ("later", "cancelled")]
    _, cancelled = await c.get("/api/v1/surveys?state=cancelled")
    assert {s["id"] for s in cancelled} == {"later", "never"}
    assert (await c.get("/api/v1/surveys?state=nonsense"))[0] == 422


async def test_publishing_needs_questions_and_an_end_in_the_future(service):
    """A draft without questions or end cannot be published: 422 naming them, nothing published."""
    admin, recorder = service
    await admin.client.post("/api/v1/surveys", {"title": "Порожнє", "survey_id": "empty"})
    status, body = await admin.client.post("/api/v1/surveys/empty/publish", {})
    assert status == 422 and {f["path"] for f in body["error"]["fields"]} == {"questions", "ends_at"}
    await recorder.payloads(0)


async def test_the_lifecycle_job_starts_and_ends_surveys_once_across_a_restart(unique: str, mongodb_url: str):
    """A survey scheduled to start in a moment and end soon after is published ``active``
    at its start and ``closed`` at its end by the job under the lease — even when the
    service that published it stopped before either; a further restart publishes nothing."""
    bus_url = f"memory://admin-{unique}"
    recorder = survey_recorder(bus_url)
    await recorder.start()

    @asynccontextmanager
    async def started() -> AsyncIterator[Any]:
        store = open_store(mongodb_url, f"admin_{unique}", memory_namespace=unique)
        runtime = build(settings(admin_survey_tick_seconds=0.05), bus=create_bus(bus_url), store=store)
        await runtime.start(host="127.0.0.1")
        yield runtime
        await runtime.stop()

    async with running_admin(unique, mongodb_url, admin_survey_tick_seconds=3600) as admin:
        await admin.client.post("/api/v1/surveys", survey(survey_id="short", starts_at=later(0.6),
                                                          ends_at=later(1.2)))
        _, body = await admin.client.post("/api/v1/surveys/short/publish", {})
        assert body["state"] == "scheduled"
    await asyncio.sleep(1.3)  # both times pass while no service runs
    async with started():
        events = await recorder.payloads(2)
    assert [(e.revision, e.state.value) for e in events] == [(1, "scheduled"), (2, "closed")]
    async with started():
        await asyncio.sleep(0.4)
    await recorder.payloads(2)

    async with started() as runtime, aiohttp.ClientSession() as session:
        # a survey that starts in a moment: active at its start, once
        client = Client(session, f"http://127.0.0.1:{runtime.bound_port}")
        client.token = await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        await client.post("/api/v1/surveys", survey(survey_id="soon", starts_at=later(0.3)))
        await client.post("/api/v1/surveys/soon/publish", {})
        events = await recorder.payloads(4)
        assert [(e.survey_id, e.state.value) for e in events[2:]] == [("soon", "scheduled"), ("soon", "active")]
        repo = runtime.app[SURVEY_REPOSITORY]
        assert await asyncio.gather(repo.tick(), repo.tick()) == [0, 0]
    await recorder.bus.close()


# --------------------------------------------------------------------------- answers


FULL = [{"question_id": "q1", "options": ["o2"]}, {"question_id": "q2", "scale": 4},
        {"question_id": "q3", "text": "Більше лавок, будь ласка"}]


async def test_answers_are_counted_once_per_resident_and_lock_the_questions(service):
    """``survey.answered`` is stored once per (survey, resident) — a redelivery and a second
    event about the same answer change nothing — and counted: per option, the 1–5
    distribution and average, the free-text answers, the skipped ones, respondents; the
    invitation's figures come from mailing.progress (subject survey). Once answered, the
    questions cannot change (409 saying what can), the intro still can. The resident id
    is kept nowhere."""
    admin, recorder = service
    c = admin.client
    await c.post("/api/v1/surveys", survey(survey_id="dvir"))
    await c.post("/api/v1/surveys/dvir/publish", {})
    await answer(admin.bus_url, "dvir", "res-1", FULL)
    await answer(admin.bus_url, "dvir", "res-1", FULL)  # redelivered
    await answer(admin.bus_url, "dvir", "res-1", FULL, event_id="another-id")  # same answer, other id
    await answer(admin.bus_url, "dvir", "res-2", [{"question_id": "q1", "options": ["o2"]},
                                                  {"question_id": "q2", "scale": 1}])
    await answer(admin.bus_url, "dvir", "res-3", [{"question_id": "q1", "options": ["o1", "gone"]},
                                                  {"question_id": "q2", "scale": 5},
                                                  {"question_id": "q3", "text": "=cmd|' /C calc'!A0"}])
    bus = create_bus(admin.bus_url)
    await bus.publish(make_event(MailingProgress(mailing_id="m-1", subject="survey", subject_id="dvir", targeted=10,
                                                 sent=10, delivered=9, done=True, at=utcnow()), source="/notifier"))
    await bus.close()
    results = await respondents(admin, "dvir", 3)
    q1, q2, q3 = results["questions"]
    assert [(o["label"], o["count"]) for o in q1["options"]] == [("Добре", 1), ("Задовільно", 2), ("Погано", 0)]
    assert q1["options"][1]["percent"] == 66.7 and q1["answered"] == 3
    assert q2["scale"] == [1, 0, 0, 1, 1] and q2["average"] == 3.33
    assert sorted(q3["texts"]) == ["=cmd|' /C calc'!A0", "Більше лавок, будь ласка"] and q3["skipped"] == 1
    for _ in range(200):
        _, results = await c.get("/api/v1/surveys/dvir/results")
        if results["invitations"]["done"]:
            break
        await asyncio.sleep(0.02)
    assert results["invitations"]["targeted"] == 10 and results["invitations"]["delivered"] == 9

    store = admin.runtime.store
    stored = [d async for d in store["survey_answers"].find({})]
    assert len(stored) == 3 and answer_key("dvir", "res-1") in {d["_id"] for d in stored}
    assert "res-1" not in str(stored)

    changed = [dict(QUESTIONS[0], options=[{"label": "Так"}, {"label": "Ні"}]), *QUESTIONS[1:]]
    status, body = await c.call("PUT", "/api/v1/surveys/dvir", survey(questions=changed))
    assert status == 409 and body["error"]["code"] == "questions_locked"
    assert "назву, вступ, сегмент і дату завершення" in body["error"]["message"]
    status, body = await c.call("PUT", "/api/v1/surveys/dvir", survey(intro="Дякуємо, що відповідаєте!"))
    assert status == 200 and body["revision"] == 2 and body["questions_locked"] is True
    _, got = await c.get("/api/v1/surveys/dvir")
    assert got["respondents"] == 3


async def test_the_csv_is_anonymous_utf8_with_bom_one_row_per_respondent(service):
    """The CSV starts with the UTF-8 BOM, has a header of the questions and one row per
    respondent numbered 1…n (no resident id), labels for options, formula-like cells
    defused; ``separator=semicolon`` for Ukrainian Excel."""
    admin, _ = service
    c = admin.client
    await c.post("/api/v1/surveys", survey(survey_id="dvir"))
    await c.post("/api/v1/surveys/dvir/publish", {})
    await answer(admin.bus_url, "dvir", "resident-secret-1", FULL)
    await answer(admin.bus_url, "dvir", "resident-secret-2", [{"question_id": "q1", "options": ["o3"]},
                                                              {"question_id": "q2", "scale": 2},
                                                              {"question_id": "q3", "text": "=1+1"}])
    await respondents(admin, "dvir", 2)
    async with c.session.get(c.base + "/api/v1/surveys/dvir/results.csv",
                             headers={"Authorization": f"Bearer {c.token}"}) as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        assert 'filename="survey-dvir.csv"' in resp.headers["Content-Disposition"]
        raw = await resp.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw[3:].decode("utf-8")
    assert "resident-secret" not in text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["№", "День відповіді", "1. Як Ви оцінюєте прибирання двору?",
                       "2. Оцініть роботу контакт-центру від 1 до 5", "3. Що нам покращити?"]
    assert sorted(r[0] for r in rows[1:]) == ["1", "2"] and len(rows) == 3
    assert sorted(tuple(r[2:]) for r in rows[1:]) == [("Задовільно", "4", "Більше лавок, будь ласка"),
                                                       ("Погано", "2", "'=1+1")]
    async with c.session.get(c.base + "/api/v1/surveys/dvir/results.csv?separator=semicolon",
                             headers={"Authorization": f"Bearer {c.token}"}) as resp:
        assert (await resp.read())[3:].decode().startswith("№;День відповіді;")


async def test_the_openapi_document_describes_the_survey_routes(service):
    """Every survey route is documented; the CSV as text/csv."""
    admin, _ = service
    _, doc = await admin.client.get("/api/v1/openapi.json")
    paths = doc["paths"]
    for path in ("/api/v1/surveys", "/api/v1/surveys/{id}", "/api/v1/surveys/{id}/publish",
                 "/api/v1/surveys/{id}/close", "/api/v1/surveys/{id}/cancel", "/api/v1/surveys/{id}/results"):
        assert path in paths
    assert "text/csv" in paths["/api/v1/surveys/{id}/results.csv"]["get"]["responses"]["200"]["content"]


async def test_a_malformed_answer_is_parked_and_the_next_one_counts(service):
    """A ``survey.answered`` without a resident or with a scale of 9 is parked in
    ``admin.surveys.dead`` with nothing stored; the next valid answer is counted as usual."""
    import json

    admin, _ = service
    await admin.client.post("/api/v1/surveys", survey(survey_id="dvir"))
    bus = create_bus(admin.bus_url)
    good = make_event(SurveyAnswered(survey_id="dvir", resident_id="r", at=utcnow(),
                                     answers=[SurveyAnswer(question_id="q2", scale=3)]), source="/dialog")
    for n, broken in enumerate(({"survey_id": "dvir", "answers": [], "at": utcnow().isoformat()},
                                {"survey_id": "dvir", "resident_id": "x", "at": utcnow().isoformat(),
                                 "answers": [{"question_id": "q2", "scale": 9}]})):
        body = {**good.model_dump(mode="json"), "id": f"broken-{n}", "data": broken}
        await bus.publish_raw("survey.answered", json.dumps(body).encode())
    await bus.publish(good)
    results = await respondents(admin, "dvir", 1)
    assert results["questions"][1]["scale"] == [0, 0, 1, 0, 0]
    assert len(await bus.dead_letters("admin.surveys")) == 2
    await bus.close()
