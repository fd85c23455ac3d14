"""One resident in several apps (S7).

A phone — typed, shared with the button or sent as a phone-book contact card — is only
a number to call back: it never links apps nor decides who owns a profile. Another app
joins a resident only with a one-time code shown in an app where they are registered.
"""

import pytest

from chatbot_common.events import Channel, ResidentUpdated
from chatbot_common.texts import catalog

from dialog.conversation import Outcome, TextNotice, build_context
from dialog.conversation.linking import LOCKOUT, MAX_APPS, MAX_FAILURES, code_digest
from engine_chat import Chat, FakeDirectory, register, system_notice

t = catalog()
VICTIM_PHONE = "+380671234567"


def received(directory: FakeDirectory, chat: Chat) -> list[str]:
    return [r.text for r in directory.received.get((chat.channel, chat.channel_user_id), [])]


async def show_code(chat: Chat) -> str:
    await chat.send("nav:home")
    await chat.tap("menu:profile")
    await chat.tap("profile:apps")
    await chat.tap("apps:code")
    return chat.shown_code()


async def type_code(chat: Chat, code: str) -> Outcome:
    """A new app: «У мене вже є профіль» on the consent question, then the code."""
    await chat.tap_start()
    await chat.tap("apps:join")
    assert chat.step == "link_enter"
    return await chat.send(code)


# ----------------------------------------------------------------------------- contact cards prove nothing


async def test_a_victims_contact_card_gives_the_attacker_nothing(directory, ctx, chat):
    victim = await register(chat, phone=VICTIM_PHONE, shared=True)
    seen_by_victim = len(received(directory, victim))
    attacker = await register(Chat(directory, "attacker", ctx=ctx), phone=VICTIM_PHONE, shared=True)

    assert attacker.resident.id != victim.resident.id
    assert attacker.resident.phone == victim.resident.phone == VICTIM_PHONE  # two may give one number
    assert [i.channel_user_id for i in victim.resident.identities] == ["viber-user-1"]
    assert [i.channel_user_id for i in attacker.resident.identities] == ["attacker"]
    assert all(o.notices == [] and o.absorbed is None for o in attacker.outcomes)
    assert len(received(directory, victim)) == seen_by_victim  # nobody asked the victim anything

    # What happens to the victim reaches the victim only.
    await system_notice(directory, victim.resident.id, TextNotice("notices.message", {"text": "Перевірка"}), ctx)
    assert "Перевірка" in victim.text and "Перевірка" not in attacker.text


async def test_a_victim_registering_after_the_attacker_keeps_their_own_profile(directory, ctx, chat):
    attacker = await register(Chat(directory, "attacker", ctx=ctx), phone=VICTIM_PHONE, shared=True)
    victim = await register(chat, phone=VICTIM_PHONE, shared=True)

    assert victim.resident.id != attacker.resident.id and victim.resident.registered
    assert [i.channel_user_id for i in attacker.resident.identities] == ["attacker"]
    assert not any("під'єдн" in text for text in received(directory, attacker))  # no request to approve
    assert all(o.notices == [] and o.absorbed is None for o in victim.outcomes)
    await system_notice(directory, victim.resident.id, TextNotice("notices.message", {"text": "Лише Вам"}), ctx)
    assert not any("Лише Вам" in text for text in received(directory, attacker))


async def test_approval_buttons_of_the_old_phone_based_linking_do_nothing(directory, ctx, chat):
    victim = await register(chat, phone=VICTIM_PHONE)
    attacker = await register(Chat(directory, "attacker", ctx=ctx), phone=VICTIM_PHONE)
    outcome = await victim.send(f"linking:approve:{attacker.resident.id}")
    assert outcome.absorbed is None and outcome.released == [] and len(outcome.resident.identities) == 1
    assert victim.text.startswith(t("errors.stale"))


async def test_a_resident_left_waiting_by_the_old_phone_linking_resumes_registration(directory, chat):
    await chat.tap_start()
    await chat.tap("consent:yes")
    await chat.tap("settlement:khmelnytskyi")
    await chat.send("Олена Коваленко")
    stored = chat.resident  # as an older version left it: waiting for an approval
    stored.state.step, stored.state.data["link_target"] = "link_wait", "r-someone"
    directory.save(stored)
    await chat.send("Доброго дня")
    assert chat.step == "phone" and chat.text.startswith(t("registration.resume"))


# ----------------------------------------------------------------------------- the code flow


async def test_the_apps_screen_lists_apps_and_offers_a_code(chat):
    await register(chat)
    await chat.tap("menu:profile")
    await chat.tap("profile:apps")
    assert "1. Viber — цей застосунок" in chat.text
    assert chat.codes() == ["apps:code", "nav:back", "nav:home"]  # the only app: nothing to unlink
    await chat.tap("apps:code")
    code = chat.shown_code()
    assert len(code) == 8 and chat.step == "apps_code"
    stored = chat.resident
    assert stored.link_code.digest == code_digest(code)
    assert code not in stored.model_dump_json()  # only the digest is kept
    assert {"apps:code", "apps:code_cancel", "nav:back", "nav:home"} <= set(chat.codes())


async def test_a_code_typed_in_the_other_app_joins_the_same_resident(directory, chat, other_chat):
    await register(chat)
    owner_id = chat.resident.id
    code = await show_code(chat)
    await other_chat.tap_start()
    newcomer_id = other_chat.resident.id
    await other_chat.tap("apps:join")
    assert t("linking.enter", digits=8) == other_chat.text
    outcome = await other_chat.send(code)

    # One resident document changes (the owner's); the newcomer's own record is dropped.
    assert outcome.resident.id == owner_id and outcome.absorbed == newcomer_id
    assert outcome.consumed_link_code == code_digest(code)
    assert [(i.channel, i.channel_user_id) for i in outcome.resident.identities] == [
        (Channel.viber, "viber-user-1"),
        (Channel.telegram, "telegram-user-1"),
    ]
    assert outcome.resident.link_code is None
    # The new app has the cabinet of the same resident.
    assert other_chat.resident.id == owner_id and newcomer_id not in directory.residents
    assert t("linking.joined", name="Олена Коваленко") in other_chat.text and "menu:profile" in other_chat.codes()
    await other_chat.tap("menu:profile")
    assert "Проскурівська" in other_chat.text and "Viber, Telegram" in other_chat.text
    # The old app is told, with a way to undo.
    telegram = outcome.resident.identities[1]
    assert t("linking.joined_notice", app="2. Telegram") in chat.text
    assert chat.codes()[0] == f"apps:unlink:{telegram.token}"
    [event] = outcome.events
    assert isinstance(event, ResidentUpdated) and event.resident_id == owner_id
    assert {c.channel for c in event.channels} == {Channel.viber, Channel.telegram}


async def test_the_code_may_be_the_new_apps_very_first_message(chat, other_chat):
    await register(chat)
    code = await show_code(chat)
    outcome = await other_chat.send(f"{code[:4]} {code[4:]}")
    assert outcome.resident.id == chat.resident.id and other_chat.resident.registered


async def test_a_second_viber_account_can_be_linked_too(directory, ctx, chat):
    await register(chat)
    code = await show_code(chat)
    second = Chat(directory, "viber-user-2", ctx=ctx)
    await type_code(second, code)
    assert second.resident.id == chat.resident.id
    await second.tap("menu:profile")
    assert "Viber, Viber" in second.text


async def test_the_code_is_single_use(directory, ctx, chat, other_chat):
    await register(chat)
    code = await show_code(chat)
    await type_code(other_chat, code)
    third = Chat(directory, "viber-user-3", ctx=ctx)
    outcome = await third.send(code)
    assert outcome.absorbed is None and third.resident.id != chat.resident.id
    assert t("linking.wrong", left=MAX_FAILURES - 1) in third.text
    assert len(chat.resident.identities) == 2


async def test_an_expired_code_is_refused(clock, chat, other_chat):
    await register(chat)
    code = await show_code(chat)
    clock.advance(minutes=10, seconds=1)
    outcome = await type_code(other_chat, code)
    assert outcome.absorbed is None and other_chat.resident.id != chat.resident.id
    assert t("linking.expired", left=MAX_FAILURES - 1) in other_chat.text
    assert other_chat.step == "link_enter"
    await chat.send("nav:home")  # the owner's next message forgets the expired code
    assert chat.resident.link_code is None


async def test_wrong_codes_are_counted_and_the_app_is_locked_after_too_many(clock, chat, other_chat):
    await register(chat)
    code = await show_code(chat)
    wrong = "00000000" if code != "00000000" else "11111111"
    await other_chat.tap_start()
    await other_chat.tap("apps:join")
    for tried in range(1, MAX_FAILURES):
        await other_chat.send(wrong)
        assert t("linking.wrong", left=MAX_FAILURES - tried) in other_chat.text
    await other_chat.send(wrong)
    minutes = int(LOCKOUT.total_seconds() // 60)
    assert t("linking.locked", minutes=minutes) in other_chat.text
    # Locked: even the right code does nothing now.
    outcome = await other_chat.send(code)
    assert outcome.absorbed is None and t("linking.locked", minutes=minutes) in other_chat.text
    assert len(chat.resident.identities) == 1
    # An hour later the owner asks for a new code (the old one expired) and it works.
    clock.advance(minutes=minutes + 1)
    code = await show_code(chat)
    outcome = await other_chat.send(code)
    assert outcome.resident.id == chat.resident.id


async def test_a_typed_code_that_is_not_eight_digits_is_explained_without_counting(chat):
    await chat.tap_start()
    await chat.tap("apps:join")
    await chat.send("12345")
    assert chat.text.startswith(t("linking.not_a_code", digits=8)) and chat.step == "link_enter"
    assert chat.resident.link_attempts.failures == 0
    await chat.tap("nav:back")  # back to registration
    assert chat.step == "consent"


async def test_the_code_does_nothing_in_the_app_that_shows_it(chat):
    await register(chat)
    code = await show_code(chat)
    outcome = await chat.send(code)
    assert t("apps.code_here") in chat.text and outcome.absorbed is None
    assert chat.resident.link_code is not None
    await chat.send("nav:home")
    outcome = await chat.send(code)  # a registered app never joins anything
    assert outcome.absorbed is None and outcome.resident.id == chat.resident.id


async def test_a_cancelled_or_replaced_code_no_longer_works(chat, other_chat):
    await register(chat)
    first = await show_code(chat)
    await chat.tap("apps:code")  # a new code replaces the first
    second = chat.shown_code()
    await chat.tap("apps:code_cancel")
    assert t("apps.code_cancelled") in chat.text and chat.resident.link_code is None
    for code in (first, second):
        outcome = await other_chat.send(code)
        assert outcome.absorbed is None
    assert other_chat.resident.link_attempts.failures == 2


async def test_two_residents_never_hold_the_same_code(directory, clock):
    codes = iter(["12345678", "12345678", "87654321"])
    ctx = build_context(directory, clock=clock, link_codes=lambda: next(codes))
    first = await register(Chat(directory, "viber-a", ctx=ctx))
    second = await register(Chat(directory, "viber-b", ctx=ctx))
    assert await show_code(first) == "12345678"
    assert await show_code(second) == "87654321"


async def test_apps_per_resident_are_limited(directory, ctx, chat):
    await register(chat)
    for n in range(2, MAX_APPS + 1):
        await type_code(Chat(directory, f"viber-extra-{n}", ctx=ctx), await show_code(chat))
    assert len(chat.resident.identities) == MAX_APPS
    await chat.send("nav:home")
    await chat.tap("menu:profile")
    await chat.tap("profile:apps")
    await chat.tap("apps:code")
    assert t("apps.limit", limit=MAX_APPS) in chat.text and chat.resident.link_code is None


# ----------------------------------------------------------------------------- undo


@pytest.fixture
async def linked(chat: Chat, other_chat: Chat) -> tuple[Chat, Chat]:
    await register(chat)
    await type_code(other_chat, await show_code(chat))
    assert other_chat.resident.id == chat.resident.id
    return chat, other_chat


async def test_the_old_app_undoes_the_link_from_the_notice(linked):
    first, second = linked
    resident_id = first.resident.id
    telegram = first.resident.identities[1]
    await first.tap(f"apps:unlink:{telegram.token}")
    assert first.step == "apps_unlink" and "2. Telegram" in first.text
    outcome = await first.tap("apps:unlink_yes")

    assert outcome.released == [telegram]
    assert [i.channel_user_id for i in outcome.resident.identities] == ["viber-user-1"]
    assert t("apps.unlinked", app="2. Telegram") in first.text and first.step == "apps"
    [event] = outcome.events
    assert isinstance(event, ResidentUpdated) and [c.channel for c in event.channels] == [Channel.viber]
    # The unlinked app is told, and starts afresh: a new, unregistered identity.
    assert t("apps.unlinked_there") in second.text and second.codes() == ["start"]
    assert second.resident.id != resident_id and not second.resident.registered
    await second.tap("start")
    assert second.step == "consent"


async def test_a_later_app_cannot_unlink_an_older_one_but_can_leave(linked):
    first, second = linked
    viber = first.resident.identities[0]
    await second.send("nav:home")
    await second.tap("menu:profile")
    await second.tap("profile:apps")
    assert "2. Telegram — цей застосунок" in second.text
    telegram = second.resident.identities[1]
    assert [c for c in second.codes() if c.startswith("apps:unlink:")] == [f"apps:unlink:{telegram.token}"]
    outcome = await second.send(f"apps:unlink:{viber.token}")  # forged: the first app stays
    assert outcome.released == [] and t("apps.unlink_unavailable") in second.text
    assert len(second.resident.identities) == 2

    await second.tap(f"apps:unlink:{telegram.token}")
    outcome = await second.tap("apps:unlink_yes")
    assert outcome.released == [telegram] and outcome.replies[-1].text == t("apps.unlinked_there")
    assert [i.channel_user_id for i in first.resident.identities] == ["viber-user-1"]
    assert not second.resident.registered


async def test_the_first_app_lists_later_apps_with_unlink_buttons(linked):
    first, _ = linked
    await first.send("nav:home")
    await first.tap("menu:profile")
    await first.tap("profile:apps")
    telegram = first.resident.identities[1]
    assert "1. Viber — цей застосунок" in first.text and "2. Telegram — під'єднано 02.03.2026" in first.text
    assert first.codes() == ["apps:code", f"apps:unlink:{telegram.token}", "nav:back", "nav:home"]


async def test_an_unlink_button_for_an_app_already_gone_does_nothing(linked):
    first, _ = linked
    token = first.resident.identities[1].token
    await first.tap(f"apps:unlink:{token}")
    await first.tap("apps:unlink_yes")
    outcome = await first.send(f"apps:unlink:{token}")  # the notice's button, tapped again
    assert outcome.released == [] and t("apps.unlink_unavailable") in first.text
