"""The personal cabinet (S4): every main-menu entry answers; useful info (C11) is a
menu built from data; website and apps (C7) are open-url buttons from configuration."""

import pytest

from chatbot_common.events import ButtonAction
from chatbot_common.texts import catalog

from dialog.conversation import IncomingKind, Reply, build_context
from engine_chat import Chat, register

t = catalog()

MAIN_MENU = [
    "menu:new_ticket", "menu:tickets", "menu:outages", "menu:question", "menu:chat",
    "menu:surveys", "menu:info", "menu:profile", "menu:links",
]


@pytest.fixture
async def resident_chat(chat: Chat) -> Chat:
    return await register(chat)


async def test_main_menu_has_the_entries_of_the_cabinet_in_order(resident_chat):
    assert resident_chat.codes() == MAIN_MENU
    labels = [b.label for b in resident_chat.buttons()]
    assert labels[0] == "📝 Нове звернення" and labels[-1] == "🌐 Сайт і застосунки"


async def test_questions_switched_off_say_so_and_show_the_menu_again(resident_chat):
    """Without the answerer (DIALOG_FAQ_ENABLED off) «❓ Поставити питання» is «coming soon»."""
    outcome = await resident_chat.tap("menu:question")
    assert resident_chat.text.startswith(t("soon.question"))
    assert resident_chat.codes() == MAIN_MENU
    assert outcome.events == []


async def test_useful_info_is_a_menu_of_sections_with_subsections(resident_chat):
    await resident_chat.tap("menu:info")
    assert resident_chat.text == t("info.menu")
    assert resident_chat.codes()[0] == "info:emergency" and resident_chat.codes()[-1] == "nav:home"
    await resident_chat.tap("info:emergency")
    assert "112" in resident_chat.text and resident_chat.codes() == ["nav:back", "nav:home"]
    await resident_chat.tap("nav:back")
    await resident_chat.tap("info:utilities")
    assert {"info:water", "info:heating", "info:electricity", "info:gas"} <= set(resident_chat.codes())
    await resident_chat.tap("info:gas")
    assert "104" in resident_chat.text
    await resident_chat.tap("nav:back")
    assert "info:water" in resident_chat.codes()
    await resident_chat.tap("nav:back")
    assert resident_chat.text == t("info.menu")
    await resident_chat.send("nav:back")
    assert resident_chat.step == "cabinet"


async def test_website_and_apps_are_open_url_buttons_from_configuration(resident_chat):
    await resident_chat.tap("menu:links")
    links = [b for b in resident_chat.buttons() if b.action == ButtonAction.open_url]
    assert [link.url for link in links] == [link.url for link in resident_chat.ctx.city.links]
    assert links[0].url == "https://khm.gov.ua"
    assert resident_chat.codes()[-1] == "nav:home"


async def test_free_text_in_the_menu_gets_a_polite_hint_and_the_menu(resident_chat):
    outcome = await resident_chat.send("Коли дадуть гарячу воду на Проскурівській?")
    assert resident_chat.text.startswith(t("cabinet.free_text"))
    assert resident_chat.codes() == MAIN_MENU and outcome.events == []


async def test_free_text_on_the_profile_screen_is_not_an_error_either(resident_chat):
    await resident_chat.tap("menu:profile")
    await resident_chat.send("дякую")
    assert resident_chat.text.startswith(t("cabinet.free_text")) and resident_chat.step == "cabinet"


async def test_returning_resident_who_taps_start_gets_the_main_menu(resident_chat):
    opened = await resident_chat.incoming(IncomingKind.started)
    assert opened.replies == []
    await resident_chat.send("start")
    assert resident_chat.codes() == MAIN_MENU


async def test_unsubscribing_is_announced_to_the_notifier_without_a_reply(resident_chat):
    outcome = await resident_chat.incoming(IncomingKind.unsubscribed)
    assert outcome.replies == []
    [event] = outcome.events
    assert not event.subscribed and event.channels == []
    outcome = await resident_chat.incoming(IncomingKind.subscribed)
    assert outcome.events[0].subscribed and len(outcome.events[0].channels) == 1
    assert resident_chat.codes() == MAIN_MENU


class CannedAnswers:
    """A stand-in for the C3 question answering of a later issue."""

    async def answer(self, resident, text):
        if "вод" in text:
            return Reply(text="Графік подачі води — на сайті водоканалу.")
        return None


async def test_free_text_goes_to_the_question_hook_when_one_is_plugged_in(directory):
    chat = Chat(directory, "viber-user-3", ctx=build_context(directory, questions=CannedAnswers()))
    await register(chat)
    await chat.send("Коли буде вода?")
    assert chat.text == "Графік подачі води — на сайті водоканалу." and chat.codes() == ["nav:home"]
    await chat.send("Щось інше")
    assert chat.text.startswith(t("cabinet.free_text"))
    await chat.tap("menu:question")
    assert chat.text == t("question.ask")
    await chat.send("А де взяти воду?")
    assert chat.text == "Графік подачі води — на сайті водоканалу."
