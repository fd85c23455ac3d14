"""Surveys in the bot (issue 9, C8): «📊 Опитування», answering one question at a time,
stopping and continuing, one answer per resident per survey, surveys that end while a
resident answers, odd input at every step, and who sees which survey (segments)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chatbot_common.events import (
    Channel,
    MessageKind,
    NotifyScope,
    Segment,
    SegmentStreet,
    SurveyAnswer,
    SurveyAnswered,
    SurveyOption,
    SurveyPublished,
    SurveyQuestion,
    SurveyQuestionKind,
    SurveyState,
    TicketLocation,
    TicketSubmitted,
)
from chatbot_common.texts import catalog

from dialog.conversation import build_context
from dialog.conversation.records import MemoryRecords
from engine_chat import Chat, register
from test_engine_crawler import crawl

t = catalog()
AT = datetime(2026, 3, 1, 8, tzinfo=UTC)
TITLE = "Опитування мешканців"

QUESTIONS = [
    SurveyQuestion(question_id="q1", kind=SurveyQuestionKind.single, text="Як Ви оцінюєте прибирання двору?",
                   options=[SurveyOption(key="good", label="Добре"), SurveyOption(key="bad", label="Погано")]),
    SurveyQuestion(question_id="q2", kind=SurveyQuestionKind.multiple, text="Що варто покращити?",
                   options=[SurveyOption(key="light", label="Освітлення"), SurveyOption(key="roads", label="Дороги"),
                            SurveyOption(key="parks", label="Парки")]),
    SurveyQuestion(question_id="q3", kind=SurveyQuestionKind.scale, text="Оцініть роботу Контактного центру"),
    SurveyQuestion(question_id="q4", kind=SurveyQuestionKind.text, text="Ваші побажання", required=False),
]


def survey(survey_id: str = "s1", *, revision: int = 1, state: SurveyState = SurveyState.active,
           questions: list[SurveyQuestion] | None = None, **fields) -> SurveyPublished:
    base = dict(survey_id=survey_id, revision=revision, title=TITLE, intro="Кілька питань.",
                questions=questions or QUESTIONS, starts_at=datetime(2026, 3, 1, tzinfo=UTC),
                ends_at=datetime(2026, 3, 31, tzinfo=UTC), state=state, at=AT)
    return SurveyPublished(**{**base, **fields})


@pytest.fixture
def records() -> MemoryRecords:
    return MemoryRecords()


@pytest.fixture
def ctx(directory, clock, records):
    return build_context(directory, clock=clock, records=records)


@pytest.fixture
async def resident(chat: Chat, records: MemoryRecords) -> Chat:
    await register(chat)
    records.apply("e-s1", survey())
    return chat


def answered(chat: Chat) -> list[SurveyAnswered]:
    return [e for e in chat.events if isinstance(e, SurveyAnswered)]


async def answer_all(chat: Chat) -> None:
    """From the list: the whole survey s1 answered, up to the summary."""
    await chat.tap("menu:surveys") if "menu:surveys" in chat.codes() else None
    await chat.tap("survey:open:s1")
    await chat.tap("sv:o:0")  # q1: Добре
    await chat.tap("sv:t:0")  # q2: Освітлення
    await chat.tap("sv:t:2")  # q2: Парки
    await chat.tap("sv:done")
    await chat.tap("sv:s:4")  # q3: 4
    await chat.send("Більше лавок у парку")  # q4
    assert chat.step == "survey_summary", chat.text


# ----------------------------------------------------------------------------- the list


async def test_the_menu_entry_without_surveys_says_so_with_a_way_home(chat):
    await register(chat)
    outcome = await chat.tap("menu:surveys")
    assert chat.text == t("surveys.none") and chat.codes() == ["nav:home"]
    assert outcome.events == []


async def test_the_list_shows_only_open_surveys_of_the_residents_segment(resident, records, clock):
    """Running now, in the resident's segment: a closed, a cancelled, a not yet started,
    an ended survey and one for another settlement are not listed. A ``scheduled``
    survey whose start came is (the notifier invites at the start by itself; the admin's
    «active» may come seconds later)."""
    records.apply("e2", survey("scheduled", state=SurveyState.scheduled))
    records.apply("e3", survey("closed", state=SurveyState.closed))
    records.apply("e4", survey("cancelled", state=SurveyState.cancelled))
    records.apply("e5", survey("later", starts_at=clock.now + timedelta(days=1)))
    records.apply("e6", survey("ended", ends_at=clock.now - timedelta(minutes=1)))
    records.apply("e7", survey("town", segment=Segment(settlement_ids=["ivankivtsi"])))
    records.apply("e8", survey("mine", segment=Segment(settlement_ids=["khmelnytskyi"])))
    await resident.tap("menu:surveys")
    assert resident.text == t("surveys.list")
    assert sorted(resident.codes()[:-1]) == ["survey:open:mine", "survey:open:s1", "survey:open:scheduled"]
    assert resident.codes()[-1] == "nav:home"
    assert all(b.label == t("surveys.item_new", title=TITLE) for b in resident.buttons()[:-1])


# ----------------------------------------------------------------------------- answering


async def test_a_whole_survey_answered_one_question_at_a_time_sends_one_answer(resident, clock):
    await resident.tap("menu:surveys")
    await resident.tap("survey:open:s1")
    assert resident.text.startswith(t("surveys.intro", title=TITLE, intro="Кілька питань.", total=4))
    assert "Питання 1 з 4" in resident.text
    assert resident.codes() == ["sv:o:0", "sv:o:1", "nav:back", "nav:home"]  # required: no «Пропустити»
    await resident.tap("sv:o:0")
    assert "Питання 2 з 4" in resident.text
    assert resident.codes() == ["sv:t:0", "sv:t:1", "sv:t:2", "sv:done", "nav:back", "nav:home"]
    await resident.tap("sv:t:0")
    await resident.tap("sv:t:1")
    await resident.tap("sv:t:1")  # toggled off again
    await resident.tap("sv:t:2")
    labels = [b.label for b in resident.buttons()]
    assert labels[:3] == ["✅ Освітлення", "▫️ Дороги", "✅ Парки"] and resident.step == "survey_q"
    await resident.tap("sv:done")
    assert "Питання 3 з 4" in resident.text and resident.codes()[:5] == [f"sv:s:{n}" for n in range(1, 6)]
    await resident.tap("sv:s:4")
    assert "Питання 4 з 4" + t("surveys.optional") in resident.text and "sv:skip" in resident.codes()
    await resident.send("Більше лавок у парку")
    assert resident.step == "survey_summary"
    assert "Добре" in resident.text and "Освітлення, Парки" in resident.text and "Більше лавок у парку" in resident.text
    assert resident.codes() == ["sv:send", "sv:edit", "nav:back", "nav:home"]
    assert answered(resident) == []  # nothing leaves before «Надіслати»
    await resident.tap("sv:send")
    assert resident.text.startswith(t("surveys.sent")) and resident.step == "cabinet"
    [event] = answered(resident)
    assert event.survey_id == "s1" and event.resident_id == resident.resident.id and event.at == clock.now
    assert event.answers == [
        SurveyAnswer(question_id="q1", options=["good"]),
        SurveyAnswer(question_id="q2", options=["light", "parks"]),
        SurveyAnswer(question_id="q3", scale=4),
        SurveyAnswer(question_id="q4", text="Більше лавок у парку"),
    ]
    assert resident.resident.surveys_answered == ["s1"] and resident.resident.survey_progress == {}


async def test_a_second_attempt_is_told_it_was_already_answered(resident):
    await answer_all(resident)
    await resident.tap("sv:send")
    await resident.send("survey:open:s1")  # the invitation's button, again
    assert resident.text.startswith(t("surveys.already"))
    await resident.tap("menu:surveys") if "menu:surveys" in resident.codes() else None
    assert "survey:open:s1" not in resident.codes()
    assert len(answered(resident)) == 1


async def test_send_tapped_twice_from_an_old_keyboard_sends_once(resident, directory):
    await answer_all(resident)
    summary = resident.last
    await resident.tap("sv:send")
    directory.deliver(resident.channel, resident.channel_user_id, summary)  # the old summary again
    await resident.tap("sv:send")
    assert len(answered(resident)) == 1
    assert resident.text.startswith(t("errors.stale")) or resident.text.startswith(t("surveys.already"))


async def test_required_questions_cannot_be_skipped_optional_ones_can(resident):
    await resident.tap("menu:surveys")
    await resident.tap("survey:open:s1")
    await resident.send("sv:skip")  # an old «Пропустити» on a required question
    assert resident.text.startswith(t("surveys.required")) and "Питання 1 з 4" in resident.text
    await resident.tap("sv:o:1")
    await resident.tap("sv:done")  # nothing chosen on a required multiple choice
    assert resident.text.startswith(t("surveys.choose_one")) and "Питання 2 з 4" in resident.text
    await resident.tap("sv:t:1")
    await resident.tap("sv:done")
    await resident.tap("sv:s:1")
    await resident.tap("sv:skip")
    assert resident.step == "survey_summary" and t("surveys.skipped") in resident.text
    await resident.tap("sv:send")
    [event] = answered(resident)
    assert [a.question_id for a in event.answers] == ["q1", "q2", "q3"]  # the skipped one is left out


async def test_back_goes_to_the_previous_question_with_its_answer_shown(resident):
    await resident.tap("menu:surveys")
    await resident.tap("survey:open:s1")
    await resident.tap("sv:o:1")
    await resident.tap("nav:back")
    assert "Питання 1 з 4" in resident.text and t("surveys.current", answer="Погано") in resident.text
    await resident.tap("sv:o:0")  # changed
    await resident.tap("nav:back")
    await resident.tap("nav:back")  # from the first question: the list, with the progress
    assert resident.step == "surveys"
    assert resident.buttons()[0].label == t("surveys.item_progress", title=TITLE, answered=1, total=4)


async def test_a_resident_may_stop_any_time_and_continue_where_they_stopped(resident, clock):
    await resident.tap("menu:surveys")
    await resident.tap("survey:open:s1")
    await resident.tap("sv:o:1")
    await resident.tap("sv:t:0")
    await resident.tap("nav:home")  # stop: the ticked option is kept too
    assert resident.step == "cabinet"
    await resident.tap("menu:profile")
    clock.advance(days=2)
    await resident.send("survey:open:s1")  # the invitation's button, from another screen
    assert resident.text.startswith(t("surveys.resume", title=TITLE))
    assert "Питання 2 з 4" in resident.text and resident.buttons()[0].label == "✅ Освітлення"
    await resident.tap("sv:done")
    await resident.tap("sv:s:5")
    await resident.tap("sv:skip")
    await resident.tap("sv:send")
    [event] = answered(resident)
    assert event.answers[0] == SurveyAnswer(question_id="q1", options=["bad"])


async def test_the_summary_can_go_through_the_answers_again(resident):
    await answer_all(resident)
    await resident.tap("sv:edit")
    assert "Питання 1 з 4" in resident.text and t("surveys.current", answer="Добре") in resident.text
    await resident.tap("nav:home")
    await resident.tap("menu:surveys")
    await resident.tap("survey:open:s1")
    assert "Питання 1 з 4" in resident.text  # continues where they were: the first question
    await resident.tap("sv:o:1")
    await resident.tap("sv:done")
    await resident.tap("sv:s:4")
    await resident.tap("sv:skip")
    await resident.tap("nav:back")  # from the summary: the last question
    assert "Питання 4 з 4" in resident.text


# ----------------------------------------------------------------------------- surveys that end


async def test_a_survey_closed_while_answering_gets_a_polite_reply_and_loses_nothing_else(resident, records):
    await resident.tap("menu:surveys")
    await resident.tap("survey:open:s1")
    await resident.tap("sv:o:0")
    records.apply("e-closed", survey(revision=2, state=SurveyState.closed))
    outcome = await resident.tap("sv:t:0")
    assert resident.text.startswith(t("surveys.closed")) and resident.step == "surveys"
    assert outcome.events == [] and resident.resident.survey_progress == {}
    assert resident.resident.registered and resident.resident.addresses


async def test_a_survey_whose_end_passed_at_the_summary_is_not_sent(resident, clock):
    await answer_all(resident)
    clock.now = datetime(2026, 3, 31, tzinfo=UTC)  # ends_at: no longer open
    outcome = await resident.tap("sv:send")
    assert resident.text.startswith(t("surveys.closed")) and outcome.events == []


@pytest.mark.parametrize("state", [SurveyState.cancelled, SurveyState.closed])
async def test_an_old_invitation_button_gets_a_polite_reply(resident, records, state):
    records.apply("e-end", survey(revision=3, state=state))
    outcome = await resident.send("survey:open:s1")
    assert resident.text.startswith(t("surveys.closed")) and resident.codes() == ["nav:home"]
    assert outcome.events == []


async def test_an_invitation_for_a_survey_never_heard_of_gets_a_polite_reply(resident):
    await resident.send("survey:open:no-such-survey")
    assert resident.text.startswith(t("surveys.closed"))


async def test_a_changed_survey_asks_the_new_required_question_before_sending(resident, records):
    await answer_all(resident)
    extra = SurveyQuestion(question_id="q5", kind=SurveyQuestionKind.scale, text="Нове питання")
    records.apply("e-rev2", survey(revision=2, questions=[*QUESTIONS, extra]))
    outcome = await resident.tap("sv:send")
    assert resident.text.startswith(t("surveys.required_missing")) and "Питання 5 з 5" in resident.text
    assert outcome.events == []
    await resident.tap("sv:s:2")
    await resident.tap("sv:send")
    [event] = answered(resident)
    assert event.answers[-1] == SurveyAnswer(question_id="q5", scale=2)


# ----------------------------------------------------------------------------- odd input


async def test_odd_input_at_a_question_gets_a_clear_answer_and_loses_nothing(resident):
    await resident.tap("menu:surveys")
    await resident.tap("survey:open:s1")
    await resident.send_kind(MessageKind.sticker)
    assert resident.text.startswith(t("errors.not_text")) and "Питання 1 з 4" in resident.text
    await resident.send("щось незрозуміле")
    assert resident.text.startswith(t("errors.use_buttons")) and "Питання 1 з 4" in resident.text
    await resident.send("sv:s:3")  # a button of another kind of question
    assert resident.text.startswith(t("errors.stale")) and "Питання 1 з 4" in resident.text
    await resident.send("sv:o:7")  # no such option
    assert resident.text.startswith(t("errors.stale"))
    await resident.send("погано")  # an option's label typed: taken
    assert "Питання 2 з 4" in resident.text
    await resident.send("sv:t:9")
    assert resident.text.startswith(t("errors.stale"))
    await resident.tap("sv:t:1")
    await resident.tap("sv:done")
    await resident.send("6")  # not on the scale
    assert resident.text.startswith(t("errors.use_buttons")) and "Питання 3 з 4" in resident.text
    await resident.send("3")  # a digit typed: taken
    assert "Питання 4 з 4" in resident.text
    await resident.send("д" * 2001)
    assert resident.text.startswith(t("surveys.text_too_long", limit=2000, length=2001))
    assert resident.step == "survey_q"
    await resident.send("д" * 2000)
    assert resident.step == "survey_summary"
    progress = resident.resident.survey_progress["s1"]["answers"]
    assert progress["q1"] == {"options": ["bad"]} and progress["q3"] == {"scale": 3}


async def test_a_survey_button_from_a_guest_asks_to_register(chat, records):
    records.apply("e-s1", survey())
    await chat.tap_start()
    await chat.tap("consent:no")
    await chat.send("survey:open:s1")
    assert chat.text.startswith(t("guest.register_needed")) and chat.step == "guest"


async def test_every_survey_screen_is_polite_ukrainian_with_a_way_home(resident):
    await resident.tap("menu:surveys")
    _taps, steps, found = await crawl(resident)
    assert found == []
    assert {"surveys", "survey_q"} <= steps
    await answer_all(resident)  # the summary and what it leads to (sending, editing)
    _taps, steps, found = await crawl(resident)
    assert found == []
    assert {"survey_summary", "survey_q", "cabinet"} <= steps


async def test_many_options_stay_inside_viber_limits(resident, records):
    many = SurveyQuestion(question_id="m", kind=SurveyQuestionKind.multiple, text="Оберіть районі",
                          required=False, options=[SurveyOption(key=f"k{n}", label=f"Варіант {n}") for n in range(20)])
    records.apply("e-many", survey("many", questions=[many]))
    await resident.send("survey:open:many")
    _taps, _steps, found = await crawl(resident)
    assert found == []


# ----------------------------------------------------------------------------- segments


def _registered_at(chat: Chat) -> datetime:
    at = chat.resident.registered_at
    assert at is not None
    return at


@pytest.mark.parametrize(
    ("segment", "sees"),
    [
        (Segment(), True),
        (Segment(settlement_ids=["khmelnytskyi"]), True),
        (Segment(settlement_ids=["ivankivtsi"]), False),
        (Segment(streets=[SegmentStreet(settlement_id="khmelnytskyi", street_id="proskurivska")]), True),
        (Segment(streets=[SegmentStreet(settlement_id="khmelnytskyi", street_id="proskurivska", houses=["12А"])]),
         True),
        (Segment(streets=[SegmentStreet(settlement_id="khmelnytskyi", street_id="proskurivska", houses=["14"])]),
         False),
        (Segment(streets=[SegmentStreet(settlement_id="khmelnytskyi", street_id="kamianetska")]), False),
        (Segment(notify_scopes=[NotifyScope.address]), True),
        (Segment(notify_scopes=[NotifyScope.city]), False),
        (Segment(channels=[Channel.viber]), True),
        (Segment(channels=[Channel.telegram]), False),
        (Segment(registered_after=datetime(2026, 3, 1, tzinfo=UTC)), True),
        (Segment(registered_after=datetime(2026, 3, 3, tzinfo=UTC)), False),
        (Segment(registered_before=datetime(2026, 3, 3)), True),  # without a zone: UTC
        (Segment(registered_before=datetime(2026, 3, 1, tzinfo=UTC)), False),
        (Segment(has_open_request=False), True),
        (Segment(has_open_request=True), False),
        (Segment(answered_survey_id="s1"), False),
    ],
)
async def test_a_survey_is_listed_when_its_segment_holds_for_the_resident(resident, records, segment, sees):
    """The resident: Хмельницький, Проскурівська 12а, notices for the address, Viber,
    registered 2 March 2026, no requests, no survey answered."""
    assert _registered_at(resident) == datetime(2026, 3, 2, 9, tzinfo=UTC)
    records.apply("e-seg", survey("seg", segment=segment))
    await resident.tap("menu:surveys")
    assert ("survey:open:seg" in resident.codes()) is sees
    await resident.send("survey:open:seg")
    assert resident.text.startswith(t("surveys.closed")) is not sees


async def test_residents_who_chose_no_notices_are_in_no_segment(chat, records):
    await register(chat, notify="none")
    records.apply("e-s1", survey())
    await chat.tap("menu:surveys")
    assert chat.text == t("surveys.none")


async def test_open_request_and_answered_survey_segments_read_the_residents_own_records(resident, records, clock):
    records.apply("e-t", TicketSubmitted(ticket_id="t1", resident_id=resident.resident.id, service_code="1",
                                         service_name="Прибирання", description="Сміття",
                                         location=TicketLocation(address_string="м. Хмельницький, вул. Проскурівська, 12а"),
                                         submitted_at=clock.now))
    records.apply("e-open", survey("open-req", segment=Segment(has_open_request=True)))
    records.apply("e-after", survey("after-s1", segment=Segment(answered_survey_id="s1")))
    await resident.tap("menu:surveys")
    assert "survey:open:open-req" in resident.codes() and "survey:open:after-s1" not in resident.codes()
    await answer_all(resident)
    await resident.tap("sv:send")
    await resident.tap("menu:surveys")
    assert "survey:open:after-s1" in resident.codes()
