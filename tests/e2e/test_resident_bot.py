"""Scripted resident conversations end to end (issue: registration, cabinet, profile,
useful info, links): signed callbacks into the gateway on real RabbitMQ, dialog in its
own process, and what reached the fake Viber API checked as the resident would see it.
"""

from __future__ import annotations

import aio_pika
import pytest

from tests.e2e.harness import BotSystem
from tests.e2e.resident import EventTap, Phone, register, up_to_name
from vibersim.client import SimClient

pytestmark = pytest.mark.rabbitmq
MAIN_MENU = {"menu:new_ticket", "menu:tickets", "menu:outages", "menu:question", "menu:chat", "menu:surveys",
             "menu:info", "menu:profile", "menu:links"}


async def dead_letters(rabbit_url: str, queue: str) -> int:
    conn = await aio_pika.connect(rabbit_url)
    async with conn:
        channel = await conn.channel()
        declared = await channel.declare_queue(queue, durable=True, arguments={"x-queue-type": "quorum"}, passive=True)
        return declared.declaration_result.message_count


async def test_new_resident_registers_by_typing_and_lands_in_the_cabinet(sim: SimClient, rabbit_url: str):
    async with EventTap(rabbit_url, ["resident.#"]) as events:
        phone = Phone(sim, "reg-typed")
        welcome = await phone.open()
        assert "Вітаємо" in welcome["text"]
        await phone.tap("start")
        assert "персональних даних" in phone.text
        assert {"consent:yes", "consent:more", "consent:no"} <= set(phone.codes)
        await phone.tap("consent:more")
        assert "Закону України" in phone.text and "consent:yes" in phone.codes
        await phone.tap("consent:yes")
        assert "населеному пункті" in phone.text
        assert phone.codes[0] == "settlement:khmelnytskyi"  # the city first (C5)
        await phone.tap("settlement:khmelnytskyi")
        assert "Як до Вас звертатися" in phone.text
        await phone.say("Олена Коваленко")
        assert "phone:share" in phone.codes
        await phone.say("(067) 123-45-67")
        await phone.say("вул. проскуровська")  # prefix, lower case and a typo
        assert "Проскурівська" in phone.text  # recognised and shown back
        await phone.say("12 корпус 2")
        await phone.say("5")
        assert {"notify:address", "notify:city", "notify:none"} <= set(phone.codes)
        await phone.tap("notify:address")
        assert "Реєстрацію завершено" in phone.text
        assert MAIN_MENU <= set(phone.codes)
        registered = await events.wait_for("resident.registered")
    data = registered["data"]
    assert data["resident_id"].startswith("r-")
    assert data["channels"] == [{"channel": "viber", "channel_user_id": "reg-typed"}]
    assert data["settlement_id"] == "khmelnytskyi" and data["notify"] == "address"
    assert len(data["addresses"]) == 1 and data["addresses"][0]["house"].startswith("12")


async def test_a_shared_phone_is_kept_as_a_call_back_number_and_never_marked_verified(sim: SimClient):
    """S7 threat model: a contact card proves nothing (one from the phone book looks the
    same as the share button's), so the profile shows the number as given, unmarked."""
    phone = Phone(sim, "reg-shared")
    await register(phone, shared=True, number="+380501112233")
    await phone.tap("menu:profile")
    assert "Телефон: +380 50 111 22 33\n" in phone.text
    assert "підтверджено" not in phone.text


async def test_declining_consent_leaves_public_info_and_questions_only(sim: SimClient):
    phone = Phone(sim, "guest")
    await phone.open()
    await phone.tap("start")
    await phone.tap("consent:no")
    assert "Без згоди" in phone.text
    assert {"menu:info", "menu:question", "menu:register"} <= set(phone.codes)
    assert "menu:profile" not in phone.codes and "menu:new_ticket" not in phone.codes
    await phone.tap("menu:info")
    section = next(code for code in phone.codes if code.startswith("info:"))
    await phone.tap(section)
    assert phone.text and "nav:home" in phone.codes


async def test_resident_who_leaves_mid_registration_resumes_at_the_same_question(system: BotSystem, sim: SimClient):
    phone = Phone(sim, "resumer")
    await up_to_name(phone)
    await phone.say("Тарас Мельник")
    assert "phone:share" in phone.codes
    # Comes back days later and opens the chat again: Viber shows the welcome only.
    await phone.open()
    await phone.tap("start")
    assert "З поверненням" in phone.text
    assert "phone:share" in phone.codes  # the phone question again, not the consent


async def test_every_kind_of_bad_input_gets_a_polite_answer_and_the_same_question(
    sim: SimClient, rabbit_url: str
):
    phone = Phone(sim, "odd-resident")
    await up_to_name(phone)
    for act in (phone.sticker, phone.picture, phone.location):
        await act()
        assert "текстова відповідь" in phone.text and "Як до Вас звертатися" in phone.text
    for name in ("я" * 5000, "🙂🙂🙂", " "):
        await phone.say(name)
        assert "ім'я та прізвище" in phone.text
    await phone.say("Марія Петренко")
    for number in ("+48 601 234 567", "067123", "0671234567890", "телефон"):
        await phone.say(number)
        assert "не схоже на український номер" in phone.text and "phone:share" in phone.codes
    await phone.say("067 765 43 21")
    await phone.say("Неіснуюча Вулиця Якоїнемає")
    assert "немає в довіднику" in phone.text
    await phone.say("Кам’янецька")  # typographic apostrophe
    for house in ("0", "999999", "абв"):
        await phone.say(house)
        assert "Номер будинку" in phone.text
    await phone.say("7")
    await phone.say("settlement:khmelnytskyi")  # a button from an old keyboard
    assert "кнопка вже неактивна" in phone.text
    assert "apartment:none" in phone.codes  # the same question again
    assert await dead_letters(rabbit_url, "dialog.inbound.dead") == 0  # nothing crashed


async def test_profile_fields_can_be_edited_and_birth_date_added(sim: SimClient, rabbit_url: str):
    phone = Phone(sim, "editor")
    await register(phone)
    async with EventTap(rabbit_url, ["resident.updated"]) as events:
        await phone.tap("menu:profile")
        await phone.tap("profile:name")
        await phone.say("Олена Іваненко")
        assert "Зміни збережено" in phone.text and "Олена Іваненко" in phone.text
        await phone.tap("profile:birth_date")
        await phone.say("05.12.1985")
        assert "05.12.1985" in phone.text
        birthday = await events.wait_for("resident.updated")
        await phone.tap("profile:notify")
        await phone.tap("notify:city")
        notify = await events.wait_for("resident.updated", after=birthday)
    assert birthday["data"]["birth_date"] == "1985-12-05"
    assert notify["data"]["notify"] == "city" and notify["data"]["birth_date"] == "1985-12-05"


async def test_a_second_address_can_be_added(sim: SimClient):
    phone = Phone(sim, "two-homes")
    await register(phone)
    await phone.tap("menu:profile")
    await phone.tap("profile:addresses")
    await phone.tap("address:add")
    await phone.tap("settlement:khmelnytskyi")
    await phone.say("Зарічанська")
    await phone.say("10/1")
    await phone.tap("apartment:none")
    assert "Адресу додано" in phone.text
    assert sum(code.startswith("address:") and code.count(":") == 1 and code != "address:add"
               for code in phone.codes) == 2


async def test_deleting_my_data_asks_first_then_publishes_resident_deleted(sim: SimClient, rabbit_url: str):
    phone = Phone(sim, "leaver")
    await register(phone)
    async with EventTap(rabbit_url, ["resident.deleted"]) as events:
        await phone.tap("menu:profile")
        await phone.tap("profile:delete")
        assert "дійсно" in phone.text and "profile:delete:yes" in phone.codes
        await phone.tap("profile:delete:yes")
        assert "Ваші дані видалено" in phone.text
        deleted = await events.wait_for("resident.deleted")
    assert deleted["data"]["resident_id"].startswith("r-")
    # Coming back starts from the beginning: nothing about them is left.
    await phone.tap("start")
    assert "персональних даних" in phone.text


async def test_website_and_apps_are_open_url_buttons_and_surveys_say_when_there_are_none(sim: SimClient):
    phone = Phone(sim, "browser")
    await register(phone)
    await phone.tap("menu:links")
    links = [b for b in phone.buttons if b.action.value == "open-url"]
    assert links and all(b.url.startswith("https://") for b in links)
    await phone.tap("nav:home")
    await phone.tap("menu:surveys")
    # No survey is open: said plainly, with the way home — no silent buttons.
    assert "немає відкритих опитувань" in phone.text and "nav:home" in phone.codes


async def test_a_question_typed_in_the_cabinet_is_answered_or_honestly_declined(sim: SimClient):
    """C3 through signed callbacks: free text in the cabinet is a question — answered in
    Ukrainian with «👍 / 👎», or «не знайшов» with the way to an operator and a request."""
    phone = Phone(sim, "chatty")
    await register(phone)
    await phone.say("когда дадут горячую воду?")  # Russian, as residents write
    assert "гаряч" in phone.text.lower() and "не знайшов" not in phone.text
    up = [c for c in phone.codes if c.startswith("faq:up:")]
    assert up and any(c.startswith("faq:down:") for c in phone.codes)
    await phone.tap(up[0])
    assert "nav:home" in phone.codes
    await phone.say("Хто виграє чемпіонат світу з футболу?")
    assert "не знайшов" in phone.text
    assert {"menu:chat", "menu:new_ticket"} <= set(phone.codes)
