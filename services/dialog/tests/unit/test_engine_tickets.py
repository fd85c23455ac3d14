"""Requests to the Contact Center in the conversation (issue 7): filing one, the draft
surviving, odd answers, the duplicate check, «Мої звернення», the rating and the refused
request. The projections are the in-memory ones the service's store mirrors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chatbot_common.events import (
    MessageKind,
    TicketRated,
    TicketRegistered,
    TicketStatus,
    TicketStatusChanged,
    TicketSubmitted,
)
from chatbot_common.texts import catalog

from dialog.conversation import TicketRejectedNotice, build_context
from dialog.conversation.records import MemoryRecords
from engine_chat import Chat, register, system_notice
from tickets_data import EVERY_DATATYPE, SIMPLE, services_event, token

t = catalog()


@pytest.fixture
def records() -> MemoryRecords:
    return MemoryRecords()


@pytest.fixture
def ctx(directory, clock, records):
    return build_context(directory, clock=clock, records=records)


@pytest.fixture
async def resident(chat: Chat, records: MemoryRecords) -> Chat:
    await register(chat)
    records.apply("services-1", services_event())
    return chat


def submitted(chat: Chat) -> list[TicketSubmitted]:
    return [e for e in chat.events if isinstance(e, TicketSubmitted)]


async def to_description(chat: Chat, service=SIMPLE) -> None:
    await chat.tap("menu:new_ticket")
    group = "tcat:g:1" if service is SIMPLE else "tcat:g:0"
    await chat.tap(group)
    await chat.tap(token(service))
    await chat.tap("temerg:no")
    assert chat.step == "t_description"


async def simple_request(chat: Chat, description: str = "Не світить ліхтар біля під'їзду") -> None:
    await to_description(chat)
    await chat.send(description)
    address_id = chat.resident.addresses[0].id
    await chat.tap(f"tloc:a:{address_id}")
    await chat.tap("tphoto:skip")
    assert chat.step == "t_summary", chat.text


async def test_without_a_service_list_the_resident_is_told_honestly_and_goes_home(chat: Chat):
    """No list from the contact center yet: no empty keyboard, an honest message and home."""
    await register(chat)
    await chat.tap("menu:new_ticket")
    assert chat.text.startswith(t("tickets.no_services"))
    assert chat.step == "cabinet"


async def test_a_request_with_every_datatype_is_sent_with_every_field(resident: Chat, clock):
    """The whole flow: groups → category → not an emergency → description → saved address
    → photo → each extra question (list, toggles, number, date, string, text) → summary →
    send. ticket.submitted carries the contact (S6), the place with the settlement and its
    address key, the photo link and Open311 attribute values (a list for toggles)."""
    chat = resident
    await chat.tap("menu:new_ticket")
    assert {"tcat:g:0", "tcat:g:1", "nav:back", "nav:home"} <= set(chat.codes())
    await chat.tap("tcat:g:0")
    assert chat.codes()[0] == token(EVERY_DATATYPE)
    await chat.tap(token(EVERY_DATATYPE))
    await chat.tap("temerg:no")
    await chat.send("Глибока яма посеред дороги, машини об'їжджають по тротуару")
    assert "tloc:other" in chat.codes() and "tloc:pin" in chat.codes()
    await chat.tap(f"tloc:a:{chat.resident.addresses[0].id}")
    assert "Контактного центру" in chat.text  # what happens to the photo
    await chat.send_kind(MessageKind.picture, media_url="https://media.example/p/1.jpg")
    assert chat.text.startswith(t("tickets.photo_added"))
    await chat.tap("tattr:v:1")  # size: big
    await chat.tap("tattr:v:0")  # where: road…
    await chat.tap("tattr:v:1")  # …and sidewalk
    assert "✅ Проїжджа частина" in [b.label for b in chat.buttons()]
    await chat.tap("tattr:done")
    await chat.send("15,5")  # depth
    await chat.send("01.03.2026 18:30")  # since
    await chat.send("Біля зупинки «Центр»")  # landmark
    await chat.tap("tattr:skip")  # more
    assert chat.step == "t_summary"
    assert "Велика" in chat.text and "Проїжджа частина, Тротуар" in chat.text and "01.03.2026 18:30" in chat.text
    await chat.tap("tsum:send")
    assert chat.text.startswith(t("tickets.sent"))
    [sent] = submitted(chat)
    assert sent.service_code == "road.pothole" and sent.service_name == "Яма на дорозі"
    assert sent.contact.first_name == "Олена" and sent.contact.last_name == "Коваленко"
    assert sent.contact.phone == "+380671234567"
    assert sent.location.address_string.startswith("м. Хмельницький, ")
    assert sent.location.key == "khmelnytskyi|proskurivska|12а"
    assert sent.media_urls == ["https://media.example/p/1.jpg"]
    assert sent.attributes == {"size": "big", "where": ["road", "walk"], "depth": "15.5",
                               "since": "2026-03-01T18:30:00+02:00", "landmark": "Біля зупинки «Центр»"}
    assert sent.submitted_at == clock.now
    assert chat.resident.ticket_draft is None and sent.ticket_id in chat.resident.sent_drafts


async def test_the_ticket_id_is_derived_from_the_input(resident: Chat, ctx):
    """The same input (a redelivery) issues the same ticket id; another input another."""
    from dialog.conversation import Incoming, IncomingKind, respond
    from chatbot_common.events import InboundContent

    await simple_request(resident)
    before = resident.resident
    incoming = Incoming(IncomingKind.message, "viber-user-1", InboundContent(kind=MessageKind.text, text="tsum:send"),
                        input_id="input-42")
    first = await respond(before.model_copy(deep=True), incoming, ctx)
    again = await respond(before.model_copy(deep=True), incoming, ctx)
    other = await respond(before.model_copy(deep=True), Incoming(**{**incoming.__dict__, "input_id": "input-43"}), ctx)
    ids = [next(e for e in o.events if isinstance(e, TicketSubmitted)).ticket_id for o in (first, again, other)]
    assert ids[0] == ids[1] != ids[2]


async def test_an_emergency_gets_what_to_do_and_the_numbers_then_may_go_on(resident: Chat):
    """C4: «yes, it is an emergency» → what to do right now, 101–104 and 112 and the city's
    own emergency services from its data; then the resident may continue the request."""
    chat = resident
    await chat.tap("menu:new_ticket")
    await chat.tap("tcat:g:1")
    await chat.tap(token(SIMPLE))
    await chat.tap("temerg:yes")
    for number in ("101", "102", "103", "104", "112"):
        assert number in chat.text
    assert "водоканалу" in chat.text  # the city's dispatch, from useful_info.toml
    await chat.tap("temerg:go_on")
    assert chat.step == "t_description"


@pytest.mark.parametrize(
    ("step_setup", "odd"),
    [
        ("t_groups", "будь-що"),
        ("t_emergency", "можливо"),
        ("t_description", "?"),
        ("t_location", "десь тут"),
        ("t_photo", "ось"),
        ("t_summary", "так"),
    ],
)
async def test_odd_input_at_each_step_gets_a_polite_answer_and_the_same_question(resident: Chat, step_setup, odd):
    """Text where a button or a photo is expected: a clear Ukrainian answer, the same
    question again, and the draft as it was."""
    chat = resident
    if step_setup == "t_groups":
        await chat.tap("menu:new_ticket")
    elif step_setup == "t_emergency":
        await chat.tap("menu:new_ticket")
        await chat.tap("tcat:g:1")
        await chat.tap(token(SIMPLE))
    elif step_setup == "t_description":
        await to_description(chat)
    elif step_setup == "t_location":
        await to_description(chat)
        await chat.send("Не світить ліхтар")
    elif step_setup == "t_photo":
        await to_description(chat)
        await chat.send("Не світить ліхтар")
        await chat.tap(f"tloc:a:{chat.resident.addresses[0].id}")
    else:
        await simple_request(chat)
    draft = chat.resident.ticket_draft
    codes = chat.codes()
    await chat.send(odd)
    assert chat.step == step_setup
    assert chat.resident.ticket_draft == draft
    assert chat.codes() == codes
    assert chat.text.split("\n\n")[0] in {
        t("errors.use_buttons"), t("tickets.description_short"), t("tickets.location_use_buttons"),
        t("tickets.photo_expected"),
    }


async def test_a_sticker_where_a_text_is_expected_keeps_the_question(resident: Chat):
    await to_description(resident)
    await resident.send_kind(MessageKind.sticker)
    assert resident.step == "t_description" and resident.text.startswith(t("errors.not_text"))


async def test_odd_answers_to_extra_questions_are_refused_and_the_question_repeated(resident: Chat):
    """A required list question cannot be skipped or answered with free text; a bad
    number and a bad date are refused; toggles need at least one choice."""
    chat = resident
    await to_description(chat, EVERY_DATATYPE)
    await chat.send("Яма")
    await chat.tap(f"tloc:a:{chat.resident.addresses[0].id}")
    await chat.tap("tphoto:skip")
    assert "tattr:skip" not in chat.codes()  # required
    await chat.send("величезна")
    assert chat.text.startswith(t("errors.use_buttons")) and chat.resident.state.data["index"] == 0
    await chat.send("Невелика")  # the value's own name, typed, is an answer
    await chat.tap("tattr:done")
    assert chat.text.startswith(t("tickets.choose_one"))
    await chat.tap("tattr:v:2")
    await chat.tap("tattr:done")
    await chat.send("дуже глибока")
    assert chat.text.startswith(t("tickets.bad_number"))
    await chat.send("12")
    await chat.send("31.02.2026")
    assert chat.text.startswith(t("tickets.bad_datetime"))
    await chat.tap("tattr:skip")
    await chat.send("x" * 1001)
    assert chat.text.startswith(t("tickets.answer_too_long", length=1001, limit=1000))
    await chat.send("Біля школи")
    await chat.tap("tattr:skip")
    assert chat.step == "t_summary"
    assert chat.resident.ticket_draft["attributes"] == {"size": "small", "where": ["yard"], "depth": "12",
                                                         "landmark": "Біля школи"}


async def test_a_too_long_description_is_kept_and_can_be_cut(resident: Chat):
    """Over 4000 characters: the resident is told, the text is kept, and «✂️ Скоротити»
    keeps its first 4000 characters."""
    chat = resident
    await to_description(chat)
    long = "Опис проблеми. " * 300
    await chat.send(long)
    assert chat.step == "t_description" and str(len(long.strip())) in chat.text
    assert chat.resident.ticket_draft["description_long"] == long.strip()
    await chat.tap("tdesc:cut")
    assert chat.step == "t_location"
    assert chat.resident.ticket_draft["description"] == long.strip()[:4000].rstrip()


async def test_another_address_uses_the_street_matching_and_a_pin_is_taken(resident: Chat):
    """«Інша адреса» goes through the same street matching as the profile; the place is
    the request's only (not saved to the profile). A location pin also works."""
    chat = resident
    await to_description(chat)
    await chat.send("Не світить ліхтар")
    await chat.tap("tloc:other")
    assert chat.step == "street"
    await chat.send("Кам'янецька 5")
    await chat.tap("apartment:none")
    assert chat.step == "t_photo"
    assert chat.resident.ticket_draft["location"]["key"] == "khmelnytskyi|kamianetska|5"
    assert len(chat.resident.addresses) == 1
    await chat.tap("nav:back")
    await chat.send_kind(MessageKind.location, lat=49.42, lon=26.98)
    assert chat.step == "t_photo"
    assert chat.resident.ticket_draft["location"]["lat"] == 49.42


async def test_the_draft_survives_leaving_and_the_menu_offers_to_continue_it(resident: Chat):
    chat = resident
    await to_description(chat)
    await chat.send("Не світить ліхтар біля будинку")
    await chat.tap("nav:home")
    await chat.tap("menu:profile")
    await chat.tap("nav:home")
    await chat.tap("menu:new_ticket")
    assert chat.step == "t_resume" and SIMPLE.service_name in chat.text
    await chat.tap("tdraft:continue")
    assert chat.step == "t_summary" and "Не світить ліхтар біля будинку" in chat.text
    await chat.tap("tsum:send")  # the place is missing: asked for, nothing sent
    assert chat.step == "t_location" and chat.text.startswith(t("tickets.incomplete"))
    assert submitted(chat) == []


async def test_edit_returns_to_the_summary_and_cancel_drops_the_draft(resident: Chat):
    chat = resident
    await simple_request(chat)
    await chat.tap("tsum:edit")
    await chat.tap("tedit:description")
    await chat.send("Новий опис проблеми")
    assert chat.step == "t_summary" and "Новий опис проблеми" in chat.text
    await chat.tap("tsum:cancel")
    assert chat.resident.ticket_draft is None and chat.step == "cabinet"
    assert chat.text.startswith(t("tickets.cancelled"))


async def test_an_open_request_of_the_same_category_and_address_is_offered_instead(resident: Chat, records):
    """Before sending: the same category at the same address is open → say so, offer to
    follow it or send anyway."""
    chat = resident
    await simple_request(chat)
    await chat.tap("tsum:send")
    [first] = submitted(chat)
    records.apply("e1", first)
    records.apply("e2", TicketRegistered(ticket_id=first.ticket_id, resident_id=first.resident_id,
                                         service_name=first.service_name, service_request_id="12345",
                                         at=datetime(2026, 3, 2, 10, tzinfo=UTC)))
    await simple_request(chat, "Знову не світить")
    await chat.tap("tsum:send")
    assert chat.step == "t_duplicate" and "12345" in chat.text
    assert f"ticket:show:{first.ticket_id}" in chat.codes()
    await chat.tap("tsum:force")
    assert len(submitted(chat)) == 2


async def file_and_register(chat: Chat, records: MemoryRecords, number: str = "12345") -> TicketSubmitted:
    await simple_request(chat)
    await chat.tap("tsum:send")
    sent = submitted(chat)[-1]
    records.apply(f"sub-{sent.ticket_id}", sent)
    records.apply(f"reg-{sent.ticket_id}", TicketRegistered(
        ticket_id=sent.ticket_id, resident_id=sent.resident_id, service_name=sent.service_name,
        service_request_id=number, expected_at=datetime(2026, 12, 5, 12, tzinfo=UTC),
        at=datetime(2026, 3, 2, 10, tzinfo=UTC)))
    return sent


def status(sent: TicketSubmitted, value: TicketStatus, n: int, notes: str | None = None) -> TicketStatusChanged:
    return TicketStatusChanged(ticket_id=sent.ticket_id, resident_id=sent.resident_id, service_name=sent.service_name,
                               service_request_id="12345", update_id=f"u{n}", status=value, raw_status=value.value,
                               notes=notes, at=datetime(2026, 3, 3, 10, tzinfo=UTC) + timedelta(hours=n))


async def test_my_requests_list_number_status_deadline_and_details_with_history(resident: Chat, records):
    chat = resident
    sent = await file_and_register(chat, records)
    records.apply("s1", status(sent, TicketStatus.in_progress, 1))
    records.apply("s2", status(sent, TicketStatus.fixed, 2, notes="Лампу замінено"))
    await chat.tap("menu:tickets")
    assert "№ 12345" in chat.text and SIMPLE.service_name in chat.text
    assert t("ticket_status.fixed") in chat.text and "05.12.2026" in chat.text
    await chat.tap(f"ticket:show:{sent.ticket_id}")
    for line in (t("ticket_status.submitted"), t("tickets.history_registered"), t("ticket_status.in_progress"),
                 "Лампу замінено"):
        assert line in chat.text
    assert f"ticket:rate:{sent.ticket_id}:5" in chat.codes()


async def test_the_list_pages_and_a_request_without_number_waits_for_one(resident: Chat, records):
    chat = resident
    for n in range(6):
        await simple_request(chat, f"Ліхтар номер {n} не світить")
        await chat.tap("tsum:send")
        if chat.step == "t_duplicate":  # the same place and category is open already
            await chat.tap("tsum:force")
        records.apply(f"sub{n}", submitted(chat)[-1])
    await chat.tap("menu:tickets")
    assert t("tickets.no_number") in chat.text and "nav:page:1" in chat.codes()
    await chat.tap("nav:page:1")
    assert "6." in chat.text and "nav:page:0" in chat.codes()


async def test_rating_a_low_mark_with_a_comment_offers_to_reopen(resident: Chat, records):
    """1–5 from the notice's buttons (any screen) → optional comment → 1–2 offers to
    reopen → ticket.rated with reopen=True; a second rating is refused politely."""
    chat = resident
    sent = await file_and_register(chat, records)
    records.apply("s1", status(sent, TicketStatus.closed, 1, notes="Виконано"))
    await chat.tap("menu:profile")  # the notice's buttons work from anywhere
    await chat.send(f"ticket:rate:{sent.ticket_id}:1")
    assert chat.step == "rating_comment"
    await chat.send("Нічого не змінилося")
    assert chat.step == "rating_reopen"
    await chat.tap("trate:reopen")
    [rated] = [e for e in chat.events if isinstance(e, TicketRated)]
    assert (rated.rating, rated.comment, rated.reopen, rated.service_request_id) == (1, "Нічого не змінилося", True,
                                                                                    "12345")
    await chat.send(f"ticket:rate:{sent.ticket_id}:5")
    assert chat.text.startswith(t("tickets.rate_already"))
    assert len([e for e in chat.events if isinstance(e, TicketRated)]) == 1


async def test_a_good_mark_needs_no_reopen_and_an_open_request_cannot_be_rated(resident: Chat, records):
    chat = resident
    sent = await file_and_register(chat, records)
    await chat.send(f"ticket:rate:{sent.ticket_id}:5")
    assert chat.text.startswith(t("tickets.rate_not_final")) and chat.step == "ticket"
    records.apply("s1", status(sent, TicketStatus.fixed, 1))
    await chat.send(f"ticket:rate:{sent.ticket_id}:5")
    await chat.tap("trate:skip")
    [rated] = [e for e in chat.events if isinstance(e, TicketRated)]
    assert (rated.rating, rated.comment, rated.reopen) == (5, None, False)
    assert chat.text.startswith(t("tickets.rate_thanks"))


async def test_a_refused_request_can_be_fixed_and_resent(directory, ctx, resident: Chat, records):
    """ticket.rejected: the contact center's reason in a Ukrainian frame with «Виправити»
    and «Надіслати знову»; the draft comes back whole; resending issues a new ticket id."""
    chat = resident
    await simple_request(chat)
    await chat.tap("tsum:send")
    [sent] = submitted(chat)
    notice = TicketRejectedNotice(ticket_id=sent.ticket_id, service_name=sent.service_name,
                                  reason="Invalid address", http_status=400)
    await system_notice(directory, chat.resident.id, notice, ctx)
    assert "«Invalid address»" in chat.text and SIMPLE.service_name in chat.text
    assert {f"tdraft:edit:{sent.ticket_id}", f"tdraft:resend:{sent.ticket_id}"} <= set(chat.codes())
    await chat.tap(f"tdraft:edit:{sent.ticket_id}")
    assert chat.step == "t_summary" and "Не світить ліхтар біля під'їзду" in chat.text
    await chat.tap("tsum:send")
    first, second = submitted(chat)
    assert second.ticket_id != first.ticket_id and second.description == first.description
    await chat.send(f"tdraft:resend:{sent.ticket_id}")  # used up: nothing is sent twice
    assert chat.text.startswith(t("tickets.draft_gone")) and len(submitted(chat)) == 2
