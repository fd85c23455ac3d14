"""System notices: something happened to the resident (not their own message) and the
engine tells them in the app they use most recently (``engine.notify``)."""

import pytest

from chatbot_common.events import Channel
from chatbot_common.texts import catalog

from dialog.conversation import IncomingKind, Resident, TextNotice, notify
from engine_chat import Chat, register, system_notice

t = catalog()
HELLO = TextNotice("notices.message", {"text": "Завтра з 9:00 до 12:00 на Вашій вулиці не буде води."})


@pytest.fixture
async def resident_chat(chat: Chat) -> Chat:
    return await register(chat)


async def test_a_text_notice_reaches_the_resident_as_a_notice_not_a_reply(directory, ctx, resident_chat):
    outcome = await system_notice(directory, resident_chat.resident.id, HELLO, ctx)
    assert outcome.replies == [] and outcome.events == []
    [notice] = outcome.notices
    assert (notice.channel, notice.channel_user_id) == (Channel.viber, "viber-user-1")
    assert notice.resident_id == resident_chat.resident.id
    assert notice.reply.text == t("notices.message", text=HELLO.params["text"])
    assert [b.code for b in notice.reply.buttons] == ["nav:home"]
    assert resident_chat.text == notice.reply.text


async def test_a_notice_does_not_move_the_conversation(directory, ctx, resident_chat):
    await resident_chat.tap("menu:profile")
    await resident_chat.tap("profile:name")
    await system_notice(directory, resident_chat.resident.id, HELLO, ctx)
    assert resident_chat.step == "profile_name"
    await resident_chat.send("Олена Петренко")  # the answer still goes to the open question
    assert resident_chat.resident.name == "Олена Петренко"


async def test_the_app_in_use_is_remembered(clock, resident_chat):
    clock.advance(minutes=5)
    await resident_chat.send("nav:home")
    assert resident_chat.resident.identities[0].last_seen_at == clock.now


async def test_notices_go_to_the_app_used_most_recently(directory, ctx, clock, resident_chat, other_chat):
    await resident_chat.tap("menu:profile")
    await resident_chat.tap("profile:apps")
    await resident_chat.tap("apps:code")
    await other_chat.send(resident_chat.shown_code())
    resident_id = resident_chat.resident.id

    clock.advance(minutes=1)
    await resident_chat.send("nav:home")  # Viber used last
    [notice] = (await system_notice(directory, resident_id, HELLO, ctx)).notices
    assert notice.channel == Channel.viber
    clock.advance(minutes=1)
    await other_chat.send("nav:home")  # now Telegram
    [notice] = (await system_notice(directory, resident_id, HELLO, ctx)).notices
    assert (notice.channel, notice.channel_user_id) == (Channel.telegram, "telegram-user-1")
    assert other_chat.text == notice.reply.text
    await other_chat.incoming(IncomingKind.unsubscribed)  # blocked the bot in Telegram
    [notice] = (await system_notice(directory, resident_id, HELLO, ctx)).notices
    assert notice.channel == Channel.viber


async def test_a_resident_who_can_receive_nothing_gets_nothing(directory, ctx, resident_chat):
    await resident_chat.incoming(IncomingKind.unsubscribed)
    outcome = await system_notice(directory, resident_chat.resident.id, HELLO, ctx)
    assert outcome.notices == [] and outcome.replies == []


async def test_an_unknown_notice_kind_is_a_defect_not_a_silence(ctx, resident_chat):
    with pytest.raises(TypeError):
        await notify(resident_chat.resident, object(), ctx)  # type: ignore[arg-type]


async def test_a_notice_with_a_key_missing_from_the_catalog_is_a_defect(ctx, resident_chat):
    with pytest.raises(KeyError):
        await notify(resident_chat.resident, TextNotice("notices.no_such_text"), ctx)


def test_preferred_identity_without_any_use_yet_is_the_first_subscribed():
    from dialog.conversation import Identity

    resident = Resident(identities=[
        Identity(channel=Channel.viber, channel_user_id="a", subscribed=False),
        Identity(channel=Channel.viber, channel_user_id="b"),
        Identity(channel=Channel.telegram, channel_user_id="c"),
    ])
    assert resident.preferred_identity().channel_user_id == "b"
