"""Cross-platform resident id (S7): the same verified phone from another channel
identity becomes the same resident — once the resident confirms it from the app they
already use, since a shared contact card alone proves nothing."""

from chatbot_common.events import Channel, ResidentUpdated
from chatbot_common.texts import catalog

from engine_chat import Chat, register

t = catalog()


async def _up_to_phone(chat: Chat) -> None:
    await chat.tap_start()
    await chat.tap("consent:yes")
    await chat.tap("settlement:khmelnytskyi")
    await chat.send("Олена Коваленко")


async def _request_link(chat: Chat, other_chat: Chat) -> str:
    await register(chat, phone="+380671234567", shared=True)
    await _up_to_phone(other_chat)
    outcome = await other_chat.share_phone("380671234567")
    assert outcome.absorbed is None  # nothing linked yet
    assert other_chat.step == "link_wait"
    assert t("linking.waiting") in other_chat.text
    return other_chat.resident.id


async def test_sharing_a_registered_residents_phone_asks_that_resident_to_confirm(chat, other_chat):
    asking_id = await _request_link(chat, other_chat)
    # The request reached the resident's existing app, naming the new one.
    assert "Telegram" in chat.text and "+380 67 123 45 67" in chat.text
    assert chat.codes() == [f"linking:approve:{asking_id}", f"linking:reject:{asking_id}", "nav:home"]
    assert other_chat.codes() == ["linking:cancel", "nav:home"]


async def test_approval_moves_the_new_identity_onto_the_existing_resident(chat, other_chat):
    asking_id = await _request_link(chat, other_chat)
    existing_id = chat.resident.id
    outcome = await chat.tap(f"linking:approve:{asking_id}")

    assert outcome.absorbed == asking_id
    merged = outcome.resident
    assert merged.id == existing_id
    assert [(i.channel, i.channel_user_id) for i in merged.identities] == [
        (Channel.viber, "viber-user-1"),
        (Channel.telegram, "telegram-user-1"),
    ]
    assert t("linking.approved_here") in chat.text and "menu:profile" in chat.codes()
    # The new app is told, with the main menu, and now speaks for the same resident.
    assert "Під'єднання підтверджено" in other_chat.text and "menu:profile" in other_chat.codes()
    assert other_chat.resident.id == existing_id
    await other_chat.tap("menu:profile")
    assert "Проскурівська" in other_chat.text
    [event] = outcome.events
    assert isinstance(event, ResidentUpdated) and event.resident_id == existing_id
    assert {c.channel for c in event.channels} == {Channel.viber, Channel.telegram}


async def test_refusal_links_nothing_and_lets_the_newcomer_give_another_number(chat, other_chat):
    asking_id = await _request_link(chat, other_chat)
    outcome = await chat.tap(f"linking:reject:{asking_id}")
    assert outcome.absorbed is None and outcome.events == []
    assert len(chat.resident.identities) == 1
    assert t("linking.rejected") in other_chat.text
    await other_chat.tap("linking:cancel")
    assert other_chat.step == "phone" and "phone:share" in other_chat.codes()
    assert other_chat.resident.id == asking_id  # still their own, unlinked record


async def test_an_old_or_forged_approval_button_does_nothing(chat, other_chat):
    asking_id = await _request_link(chat, other_chat)
    await other_chat.tap("linking:cancel")  # the newcomer gave up meanwhile
    outcome = await chat.send(f"linking:approve:{asking_id}")
    assert outcome.absorbed is None and len(outcome.resident.identities) == 1
    assert t("linking.expired") in chat.text
    outcome = await chat.send("linking:approve:r-0000")  # nobody
    assert outcome.absorbed is None and t("linking.expired") in chat.text


async def test_a_typed_phone_of_a_verified_resident_asks_to_share_it_instead(chat, other_chat):
    await register(chat, phone="+380671234567", shared=True)
    await _up_to_phone(other_chat)
    outcome = await other_chat.send("067 123 45 67")
    assert outcome.absorbed is None and outcome.notices == []
    assert other_chat.step == "phone" and other_chat.resident.phone is None
    assert t("registration.phone_taken") in other_chat.text


async def test_a_typed_phone_is_no_proof_so_no_one_is_asked(chat, other_chat):
    await register(chat, phone="0671234567")  # typed: not verified
    await _up_to_phone(other_chat)
    outcome = await other_chat.share_phone("+380671234567")
    assert outcome.notices == []
    assert other_chat.step == "street"


async def test_a_resident_who_has_not_finished_registration_cannot_be_linked_to(chat, other_chat):
    await chat.tap_start()
    await chat.tap("consent:yes")
    await chat.tap("settlement:khmelnytskyi")
    await chat.send("Олена")
    await chat.share_phone("+380671234567")  # verified, but left at the street question

    await _up_to_phone(other_chat)
    outcome = await other_chat.share_phone("+380671234567")
    assert outcome.notices == [] and other_chat.step == "phone"
    assert t("registration.phone_taken") in other_chat.text
