"""The profile (C10, S6): every field can be seen and changed; all data can be deleted."""

import pytest

from chatbot_common.events import NotifyScope, ResidentDeleted, ResidentUpdated
from chatbot_common.texts import catalog

from engine_chat import Chat, register

t = catalog()


@pytest.fixture
async def resident_chat(chat: Chat) -> Chat:
    return await register(chat)


async def test_profile_shows_every_field(resident_chat):
    await resident_chat.tap("menu:profile")
    text = resident_chat.text
    for shown in ("Олена Коваленко", "+380 67 123 45 67", "м. Хмельницький", "вул. Проскурівська, 12а, кв. 5",
                  "Дата народження: не вказано", "за Вашими адресами", "Застосунки: Viber"):
        assert shown in text
    assert "підтверджено" not in text  # a phone is never "verified": it proves nothing
    assert resident_chat.codes() == [
        "profile:name", "profile:phone", "profile:settlement", "profile:addresses",
        "profile:birth_date", "profile:notify", "profile:apps", "profile:delete", "nav:back", "nav:home",
    ]


async def test_name_can_be_changed_without_publishing_anything(resident_chat):
    await resident_chat.tap("menu:profile")
    await resident_chat.tap("profile:name")
    assert "Олена Коваленко" in resident_chat.text
    outcome = await resident_chat.send("Олена Петренко")
    assert resident_chat.resident.name == "Олена Петренко"
    assert resident_chat.step == "profile" and t("profile.saved") in resident_chat.text
    assert outcome.events == []  # the notifier keeps no names


async def test_phone_can_be_changed_by_typing_or_sharing(resident_chat):
    await resident_chat.tap("menu:profile")
    await resident_chat.tap("profile:phone")
    await resident_chat.send("+38 (050) 111-22-33")
    assert resident_chat.resident.phone == "+380501112233"
    await resident_chat.tap("profile:phone")
    await resident_chat.share_phone("380931234567")
    assert resident_chat.resident.phone == "+380931234567" and resident_chat.step == "profile"


async def test_a_phone_another_resident_gave_is_accepted_too(directory, resident_chat):
    """A phone is a number to call back (S6), not an identity: family members share one."""
    other = await register(Chat(directory, "viber-user-2"), phone="0931112233", shared=True)
    await resident_chat.tap("menu:profile")
    await resident_chat.tap("profile:phone")
    outcome = await resident_chat.share_phone("0931112233")
    assert resident_chat.step == "profile" and t("profile.saved") in resident_chat.text
    assert resident_chat.resident.phone == other.resident.phone == "+380931112233"
    assert outcome.notices == [] and outcome.absorbed is None
    assert resident_chat.resident.id != other.resident.id and len(other.resident.identities) == 1


async def test_changing_the_settlement_asks_for_the_address_there(resident_chat):
    await resident_chat.tap("menu:profile")
    await resident_chat.tap("profile:settlement")
    assert "м. Хмельницький" in resident_chat.text
    await resident_chat.send("Олешин")
    assert resident_chat.step == "street" and "с. Олешин" in resident_chat.text
    await resident_chat.send("Шевченка")
    await resident_chat.send("3")
    outcome = await resident_chat.tap("apartment:none")
    resident = resident_chat.resident
    assert resident.settlement_id == "oleshyn" and len(resident.addresses) == 1
    assert resident.addresses[0].key == "oleshyn|shevchenka|3"
    assert resident_chat.step == "profile" and "с. Олешин" in resident_chat.text
    [event] = outcome.events
    assert isinstance(event, ResidentUpdated)
    assert event.settlement_id == "oleshyn" and [a.key for a in event.addresses] == ["oleshyn|shevchenka|3"]


async def test_choosing_the_same_settlement_changes_nothing(resident_chat):
    await resident_chat.tap("menu:profile")
    await resident_chat.tap("profile:settlement")
    outcome = await resident_chat.tap("settlement:khmelnytskyi")
    assert resident_chat.step == "profile" and t("profile.settlement_same") in resident_chat.text
    assert outcome.events == []


async def test_a_second_address_can_be_added_edited_and_removed(resident_chat):
    await resident_chat.tap("menu:profile")
    await resident_chat.tap("profile:addresses")
    assert "address:add" in resident_chat.codes()
    await resident_chat.tap("address:add")
    await resident_chat.tap("settlement:khmelnytskyi")
    await resident_chat.send("Зарічанська")
    await resident_chat.send("10")
    outcome = await resident_chat.send("44")
    assert resident_chat.step == "addresses" and t("address.added") in resident_chat.text
    first, second = resident_chat.resident.addresses
    assert second.key == "khmelnytskyi|zarichanska|10" and second.apartment == "44"
    assert [a.key for a in outcome.events[0].addresses] == [first.key, second.key]

    await resident_chat.tap(f"address:{second.id}")
    await resident_chat.tap(f"address:edit:{second.id}")
    await resident_chat.tap("settlement:khmelnytskyi")
    await resident_chat.send("Подільська 3")
    await resident_chat.tap("apartment:none")
    assert t("address.saved") in resident_chat.text
    edited = resident_chat.resident.addresses[1]
    assert edited.id == second.id and edited.key == "khmelnytskyi|podilska|3"

    await resident_chat.tap(f"address:{second.id}")
    outcome = await resident_chat.tap(f"address:remove:{second.id}")
    assert [a.id for a in resident_chat.resident.addresses] == [first.id]
    assert t("address.removed") in resident_chat.text
    assert [a.key for a in outcome.events[0].addresses] == [first.key]


async def test_the_only_address_cannot_be_removed(resident_chat):
    [only] = resident_chat.resident.addresses
    await resident_chat.tap("menu:profile")
    await resident_chat.tap("profile:addresses")
    await resident_chat.tap(f"address:{only.id}")
    assert f"address:remove:{only.id}" not in resident_chat.codes()
    await resident_chat.send(f"address:remove:{only.id}")  # from an old keyboard
    assert resident_chat.resident.addresses == [only]


async def test_the_same_address_twice_is_refused(resident_chat):
    await resident_chat.tap("menu:profile")
    await resident_chat.tap("profile:addresses")
    await resident_chat.tap("address:add")
    await resident_chat.tap("settlement:khmelnytskyi")
    await resident_chat.send("Проскурівська 12а")
    await resident_chat.send("5")
    assert t("address.duplicate") in resident_chat.text
    assert len(resident_chat.resident.addresses) == 1


async def test_addresses_are_limited(directory):
    chat = await register(Chat(directory, "viber-user-9"))
    limit = chat.ctx.max_addresses
    for house in range(2, limit + 1):
        await chat.send("nav:home")
        await chat.tap("menu:profile")
        await chat.tap("profile:addresses")
        await chat.tap("address:add")
        await chat.tap("settlement:khmelnytskyi")
        await chat.send(f"Подільська {house}")
        await chat.tap("apartment:none")
    assert len(chat.resident.addresses) == limit
    assert "address:add" not in chat.codes()
    await chat.send("address:add")
    assert t("address.limit", limit=limit) in chat.text


async def test_birth_date_can_be_set_and_removed(resident_chat):
    await resident_chat.tap("menu:profile")
    await resident_chat.tap("profile:birth_date")
    assert "birth:clear" not in resident_chat.codes()
    outcome = await resident_chat.send("5.12.1985")
    assert resident_chat.resident.birth_date == "1985-12-05"
    assert "Дата народження: 05.12.1985" in resident_chat.text
    assert outcome.events[0].birth_date == "1985-12-05"
    await resident_chat.tap("profile:birth_date")
    outcome = await resident_chat.tap("birth:clear")
    assert resident_chat.resident.birth_date is None and outcome.events[0].birth_date is None


@pytest.mark.parametrize("typed", ["31.02.1990", "05.12.2999", "05.12.1800", "вчора", "1985-12-05", ""])
async def test_impossible_birth_dates_are_explained(resident_chat, typed):
    await resident_chat.tap("menu:profile")
    await resident_chat.tap("profile:birth_date")
    await resident_chat.send(typed)
    assert resident_chat.step == "birth_date" and resident_chat.resident.birth_date is None
    assert resident_chat.text.startswith(t("errors.birth_date"))


@pytest.mark.parametrize("scope", list(NotifyScope))
async def test_notification_preference_can_be_changed(resident_chat, scope):
    await resident_chat.tap("menu:profile")
    await resident_chat.tap("profile:notify")
    outcome = await resident_chat.tap(f"notify:{scope.value}")
    assert resident_chat.resident.notify == scope and resident_chat.step == "profile"
    changed = scope != NotifyScope.address
    assert [e.notify for e in outcome.events] == ([scope] if changed else [])


async def test_back_from_an_edit_returns_to_the_profile_unchanged(resident_chat):
    await resident_chat.tap("menu:profile")
    await resident_chat.tap("profile:name")
    outcome = await resident_chat.tap("nav:back")
    assert resident_chat.step == "profile" and outcome.events == []
    await resident_chat.tap("nav:back")
    assert resident_chat.step == "cabinet"


async def test_delete_my_data_asks_for_confirmation_first(resident_chat):
    await resident_chat.tap("menu:profile")
    await resident_chat.tap("profile:delete")
    assert resident_chat.codes() == ["profile:delete:yes", "nav:back", "nav:home"]
    outcome = await resident_chat.tap("nav:back")
    assert not outcome.forget and resident_chat.step == "profile"


async def test_delete_my_data_forgets_the_resident_and_announces_it(resident_chat):
    resident = resident_chat.resident
    await resident_chat.tap("menu:profile")
    await resident_chat.tap("profile:delete")
    outcome = await resident_chat.tap("profile:delete:yes")
    assert outcome.forget
    [event] = outcome.events
    assert isinstance(event, ResidentDeleted) and event.resident_id == resident.id
    assert [c.channel_user_id for c in event.channels] == ["viber-user-1"]
    kept = outcome.resident
    assert kept.name is None and kept.phone is None and kept.addresses == [] and not kept.registered
    assert not kept.consent and kept.state.step == "new"
    assert resident_chat.codes() == ["start"]
    await resident_chat.tap("start")  # starting over is a new registration
    assert resident_chat.step == "consent"


async def test_an_old_delete_confirmation_button_does_not_delete(resident_chat):
    outcome = await resident_chat.send("profile:delete:yes")
    assert not outcome.forget and outcome.events == []
    assert resident_chat.text.startswith(t("errors.stale"))
