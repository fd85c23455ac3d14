"""Cross-platform resident id (S7): the same verified phone from another channel
identity is the same resident, and every mailing keeps targeting that one id."""

from chatbot_common.events import Channel, ResidentUpdated
from chatbot_common.texts import catalog

from engine_chat import Chat, register

t = catalog()


async def _up_to_phone(chat: Chat) -> None:
    await chat.tap_start()
    await chat.tap("consent:yes")
    await chat.tap("settlement:khmelnytskyi")
    await chat.send("Олена Коваленко")


async def test_same_verified_phone_from_another_channel_links_to_the_existing_resident(chat, other_chat):
    await register(chat, phone="+380671234567", shared=True)
    existing_id = chat.resident.id

    await _up_to_phone(other_chat)
    temporary_id = other_chat.resident.id
    outcome = await other_chat.share_phone("380671234567")

    assert outcome.merge_into == existing_id
    merged = outcome.resident
    assert merged.id == existing_id != temporary_id
    assert [(i.channel, i.channel_user_id) for i in merged.identities] == [
        (Channel.viber, "viber-user-1"),
        (Channel.telegram, "telegram-user-1"),
    ]
    assert merged.state.step == "cabinet" and merged.registered
    assert merged.addresses == chat.resident.addresses  # the profile is the existing one
    assert "Ми знайшли Ваш профіль" in other_chat.text and "menu:profile" in other_chat.codes()
    [event] = outcome.events
    assert isinstance(event, ResidentUpdated) and event.resident_id == existing_id
    assert {c.channel for c in event.channels} == {Channel.viber, Channel.telegram}


async def test_a_typed_phone_of_a_verified_resident_asks_to_share_it_instead(chat, other_chat):
    await register(chat, phone="+380671234567", shared=True)
    await _up_to_phone(other_chat)
    outcome = await other_chat.send("067 123 45 67")
    assert outcome.merge_into is None
    assert other_chat.step == "phone" and other_chat.resident.phone is None
    assert t("registration.phone_taken") in other_chat.text


async def test_a_typed_phone_is_no_proof_so_no_one_is_linked_to_it(chat, other_chat):
    await register(chat, phone="0671234567")  # typed: not verified
    await _up_to_phone(other_chat)
    outcome = await other_chat.share_phone("+380671234567")
    assert outcome.merge_into is None
    assert other_chat.step == "street"


async def test_linking_to_someone_who_had_not_finished_registration_continues_with_the_address(chat, other_chat):
    await chat.tap_start()
    await chat.tap("consent:yes")
    await chat.tap("settlement:khmelnytskyi")
    await chat.send("Олена")
    await chat.share_phone("+380671234567")  # left at the street question

    await _up_to_phone(other_chat)
    outcome = await other_chat.share_phone("+380671234567")
    assert outcome.merge_into == chat.resident.id
    assert other_chat.step == "street" and other_chat.resident.name == "Олена Коваленко"
    assert outcome.events == []
    await other_chat.send("Проскурівська")
    await other_chat.send("1")
    await other_chat.tap("apartment:none")
    finished = await other_chat.tap("notify:address")
    assert other_chat.resident.registered and other_chat.resident.id == chat.resident.id
    assert finished.events[0].resident_id == chat.resident.id
    assert len(finished.events[0].channels) == 2
