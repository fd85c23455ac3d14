"""Operator chat (issue 11), the resident's side, through the engine: entering the chat
(``chat.requested`` with the operator's note), relaying what the resident sends in
order, leaving (end, home after confirmation, idle, blocking the bot), and what the
contact center says (``dialog.chat`` events as ``ChatNotice``) — including odd input:
stickers, buttons of old keyboards, events of another chat, repeated ratings."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest

from chatbot_common.events import (
    ChatClosed,
    ChatDeclined,
    ChatEndRequested,
    ChatMessageKind,
    ChatOpened,
    ChatOperatorMessage,
    ChatRated,
    ChatRequested,
    ChatResidentMessage,
    ChatUnanswered,
    ChatUndelivered,
    MessageKind,
    TicketRegistered,
    TicketSubmitted,
    derived_id,
)
from chatbot_common.directory import DEFAULT_DATA_DIR
from chatbot_common.texts import catalog

from dialog.conversation import IncomingKind, Reply, TextNotice, build_context
from dialog.conversation.api import ChatIdleNotice, ChatNotice
from dialog.conversation.records import MemoryRecords
from engine_chat import Chat, register, system_notice

t = catalog()
PHONE = "+380382650000"
CHAT_KEYS = ["chat:end", "nav:home"]


class Answerer:
    """A question answerer that always knows the answer (C3 stand-in)."""

    async def answer(self, resident, text):
        return Reply(text="Гарячу воду відновлять завтра до 18:00.")

    async def entry(self, entry_id):
        return None


@pytest.fixture
def records() -> MemoryRecords:
    return MemoryRecords()


@pytest.fixture
def ctx(directory, clock, records):
    return build_context(directory, clock=clock, records=records, questions=Answerer(), contact_center_phone=PHONE)


@pytest.fixture
async def resident(chat: Chat) -> Chat:
    return await register(chat)


def of(chat: Chat, kind: type) -> list:
    return [e for e in chat.events if isinstance(e, kind)]


async def enter(chat: Chat) -> str:
    """«💬 Чат з оператором»: exactly one new ``chat.requested``; its chat id."""
    before = len(of(chat, ChatRequested))
    await chat.tap("menu:chat")
    [requested] = of(chat, ChatRequested)[before:]
    return requested.chat_id


async def event(directory, ctx, chat: Chat, data) -> list:
    """The service got a ``dialog.chat`` event: what the resident was sent."""
    return (await system_notice(directory, chat.resident.id, ChatNotice(data), ctx)).notices


def base(chat: Chat, chat_id: str, clock) -> dict:
    return {"chat_id": chat_id, "resident_id": chat.resident.id, "at": clock.now}


# ----------------------------------------------------------------------------- entering


async def test_the_menu_entry_asks_for_an_operator_with_a_note_and_shows_the_chat_keyboard(resident, records, clock):
    """One ``chat.requested`` with the resident's name and phone (S6) and a note holding
    their address, their last question with the bot's answer and their open requests;
    the resident is told they are being connected, with «Завершити чат» and home."""
    r = resident.resident
    records.apply("e1", TicketSubmitted(ticket_id="t-1", resident_id=r.id, service_code="light.street",
                                        service_name="Не світить ліхтар", description="Темно",
                                        location={"address_string": "Проскурівська, 12а"}, submitted_at=clock.now))
    records.apply("e2", TicketRegistered(ticket_id="t-1", resident_id=r.id, service_name="Не світить ліхтар",
                                         service_request_id="777", at=clock.now))
    await resident.send("Коли буде гаряча вода?")
    await resident.tap("nav:home")
    chat_id = await enter(resident)
    [requested] = of(resident, ChatRequested)
    assert (requested.resident_id, requested.name, requested.phone) == (r.id, "Олена Коваленко", "+380671234567")
    assert chat_id == derived_id(f"viber-user-1-{resident.n}", "chat")  # derived from the input: a replay is the same
    note = requested.note
    assert "Проскурівська" in note
    assert t("chat_note.resident", text="Коли буде гаряча вода?") in note
    assert "Гарячу воду відновлять" in note
    assert "№777 Не світить ліхтар" in note and t("ticket_status.open") in note
    assert resident.text == t("chat.connecting") and resident.codes() == CHAT_KEYS
    assert resident.step == "chat" and resident.resident.chat.chat_id == chat_id


async def test_the_note_says_plainly_when_there_is_nothing_to_tell(resident):
    await enter(resident)
    [requested] = of(resident, ChatRequested)
    assert t("chat_note.no_tickets") in requested.note
    assert t("chat_note.recent") not in requested.note


async def test_the_question_search_giving_up_offers_the_chat(resident, directory, clock):
    """The FAQ's «💬 Чат з оператором» button is the same entry."""
    from dialog.conversation.api import QuestionResult

    class Unsure(Answerer):
        async def answer(self, resident, text):
            return QuestionResult(kind="decline", question=text)

    unsure = Chat(directory, "viber-user-1", ctx=build_context(directory, clock=clock, questions=Unsure()))
    await unsure.send("Скільки коштує квиток у зоопарк?")
    assert "menu:chat" in unsure.codes()
    await unsure.tap("menu:chat")
    assert len(of(unsure, ChatRequested)) == 1 and unsure.step == "chat"


async def test_a_guest_is_asked_to_register_first(chat):
    await chat.tap_start()
    await chat.tap("consent:no")
    await chat.send("menu:chat")
    assert of(chat, ChatRequested) == [] and t("guest.register_needed") in chat.text


# ----------------------------------------------------------------------------- relaying


async def test_everything_the_resident_sends_goes_to_the_operator_in_order_without_replies(resident, clock):
    """Text, a photo with a caption, a location, a contact and a file become
    ``chat.resident_message`` with seq 1..5 and ids derived from each input; the bot
    sends nothing back (Viber keeps the chat keyboard; its per-user limits are spared)."""
    chat_id = await enter(resident)
    received = len(resident.directory.received[(resident.channel, resident.channel_user_id)])
    clock.advance(minutes=1)
    await resident.send("Добрий день, у нас немає світла")
    await resident.send_kind(MessageKind.picture, media_url="https://media.example/1.jpg", text="Ось щиток")
    await resident.send_kind(MessageKind.location, lat=49.42, lon=26.98)
    await resident.send_kind(MessageKind.contact, phone="+380501112233", contact_name="Сусід")
    await resident.send_kind(MessageKind.file, media_url="https://media.example/a.pdf", file_name="акт.pdf")
    sent = of(resident, ChatResidentMessage)
    assert [m.seq for m in sent] == [1, 2, 3, 4, 5]
    assert {m.chat_id for m in sent} == {chat_id}
    assert [m.kind for m in sent] == [ChatMessageKind.text, ChatMessageKind.picture, ChatMessageKind.location,
                                      ChatMessageKind.contact, ChatMessageKind.file]
    assert sent[0].text == "Добрий день, у нас немає світла"
    assert (sent[1].media_url, sent[1].text) == ("https://media.example/1.jpg", "Ось щиток")
    assert (sent[2].lat, sent[2].lon) == (49.42, 26.98)
    assert sent[3].text == "Сусід +380501112233"
    assert sent[4].text == "акт.pdf"
    assert sent[0].message_id == derived_id(f"viber-user-1-{resident.n - 4}", "chat_message")
    assert len(resident.directory.received[(resident.channel, resident.channel_user_id)]) == received
    assert resident.resident.chat.last_activity_at == clock.now


async def test_a_sticker_is_not_relayed_and_the_resident_is_told(resident):
    await enter(resident)
    await resident.send_kind(MessageKind.sticker)
    assert of(resident, ChatResidentMessage) == []
    assert resident.text == t("chat.not_relayed") and resident.codes() == CHAT_KEYS
    await resident.send("А тепер текстом")
    assert [m.seq for m in of(resident, ChatResidentMessage)] == [1]  # nothing skipped a number


@pytest.mark.parametrize("code", ["menu:profile", "profile:delete", "ticket:show:t-1", "faq:up:x", "consent:yes"])
async def test_buttons_of_old_keyboards_do_nothing_in_a_chat_and_say_so(resident, code):
    """A button tapped on an older message is neither relayed nor obeyed (the chat
    would be left silently): the resident is told how to reach the menu."""
    await enter(resident)
    before = resident.resident.chat.model_dump()
    await resident.send(code)
    assert of(resident, ChatResidentMessage) == [] and resident.text == t("chat.button_inactive")
    assert resident.codes() == CHAT_KEYS and resident.resident.chat.model_dump() == before


async def test_the_welcome_button_and_coming_back_show_the_chat(resident):
    await enter(resident)
    await resident.send("start")
    assert resident.text == t("chat.in_chat") and resident.codes() == CHAT_KEYS
    await resident.incoming(IncomingKind.subscribed)
    assert resident.text == t("chat.in_chat") and resident.step == "chat"


# ----------------------------------------------------------------------------- leaving


async def test_ending_the_chat_tells_the_operator_and_brings_the_cabinet_back(resident):
    chat_id = await enter(resident)
    await resident.tap("chat:end")
    [end] = of(resident, ChatEndRequested)
    assert (end.chat_id, end.reason) == (chat_id, "resident")
    assert resident.text.startswith(t("chat.ended_resident")) and "menu:profile" in resident.codes()
    assert resident.resident.chat is None and resident.step == "cabinet"
    await resident.send("chat:end")  # the old keyboard again: nothing more is sent
    assert len(of(resident, ChatEndRequested)) == 1 and resident.text.startswith(t("chat.closed"))


async def test_home_leaves_the_chat_only_after_confirmation(resident):
    chat_id = await enter(resident)
    await resident.tap("nav:home")
    assert resident.text == t("chat.confirm_leave") and resident.codes() == ["nav:home", "chat:stay"]
    await resident.tap("chat:stay")
    assert resident.text == t("chat.stay") and resident.codes() == CHAT_KEYS
    assert of(resident, ChatEndRequested) == [] and resident.resident.chat.chat_id == chat_id

    await resident.tap("nav:home")
    await resident.send("Ой, ще одне питання")  # writes instead of answering: relayed, keyboard back
    assert [m.text for m in of(resident, ChatResidentMessage)] == ["Ой, ще одне питання"]
    assert resident.text == t("chat.sent_after_confirm") and resident.codes() == CHAT_KEYS

    await resident.tap("nav:home")
    await resident.tap("nav:home")  # «🏠 Так, завершити чат»
    assert [e.reason for e in of(resident, ChatEndRequested)] == ["resident"]
    assert resident.step == "cabinet" and resident.resident.chat is None


async def test_blocking_the_bot_during_a_chat_ends_it(resident):
    chat_id = await enter(resident)
    outcome = await resident.incoming(IncomingKind.unsubscribed)
    [end] = of(resident, ChatEndRequested)
    assert end.chat_id == chat_id and outcome.replies == []
    assert resident.resident.chat is None


async def test_a_quiet_chat_ends_when_the_idle_job_says_so_but_not_after_a_new_message(resident, directory, ctx,
                                                                                       clock):
    """The job's cut-off is compared with the chat's last activity: a resident who wrote
    after the job looked keeps the chat; otherwise ``chat.end_requested`` idle, told."""
    chat_id = await enter(resident)
    cutoff = clock.now - timedelta(seconds=1)  # the job looked before the chat's last activity
    outcome = await system_notice(directory, resident.resident.id, ChatIdleNotice(chat_id, cutoff), ctx)
    assert outcome.events == [] and outcome.notices == [] and resident.resident.chat is not None

    clock.advance(minutes=31)
    outcome = await system_notice(directory, resident.resident.id, ChatIdleNotice(chat_id, clock.now), ctx)
    [end] = [e for e in outcome.events if isinstance(e, ChatEndRequested)]
    assert (end.chat_id, end.reason) == (chat_id, "idle")
    assert resident.text.startswith(t("chat.ended_idle")) and "menu:profile" in resident.codes()
    again = await system_notice(directory, resident.resident.id, ChatIdleNotice(chat_id, clock.now), ctx)
    assert again.events == [] and again.notices == []  # once


# ----------------------------------------------------------------------------- the contact center


async def test_opened_puts_the_resident_in_the_queue_once(resident, directory, ctx, clock):
    chat_id = await enter(resident)
    [notice] = await event(directory, ctx, resident, ChatOpened(conversation_id="42", **base(resident, chat_id, clock)))
    assert notice.reply.text == t("chat.queued") and [b.code for b in notice.reply.buttons] == CHAT_KEYS
    assert await event(directory, ctx, resident, ChatOpened(conversation_id="42", **base(resident, chat_id, clock))) \
        == []
    assert resident.step == "chat"


async def test_outside_hours_says_when_operators_are_there_and_offers_a_request(resident, directory, ctx, clock):
    """``opens_at`` is told in Kyiv time («завтра о 08:00»), with the Contact Center's
    phone, a request and home; the chat is over and the cabinet is back."""
    chat_id = await enter(resident)
    opens_at = datetime(2026, 3, 3, 6, 0, tzinfo=UTC)  # 08:00 in Kyiv (UTC+2 in March), the clock is 2 March
    [notice] = await event(directory, ctx, resident, ChatDeclined(reason="outside_hours", opens_at=opens_at,
                                                                   **base(resident, chat_id, clock)))
    assert t("chat.tomorrow", time="08:00") in notice.reply.text
    assert PHONE in notice.reply.text
    assert [b.code for b in notice.reply.buttons] == ["menu:new_ticket", "nav:home"]
    assert resident.resident.chat is None and resident.step == "cabinet"
    await resident.send("Коли відкриєтесь?")  # free text goes to the question answerer, not to a dead chat
    assert of(resident, ChatResidentMessage) == []


async def test_opening_days_further_away_name_the_weekday(resident, directory, ctx, clock):
    chat_id = await enter(resident)
    opens_at = datetime(2026, 3, 9, 6, 0, tzinfo=UTC)  # Monday 9 March, 08:00 Kyiv
    [notice] = await event(directory, ctx, resident, ChatDeclined(reason="outside_hours", opens_at=opens_at,
                                                                   **base(resident, chat_id, clock)))
    assert "у понеділок, 09.03, о 08:00" in notice.reply.text


@pytest.mark.parametrize("reason", ["unavailable", "disabled"])
async def test_no_chat_is_said_plainly_with_the_phone(resident, directory, ctx, clock, reason):
    chat_id = await enter(resident)
    [notice] = await event(directory, ctx, resident, ChatDeclined(reason=reason, **base(resident, chat_id, clock)))
    assert notice.reply.text.startswith(t(f"chat.declined_{reason}")) and PHONE in notice.reply.text
    assert resident.resident.chat is None


async def test_without_a_configured_phone_the_city_datas_phone_is_told(resident, directory, clock):
    """DIALOG_CONTACT_CENTER_PHONE empty: the phone of the city data's contact_center.toml."""
    plain = Chat(directory, "viber-user-1", ctx=build_context(directory, clock=clock))
    assert plain.ctx.contact_center_phone == plain.ctx.city.contact_center_phone == "15-80"
    chat_id = await enter(plain)
    [notice] = await event(directory, plain.ctx, plain, ChatDeclined(reason="disabled",
                                                                      **base(plain, chat_id, clock)))
    assert t("chat.phone", phone="15-80") in notice.reply.text


async def test_the_city_datas_hours_follow_the_phone(resident, directory, clock, tmp_path):
    """contact_center.toml with hours: told after the phone (the setting's phone wins)."""
    shutil.copytree(DEFAULT_DATA_DIR, tmp_path / "city")
    (tmp_path / "city" / "contact_center.toml").write_text(
        '[contact_center]\nphone = "15-80"\nhours = "пн–пт 8:00–20:00"\n', encoding="utf-8")
    ctx = build_context(directory, clock=clock, data_dir=tmp_path / "city", contact_center_phone="0382 00 00 00")
    plain = Chat(directory, "viber-user-1", ctx=ctx)
    chat_id = await enter(plain)
    [notice] = await event(directory, plain.ctx, plain, ChatDeclined(reason="disabled",
                                                                      **base(plain, chat_id, clock)))
    expected = f'{t("chat.phone", phone="0382 00 00 00")} {t("chat.hours", hours="пн–пт 8:00–20:00")}'
    assert expected in notice.reply.text and "15-80" not in notice.reply.text


async def test_without_any_phone_the_website_is_named(resident, directory, clock, tmp_path):
    """Neither the setting nor the city data gives a phone: the website is named."""
    shutil.copytree(DEFAULT_DATA_DIR, tmp_path / "city")
    (tmp_path / "city" / "contact_center.toml").unlink()
    plain = Chat(directory, "viber-user-1", ctx=build_context(directory, clock=clock, data_dir=tmp_path / "city"))
    assert plain.ctx.contact_center_phone is None
    chat_id = await enter(plain)
    [notice] = await event(directory, plain.ctx, plain, ChatDeclined(reason="disabled",
                                                                      **base(plain, chat_id, clock)))
    assert t("chat.phone_unknown") in notice.reply.text


async def test_operator_answers_reach_the_resident_with_the_chat_keyboard(resident, directory, ctx, clock):
    chat_id = await enter(resident)
    clock.advance(minutes=10)
    [notice] = await event(directory, ctx, resident, ChatOperatorMessage(
        message_id="m1", operator_name="Ірина", text="Бригада вже виїхала.",
        attachments=["https://chat.example/a/1.jpg"], **base(resident, chat_id, clock)))
    text = notice.reply.text
    assert text.startswith(t("chat.operator_named", name="Ірина")) and "Бригада вже виїхала." in text
    assert "https://chat.example/a/1.jpg" in text and [b.code for b in notice.reply.buttons] == CHAT_KEYS
    assert resident.resident.chat.last_activity_at == clock.now  # the idle time counts from the answer


async def test_a_very_long_answer_is_split_within_viber_limits(resident, directory, ctx, clock):
    chat_id = await enter(resident)
    notices = await event(directory, ctx, resident, ChatOperatorMessage(message_id="m1", text="а" * 30000,
                                                                        **base(resident, chat_id, clock)))
    assert 1 < len(notices) <= 3 and all(len(n.reply.text) <= 7000 for n in notices)
    assert notices[-1].reply.text.endswith(t("chat.cut"))


async def test_unanswered_keeps_the_chat_and_offers_a_request_or_a_call(resident, directory, ctx, clock, records):
    from tickets_data import services_event

    records.apply("services-1", services_event())
    chat_id = await enter(resident)
    [notice] = await event(directory, ctx, resident, ChatUnanswered(**base(resident, chat_id, clock)))
    assert notice.reply.text.startswith(t("chat.unanswered")) and PHONE in notice.reply.text
    assert [b.code for b in notice.reply.buttons] == ["chat:ticket", *CHAT_KEYS]
    assert resident.resident.chat.chat_id == chat_id
    await resident.send("Я почекаю")
    assert len(of(resident, ChatResidentMessage)) == 1
    await resident.tap("chat:ticket")  # a request instead: the chat ends, the request starts
    assert [e.reason for e in of(resident, ChatEndRequested)] == ["resident"]
    assert resident.resident.chat is None and resident.step.startswith("t_")


async def test_undelivered_messages_are_named(resident, directory, ctx, clock):
    chat_id = await enter(resident)
    await resident.send("Перше")
    await resident.send_kind(MessageKind.picture, media_url="https://media.example/1.jpg")
    ids = [m.message_id for m in of(resident, ChatResidentMessage)]
    [notice] = await event(directory, ctx, resident, ChatUndelivered(message_ids=ids, **base(resident, chat_id, clock)))
    assert "№1: Перше" in notice.reply.text and f"№2: {t('chat.preview_picture')}" in notice.reply.text
    assert [b.code for b in notice.reply.buttons] == CHAT_KEYS


async def test_undelivered_after_the_end_is_still_told_and_unknown_ids_are_counted(resident, directory, ctx, clock):
    chat_id = await enter(resident)
    await resident.send("Останнє")
    await resident.tap("chat:end")
    [mid] = [m.message_id for m in of(resident, ChatResidentMessage)]
    [notice] = await event(directory, ctx, resident, ChatUndelivered(message_ids=[mid],
                                                                     **base(resident, chat_id, clock)))
    assert "№1: Останнє" in notice.reply.text and [b.code for b in notice.reply.buttons] == ["nav:home"]
    [notice] = await event(directory, ctx, resident, ChatUndelivered(message_ids=[mid, "nobody-knows"],
                                                                     **base(resident, chat_id, clock)))
    assert notice.reply.text == t("chat.undelivered_count", count=2)


async def test_closed_by_the_operator_asks_for_a_rating_once(resident, directory, ctx, clock):
    """«Оцініть чат 1–5» after the operator resolved it; a tap publishes ``chat.rated``
    once; a second tap, a digit out of range or an old chat's button count nothing."""
    chat_id = await enter(resident)
    [notice] = await event(directory, ctx, resident, ChatClosed(by="operator", **base(resident, chat_id, clock)))
    assert notice.reply.text == t("chat.closed_by_operator")
    assert [b.code for b in notice.reply.buttons] == [f"chat:rate:{chat_id}:{n}" for n in range(1, 6)] + ["nav:home"]
    assert resident.resident.chat is None and resident.step == "chat_rate"
    await resident.send(f"chat:rate:{chat_id}:7")
    assert resident.text.startswith(t("chat.rate_stale")) and of(resident, ChatRated) == []
    await resident.send(f"chat:rate:{chat_id}:4")  # the keyboard shown now is the cabinet: an older message's
    [rated] = of(resident, ChatRated)
    assert (rated.chat_id, rated.rating) == (chat_id, 4)
    assert resident.text.startswith(t("chat.rate_thanks")) and resident.step == "cabinet"
    await resident.send(f"chat:rate:{chat_id}:5")
    assert len(of(resident, ChatRated)) == 1 and resident.text.startswith(t("chat.rate_stale"))


async def test_free_text_at_the_rating_is_a_question_not_an_error(resident, directory, ctx, clock):
    chat_id = await enter(resident)
    await event(directory, ctx, resident, ChatClosed(by="operator", **base(resident, chat_id, clock)))
    await resident.send("А коли буде вода?")
    assert "Гарячу воду" in resident.text and of(resident, ChatRated) == []


async def test_closed_for_the_resident_or_idle_brings_the_cabinet(resident, directory, ctx, clock):
    chat_id = await enter(resident)
    [notice] = await event(directory, ctx, resident, ChatClosed(by="idle", **base(resident, chat_id, clock)))
    assert notice.reply.text.startswith(t("chat.closed")) and "menu:profile" in [b.code for b in notice.reply.buttons]
    assert resident.resident.chat is None and resident.step == "cabinet"


async def test_events_of_another_chat_change_nothing(resident, directory, ctx, clock):
    """Stale ``chat_id`` (an ended chat, a redelivery after a new one began): ignored."""
    old = await enter(resident)
    await resident.tap("chat:end")
    await resident.tap("menu:chat")
    current = resident.resident.chat.chat_id
    assert current != old
    before = resident.resident.model_dump()
    for data in (ChatOpened(conversation_id="1", **base(resident, old, clock)),
                 ChatOperatorMessage(message_id="x", text="Пізня відповідь", **base(resident, old, clock)),
                 ChatUnanswered(**base(resident, old, clock)),
                 ChatClosed(by="operator", **base(resident, old, clock)),
                 ChatDeclined(reason="unavailable", **base(resident, old, clock))):
        assert await event(directory, ctx, resident, data) == []
    assert resident.resident.model_dump() == before


async def test_notices_reach_the_resident_during_a_chat_without_leaving_it(resident, directory, ctx):
    await enter(resident)
    [notice] = (await system_notice(directory, resident.resident.id,
                                    TextNotice("notices.message", {"text": "Завтра не буде води."}), ctx)).notices
    assert "Завтра не буде води." in notice.reply.text
    assert resident.step == "chat"
    await resident.send("Це стосується нашого будинку?")
    assert len(of(resident, ChatResidentMessage)) == 1


async def test_a_closed_chat_told_to_a_resident_who_blocked_the_bot_still_closes(resident, directory, ctx, clock):
    """Nobody can be told, but the chat is over all the same (no message is sent)."""
    chat_id = await enter(resident)
    resident.directory.residents[resident.resident.id].identities[0].subscribed = False
    closed = ChatNotice(ChatClosed(by="operator", **base(resident, chat_id, clock)))
    outcome = await system_notice(directory, resident.resident.id, closed, ctx)
    assert outcome.notices == [] and resident.resident.chat is None


async def test_every_chat_message_is_polite_ukrainian_within_viber_limits_with_a_way_home(resident, directory, ctx,
                                                                                         clock):
    """ux_checks on everything the resident reads in and around a chat (formal
    Ukrainian, ``nav:home`` on every keyboard, Viber's sizes)."""
    from ux_checks import problems

    first = len(directory.received[(resident.channel, resident.channel_user_id)])
    chat_id = await enter(resident)
    await resident.send_kind(MessageKind.sticker)
    await resident.send("menu:profile")
    await resident.tap("nav:home")
    await resident.tap("chat:stay")
    await resident.send("Текст")
    for data in (ChatOpened(conversation_id="1", **base(resident, chat_id, clock)),
                 ChatOperatorMessage(message_id="m", operator_name="Ірина", text="Добрий день",
                                     attachments=["https://chat.example/f.jpg"], **base(resident, chat_id, clock)),
                 ChatUnanswered(**base(resident, chat_id, clock)),
                 ChatUndelivered(message_ids=["x"], **base(resident, chat_id, clock)),
                 ChatClosed(by="operator", **base(resident, chat_id, clock))):
        await event(directory, ctx, resident, data)
    await resident.send(f"chat:rate:{chat_id}:3")
    for reason in ("outside_hours", "unavailable", "disabled"):
        if "menu:chat" not in resident.codes():
            await resident.tap("nav:home")
        chat_id = await enter(resident)
        opens = datetime(2026, 3, 9, 6, tzinfo=UTC) if reason == "outside_hours" else None
        await event(directory, ctx, resident, ChatDeclined(reason=reason, opens_at=opens,
                                                           **base(resident, chat_id, clock)))
    await resident.tap("nav:home")
    await enter(resident)
    clock.advance(hours=1)
    await system_notice(directory, resident.resident.id, ChatIdleNotice(resident.resident.chat.chat_id, clock.now),
                        ctx)
    received = directory.received[(resident.channel, resident.channel_user_id)][first:]
    found = [(r.text[:40], p) for r in received for p in problems(r.text, r.buttons, registered=True)]
    assert found == []
    assert len(received) > 20
