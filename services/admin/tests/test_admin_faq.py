"""The knowledge base in the staff's hands (C3): /api/v1/faq and residents' questions.

Each change of an entry publishes exactly one ``faq.changed`` (the whole entry, or none
for a deletion) with a revision that grows per entry from 1 — the dialog keeps the
highest. Bad input is refused naming the field and changes nothing (no event, same
revision). ``faq.feedback`` from the dialog is kept once per event id and listed with
counts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from admin_testkit import ADMIN_EMAIL, ADMIN_PASSWORD, Admin, PanelClient, Recorder, recording

from chatbot_common.faq_seed import load_seed
from chatbot_common.bus import create_bus
from chatbot_common.events import FaqChanged, FaqFeedback, derived_id, make_event, utcnow


@pytest.fixture
async def recorder(admin: Admin) -> AsyncIterator[Recorder]:
    async with recording(admin.bus_url, ["faq.changed"]) as rec:
        yield rec


ENTRY: dict[str, Any] = {
    "id": "bulky-waste-pickup", "topic": "waste", "question": "Як вивезти старі меблі?",
    "phrasings": ["Куди подіти старий диван", "  ", "Вивіз великогабаритного сміття"],
    "answer": "Ви можете замовити вивезення великогабаритних відходів у перевізника Вашого району.",
    "phones": ["1580"], "links": [{"label": "Графік вивезення", "url": "https://khm.gov.ua/waste"}],
    "keywords": ["меблі"],
}


def test_the_packaged_seed_is_the_dialogs_file():
    """Staff see the entries residents get: admin and the dialog read one packaged
    knowledge base through one reader (chatbot_common.faq_seed)."""
    from dialog.faq.kb import load_seed as dialogs_load_seed

    assert dialogs_load_seed is load_seed
    seed = load_seed()
    assert seed.version >= 1 and len(seed.entries) >= 60


async def test_the_list_starts_as_the_packaged_file_with_filters(admin):
    """Before any change every entry of the seed file is listed at revision 0; the topic
    filter and the text search (any case, several words) narrow it; one entry reads whole."""
    entries = load_seed().entries
    status, body = await admin.client.get("/api/v1/faq")
    assert status == 200 and sorted(e["id"] for e in body) == sorted(e.id for e in entries)
    assert {e["revision"] for e in body} == {0} and {e["source"] for e in body} == {"seed"}
    topic = entries[0].topic
    status, body = await admin.client.get(f"/api/v1/faq?topic={topic}")
    assert status == 200 and body and {e["topic"] for e in body} == {topic}
    assert len(body) == sum(1 for e in entries if e.topic == topic)
    status, body = await admin.client.get("/api/v1/faq?q=ГАЗОМ пахне")
    assert status == 200 and [e["id"] for e in body] == ["gas-smell"]
    status, body = await admin.client.get("/api/v1/faq/gas-smell")
    assert status == 200 and body["phones"] == ["104"] and body["answer"].startswith("Якщо Ви відчули")
    assert (await admin.client.get("/api/v1/faq/nope"))[0] == 404


async def test_create_change_delete_publish_one_event_each_with_its_revision_and_audit(admin, recorder):
    """Create (revision 1), change (2), the same change again (nothing), change a seeded
    entry (its own counter: 1), delete (3), re-create the deleted id (4): one faq.changed
    per real change, ids derived from entry and revision, the whole entry (None when
    deleted); an audit record for each naming the admin; the list follows."""
    status, body = await admin.client.post("/api/v1/faq", ENTRY)
    assert status == 201, body
    assert body["revision"] == 1 and body["phrasings"] == ["Куди подіти старий диван", "Вивіз великогабаритного сміття"]
    changed = {**{k: v for k, v in ENTRY.items() if k != "id"}, "answer": "Нова відповідь для Вас.", "revision": 1}
    status, body = await admin.client.call("PUT", "/api/v1/faq/bulky-waste-pickup", changed)
    assert status == 200 and body["revision"] == 2 and body["answer"] == "Нова відповідь для Вас."
    status, body = await admin.client.call("PUT", "/api/v1/faq/bulky-waste-pickup", {**changed, "revision": 2})
    assert status == 200 and body["revision"] == 2  # the same entry: no new revision, no event
    _, gas = await admin.client.get("/api/v1/faq/gas-smell")
    gas_body = {k: gas[k] for k in ("topic", "question", "phrasings", "answer", "phones", "links", "keywords")}
    status, body = await admin.client.call("PUT", "/api/v1/faq/gas-smell",
                                           {**gas_body, "answer": gas["answer"] + " Дякуємо.", "revision": 0})
    assert status == 200 and body["revision"] == 1 and body["source"] == "staff"
    status, _ = await admin.client.call("DELETE", "/api/v1/faq/bulky-waste-pickup?revision=2")
    assert status == 204
    assert (await admin.client.get("/api/v1/faq/bulky-waste-pickup"))[0] == 404
    _, listed = await admin.client.get("/api/v1/faq?q=bulky-waste-pickup")
    assert listed == []
    status, body = await admin.client.post("/api/v1/faq", ENTRY)
    assert status == 201 and body["revision"] == 4

    events = await recorder.count(5)
    got = [(e.payload().entry_id, e.payload().revision) for e in events]
    assert got == [("bulky-waste-pickup", 1), ("bulky-waste-pickup", 2), ("gas-smell", 1),
                   ("bulky-waste-pickup", 3), ("bulky-waste-pickup", 4)]
    assert [e.id for e in events] == [derived_id("faq", i, r, "faq.changed") for i, r in got]
    second, deleted = events[1].payload(), events[3].payload()
    assert isinstance(second, FaqChanged) and second.entry is not None
    assert second.entry.answer == "Нова відповідь для Вас." and second.entry.links[0].url == "https://khm.gov.ua/waste"
    assert deleted.entry is None and deleted.changed_by == second.changed_by is not None
    status, log = await admin.client.get("/api/v1/audit?entity=faq")
    assert [(r["action"], r["entity_id"]) for r in reversed(log)] == [
        ("faq.created", "bulky-waste-pickup"), ("faq.changed", "bulky-waste-pickup"), ("faq.changed", "gas-smell"),
        ("faq.deleted", "bulky-waste-pickup"), ("faq.created", "bulky-waste-pickup")]
    assert all(r["actor_email"] == ADMIN_EMAIL for r in log)
    assert log[-2]["before"]["answer"] == ENTRY["answer"] and log[-2]["after"]["answer"] == "Нова відповідь для Вас."


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in ENTRY.items() if k != key}


@pytest.mark.parametrize(("method", "path", "body", "status", "field"), [
    ("POST", "/api/v1/faq", {**ENTRY, "id": "Bad Id"}, 422, "id"),
    ("POST", "/api/v1/faq", {**ENTRY, "id": "questions"}, 422, "id"),
    ("POST", "/api/v1/faq", {**ENTRY, "answer": "   "}, 422, "answer"),
    ("POST", "/api/v1/faq", {**ENTRY, "answer": "Ви " + "а" * 1000}, 422, "answer"),
    ("POST", "/api/v1/faq", _without("answer"), 422, "answer"),
    ("POST", "/api/v1/faq", {**ENTRY, "question": "  ?"}, 422, "question"),
    ("POST", "/api/v1/faq", {**ENTRY, "topic": "вода"}, 422, "topic"),
    ("POST", "/api/v1/faq", {**ENTRY, "links": [{"label": "x", "url": "javascript:alert(1)"}]}, 422, "links[0].url"),
    ("POST", "/api/v1/faq", {**ENTRY, "links": [{"label": "x", "url": "https://a.ua"}] * 4}, 422, "links"),
    ("POST", "/api/v1/faq", {**ENTRY, "phones": ["дзвоніть"]}, 422, "phones"),
    ("POST", "/api/v1/faq", {**ENTRY, "settlement": "atlantis"}, 422, "settlement"),
    ("POST", "/api/v1/faq", {**ENTRY, "extra": 1}, 422, "extra"),
    ("POST", "/api/v1/faq", {**ENTRY, "id": "gas-smell"}, 409, "id"),
    ("PUT", "/api/v1/faq/gas-smell", {**_without("id"), "revision": 3}, 409, None),
    ("PUT", "/api/v1/faq/nope", _without("id"), 404, None),
    ("DELETE", "/api/v1/faq/gas-smell?revision=5", None, 409, None),
    ("DELETE", "/api/v1/faq/nope", None, 404, None),
])
async def test_bad_changes_are_refused_naming_the_field_and_change_nothing(admin, recorder, method, path, body,
                                                                           status, field):
    got, answer = await admin.client.call(method, path, body)
    assert got == status, answer
    if field:
        assert field in [f["path"] for f in answer["error"]["fields"]], answer
    _, gas = await admin.client.get("/api/v1/faq/gas-smell")
    assert gas["revision"] == 0 and gas["source"] == "seed"
    assert (await admin.client.get("/api/v1/faq/bulky-waste-pickup"))[0] == 404
    await recorder.count(0)


async def test_an_answer_of_exactly_1000_characters_is_accepted(admin, recorder):
    """The limit is the answer's length after trimming: 1000 characters pass."""
    status, body = await admin.client.post("/api/v1/faq", {**ENTRY, "answer": "  " + "Ви" * 500 + "\n"})
    assert status == 201 and len(body["answer"]) == 1000
    await recorder.count(1)


async def test_roles_viewer_reads_editor_changes(admin, recorder):
    """A viewer lists entries and questions but cannot change either (403); an editor can."""
    viewer = await admin.client.as_role("viewer")
    assert (await viewer.get("/api/v1/faq"))[0] == 200
    assert (await viewer.get("/api/v1/faq/gas-smell"))[0] == 200
    assert (await viewer.get("/api/v1/faq/questions"))[0] == 200
    assert (await viewer.post("/api/v1/faq", ENTRY))[0] == 403
    assert (await viewer.call("PUT", "/api/v1/faq/gas-smell", _without("id")))[0] == 403
    assert (await viewer.call("DELETE", "/api/v1/faq/gas-smell"))[0] == 403
    assert (await viewer.post("/api/v1/faq/questions/x/handled", {}))[0] == 403
    operator = await admin.client.as_role("operator")
    assert (await operator.post("/api/v1/faq", ENTRY))[0] == 403
    assert (await admin.client.get("/api/v1/faq", token="nonsense"))[0] == 401
    editor = await admin.client.as_role("editor")
    assert (await editor.post("/api/v1/faq", ENTRY))[0] == 201
    await recorder.count(1)


# --------------------------------------------------------------------------- residents' questions


async def publish_feedback(bus_url: str, items: list[tuple[str, FaqFeedback]]) -> None:
    bus = create_bus(bus_url)
    try:
        for event_id, data in items:
            await bus.publish(make_event(data, source="/dialog", id=event_id))
    finally:
        await bus.close()


async def wait_questions(admin: Admin, n: int, query: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(200):
        _, body = await admin.client.get(f"/api/v1/faq/questions{query}")
        if sum(body["totals"].values()) >= n:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    _, body = await admin.client.get(f"/api/v1/faq/questions{query}")
    assert sum(body["totals"].values()) == n, body["totals"]
    return body


def feedback_set() -> list[tuple[str, FaqFeedback]]:
    now = utcnow()
    return [
        ("fb-1", FaqFeedback(verdict="unanswered", question="Коли буде салют?", suggestions=["heating-start"],
                             score=1.1, at=now - timedelta(minutes=5))),
        ("fb-2", FaqFeedback(verdict="unanswered", question="коли  буде САЛЮТ?", suggestions=["heating-start"],
                             at=now - timedelta(minutes=4))),
        ("fb-3", FaqFeedback(verdict="not_helpful", question="Пахне газом у підвалі", entry_id="gas-smell",
                             at=now - timedelta(minutes=3))),
        ("fb-4", FaqFeedback(verdict="helpful", entry_id="gas-smell", at=now - timedelta(minutes=2))),
        ("fb-5", FaqFeedback(verdict="helpful", entry_id="gas-smell", at=now - timedelta(days=40))),
    ]


async def test_feedback_is_kept_once_per_event_and_listed_with_counts(admin):
    """Residents' questions arrive as faq.feedback; a redelivered event (same id) is kept
    once; the list filters by verdict, period and handled state, groups the same
    question asked twice and counts verdicts per entry (with its current question)."""
    items = feedback_set()
    await publish_feedback(admin.bus_url, items + items[:2])  # two replays
    body = await wait_questions(admin, 5)
    assert body["totals"] == {"unanswered": 2, "helpful": 2, "not_helpful": 1}
    gas = next(c for c in body["per_entry"] if c["entry_id"] == "gas-smell")
    assert (gas["helpful"], gas["not_helpful"]) == (2, 1) and gas["question"] == "Що робити, якщо пахне газом?"
    heating = next(c for c in body["per_entry"] if c["entry_id"] == "heating-start")
    assert heating["suggested"] == 2

    since = (utcnow() - timedelta(days=1)).isoformat()
    status, recent = await admin.client.get(f"/api/v1/faq/questions?since={since.replace('+', '%2B')}")
    assert status == 200 and recent["totals"] == {"unanswered": 2, "helpful": 1, "not_helpful": 1}
    status, todo = await admin.client.get("/api/v1/faq/questions?verdict=unanswered,not_helpful&handled=false")
    assert status == 200 and [q["id"] for q in todo["questions"]] == ["fb-3", "fb-2", "fb-1"]
    salute = next(g for g in todo["groups"] if g["verdict"] == "unanswered")
    assert salute["count"] == 2 and sorted(salute["ids"]) == ["fb-1", "fb-2"]
    assert todo["groups"][0] == salute  # the most asked first
    assert (await admin.client.get("/api/v1/faq/questions?verdict=maybe"))[0] == 422
    assert (await admin.client.get("/api/v1/faq/questions?since=yesterday"))[0] == 422


async def test_a_question_marked_handled_leaves_the_list_and_is_audited(admin):
    """«Опрацьовано»: the question no longer appears among those to handle; marking it
    again changes nothing; reopening brings it back; each real change is audited."""
    await publish_feedback(admin.bus_url, feedback_set()[:3])
    await wait_questions(admin, 3)
    status, body = await admin.client.post("/api/v1/faq/questions/fb-3/handled", {})
    assert status == 200 and body["handled"] is True and body["handled_by"] is not None
    status, body = await admin.client.post("/api/v1/faq/questions/fb-3/handled", {"handled": True})
    assert status == 200 and body["handled"] is True
    _, todo = await admin.client.get("/api/v1/faq/questions?handled=false")
    assert [q["id"] for q in todo["questions"]] == ["fb-2", "fb-1"]
    status, body = await admin.client.post("/api/v1/faq/questions/fb-3/handled", {"handled": False})
    assert status == 200 and body["handled"] is False
    assert (await admin.client.post("/api/v1/faq/questions/nope/handled", {}))[0] == 404
    _, log = await admin.client.get("/api/v1/audit?entity=faq_question")
    assert [r["action"] for r in reversed(log)] == ["faq.question_handled", "faq.question_reopened"]


# --------------------------------------------------------------------------- the pages


@pytest.fixture
async def browser(admin: Admin) -> AsyncIterator[PanelClient]:
    client = PanelClient(f"http://127.0.0.1:{admin.runtime.bound_port}")
    status, _, _ = await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert status == 303
    yield client
    await client.close()


def _form(entry: Any, **changes: str) -> dict[str, str]:
    """The edit form as the page fills it, with ``changes``."""
    form = {"topic": entry["topic"], "question": entry["question"], "phrasings": "\n".join(entry["phrasings"]),
            "answer": entry["answer"], "phones": "\n".join(entry["phones"]), "keywords": "\n".join(entry["keywords"]),
            "settlement": entry.get("settlement") or "", "revision": str(entry["revision"]), "from": ""}
    for n in range(3):
        link = entry["links"][n] if n < len(entry["links"]) else {"label": "", "url": ""}
        form[f"links[{n}].label"], form[f"links[{n}].url"] = link["label"], link["url"]
    form.update(changes)
    return form


async def test_the_pages_list_search_edit_and_delete_an_entry(browser, admin, recorder):
    """The list shows the seeded entries and finds one by words; the edit form shows the
    answer with its character count; an empty answer is refused next to the field
    (422, nothing published, the other fields kept); a valid edit publishes revision 1;
    a stale form (revision 0 again) answers 409 and changes nothing; a form without the
    CSRF token is refused (403); the entry is deleted after confirming."""
    status, text, _ = await browser.get("/panel/faq")
    assert status == 200 and 'id="faq-gas-smell"' in text and "Питання та відповіді" in text
    status, text, _ = await browser.get("/panel/faq?q=пахне+газом")
    assert status == 200 and 'id="faq-gas-smell"' in text and 'id="faq-emergency-numbers"' not in text
    _, gas = await admin.client.get("/api/v1/faq/gas-smell")
    status, text, _ = await browser.get("/panel/faq/gas-smell")
    assert status == 200 and f"{len(gas['answer'])} із 1000 символів" in text and "Відчуваю запах газу" in text

    status, text, _ = await browser.post("/panel/faq/gas-smell", _form(gas, answer="   "))
    assert status == 422 and 'id="f-faq-answer-error"' in text and 'aria-invalid="true"' in text
    assert "Витік газу в квартирі" in text  # the phrasings typed are kept
    status, text, _ = await browser.post("/panel/faq/gas-smell", _form(gas, answer="Ви " + "б" * 1000))
    assert status == 422 and "довша за 1000" in text
    status, text, _ = await browser.post("/panel/faq/gas-smell", _form(gas, **{"links[0].label": "Карта",
                                                                               "links[0].url": "ftp://x"}))
    assert status == 422 and 'id="f-faq-links-0-url-error"' in text
    await recorder.count(0)

    status, _, _ = await browser.post("/panel/faq/gas-smell", _form(gas, answer="Телефонуйте 104."), csrf=False)
    assert status == 403
    status, _, headers = await browser.post("/panel/faq/gas-smell", _form(gas, answer="Телефонуйте 104."))
    assert status == 303 and headers["Location"] == "/panel/faq?ok=faq_saved"
    status, _, _ = await browser.post("/panel/faq/gas-smell", _form(gas, answer="Інша відповідь."))
    assert status == 409  # the form still says revision 0
    events = await recorder.count(1)
    assert events[0].payload().entry.answer == "Телефонуйте 104." and events[0].payload().revision == 1

    status, text, _ = await browser.get("/panel/faq/gas-smell/delete")
    assert status == 200 and "Так, видалити" in text
    status, _, _ = await browser.post("/panel/faq/gas-smell/delete", {"revision": "1"}, csrf=False)
    assert status == 403
    status, _, headers = await browser.post("/panel/faq/gas-smell/delete", {"revision": "1"})
    assert status == 303 and headers["Location"] == "/panel/faq?ok=faq_deleted"
    events = await recorder.count(2)
    assert events[1].payload().entry is None and events[1].payload().revision == 2
    status, text, _ = await browser.get("/panel/faq")
    assert 'id="faq-gas-smell"' not in text


async def test_residents_questions_page_creates_an_answer_and_marks_handled(browser, admin, recorder):
    """«Питання мешканців» lists unanswered and 👎 questions (the same question twice is
    one row counted 2; 👍 are only counted); «Створити відповідь» opens the form
    prefilled with the question, and saving it publishes the entry and marks the
    questions handled; «Опрацьовано» removes a row."""
    await publish_feedback(admin.bus_url, feedback_set())
    await wait_questions(admin, 5)
    status, text, _ = await browser.get("/panel/questions")
    assert status == 200 and "коли  буде САЛЮТ?" in text and "Пахне газом у підвалі" in text
    # one row for both spellings, shown as last asked, counted twice
    assert 'id="question-fb-2"' in text and 'id="question-fb-1"' not in text and "<td>2</td>" in text
    assert "Коли буде салют?" not in text
    assert 'id="total-helpful">1<' in text  # the 40-day-old 👍 is outside the 30 days
    status, text, _ = await browser.get("/panel/faq/new?question=Коли+буде+салют%3F&from=fb-1,fb-2")
    assert status == 200 and 'value="Коли буде салют?"' in text and 'name="from" value="fb-1,fb-2"' in text
    status, _, headers = await browser.post("/panel/faq/new", {
        "id": "fireworks", "topic": "events", "question": "Коли буде салют?", "phrasings": "Салют на свято",
        "answer": "Про святкові заходи Ви дізнаєтеся на сайті міської ради.", "phones": "", "keywords": "",
        "settlement": "", "revision": "", "from": "fb-1,fb-2"})
    assert status == 303 and headers["Location"] == "/panel/questions?ok=faq_created_from_question"
    events = await recorder.count(1)
    assert events[0].payload().entry_id == "fireworks" and events[0].payload().revision == 1
    status, text, _ = await browser.get("/panel/questions")
    assert "САЛЮТ" not in text and "Пахне газом у підвалі" in text
    status, _, _ = await browser.post("/panel/questions/handled", {"ids": "fb-3"}, csrf=False)
    assert status == 403
    status, _, headers = await browser.post("/panel/questions/handled", {"ids": "fb-3", "back": "period=7"})
    assert status == 303 and headers["Location"] == "/panel/questions?period=7&ok=handled"
    status, text, _ = await browser.get("/panel/questions")
    assert "Пахне газом у підвалі" not in text and "Немає питань" in text
    _, done = await admin.client.get("/api/v1/faq/questions?handled=true")
    assert sorted(q["id"] for q in done["questions"]) == ["fb-1", "fb-2", "fb-3"]


async def test_a_viewer_reads_the_pages_but_cannot_edit(admin, recorder):
    await admin.client.as_role("viewer")
    client = PanelClient(f"http://127.0.0.1:{admin.runtime.bound_port}")
    try:
        await client.login("viewer@example.org", "password-viewer")
        status, text, _ = await client.get("/panel/faq")
        assert status == 200 and 'id="faq-gas-smell"' in text and "Нова відповідь" not in text
        assert (await client.get("/panel/questions"))[0] == 200
        assert (await client.get("/panel/faq/gas-smell"))[0] == 403
        assert (await client.post("/panel/faq/new", {"id": "x", "answer": "Ви"}))[0] == 403
        assert (await client.post("/panel/questions/handled", {"ids": "fb-1"}))[0] == 403
        await recorder.count(0)
    finally:
        await client.close()


SEED = """version = {version}
city = "test"
verified = false
{entries}
"""
SEED_ENTRY = """
[[entry]]
id = "{id}"
topic = "test"
question = "Питання {id}?"
phrasings = ["Інакше {id}", "Ще інакше {id}"]
answer = "{answer}"
"""


def _seed_file(path: Path, version: int, answers: dict[str, str]) -> Path:
    path.write_text(SEED.format(version=version, entries="".join(
        SEED_ENTRY.format(id=i, answer=a) for i, a in answers.items())), encoding="utf-8")
    return path


async def test_a_newer_seed_file_updates_only_entries_nobody_edited(unique, mongodb_url, tmp_path):
    """Staff edits win over the file: after an entry is edited (and another deleted)
    through the API, a restart with a newer file version updates the untouched entry,
    adds the new one, and leaves the edited and the deleted ones as staff left them; a
    restart with the same version changes nothing."""
    from admin_testkit import running_admin

    seed = _seed_file(tmp_path / "v1.toml", 1, {"a": "Відповідь A1.", "b": "Відповідь B1.", "c": "Відповідь C1."})
    async with running_admin(unique, mongodb_url, admin_faq_file=str(seed)) as admin:
        _, listed = await admin.client.get("/api/v1/faq")
        assert [e["id"] for e in listed] == ["a", "b", "c"]
        _, b = await admin.client.get("/api/v1/faq/b")
        body = {k: b[k] for k in ("topic", "question", "phrasings", "phones", "links", "keywords")}
        assert (await admin.client.call("PUT", "/api/v1/faq/b", {**body, "answer": "Від працівника."}))[0] == 200
        assert (await admin.client.call("DELETE", "/api/v1/faq/c"))[0] == 204
    seed = _seed_file(tmp_path / "v2.toml", 2, {"a": "Відповідь A2.", "b": "Відповідь B2.", "c": "Відповідь C2.",
                                                "d": "Відповідь D2."})
    async with running_admin(unique, mongodb_url, admin_faq_file=str(seed)) as admin:
        _, listed = await admin.client.get("/api/v1/faq")
        assert {e["id"]: (e["answer"], e["revision"]) for e in listed} == {
            "a": ("Відповідь A2.", 0), "b": ("Від працівника.", 1), "d": ("Відповідь D2.", 0)}
    seed = _seed_file(tmp_path / "v2b.toml", 2, {"a": "Інша A.", "b": "Інша B.", "c": "Інша C.", "d": "Інша D."})
    async with running_admin(unique, mongodb_url, admin_faq_file=str(seed)) as admin:
        _, listed = await admin.client.get("/api/v1/faq")
        assert {e["id"]: e["answer"] for e in listed}["a"] == "Відповідь A2."


async def test_a_broken_seed_file_stops_the_start_naming_the_entry(unique, mongodb_url, tmp_path):
    """A seed file with an entry the model refuses fails loudly at start with its id."""
    from admin_testkit import running_admin

    seed = _seed_file(tmp_path / "bad.toml", 1, {"ok": "Відповідь.", "broken": ""})
    with pytest.raises(Exception, match="broken"):
        async with running_admin(unique, mongodb_url, admin_faq_file=str(seed)):
            pass


async def test_an_unpublished_change_waits_in_the_outbox_for_the_relay(admin, recorder):
    """The broker refuses faq.changed: the API still answers (the entry, its event and
    its audit record are one write) and the relay publishes the event, once, when the
    broker is back."""
    from chatbot_common.bus import memory_broker

    broker = memory_broker(admin.bus_url)
    broker.fail_publishes = lambda key: ConnectionError("broker down") if key == "faq.changed" else None
    status, body = await admin.client.post("/api/v1/faq", ENTRY)
    assert status == 201 and body["revision"] == 1
    doc = await admin.runtime.store["faq"].find_one({"_id": ENTRY["id"]})
    assert len(doc["outbox"]) == 1
    _, log = await admin.client.get("/api/v1/audit?entity=faq")
    assert [r["action"] for r in log] == ["faq.created"]
    broker.fail_publishes = None
    [event] = await recorder.count(1)
    assert event.id == derived_id("faq", ENTRY["id"], 1, "faq.changed")
    for _ in range(200):
        doc = await admin.runtime.store["faq"].find_one({"_id": ENTRY["id"]})
        if not doc.get("outbox"):
            break
        await asyncio.sleep(0.05)
    assert not doc.get("outbox")


async def test_the_audit_page_filters_knowledge_base_changes(browser, admin, recorder):
    """The admin's «Журнал змін» offers the knowledge base as a filter and links the entry."""
    assert (await admin.client.post("/api/v1/faq", ENTRY))[0] == 201
    status, text, _ = await browser.get("/panel/audit?entity=faq")
    assert status == 200 and 'value="faq" selected' in text
    assert f'href="/panel/faq/{ENTRY["id"]}"' in text and "faq.created" in text
    await recorder.count(1)
