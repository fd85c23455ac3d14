"""Questions (C3) through the dialog service: its handlers on the in-memory bus and the
store under test. The knowledge base is seeded into the dialog's database at start;
answers and declines reach the resident; ``faq.feedback`` leaves through the outbox and
is kept (once, without personal data) in ``faq_questions``; a ``faq.changed`` edit or
deletion changes the next answer, and a replayed older revision changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from chatbot_common.events import FaqChanged, FaqEntry
from chatbot_common.texts import catalog
from dialog.faq.kb import Seed, load_seed
from dialog.faq.store import FaqStore
from test_service import RECORDED, Dialog, eventually, register, running_dialog

t = catalog()
AT = datetime(2026, 3, 2, 8, tzinfo=UTC)
SEED = load_seed()


@pytest.fixture
async def dialog(unique: str, mongodb_url: str) -> AsyncIterator[Dialog]:
    async with running_dialog(unique, mongodb_url, [*RECORDED, "faq.feedback"]) as d:
        yield d


def entry(entry_id: str) -> FaqEntry:
    return next(e for e in SEED.entries if e.id == entry_id)


async def stored_questions(d: Dialog) -> list[dict]:
    return [doc async for doc in d.store["faq_questions"].find({})]


async def test_the_knowledge_base_is_seeded_into_the_database_at_start(dialog: Dialog):
    faq = FaqStore(dialog.store)
    assert len(await faq.entries()) == len(SEED.entries) >= 60
    assert (await dialog.store["faq_meta"].find_one({"_id": "seed"}))["version"] == SEED.version


async def test_a_question_is_answered_and_thumbs_down_is_stored_once_without_personal_data(dialog: Dialog):
    await register(dialog, "u1")
    reply = await dialog.say("u1", "Коваленко тут, 0671234567. Когда дадут горячую воду?")
    assert reply.data["text"] == entry("hot-water-none").answer
    codes = [b["code"] for b in reply.data["buttons"]]
    assert codes == ["faq:up:hot-water-none", "faq:down:hot-water-none", "nav:home"]
    event = dialog.inbound("u1", "faq:down:hot-water-none")
    reply = await dialog.send(event)
    assert reply.data["text"] == t("faq.not_helpful")
    await dialog.bus.publish(event)  # a redelivered tap: the inbox drops it
    [doc] = await eventually(lambda: stored_questions(dialog), "the 👎 stored")
    assert doc["verdict"] == "not_helpful" and doc["entry_id"] == "hot-water-none"
    assert "горячую воду" in doc["question"]
    for secret in ("Коваленко", "0671234567", "u1"):
        assert secret not in str(doc)
    [published] = dialog.of_type("faq.feedback")
    assert published.data["verdict"] == "not_helpful" and "resident_id" not in published.data


async def test_an_unanswerable_question_is_declined_and_kept_for_staff(dialog: Dialog):
    await register(dialog, "u2")
    reply = await dialog.say("u2", "хто виграв матч динамо шахтар")
    codes = [b["code"] for b in reply.data["buttons"]]
    assert reply.data["text"] in (t("faq.not_found"), t("faq.not_found_none"))
    assert codes[-3:] == ["menu:chat", "menu:new_ticket", "nav:home"]
    [doc] = await eventually(lambda: stored_questions(dialog), "the unanswered question stored")
    assert doc["verdict"] == "unanswered" and doc["question"] == "хто виграв матч динамо шахтар"
    assert await FaqStore(dialog.store).feedback("unanswered") == [doc]


async def test_an_edit_event_changes_the_next_answer_and_an_older_revision_changes_nothing(dialog: Dialog):
    await register(dialog, "u3")
    question = "куди подіти старий диван"
    assert (await dialog.say("u3", question)).data["text"] == entry("bulky-waste").answer
    new = entry("bulky-waste").model_copy(update={"answer": "Великогабаритні відходи вивозять щосуботи з 8:00."})
    await dialog.event(FaqChanged(entry_id="bulky-waste", revision=2, entry=new, at=AT, changed_by="staff-1"), "e2")
    faq = FaqStore(dialog.store)

    async def handled(event_id: str) -> bool:
        # remembered once stored AND this replica's index rebuilt
        return await dialog.store["events_inbox"].find_one({"_id": event_id}) is not None

    await eventually(lambda: handled("e2"), "the edit handled")
    assert (await faq.entry("bulky-waste"))["revision"] == 2
    assert (await dialog.say("u3", question)).data["text"] == new.answer
    stale = entry("bulky-waste").model_copy(update={"answer": "Стара редакція."})
    await dialog.event(FaqChanged(entry_id="bulky-waste", revision=1, entry=stale, at=AT), "e1")
    await dialog.event(FaqChanged(entry_id="bulky-waste", revision=3, entry=None, at=AT), "e3")  # deleted

    await eventually(lambda: handled("e1"), "the stale edit handled")
    await eventually(lambda: handled("e3"), "the deletion handled")
    doc = await faq.entry("bulky-waste")
    assert doc["entry"] is None and doc["revision"] == 3
    reply = await dialog.say("u3", question)
    assert reply.data["text"] != stale.answer and "faq:up:bulky-waste" not in str(reply.data["buttons"])


async def test_seeding_keeps_staff_edits_and_a_newer_file_updates_the_rest(dialog: Dialog):
    """A newer seed version updates and withdraws only entries nobody edited; the same
    version again changes nothing."""
    faq = FaqStore(dialog.store)
    edited = entry("parking").model_copy(update={"answer": "Паркування: редакція працівника."})
    assert await faq.apply(FaqChanged(entry_id="parking", revision=1, entry=edited, at=AT))
    assert await faq.seed(SEED) == 0, "the same version again: nothing to do"
    changed = [e.model_copy(update={"answer": e.answer + " (оновлено)"}) for e in SEED.entries if e.id != "noise-night"]
    written = await faq.seed(Seed(version=SEED.version + 1, city="khmelnytskyi", verified=False, entries=changed))
    assert written == len(changed) - 1  # every entry but the staff-edited one
    by_id = {e.id: e for e in await faq.entries()}
    assert by_id["parking"].answer == "Паркування: редакція працівника."
    assert by_id["lift-broken"].answer.endswith("(оновлено)") and "noise-night" not in by_id
