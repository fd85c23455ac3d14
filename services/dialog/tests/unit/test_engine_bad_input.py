"""Bad input never crashes: a short Ukrainian explanation and the same question again."""

import pytest

from chatbot_common.events import MessageKind
from chatbot_common.texts import catalog

from engine_chat import Chat, register

t = catalog()


async def at_step(chat: Chat, step: str) -> Chat:
    script = [
        ("consent", "consent:yes"), ("settlement", "settlement:khmelnytskyi"), ("name", "Олена Коваленко"),
        ("phone", "0671234567"), ("street", "Проскурівська"), ("house", "12"), ("apartment", "5"),
    ]
    await chat.tap_start()
    for name, answer in script:
        if name == step:
            break
        await chat.send(answer)
    assert chat.step == step
    return chat


def asked_again(chat: Chat, step: str, error_key: str, question: str) -> None:
    assert chat.step == step
    assert chat.text.startswith(t(error_key))
    assert chat.text.endswith(question)


NOT_TEXT = [
    (MessageKind.sticker, {}),
    (MessageKind.picture, {"media_url": "https://example.org/p.jpg"}),
    (MessageKind.file, {"media_url": "https://example.org/f.pdf", "file_name": "f.pdf"}),
    (MessageKind.location, {"lat": 49.42, "lon": 26.98}),
    (MessageKind.video, {"media_url": "https://example.org/v.mp4"}),
    (MessageKind.other, {}),
]


@pytest.mark.parametrize("step", ["consent", "settlement", "name", "phone", "street", "house", "apartment", "notify"])
@pytest.mark.parametrize(("kind", "fields"), NOT_TEXT)
async def test_stickers_pictures_files_and_locations_where_text_is_expected(chat, step, kind, fields):
    await at_step(chat, step)
    question = chat.text
    outcome = await chat.send_kind(kind, **fields)
    asked_again(chat, step, "errors.not_text", question)
    assert outcome.events == []


async def test_a_shared_contact_where_no_phone_is_asked(chat):
    await at_step(chat, "name")
    question = chat.text
    await chat.send_kind(MessageKind.contact, phone="+380671234567")
    asked_again(chat, "name", "errors.contact_not_expected", question)


@pytest.mark.parametrize("name", ["", "   ", "Я", "😀😀😀", "🙂 🙂", "Олена" * 1000, "Олена2000", "<script>", "1234"])
async def test_names_that_are_not_names(chat, name):
    await at_step(chat, "name")
    question = chat.text
    await chat.send(name)
    asked_again(chat, "name", "errors.name", question)
    assert chat.resident.name is None


@pytest.mark.parametrize(
    "phone", ["+48 601 234 567", "067123456", "06712345678", "мій телефон", "0", "+1 202 555 0123"]
)
async def test_typed_phones_of_the_wrong_country_or_length(chat, phone):
    await at_step(chat, "phone")
    question = chat.text
    await chat.send(phone)
    asked_again(chat, "phone", "errors.phone", question)


async def test_a_shared_foreign_phone_is_explained(chat):
    await at_step(chat, "phone")
    question = chat.text
    await chat.share_phone("48601234567")
    asked_again(chat, "phone", "errors.phone", question)


async def test_share_button_on_a_device_that_cannot_share_asks_to_type(chat):
    await at_step(chat, "phone")
    question = chat.text
    await chat.tap("phone:share")  # Viber desktop sends the button's code as text
    asked_again(chat, "phone", "errors.share_phone_unsupported", question)


async def test_an_unknown_street_is_explained_and_asked_again(chat):
    await at_step(chat, "street")
    await chat.send("Неіснуюча")
    assert chat.step == "street"
    assert "Неіснуюча" in chat.text and "напишіть її ще раз" in chat.text
    assert chat.codes() == ["street:typed", "nav:back", "nav:home"]


@pytest.mark.parametrize("street", ["😀", "1", "Я" * 500])
async def test_a_street_that_is_not_a_name(chat, street):
    await at_step(chat, "street")
    question = chat.text
    await chat.send(street)
    asked_again(chat, "street", "errors.street", question)


@pytest.mark.parametrize("house", ["0", "999999", "абв", "-1", "😀"])
async def test_impossible_house_numbers(chat, house):
    await at_step(chat, "house")
    question = chat.text
    await chat.send(house)
    asked_again(chat, "house", "errors.house", question)


@pytest.mark.parametrize("apartment", ["0", "сто", "100000"])
async def test_impossible_apartment_numbers(chat, apartment):
    await at_step(chat, "apartment")
    question = chat.text
    await chat.send(apartment)
    asked_again(chat, "apartment", "errors.apartment", question)


async def test_an_unknown_settlement_is_explained(chat):
    await at_step(chat, "settlement")
    await chat.send("Лондон")
    assert chat.step == "settlement" and chat.text.startswith(t("errors.settlement"))


@pytest.mark.parametrize("step", ["consent", "notify"])
async def test_free_text_where_a_button_is_expected(chat, step):
    await at_step(chat, step)
    question = chat.text
    await chat.send("так")
    asked_again(chat, step, "errors.use_buttons", question)


STALE = [
    ("consent", "notify:city"),
    ("settlement", "street:proskurivska"),
    ("name", "settlement:khmelnytskyi"),
    ("phone", "consent:yes"),
    ("street", "street:no-such-street"),
    ("house", "apartment:none"),
    ("apartment", "menu:profile"),
    ("notify", "profile:delete:yes"),
]


@pytest.mark.parametrize(("step", "code"), STALE)
async def test_buttons_from_an_old_keyboard_during_registration(chat, step, code):
    await at_step(chat, step)
    question = chat.text
    outcome = await chat.send(code)
    asked_again(chat, step, "errors.stale", question)
    assert outcome.events == [] and not outcome.forget


@pytest.mark.parametrize(
    "code",
    ["consent:yes", "settlement:oleshyn", "notify:none", "apartment:none", "street:typed", "birth:clear",
     "address:remove:deadbeef", "nav:page:3", "menu:no_such_entry", "profile:nothing", "sv:send", "sv:o:1"],
)
async def test_buttons_from_an_old_keyboard_in_the_cabinet(chat, code):
    await register(chat)
    before = chat.resident.model_dump()
    outcome = await chat.send(code)
    assert chat.text.startswith(t("errors.stale"))
    assert chat.step == "cabinet" and "menu:profile" in chat.codes()
    assert outcome.events == [] and chat.resident.model_dump() == before


async def test_a_useful_info_section_removed_since_says_so_and_shows_the_current_menu(chat):
    """An ``info:<id>`` of a section staff deleted (docs/admin.md): «розділ оновлено» and
    the current menu of sections, nothing changed in the profile."""
    await register(chat)
    before = chat.resident.model_dump(exclude={"state"})
    outcome = await chat.send("info:no-such-section")
    assert chat.text.startswith(t("info.gone")) and t("info.menu") in chat.text
    assert chat.step == "info" and chat.codes()[-1] == "nav:home"
    assert outcome.events == [] and chat.resident.model_dump(exclude={"state"}) == before


async def test_a_known_street_with_an_impossible_house_number_asks_for_the_house_not_the_street(chat):
    await chat.tap_start()
    await chat.tap("consent:yes")
    await chat.tap("settlement:khmelnytskyi")
    await chat.send("Олена Коваленко")
    await chat.send("0671234567")
    await chat.send("Проскурівська 999999")
    assert chat.step == "house"
    assert t("errors.house") in chat.text and "Проскурівська" in chat.text
    assert "немає в довіднику" not in chat.text
