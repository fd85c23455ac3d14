"""S7 end to end: one resident in two apps only by a one-time code, never by a phone.

Signed callbacks into the real gateway, the dialog in its own process on real RabbitMQ,
and every message counted where the resident would see it: at the fake Viber API.
The threat model is in docs/conversation.md («Cross-platform resident (S7)»).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tests.e2e.resident import EventTap, Phone, register, up_to_name
from vibersim.client import SimClient

pytestmark = pytest.mark.rabbitmq
MAIN_MENU = {"menu:new_ticket", "menu:tickets", "menu:outages", "menu:question", "menu:chat", "menu:surveys",
             "menu:info", "menu:profile", "menu:links"}
CODE = re.compile(r"під'єднання: (\d{4} \d{4})")


async def sent_to(sim: SimClient) -> Counter[str]:
    """Messages the fake Viber accepted from the bot, by receiver."""
    return Counter(r["body"]["receiver"] for r in await sim.requests("send_message") if r["status"] == 0)


async def settled(sim: SimClient, *phones: Phone) -> Counter[str]:
    """Each phone taps «Головне меню» once more; once every answer is in, nothing sent
    earlier can still be on its way (one identity's inputs are handled in order, and
    one resident's outputs are published in order), so the counts are final."""
    for phone in phones:
        await phone.say("nav:home")
    return await sent_to(sim)


@pytest.mark.parametrize("victim_first", [True, False], ids=["victim-registered-first", "attacker-first"])
async def test_sharing_a_victims_phone_as_a_contact_card_links_nothing_and_tells_the_victim_nothing(
    sim: SimClient, rabbit_url: str, victim_first: bool
):
    """An attacker shares the victim's number as a contact card (it looks exactly like the
    share button's): they get a profile of their own holding that number and nothing of
    the victim's; the victim receives nothing and registers (or has registered) as usual;
    two separate residents result."""
    number = "+380931234567"
    victim = Phone(sim, "victim-viber")
    attacker = Phone(sim, "attacker-viber")
    async with EventTap(rabbit_url, ["resident.#"]) as events:
        if victim_first:
            await register(victim, name="Олена Коваленко", number=number, shared=True)
        victim_messages = await victim.count()

        await up_to_name(attacker)
        await attacker.say("Іван Зловмисник")
        await attacker.share_phone(number)  # a card from the phone book, not their own number
        # No linking request, no "we sent a request there": the next registration question.
        assert "вулиці" in attacker.text, attacker.text
        assert "menu:profile" not in attacker.codes
        await attacker.say("Зарічанська")
        await attacker.say("10")
        await attacker.tap("apartment:none")
        await attacker.tap("notify:city")
        assert "Реєстрацію завершено" in attacker.text and "Іван Зловмисник" in attacker.text
        await attacker.tap("menu:profile")
        assert "Іван Зловмисник" in attacker.text and "Телефон: +380 93 123 45 67" in attacker.text
        assert "Олена" not in attacker.text and "Проскурівська" not in attacker.text
        assert "Застосунки: Viber\n" in attacker.text  # one app: their own

        if not victim_first:
            await register(victim, name="Олена Коваленко", number=number, shared=True)
        await victim.tap("menu:profile")
        assert "Олена Коваленко" in victim.text and "Телефон: +380 93 123 45 67" in victim.text
        assert "Зловмисник" not in victim.text and "Застосунки: Viber\n" in victim.text

        first = await events.wait_for("resident.registered")
        second = await events.wait_for("resident.registered", after=first)
        counts = await settled(sim, victim, attacker)
    registered = {e["data"]["channels"][0]["channel_user_id"]: e["data"] for e in (first, second)}
    assert set(registered) == {"victim-viber", "attacker-viber"}
    assert registered["victim-viber"]["resident_id"] != registered["attacker-viber"]["resident_id"]
    assert all(len(data["channels"]) == 1 for data in registered.values())
    # Not one word to the victim because of the attacker: after the attacker's whole
    # registration the victim had only the answers to their own two later taps, and in
    # all exactly one answer per own turn — 9 of registration (the welcome is the
    # webhook's answer, not a send_message), the profile and the final «home».
    if victim_first:
        assert (await victim.count()) == victim_messages + 2
    assert counts["victim-viber"] == 9 + 1 + 1
    assert counts["attacker-viber"] == 9 + 1 + 1
    assert set(counts) == {"victim-viber", "attacker-viber"}
    assert [e["type"] for e in events.events if e["type"] != "resident.registered"] == []


async def test_a_one_time_code_links_a_second_app_to_the_profile_and_the_owner_can_undo_it(
    sim: SimClient, rabbit_url: str
):
    """The real owner: a code shown in app A (profile → apps → link), typed in app B,
    puts B in A's cabinet; A is told at once with a one-tap undo; after the undo B is a
    new, unregistered app again. Every message counted at the fake Viber API."""
    owner = Phone(sim, "owner-phone")
    tablet = Phone(sim, "owner-tablet")
    async with EventTap(rabbit_url, ["resident.#"]) as events:
        await register(owner, name="Олена Коваленко", number="0671234567")
        registered = await events.wait_for("resident.registered")
        resident_id = registered["data"]["resident_id"]

        await owner.tap("menu:profile")
        await owner.tap("profile:apps")
        assert "1. Viber — цей застосунок" in owner.text
        await owner.tap("apps:code")
        found = CODE.search(owner.text)
        assert found, owner.text
        code = found.group(1)
        assert {"apps:code", "apps:code_cancel"} <= set(owner.codes)

        await tablet.open()
        await tablet.tap("start")
        assert "apps:join" in tablet.codes  # «🔗 У мене вже є профіль» on the consent question
        await tablet.tap("apps:join")
        assert "Щоб відкрити тут профіль" in tablet.text
        owner_seen = await owner.count()
        await tablet.say(code)
        assert "Готово, Олена Коваленко" in tablet.text, tablet.text
        assert MAIN_MENU <= set(tablet.codes)  # B landed in A's cabinet

        await owner.receive(owner_seen)  # A is told, once
        assert "під'єднано ще один застосунок: 2. Viber" in owner.text, owner.text
        [undo] = [c for c in owner.codes if c.startswith("apps:unlink:")]
        linked = await events.wait_for("resident.updated")
        assert linked["data"]["resident_id"] == resident_id
        assert {c["channel_user_id"] for c in linked["data"]["channels"]} == {"owner-phone", "owner-tablet"}

        await tablet.tap("menu:profile")  # A's profile, seen from B
        assert "Олена Коваленко" in tablet.text and "Телефон: +380 67 123 45 67" in tablet.text
        assert "Проскурівська" in tablet.text and "Застосунки: Viber, Viber" in tablet.text

        # The code was single use: typed again in a third app it opens nothing.
        third = Phone(sim, "owner-third")
        await third.open()
        await third.say(code)
        assert "Код не підійшов" in third.text and "menu:profile" not in third.codes

        # Undo from A, with the notice's button.
        await owner.tap(undo)
        assert "Від'єднати застосунок «2. Viber»" in owner.text
        tablet_seen = await tablet.count()
        await owner.tap("apps:unlink_yes")
        assert "Застосунок «2. Viber» від'єднано" in owner.text
        await tablet.receive(tablet_seen)  # B is told, once
        assert "Цей застосунок від'єднано від профілю" in tablet.text and tablet.codes == ["start"]
        unlinked = await events.wait_for("resident.updated", after=linked)
        assert unlinked["data"]["resident_id"] == resident_id
        assert [c["channel_user_id"] for c in unlinked["data"]["channels"]] == ["owner-phone"]

        # B is a new, unregistered app now; A keeps the profile.
        await tablet.tap("start")
        assert "персональних даних" in tablet.text and "menu:profile" not in tablet.codes
        await owner.tap("nav:back")  # from the apps list to the profile
        assert "Олена Коваленко" in owner.text and "Застосунки: Viber\n" in owner.text
        counts = await settled(sim, owner)
    assert [e["type"] for e in events.events] == ["resident.registered", "resident.updated", "resident.updated"]
    # A: 9 registration answers, profile, apps, code, the link notice, the unlink question,
    # the unlink answer, profile, home. B: consent, code prompt, joined, profile, the
    # unlink notice, consent again. The third app: «wrong code» only (the code as its
    # first message skips the consent question).
    assert counts == {"owner-phone": 9 + 3 + 1 + 2 + 2, "owner-tablet": 6, "owner-third": 1}
