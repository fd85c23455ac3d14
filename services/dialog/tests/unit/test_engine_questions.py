"""Questions (C3) in the conversation, through the engine with the real knowledge base
and search: an answer with its buttons, an honest decline with suggestions and the
operator, 👍/👎 as ``faq.feedback`` events (once), small talk, guests, and an edit that
changes the next answer."""

from __future__ import annotations

import pytest

from chatbot_common.events import ButtonAction, FaqEntry, FaqFeedback
from chatbot_common.texts import catalog

from dialog.conversation import build_context
from dialog.faq.answerer import FaqAnswerer
from dialog.faq.kb import load_seed
from engine_chat import Chat, register

t = catalog()
SEED = load_seed()


@pytest.fixture(scope="module")
def answerer() -> FaqAnswerer:
    return FaqAnswerer(SEED.entries)


@pytest.fixture
async def resident(directory, clock, answerer) -> Chat:
    chat = Chat(directory, "viber-q-1", ctx=build_context(directory, clock=clock, questions=answerer))
    return await register(chat)


def feedback(chat: Chat) -> list[FaqFeedback]:
    return [e for e in chat.events if isinstance(e, FaqFeedback)]


async def test_a_question_gets_its_answer_with_links_feedback_and_home(resident):
    await resident.tap("menu:question")
    assert resident.text == t("question.ask") and resident.step == "question"
    await resident.send("когда дадут горячую воду?")
    entry = next(e for e in SEED.entries if e.id == "hot-water-none")
    assert resident.text == entry.answer
    assert resident.codes() == ["faq:up:hot-water-none", "faq:down:hot-water-none", "nav:home"]
    labels = [b.label for b in resident.buttons()]
    assert labels[:2] == [t("faq_buttons.helpful"), t("faq_buttons.not_helpful")]
    assert resident.step == "question", "the next text is the next question"
    assert feedback(resident) == [], "an answer alone is not feedback"
    await resident.send("де записатися на прийом в цнап онлайн")
    assert "електронну чергу" in resident.text
    [link] = [b for b in resident.buttons() if b.action == ButtonAction.open_url]
    assert link.url.startswith("https://") and link.code == "faq:link:cnap-booking:0"


async def test_free_text_in_the_main_menu_is_answered_too(resident):
    await resident.send("Ліфт не працює третій день, куди дзвонити?")
    assert "ліфт" in resident.text.lower() and "faq:up:lift-broken" in resident.codes()
    assert resident.step == "cabinet"


async def test_an_unanswerable_question_is_declined_with_suggestions_operator_and_request(resident, clock):
    await resident.send("яка погода буде завтра у Хмельницькому")
    assert resident.text == t("faq.not_found_none") or resident.text == t("faq.not_found")
    codes = resident.codes()
    assert codes[-3:] == ["menu:chat", "menu:new_ticket", "nav:home"]
    assert all(c.startswith("faq:show:") for c in codes[:-3]) and len(codes) - 3 <= 3
    [event] = feedback(resident)
    assert event.verdict == "unanswered" and event.question == "яка погода буде завтра у Хмельницькому"
    assert event.entry_id is None and event.at == clock.now


async def test_a_suggestion_opens_its_answer_and_can_be_rated(resident):
    await resident.send("графік роботи ЦНАП у Вінниці")  # another city: declined, ЦНАП suggested
    shows = [c for c in resident.codes() if c.startswith("faq:show:")]
    assert shows, resident.text
    entry_id = shows[0].removeprefix("faq:show:")
    await resident.tap(shows[0])
    assert resident.text == next(e for e in SEED.entries if e.id == entry_id).answer
    await resident.tap(f"faq:up:{entry_id}")
    assert resident.text == t("faq.helpful")
    assert [e.verdict for e in feedback(resident)] == ["unanswered", "helpful"]


async def test_thumbs_up_and_down_are_stored_once_without_personal_data(resident):
    """👍 carries no question; 👎 carries it with the phone and the resident's name
    stripped, and offers the operator and a request. Tapping again counts nothing."""
    await resident.send("Олена Коваленко, тел. 0671234567: як передати показники лічильника?")
    assert "faq:up:meter-readings" in resident.codes()
    await resident.tap("faq:down:meter-readings")
    assert resident.text == t("faq.not_helpful")
    assert resident.codes() == ["menu:chat", "menu:new_ticket", "nav:home"]
    [down] = feedback(resident)
    assert down.verdict == "not_helpful" and down.entry_id == "meter-readings"
    assert "Олена" not in down.question and "0671234567" not in down.question and "лічильника" in down.question
    await resident.send("faq:down:meter-readings")  # the same button again (an old keyboard)
    assert resident.text == t("faq.already_rated") and len(feedback(resident)) == 1
    await resident.send("лифт застрял")
    await resident.tap("faq:up:lift-broken")
    assert [e.verdict for e in feedback(resident)] == ["not_helpful", "helpful"]
    assert feedback(resident)[-1].question is None


async def test_greetings_thanks_and_obscenities_get_short_polite_replies(resident):
    await resident.send("Добрий день!")
    assert resident.text == t("faq.greeting") and resident.codes() == ["nav:home"]
    await resident.send("Дякую!")
    assert resident.text == t("faq.thanks")
    await resident.send("ви всі мудаки")
    assert resident.text == t("faq.obscene")
    await resident.send("бля, коли дадуть гарячу воду")
    assert resident.text.startswith(t("faq.obscene_note")) and "faq:up:hot-water-none" in resident.codes()
    assert feedback(resident) == []


async def test_guests_get_answers_and_a_register_button_instead_of_the_operator(directory, clock, answerer):
    chat = Chat(directory, "viber-guest", ctx=build_context(directory, clock=clock, questions=answerer))
    await chat.tap_start()
    await chat.tap("consent:no")
    await chat.tap("menu:question")
    await chat.send("де найближче бомбосховище")
    assert "укриття" in chat.text.lower() and "faq:up:shelters" in chat.codes()
    await chat.send("рецепт вареників з картоплею")
    assert chat.text == t("faq.not_found_guest") and chat.codes()[-2:] == ["menu:register", "nav:home"]


async def test_an_edit_changes_the_next_answer_and_a_deleted_suggestion_is_gone(directory, clock):
    answerer = FaqAnswerer(SEED.entries)
    chat = await register(Chat(directory, "viber-q-2", ctx=build_context(directory, clock=clock, questions=answerer)))
    await chat.send("коли вивезуть старий диван")
    assert "faq:up:bulky-waste" in chat.codes()
    edited = [e if e.id != "bulky-waste" else FaqEntry(**{**e.model_dump(), "answer": "Нова відповідь: телефонуйте 15-80."})
              for e in SEED.entries]
    answerer.replace(edited)
    await chat.send("коли вивезуть старий диван")
    assert chat.text == "Нова відповідь: телефонуйте 15-80."
    answerer.replace([e for e in SEED.entries if e.id != "bulky-waste"])
    await chat.send("faq:show:bulky-waste")
    assert chat.text.startswith(t("faq.gone")) and chat.step == "cabinet"


async def test_empty_or_symbol_only_text_is_declined_without_suggestions(resident):
    """Bad input gets a clear answer: nothing to search for → the honest decline."""
    await resident.send("???")
    assert resident.text == t("faq.not_found_none")
    assert resident.codes() == ["menu:chat", "menu:new_ticket", "nav:home"]


@pytest.mark.parametrize("entry", SEED.entries, ids=lambda e: e.id)
async def test_every_answer_passes_the_ux_checks(directory, clock, answerer, entry):
    """Each entry as the resident sees it (opened from a suggestion): Ukrainian, formal,
    a way home, within Viber's limits."""
    from ux_checks import problems

    chat = await register(Chat(directory, f"viber-ux-{entry.id}", ctx=build_context(directory, clock=clock,
                                                                                     questions=answerer)))
    await chat.send(f"faq:show:{entry.id}")
    assert chat.text == entry.answer
    assert problems(chat.text, chat.buttons(), registered=True) == []
