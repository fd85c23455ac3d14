"""The panel's «Опитування» over HTTP, as a browser without JavaScript uses it: the
builder (add, reorder, remove questions with submit buttons; options one per line),
errors next to their fields with what was typed kept, CSRF and roles on every action (a
refusal changes nothing), publishing after a confirmation with the recipient count,
closing, the results page with its bars and free-text answers, the CSV download."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from admin_testkit import ADMIN_EMAIL, ADMIN_PASSWORD, Admin, PanelClient
from admin_testkit import running_admin
from test_admin_mailings import FakeNotifier
from test_admin_surveys import FULL, Recorder, answer, respondents, survey_events

from admin.mailings import KYIV
from chatbot_common.events import utcnow


def kyiv_local(hours: float) -> str:
    return (utcnow() + timedelta(hours=hours)).astimezone(KYIV).strftime("%Y-%m-%dT%H:%M")


def builder(action: str, questions: list[tuple[str, str, str, bool, str]], **fields: str) -> list[tuple[str, str]]:
    """The builder's form: ``questions`` as (id, kind, text, required, options)."""
    data = [("action", action), ("title", fields.get("title", "Прибирання двору")),
            ("intro", fields.get("intro", "")), ("survey_id", fields.get("survey_id", "")),
            ("version", fields.get("version", "")), ("qcount", str(len(questions))),
            ("settlement_id", "khmelnytskyi"), ("rows", "3"),
            ("streets[0].street", ""), ("streets[0].houses", ""), ("registered_after", ""),
            ("registered_before", ""), ("has_open_request", ""),
            ("starts_at", fields.get("starts_at", "")), ("ends_at", fields.get("ends_at", kyiv_local(48)))]
    for n, (qid, kind, text, required, options) in enumerate(questions):
        data += [(f"q[{n}].id", qid), (f"q[{n}].kind", kind), (f"q[{n}].text", text), (f"q[{n}].options", options)]
        if required:
            data.append((f"q[{n}].required", "on"))
    return data


THREE = [("", "single", "Як Ви оцінюєте прибирання двору?", True, "Добре\nЗадовільно\nПогано"),
         ("", "scale", "Оцініть роботу контакт-центру", True, ""),
         ("", "text", "Що нам покращити?", False, "")]


@pytest.fixture
async def notifier() -> AsyncIterator[FakeNotifier]:
    fake = FakeNotifier()
    fake.answer = {"residents": 120, "messages": 120}
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def service(unique: str, mongodb_url: str, notifier: FakeNotifier) -> AsyncIterator[tuple[Admin, Recorder]]:
    async with running_admin(unique, mongodb_url, admin_notifier_url=notifier.url,
                             admin_survey_tick_seconds=0.1) as admin:
        async with survey_events(admin.bus_url) as recorder:
            yield admin, recorder


async def login(admin: Admin, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> PanelClient:
    client = PanelClient(f"http://127.0.0.1:{admin.runtime.bound_port}")
    status, _, _ = await client.login(email, password)
    assert status == 303
    return client


async def test_build_reorder_publish_close_and_read_results_without_javascript(service, notifier):
    """The whole path through plain forms: the builder adds a question, moves it up and
    removes it again; saving keeps a draft; the confirmation page shows the count and
    cost from the notifier; publishing publishes one survey.published; answers show as
    counts, bars and free text; the CSV downloads; closing publishes ``closed``."""
    admin, recorder = service
    web = await login(admin)
    status, page, _ = await web.get("/panel/surveys")
    assert status == 200 and "Нове опитування" in page and "незабаром" not in page
    status, page, _ = await web.get("/panel/surveys/new")
    assert status == 200 and 'name="q[0].kind"' in page

    status, page, _ = await web.post("/panel/surveys/new", builder("add_question", THREE))
    assert status == 200 and 'name="q[3].text"' in page  # a fourth, empty question
    moved = [*THREE, ("", "single", "Четверте?", True, "Так\nНі")]
    status, page, _ = await web.post("/panel/surveys/new", builder("up:3", moved))
    assert page.index("Четверте?") < page.index("Що нам покращити?")
    status, page, _ = await web.post("/panel/surveys/new", builder("remove:2", [THREE[0], THREE[1], moved[3], THREE[2]]))
    assert "Четверте?" not in page and 'name="q[2].text"' in page and 'name="q[3].text"' not in page

    status, _, headers = await web.post("/panel/surveys/new", builder("save", THREE, survey_id="dvir"))
    assert status == 303 and headers["Location"] == "/panel/surveys/dvir?ok=saved"
    await recorder.payloads(0)
    status, page, _ = await web.get("/panel/surveys/dvir")
    assert "чернетка" in page and "Опублікувати" in page

    status, page, _ = await web.get("/panel/surveys/dvir/publish")
    assert status == 200 and 'id="audience-residents">120<' in page and "96.00 грн" in page
    version = re.search(r'name="version" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    status, _, headers = await web.post("/panel/surveys/dvir/publish", {"version": version})
    assert status == 303 and headers["Location"] == "/panel/surveys/dvir?ok=published"
    [published] = await recorder.payloads(1)
    assert published.state.value == "active" and [q.text for q in published.questions] == [q[2] for q in THREE]

    await answer(admin.bus_url, "dvir", "r1", FULL)
    await answer(admin.bus_url, "dvir", "r2", [{"question_id": "q1", "options": ["o1"]},
                                               {"question_id": "q2", "scale": 2}])
    await respondents(admin, "dvir", 2)
    status, page, _ = await web.get("/panel/surveys/dvir/results")
    assert status == 200 and 'id="respondents">2<' in page
    assert 'id="chart-q1"' in page and "Задовільно" in page and "1 (50.0%)" in page
    assert 'class="fill" x="0" y="0" width="120.0"' in page  # half of the 240-pixel bar
    assert 'id="average-q2">3.00<' in page and "Більше лавок, будь ласка" in page
    async with web.session.get(web.base + "/panel/surveys/dvir/results.csv") as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        raw = await resp.read()
    assert raw.startswith(b"\xef\xbb\xbf") and "Більше лавок" in raw.decode("utf-8-sig") and b"r1" not in raw

    status, page, _ = await web.get("/panel/surveys/dvir/edit")
    assert "питання змінити не можна" in page
    status, page, _ = await web.get("/panel/surveys/dvir/close")
    status, _, headers = await web.post("/panel/surveys/dvir/close", {})
    assert status == 303 and headers["Location"].endswith("ok=closed")
    events = await recorder.payloads(2)
    assert events[1].state.value == "closed"
    await web.close()


async def test_errors_show_next_to_their_fields_and_keep_what_was_typed(service):
    """A 41-character option and a missing question text: 422, each message after its
    own field (linked by aria-describedby), the typed text kept, nothing stored."""
    admin, recorder = service
    web = await login(admin)
    await web.get("/panel/surveys/new")
    questions = [("", "single", "Як Вам?", True, "Добре\n" + "д" * 41), ("", "scale", "", True, "")]
    status, page, _ = await web.post("/panel/surveys/new", builder("save", questions, title="Моє опитування"))
    assert status == 422
    assert 'id="f-questions-0-options-error"' in page and "рядок 2" in page and "40 символів" in page
    assert 'aria-describedby="f-questions-0-options-error"' in page
    assert 'id="f-questions-1-text-error"' in page and 'value="Моє опитування"' in page and "д" * 41 in page
    _, listed = await admin.client.get("/api/v1/surveys")
    assert listed == []
    await recorder.payloads(0)
    await web.close()


async def test_csrf_roles_and_logged_out(service):
    """A form without the CSRF token is refused (403) and changes nothing; a viewer sees
    results but cannot open the builder or publish; a logged-out visitor is sent to the
    login page and nothing happens."""
    admin, recorder = service
    c = admin.client
    await c.post("/api/v1/surveys", {"survey_id": "dvir", "title": "Двір", "ends_at": (utcnow() + timedelta(days=2)).isoformat(),
                                     "questions": [{"kind": "scale", "text": "Оцініть"}]})
    web = await login(admin)
    await web.get("/panel/surveys/dvir")
    status, page, _ = await web.post("/panel/surveys/dvir/publish", {}, csrf=False)
    assert status == 403 and "CSRF" in page
    status, page, _ = await web.post("/panel/surveys/new", builder("save", THREE), csrf=False)
    assert status == 403
    await c.as_role("viewer")
    viewer = await login(admin, "viewer@example.org", "password-viewer")
    assert (await viewer.get("/panel/surveys/dvir/results"))[0] == 200
    assert (await viewer.get("/panel/surveys/new"))[0] == 403
    await viewer.get("/panel/surveys/dvir")
    status, _, _ = await viewer.post("/panel/surveys/dvir/publish", {})
    assert status == 403
    stranger = PanelClient(web.base)
    status, _, headers = await stranger.post("/panel/surveys/dvir/publish", {}, csrf=False)
    assert status == 303 and headers["Location"].startswith("/panel/login")
    _, got = await c.get("/api/v1/surveys/dvir")
    assert got["state"] == "draft"
    await recorder.payloads(0)
    for client in (web, viewer, stranger):
        await client.close()


async def test_a_mailing_can_go_to_those_who_answered_a_survey(service, notifier):
    """The segment picker offers the published surveys under «Відповіли на опитування»
    (drafts are not offered); the count asks the notifier with ``answered_survey_id`` and
    the mailing's event carries it."""
    admin, _ = service
    c = admin.client
    for sid in ("dvir", "chernetka"):
        await c.post("/api/v1/surveys", {"survey_id": sid, "title": f"Опитування {sid}",
                                         "ends_at": (utcnow() + timedelta(days=2)).isoformat(),
                                         "questions": [{"kind": "scale", "text": "Оцініть"}]})
    await c.post("/api/v1/surveys/dvir/publish", {})
    web = await login(admin)
    status, page, _ = await web.get("/panel/mailings/new")
    assert status == 200 and '<option value="dvir">Опитування dvir (dvir)</option>' in page
    assert 'value="chernetka"' not in page
    status, page, _ = await web.post("/panel/fragments/segment-count", {"answered_survey_id": "dvir"})
    assert status == 200 and notifier.segments[-1]["answered_survey_id"] == "dvir"
    status, _, headers = await web.post("/panel/mailings/new", {
        "action": "send", "idem": "k1", "text": "Дякуємо, що відповіли на опитування!", "when": "now",
        "answered_survey_id": "dvir"})
    assert status == 303, headers
    mailing_id = headers["Location"].split("/panel/mailings/")[1].split("?")[0]
    _, mailing = await c.get(f"/api/v1/mailings/{mailing_id}")
    assert mailing["segment"]["answered_survey_id"] == "dvir"
    status, page, _ = await web.get("/panel/surveys/dvir/edit")
    assert 'name="answered_survey_id"' in page and 'value="dvir"' not in page  # not itself
    await web.close()


async def test_the_audit_page_lists_survey_changes_with_a_link(service):
    """«Журнал змін» filters by «опитування» and links each record to its survey."""
    admin, _ = service
    await admin.client.post("/api/v1/surveys", {"survey_id": "dvir", "title": "Двір"})
    web = await login(admin)
    status, page, _ = await web.get("/panel/audit?entity=survey")
    assert status == 200 and '<option value="survey" selected>опитування</option>' in page
    assert '<a href="/panel/surveys/dvir">dvir</a>' in page and "survey.created" in page
    await web.close()
