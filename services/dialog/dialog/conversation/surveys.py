"""Surveys (issue 9, C8): «📊 Опитування» and answering one question at a time.

- Which surveys a resident sees: ``active``, started and not ended, not answered yet,
  and the survey's :class:`~chatbot_common.events.Segment` holds for the resident's own
  profile (:func:`in_segment`, the same rules as the notifier's mailings).
- Answering: single choice (option buttons), multiple choice (toggles + «✅ Готово»),
  1–5 scale (buttons, or the digit typed), free text (typed, ≤ 2000 characters).
  Required questions cannot be skipped; «⬅️ Назад» is the previous question; the
  answers so far live in ``Resident.survey_progress``, so a resident may leave at any
  moment («🏠 Головне меню», another menu entry, days later) and continue where they
  stopped. After the last question: a summary and «📨 Надіслати».
- Sending publishes ONE ``survey.answered`` (its event id is derived from the survey
  and the resident by the service, see ``handlers.outbox_events``) and records the
  survey in ``Resident.surveys_answered``; a second attempt is told it was answered.
- A survey that ended or was cancelled meanwhile (or an old invitation button) gets a
  polite reply and the list of what is open; the progress of it is dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chatbot_common.segments import SegmentRule
from chatbot_common.events import (
    NotifyScope,
    SurveyAnswer,
    SurveyAnswered,
    SurveyPublished,
    SurveyQuestion,
    SurveyQuestionKind,
    SurveyState,
)

from . import codes
from .keyboards import button, navigation
from .turn import Answer, Step, Turn

#: The longest free-text answer (``SurveyAnswer.text``).
TEXT_LIMIT = 2000
#: Surveys listed on the «📊 Опитування» screen (Viber: ≤ 12 rows with navigation).
MAX_LISTED = 10
#: Options shown full width up to this many; up to 20 go two to a row, more three to a
#: row (a question with more than 30 options would pass Viber's 12 rows).
FULL_WIDTH_OPTIONS = 9


# ----------------------------------------------------------------------------- reading


async def preload(turn: Turn, code: str | None) -> None:
    """Read the open surveys when this turn may show them."""
    resident = turn.resident
    if not resident.registered:
        return
    relevant = turn.step == "surveys" or turn.step.startswith("survey_")
    if not relevant and not (code and (code.startswith(codes.SURVEY) or code == codes.MENU_SURVEYS)):
        return
    reader = getattr(turn.ctx.records, "surveys", None)
    turn.surveys = list(await reader()) if reader is not None else []
    if reader is not None:  # forget the progress of surveys that are no longer active
        active = {s.survey_id for s in turn.surveys}
        for survey_id in [i for i in resident.survey_progress if i not in active]:
            del resident.survey_progress[survey_id]
    needs_tickets = any(s.segment.has_open_request is not None for s in turn.surveys)
    if needs_tickets and not turn.tickets:
        turn.tickets = await turn.ctx.records.tickets(resident.id)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def is_open(survey: SurveyPublished, now: datetime) -> bool:
    """Open between its start and end while staff have not closed or cancelled it. A
    ``scheduled`` survey whose start came counts: the notifier invites at the start by
    itself, and the admin's «active» may come a few seconds later — the invitation's
    button must work at once."""
    starts, ends = _aware(survey.starts_at), _aware(survey.ends_at)
    return survey.state in (SurveyState.active, SurveyState.scheduled) and starts <= now < ends  # type: ignore[operator]


def in_segment(turn: Turn, survey: SurveyPublished) -> bool:
    """Whether the survey's segment holds for this resident — the notifier's rule
    (:class:`chatbot_common.segments.SegmentRule`), read from the resident's own profile:
    «has an open request» from the dialog's tickets projection, «answered a survey» from
    the resident's own record."""
    resident, segment = turn.resident, survey.segment
    settlements = {a.settlement_id for a in resident.addresses} | ({resident.settlement_id} - {None})
    return SegmentRule(segment).holds(
        notify=NotifyScope(resident.notify).value, settlements=settlements,
        keys={a.key.lower() for a in resident.addresses},
        channels={i.channel.value for i in resident.identities if i.subscribed},
        registered_at=resident.registered_at,
        has_open_request=any(ticket.open for ticket in turn.tickets) if segment.has_open_request is not None else None,
        answered=segment.answered_survey_id in resident.surveys_answered if segment.answered_survey_id else None)


def open_survey(turn: Turn, survey_id: str) -> SurveyPublished | None:
    """The survey if the resident may answer it now (open, in its segment)."""
    survey = next((s for s in turn.surveys if s.survey_id == survey_id), None)
    if survey is None or not is_open(survey, turn.ctx.clock()) or not in_segment(turn, survey):
        return None
    return survey


def available(turn: Turn) -> list[SurveyPublished]:
    answered = set(turn.resident.surveys_answered)
    found = [s for s in turn.surveys if s.survey_id not in answered and open_survey(turn, s.survey_id)]
    return sorted(found, key=lambda s: (_aware(s.ends_at), s.survey_id))


def _progress(turn: Turn, survey_id: str) -> dict[str, Any]:
    return turn.resident.survey_progress.setdefault(survey_id, {"answers": {}, "at": 0})


def _given(turn: Turn, survey: SurveyPublished) -> int:
    answers = turn.resident.survey_progress.get(survey.survey_id, {}).get("answers", {})
    return sum(1 for q in survey.questions if q.question_id in answers)


# ----------------------------------------------------------------------------- the list


def show_list(turn: Turn) -> None:
    turn.go("surveys")


def ask_list(turn: Turn) -> None:
    t = turn.t
    surveys = available(turn)[:MAX_LISTED]
    if not surveys:
        turn.say(t("surveys.none"), navigation(t, back=False))
        return
    items = []
    for survey in surveys:
        given = _given(turn, survey)
        label = (t("surveys.item_progress", title=survey.title, answered=given, total=len(survey.questions))
                 if given else t("surveys.item_new", title=survey.title))
        items.append(button(label, f"{codes.SURVEY_OPEN}{survey.survey_id}"))
    turn.say(t("surveys.list"), [*items, *navigation(t, back=False)])


async def answer_list(turn: Turn, answer: Answer) -> bool:
    return False  # its buttons are ``survey:open:<id>``, read from any screen


def open_code(turn: Turn, code: str) -> bool:
    """``survey:open:<id>`` (the invitation's button, or the list's) from any screen."""
    survey_id = codes.value(code, codes.SURVEY_OPEN)
    if survey_id is None:
        return False
    begin(turn, survey_id)
    return True


def begin(turn: Turn, survey_id: str) -> None:
    resident = turn.resident
    if survey_id in resident.surveys_answered:
        turn.note("surveys.already")
        show_list(turn)
        return
    survey = open_survey(turn, survey_id)
    if survey is None:
        _closed(turn, survey_id)
        return
    total = len(survey.questions)
    if survey_id in resident.survey_progress:
        turn.note("surveys.resume", title=survey.title)
        index = int(resident.survey_progress[survey_id].get("at", 0))
    else:
        _progress(turn, survey_id)
        if survey.intro.strip():
            turn.note("surveys.intro", title=survey.title, intro=survey.intro.strip(), total=total)
        else:
            turn.note("surveys.intro_no_text", title=survey.title, total=total)
        index = 0
    _go_question(turn, survey, index)


def _closed(turn: Turn, survey_id: str | None) -> None:
    if survey_id:
        turn.resident.survey_progress.pop(survey_id, None)
    turn.note("surveys.closed")
    show_list(turn)


def _go_question(turn: Turn, survey: SurveyPublished, index: int) -> None:
    total = len(survey.questions)
    index = min(max(index, 0), total)
    _progress(turn, survey.survey_id)["at"] = index
    if index >= total:
        turn.go("survey_summary", survey_id=survey.survey_id)
    else:
        turn.go("survey_q", survey_id=survey.survey_id, index=index)


# ----------------------------------------------------------------------------- a question


def _current(turn: Turn) -> tuple[SurveyPublished, SurveyQuestion, int] | None:
    survey = open_survey(turn, str(turn.data.get("survey_id", "")))
    if survey is None or turn.data.get("survey_id") in turn.resident.surveys_answered:
        return None
    index = min(max(int(turn.data.get("index", 0)), 0), len(survey.questions) - 1)
    return survey, survey.questions[index], index


def _describe(turn: Turn, question: SurveyQuestion, given: dict[str, Any] | None) -> str | None:
    """A given answer in words (``None``: none given)."""
    if not given:
        return None
    if given.get("skipped"):
        return turn.t("surveys.skipped")
    if question.kind in (SurveyQuestionKind.single, SurveyQuestionKind.multiple):
        labels = [o.label for o in question.options if o.key in given.get("options", [])]
        return ", ".join(labels) if labels else None
    if question.kind == SurveyQuestionKind.scale:
        return str(given["scale"]) if given.get("scale") else None
    return given.get("text") or None


def ask_question(turn: Turn) -> None:
    t = turn.t
    current = _current(turn)
    if current is None:
        _closed(turn, turn.data.get("survey_id"))
        return
    survey, question, index = current
    given = _progress(turn, survey.survey_id)["answers"].get(question.question_id)
    optional = "" if question.required else t("surveys.optional")
    text = t("surveys.question", number=index + 1, total=len(survey.questions), optional=optional, text=question.text)
    hint = {
        SurveyQuestionKind.single: lambda: t("surveys.hint_single"),
        SurveyQuestionKind.multiple: lambda: t("surveys.hint_multiple"),
        SurveyQuestionKind.scale: lambda: t("surveys.hint_scale"),
        SurveyQuestionKind.text: lambda: t("surveys.hint_text", limit=TEXT_LIMIT),
    }[question.kind]()
    text += "\n\n" + hint
    described = _describe(turn, question, given)
    if described and question.kind != SurveyQuestionKind.multiple:
        text += "\n\n" + t("surveys.current", answer=described)
    buttons = []
    count = len(question.options)
    columns = 6 if count <= FULL_WIDTH_OPTIONS else 3 if count <= 20 else 2
    if question.kind == SurveyQuestionKind.single:
        buttons = [button(o.label, f"{codes.SV_OPTION}{n}", columns) for n, o in enumerate(question.options)]
    elif question.kind == SurveyQuestionKind.multiple:
        picked = set((given or {}).get("options", []))
        buttons = [button(f"{'✅' if o.key in picked else '▫️'} {o.label}", f"{codes.SV_TOGGLE}{n}", columns)
                   for n, o in enumerate(question.options)]
        buttons.append(button(t("survey_buttons.done"), codes.SV_DONE, 6 if question.required else 3))
    elif question.kind == SurveyQuestionKind.scale:
        buttons = [button(str(n), f"{codes.SV_SCALE}{n}", 1) for n in range(1, 6)]
    if not question.required:
        half = question.kind == SurveyQuestionKind.multiple  # on one row with «✅ Готово»
        buttons.append(button(t("survey_buttons.skip"), codes.SV_SKIP, 3 if half else 6))
    turn.say(text, [*buttons, *navigation(t)])


def _save(turn: Turn, survey: SurveyPublished, question: SurveyQuestion, value: dict[str, Any]) -> None:
    _progress(turn, survey.survey_id)["answers"][question.question_id] = value


def _number(code: str | None, prefix: str) -> int | None:
    raw = codes.value(code or "", prefix)
    return int(raw) if raw is not None and raw.isdigit() else None


async def answer_question(turn: Turn, answer: Answer) -> bool:
    current = _current(turn)
    if current is None:
        _closed(turn, turn.data.get("survey_id"))
        return True
    survey, question, index = current
    code = answer.code
    kind = question.kind

    def next_question() -> None:
        _go_question(turn, survey, index + 1)

    if code == codes.SV_SKIP:
        if question.required:
            turn.note("surveys.required")
            turn.ask()
        else:
            _save(turn, survey, question, {"skipped": True})
            next_question()
        return True
    if kind == SurveyQuestionKind.single and (n := _number(code, codes.SV_OPTION)) is not None:
        if n >= len(question.options):
            return False
        _save(turn, survey, question, {"options": [question.options[n].key]})
        next_question()
        return True
    if kind == SurveyQuestionKind.multiple and (n := _number(code, codes.SV_TOGGLE)) is not None:
        if n >= len(question.options):
            return False
        given = _progress(turn, survey.survey_id)["answers"].get(question.question_id) or {}
        picked = set(given.get("options", []))
        picked ^= {question.options[n].key}
        _save(turn, survey, question, {"options": [o.key for o in question.options if o.key in picked]})
        turn.ask()
        return True
    if kind == SurveyQuestionKind.multiple and code == codes.SV_DONE:
        given = _progress(turn, survey.survey_id)["answers"].get(question.question_id) or {}
        if not given.get("options"):
            if question.required:
                return turn.ask_again("surveys.choose_one")
            _save(turn, survey, question, {"skipped": True})
        next_question()
        return True
    if kind == SurveyQuestionKind.scale and (n := _number(code, codes.SV_SCALE)) is not None:
        if not 1 <= n <= 5:
            return False
        _save(turn, survey, question, {"scale": n})
        next_question()
        return True
    if code:
        return False  # a button of another question or an old keyboard: stale
    return _typed(turn, survey, question, answer.text, next_question)


def _typed(turn: Turn, survey: SurveyPublished, question: SurveyQuestion, text: str, next_question) -> bool:
    """Typed text: the answer of a free-text question; for the others a typed digit
    (scale) or an option's exact label is taken, anything else is asked again."""
    text = text.strip()
    if question.kind == SurveyQuestionKind.text:
        if not text:
            turn.note("surveys.text_expected")
            turn.ask()
        elif len(text) > TEXT_LIMIT:
            turn.note("surveys.text_too_long", limit=TEXT_LIMIT, length=len(text))
            turn.ask()
        else:
            _save(turn, survey, question, {"text": text})
            next_question()
        return True
    if question.kind == SurveyQuestionKind.scale and text in {"1", "2", "3", "4", "5"}:
        _save(turn, survey, question, {"scale": int(text)})
        next_question()
        return True
    if question.kind == SurveyQuestionKind.single:
        chosen = next((o for o in question.options if o.label.casefold() == text.casefold()), None)
        if chosen is not None:
            _save(turn, survey, question, {"options": [chosen.key]})
            next_question()
            return True
    return turn.ask_again("errors.use_buttons")


def back_from_question(turn: Turn) -> None:
    current = _current(turn)
    if current is None:
        _closed(turn, turn.data.get("survey_id"))
        return
    survey, _question, index = current
    if index == 0:
        show_list(turn)  # the progress stays: «Продовжити» from the list
    else:
        _go_question(turn, survey, index - 1)


# ----------------------------------------------------------------------------- summary and sending


def ask_summary(turn: Turn) -> None:
    t = turn.t
    survey_id = str(turn.data.get("survey_id", ""))
    survey = open_survey(turn, survey_id)
    if survey is None or survey_id in turn.resident.surveys_answered:
        _closed(turn, survey_id)
        return
    answers = _progress(turn, survey_id)["answers"]
    lines = []
    for n, question in enumerate(survey.questions, start=1):
        described = _describe(turn, question, answers.get(question.question_id)) or t("surveys.skipped")
        lines.append(t("surveys.summary_item", number=n, question=_clip(question.text, 200),
                       answer=_clip(described, 300)))
    text = t("surveys.summary", title=survey.title, answers="\n\n".join(lines))
    buttons = [button(t("survey_buttons.send"), codes.SV_SEND), button(t("survey_buttons.edit"), codes.SV_EDIT)]
    turn.say(_clip(text, 6800), [*buttons, *navigation(t)])


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


async def answer_summary(turn: Turn, answer: Answer) -> bool:
    survey_id = str(turn.data.get("survey_id", ""))
    if answer.code == codes.SV_SEND:
        send(turn, survey_id)
        return True
    if answer.code == codes.SV_EDIT:
        survey = open_survey(turn, survey_id)
        if survey is None:
            _closed(turn, survey_id)
        else:
            _go_question(turn, survey, 0)
        return True
    return turn.unrecognised(answer)


def back_from_summary(turn: Turn) -> None:
    survey_id = str(turn.data.get("survey_id", ""))
    survey = open_survey(turn, survey_id)
    if survey is None:
        _closed(turn, survey_id)
    else:
        _go_question(turn, survey, len(survey.questions) - 1)


def collected(survey: SurveyPublished, answers: dict[str, Any]) -> tuple[list[SurveyAnswer], int | None]:
    """The answers as the event carries them, checked against the survey as it is now
    (it may have changed meanwhile), and the index of the first required question left
    without an answer (``None``: all there)."""
    out: list[SurveyAnswer] = []
    missing: int | None = None
    for index, question in enumerate(survey.questions):
        given = answers.get(question.question_id) or {}
        item: SurveyAnswer | None = None
        if question.kind in (SurveyQuestionKind.single, SurveyQuestionKind.multiple):
            keys = [o.key for o in question.options if o.key in given.get("options", [])]
            if question.kind == SurveyQuestionKind.single:
                keys = keys[:1]
            if keys:
                item = SurveyAnswer(question_id=question.question_id, options=keys)
        elif question.kind == SurveyQuestionKind.scale and isinstance(given.get("scale"), int) \
                and 1 <= given["scale"] <= 5:
            item = SurveyAnswer(question_id=question.question_id, scale=given["scale"])
        elif question.kind == SurveyQuestionKind.text and given.get("text"):
            item = SurveyAnswer(question_id=question.question_id, text=str(given["text"])[:TEXT_LIMIT])
        if item is not None:
            out.append(item)
        elif question.required and missing is None:
            missing = index
    return out, missing


def send(turn: Turn, survey_id: str) -> None:
    resident = turn.resident
    if survey_id in resident.surveys_answered:
        turn.note("surveys.already")
        show_list(turn)
        return
    survey = open_survey(turn, survey_id)
    if survey is None:
        _closed(turn, survey_id)
        return
    answers, missing = collected(survey, _progress(turn, survey_id)["answers"])
    if missing is not None:
        turn.note("surveys.required_missing")
        _go_question(turn, survey, missing)
        return
    turn.events.append(SurveyAnswered(survey_id=survey_id, resident_id=resident.id, answers=answers,
                                      at=turn.ctx.clock()))
    resident.surveys_answered.append(survey_id)
    resident.survey_progress.pop(survey_id, None)
    turn.note("surveys.sent")
    turn.go_home()


STEPS = (
    Step("surveys", ask_list, answer_list, back=Turn.go_home, screen=True),
    Step("survey_q", ask_question, answer_question, back=back_from_question),
    Step("survey_summary", ask_summary, answer_summary, back=back_from_summary),
)
