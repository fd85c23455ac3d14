"""Requests to the Contact Center (issue 7; P1, P3, C2, C4, C6, S1, S2, S6).

«📝 Нове звернення»: category (the contact center's own service list, grouped) → is it
an emergency (C4) → description → where (a saved address, another one through the
address flow, or a location pin) → photo (optional) → the category's extra questions
(every Open311 datatype) → summary with send / edit / cancel. The draft lives in
``Resident.ticket_draft`` so it survives leaving the bot; the menu entry offers to
continue it. Sending publishes ``ticket.submitted`` (in the resident's own write).

«📋 Мої звернення»: the dialog's projection of ``ticket.*`` (``records``): list, details
with the full history, and the rating (1–5, optional comment, 1–2 offers to reopen) that
publishes ``ticket.rated`` once the resident finishes it.

Screens that read projections need them loaded before the (synchronous) questions are
asked: :func:`preload` does that once per turn for the steps and codes of this module
and of ``outages``.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chatbot_common.events import (
    Button,
    ButtonAction,
    MessageKind,
    ServiceAttribute,
    ServiceInfo,
    TicketContact,
    TicketLocation,
    TicketRated,
    TicketStatus,
    TicketSubmitted,
    derived_id,
)

from . import address, codes
from .keyboards import button, grid, navigation, page, short
from .model import Address
from .records import TicketView
from .turn import Answer, Step, Turn

MAX_DESCRIPTION = 4000
MAX_ANSWER = 1000  # a string attribute or a rating comment
MAX_COMMENT = 1000
#: drafts of sent requests kept to restore a refused one
SENT_DRAFTS_KEPT = 5
RATED_KEPT = 100
TICKETS_PER_PAGE = 5
GROUPS_PER_PAGE = 16
SERVICES_PER_PAGE = 16
VALUES_PER_PAGE = 16
HISTORY_SHOWN = 30

#: steps whose questions read the projections (see :func:`preload`)
AREA_STEPS = frozenset({
    "t_groups", "t_services", "t_summary", "t_duplicate", "tickets", "ticket", "rating_comment", "rating_reopen",
    "outages",
})
_AREA_CODES = ("menu:new_ticket", "menu:tickets", "menu:outages", "ticket:", "tdraft:", "outages:")


def kyiv() -> timezone | ZoneInfo:
    try:
        return ZoneInfo("Europe/Kyiv")
    except ZoneInfoNotFoundError:  # a container without tzdata
        return timezone(timedelta(hours=2))


def day(moment: datetime) -> str:
    """дд.мм.рррр in Kyiv time (G3)."""
    return moment.astimezone(kyiv()).strftime("%d.%m.%Y")


def day_time(moment: datetime) -> str:
    """дд.мм.рррр ГГ:ХХ in Kyiv time (G3)."""
    return moment.astimezone(kyiv()).strftime("%d.%m.%Y %H:%M")


async def preload(turn: Turn, code: str | None) -> None:
    """Read the projections this turn may show (only where it may show them)."""
    resident = turn.resident
    if not resident.registered:
        return
    relevant = turn.step in AREA_STEPS or turn.step.startswith("t_") or turn.data.get("back_to") == "outages"
    if not relevant and not (code and code.startswith(_AREA_CODES)):
        return
    records = turn.ctx.records
    turn.services = await records.services()
    turn.tickets = await records.tickets(resident.id)
    settlements = {a.settlement_id for a in resident.addresses} | ({resident.settlement_id} - {None})
    turn.outages = await records.outages(sorted(settlements))


def service_token(service_code: str) -> str:
    """A button-safe stand-in for a service code (codes may hold any characters)."""
    return hashlib.sha256(service_code.encode()).hexdigest()[:10]


def _draft(turn: Turn) -> dict[str, Any]:
    if turn.resident.ticket_draft is None:
        turn.resident.ticket_draft = {}
    return turn.resident.ticket_draft


def _service(draft: dict[str, Any]) -> ServiceInfo | None:
    raw = draft.get("service")
    return ServiceInfo.model_validate(raw) if raw else None


def _questions(service: ServiceInfo | None) -> list[ServiceAttribute]:
    if service is None:
        return []
    return sorted((a for a in service.attributes if a.variable), key=lambda a: (a.order, a.code))


def _groups(services: list[ServiceInfo]) -> list[str]:
    seen: list[str] = []
    for s in services:
        group = s.group or ""
        if group not in seen:
            seen.append(group)
    return seen


# ----------------------------------------------------------------------------- entry


async def open_code(turn: Turn, code: str) -> bool:
    """Codes of requests that work from any screen of a registered resident."""
    if code.startswith(codes.TICKET_SHOW):
        show_ticket(turn, codes.value(code, codes.TICKET_SHOW) or "")
        return True
    if code.startswith(codes.TICKET_RATE):
        start_rating(turn, codes.value(code, codes.TICKET_RATE) or "")
        return True
    if code.startswith(codes.DRAFT_EDIT):
        restore(turn, codes.value(code, codes.DRAFT_EDIT) or "", resend=False)
        return True
    if code.startswith(codes.DRAFT_RESEND):
        restore(turn, codes.value(code, codes.DRAFT_RESEND) or "", resend=True)
        return True
    return False


def start_new(turn: Turn) -> None:
    """«📝 Нове звернення»: continue the unfinished draft, or begin."""
    draft = turn.resident.ticket_draft
    if draft and draft.get("service"):
        turn.go("t_resume")
        return
    begin(turn)


def begin(turn: Turn) -> None:
    if not turn.services:
        turn.note("tickets.no_services")
        turn.go_home()
        return
    turn.resident.ticket_draft = {"attributes": {}}
    groups = _groups(turn.services)
    if len(groups) == 1:
        turn.go("t_services", group=0, page=0)
    else:
        turn.go("t_groups", page=0)


def ask_resume(turn: Turn) -> None:
    t, draft = turn.t, turn.resident.ticket_draft or {}
    service = _service(draft)
    text = t("tickets.resume", category=service.service_name if service else t("tickets.not_chosen"))
    buttons = [button(t("tickets.button_continue"), codes.DRAFT_CONTINUE),
               button(t("tickets.button_start_over"), codes.DRAFT_NEW)]
    turn.say(text, [*buttons, *navigation(t, back=False)])


async def answer_resume(turn: Turn, answer: Answer) -> bool:
    if answer.code == codes.DRAFT_CONTINUE:
        _draft(turn)["editing"] = True
        turn.go("t_summary")
        return True
    if answer.code == codes.DRAFT_NEW:
        begin(turn)
        return True
    return turn.unrecognised(answer)


# ----------------------------------------------------------------------------- category


def ask_groups(turn: Turn) -> None:
    t, services = turn.t, turn.services or []
    items = [button(g or t("tickets.group_other"), f"{codes.TICKET_GROUP}{n}") for n, g in enumerate(_groups(services))]
    keyboard = page(items, int(turn.data.get("page", 0)), GROUPS_PER_PAGE, t)
    turn.say(t("tickets.groups"), [*keyboard, *navigation(t)])


async def answer_groups(turn: Turn, answer: Answer) -> bool:
    if not answer.code:
        return turn.ask_again("errors.use_buttons")
    number = codes.page_number(answer.code)
    if number is not None:
        turn.set(page=number)
        turn.ask()
        return True
    raw = codes.value(answer.code, codes.TICKET_GROUP)
    if raw is None or not raw.isdigit() or int(raw) >= len(_groups(turn.services or [])):
        return False
    turn.go("t_services", group=int(raw), page=0)
    return True


def _in_group(turn: Turn) -> list[ServiceInfo]:
    services = turn.services or []
    groups = _groups(services)
    number = int(turn.data.get("group", 0))
    group = groups[number] if number < len(groups) else None
    return [s for s in services if (s.group or "") == group]


def ask_services(turn: Turn) -> None:
    t = turn.t
    groups = _groups(turn.services or [])
    number = int(turn.data.get("group", 0))
    name = groups[number] if number < len(groups) else ""
    items = [button(s.service_name, f"{codes.TICKET_SERVICE}{service_token(s.service_code)}") for s in _in_group(turn)]
    keyboard = page(items, int(turn.data.get("page", 0)), SERVICES_PER_PAGE, t, columns=6 if len(items) < 6 else 3)
    text = t("tickets.services", group=name or t("tickets.group_other")) if name else t("tickets.services_all")
    turn.say(text, [*keyboard, *navigation(t)])


async def answer_services(turn: Turn, answer: Answer) -> bool:
    if not answer.code:
        return turn.ask_again("errors.use_buttons")
    number = codes.page_number(answer.code)
    if number is not None:
        turn.set(page=number)
        turn.ask()
        return True
    token = codes.value(answer.code, codes.TICKET_SERVICE)
    chosen = next((s for s in _in_group(turn) if service_token(s.service_code) == token), None)
    if chosen is None:
        return False
    draft = _draft(turn)
    if (draft.get("service") or {}).get("service_code") != chosen.service_code:
        draft["attributes"] = {}
    draft["service"] = chosen.model_dump(mode="json")
    if draft.get("editing"):
        _to_questions(turn) if _questions(chosen) else turn.go("t_summary")
    else:
        turn.go("t_emergency")
    return True


def back_from_services(turn: Turn) -> None:
    if len(_groups(turn.services or [])) > 1:
        turn.go("t_groups", page=0)
    else:
        turn.go_home()


# ----------------------------------------------------------------------------- emergency (C4)


def ask_emergency(turn: Turn) -> None:
    t = turn.t
    buttons = [button(t("tickets.button_emergency_yes"), codes.EMERGENCY_YES, 3),
               button(t("tickets.button_emergency_no"), codes.EMERGENCY_NO, 3)]
    turn.say(t("tickets.emergency"), [*buttons, *navigation(t)])


async def answer_emergency(turn: Turn, answer: Answer) -> bool:
    if answer.code == codes.EMERGENCY_NO:
        turn.go("t_description")
        return True
    if answer.code == codes.EMERGENCY_YES:
        _draft(turn)["emergency"] = True
        turn.go("t_emergency_help")
        return True
    return turn.unrecognised(answer)


def ask_emergency_help(turn: Turn) -> None:
    """What to do right now, the emergency numbers, and the city's own emergency
    services from its data (the «emergency» and «utilities» sections of useful info)."""
    t = turn.t
    parts = [t("tickets.emergency_now")]
    info = turn.city.info
    for section_id in ("emergency", "utilities"):
        section = info.get(section_id)
        if section is not None and section.id == "utilities":
            parts.extend(c.text for c in section.children if c.text)
        elif section is not None and section.text:
            parts.append(section.text)
    if len(parts) == 1:
        parts.append(t("tickets.emergency_numbers"))
    parts.append(t("tickets.emergency_then"))
    text = "\n\n".join(parts)
    if len(text) > 6500:
        text = text[:6499] + "…"
    turn.say(text, [button(t("tickets.button_go_on"), codes.EMERGENCY_GO_ON), *navigation(t)])


async def answer_emergency_help(turn: Turn, answer: Answer) -> bool:
    if answer.code == codes.EMERGENCY_GO_ON:
        turn.go("t_description")
        return True
    return turn.unrecognised(answer)


# ----------------------------------------------------------------------------- description


def ask_description(turn: Turn) -> None:
    t, draft = turn.t, turn.resident.ticket_draft or {}
    long = draft.get("description_long")
    if long:
        text = t("tickets.description_too_long", length=len(long), limit=MAX_DESCRIPTION)
        turn.say(text, [button(t("tickets.button_cut"), codes.DESCRIPTION_CUT), *navigation(t)])
        return
    text = t("tickets.description")
    if draft.get("description"):
        text += "\n\n" + t("tickets.description_current", current=short(draft["description"], 300))
    turn.say(text, navigation(t))


async def answer_description(turn: Turn, answer: Answer) -> bool:
    draft = _draft(turn)
    if answer.code == codes.DESCRIPTION_CUT and draft.get("description_long"):
        draft["description"] = draft.pop("description_long")[:MAX_DESCRIPTION].rstrip()
        _after(turn, "description")
        return True
    if answer.code:
        return False
    text = answer.text.strip()
    if len(text) < 3 or sum(ch.isalpha() for ch in text) < 2:
        return turn.ask_again("tickets.description_short")
    if len(text) > MAX_DESCRIPTION:
        draft["description_long"] = text  # kept: nothing the resident wrote is lost
        turn.ask()
        return True
    draft.pop("description_long", None)
    draft["description"] = text
    _after(turn, "description")
    return True


def back_from_description(turn: Turn) -> None:
    draft = _draft(turn)
    if draft.pop("description_long", None):
        turn.ask()
    elif draft.get("editing"):
        turn.go("t_summary")
    else:
        turn.go("t_emergency")


# ----------------------------------------------------------------------------- location


def ask_location(turn: Turn) -> None:
    t, r = turn.t, turn.resident
    saved = [button(f"📍 {address.address_label(turn, a)}", f"{codes.LOCATION_ADDRESS}{a.id}") for a in r.addresses]
    other = button(t("tickets.button_other_address"), codes.LOCATION_OTHER)
    pin = Button(label=t("tickets.button_pin"), code=codes.LOCATION_PIN, action=ButtonAction.location)
    turn.say(t("tickets.location"), [*saved, other, pin, *navigation(t)])


async def answer_location(turn: Turn, answer: Answer) -> bool:
    draft = _draft(turn)
    if answer.kind == MessageKind.location:
        if answer.lat is None or answer.lon is None or not (-90 <= answer.lat <= 90 and -180 <= answer.lon <= 180):
            return turn.ask_again("tickets.location_bad_pin")
        draft["location"] = {"lat": answer.lat, "long": answer.lon,
                             "address_string": turn.t("tickets.pin_label", lat=f"{answer.lat:.5f}",
                                                      lon=f"{answer.lon:.5f}")}
        _after(turn, "location")
        return True
    if answer.code == codes.LOCATION_OTHER:
        settlement_id = turn.resident.settlement_id or turn.city.settlements[0].id
        turn.go("street", flow="ticket", settlement_id=settlement_id)
        return True
    address_id = codes.value(answer.code or "", codes.LOCATION_ADDRESS)
    if address_id:
        chosen = turn.resident.address_by_id(address_id)
        if chosen is None:
            return False
        set_address(turn, chosen, saved=True)
        return True
    if answer.code:
        return False
    return turn.ask_again("tickets.location_use_buttons")


def set_address(turn: Turn, chosen: Address, *, saved: bool) -> None:
    """The request's place is this address (a saved one, or one just typed in the
    address flow, ``address.finish`` with ``flow=ticket``)."""
    draft = _draft(turn)
    draft["location"] = {
        "address_string": address.address_label(turn, chosen, with_settlement=True),
        "address_id": chosen.id if saved else None,
        "settlement_id": chosen.settlement_id,
        "street_id": chosen.street_id,
        "house": chosen.house,
        "apartment": chosen.apartment,
        "key": chosen.key,
    }
    _after(turn, "location")


def back_from_location(turn: Turn) -> None:
    turn.go("t_summary" if _draft(turn).get("editing") else "t_description")


# ----------------------------------------------------------------------------- photo


def ask_photo(turn: Turn) -> None:
    t = turn.t
    turn.say(t("tickets.photo"), [button(t("tickets.button_no_photo"), codes.PHOTO_SKIP), *navigation(t)])


async def answer_photo(turn: Turn, answer: Answer) -> bool:
    draft = _draft(turn)
    if answer.kind == MessageKind.picture:
        if not answer.media_url:
            return turn.ask_again("tickets.photo_unreadable")
        draft["photo"] = answer.media_url
        turn.note("tickets.photo_added")
        _after(turn, "photo")
        return True
    if answer.code == codes.PHOTO_SKIP:
        draft["photo"] = None
        _after(turn, "photo")
        return True
    if answer.code:
        return False
    return turn.ask_again("tickets.photo_expected")


def back_from_photo(turn: Turn) -> None:
    turn.go("t_summary" if _draft(turn).get("editing") else "t_location")


# ----------------------------------------------------------------------------- extra questions


def _to_questions(turn: Turn, index: int = 0) -> None:
    turn.go("t_attr", index=index, page=0)


def _current_question(turn: Turn) -> ServiceAttribute | None:
    questions = _questions(_service(_draft(turn)))
    index = int(turn.data.get("index", 0))
    return questions[index] if index < len(questions) else None


def ask_attr(turn: Turn) -> None:
    t = turn.t
    question = _current_question(turn)
    if question is None:
        turn.go("t_summary")
        return
    answers = _draft(turn).setdefault("attributes", {})
    text = question.description
    if question.datatype_description:
        text += f"\n{question.datatype_description}"
    hint = t(f"tickets.hint_{question.datatype}")
    text = f"{text}\n\n{hint}" if hint else text
    buttons: list[Button] = []
    if question.datatype in ("singlevaluelist", "multivaluelist"):
        chosen = answers.get(question.code)
        selected = set(chosen if isinstance(chosen, list) else [chosen] if chosen else [])
        items = []
        for n, value in enumerate(question.values):
            mark = "✅ " if value.key in selected and question.datatype == "multivaluelist" else ""
            items.append(button(f"{mark}{value.name}", f"{codes.ATTR_VALUE}{n}"))
        buttons = page(items, int(turn.data.get("page", 0)), VALUES_PER_PAGE, t)
        if question.datatype == "multivaluelist":
            buttons.append(button(t("tickets.button_done"), codes.ATTR_DONE, 3 if not question.required else 6))
    if not question.required:
        skip = button(t("tickets.button_skip"), codes.ATTR_SKIP, 3 if question.datatype == "multivaluelist" else 6)
        buttons.append(skip)
    turn.say(t("tickets.question", text=text, required=t("tickets.required" if question.required
                                                            else "tickets.optional")), [*buttons, *navigation(t)])


_NUMBER = re.compile(r"^[-+]?\d+([.,]\d+)?$")
_DATETIME = re.compile(r"^(\d{1,2})[.\-/](\d{1,2})[.\-/](\d{4})(?:[ ,]+(\d{1,2})[:.](\d{2}))?$")


def parse_number(raw: str) -> str | None:
    text = raw.strip().replace(" ", "")
    if not _NUMBER.match(text):
        return None
    return text.replace(",", ".")


def parse_datetime(raw: str) -> str | None:
    """дд.мм.рррр [ГГ:ХХ] in Kyiv time → ISO 8601 with the offset."""
    m = _DATETIME.match(raw.strip())
    if not m:
        return None
    d, mo, y, h, mi = m.groups()
    try:
        moment = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), tzinfo=kyiv())
    except ValueError:
        return None
    return moment.isoformat()


async def answer_attr(turn: Turn, answer: Answer) -> bool:
    question = _current_question(turn)
    if question is None:
        turn.go("t_summary")
        return True
    answers = _draft(turn).setdefault("attributes", {})
    index = int(turn.data.get("index", 0))
    code = answer.code
    if code:
        number = codes.page_number(code)
        if number is not None and question.values:
            turn.set(page=number)
            turn.ask()
            return True
        if code == codes.ATTR_SKIP and not question.required:
            answers.pop(question.code, None)
            _to_questions(turn, index + 1)
            return True
        if code == codes.ATTR_DONE and question.datatype == "multivaluelist":
            if question.required and not answers.get(question.code):
                return turn.ask_again("tickets.choose_one")
            _to_questions(turn, index + 1)
            return True
        raw = codes.value(code, codes.ATTR_VALUE)
        if raw is None or not raw.isdigit() or int(raw) >= len(question.values):
            return False
        value = question.values[int(raw)].key
        if question.datatype == "singlevaluelist":
            answers[question.code] = value
            _to_questions(turn, index + 1)
        elif question.datatype == "multivaluelist":
            current = list(answers.get(question.code) or [])
            current = [v for v in current if v != value] if value in current else [*current, value]
            answers[question.code] = current
            turn.ask()
        else:
            return False
        return True
    text = answer.text.strip()
    if question.datatype in ("singlevaluelist", "multivaluelist"):
        match = next((v for v in question.values if v.name.casefold() == text.casefold()), None)
        if match is None:
            return turn.ask_again("errors.use_buttons")
        if question.datatype == "singlevaluelist":
            answers[question.code] = match.key
            _to_questions(turn, index + 1)
        else:
            current = list(answers.get(question.code) or [])
            if match.key not in current:
                answers[question.code] = [*current, match.key]
            turn.ask()
        return True
    if question.datatype == "number":
        value = parse_number(text)
        if value is None:
            return turn.ask_again("tickets.bad_number")
    elif question.datatype == "datetime":
        value = parse_datetime(text)
        if value is None:
            return turn.ask_again("tickets.bad_datetime")
    else:
        limit = MAX_DESCRIPTION if question.datatype == "text" else MAX_ANSWER
        if not text:
            return turn.ask_again("tickets.answer_empty")
        if len(text) > limit:
            return turn.ask_again("tickets.answer_too_long", length=len(text), limit=limit)
        value = text
    answers[question.code] = value
    _to_questions(turn, index + 1)
    return True


def back_from_attr(turn: Turn) -> None:
    index = int(turn.data.get("index", 0))
    if index > 0:
        _to_questions(turn, index - 1)
    elif _draft(turn).get("editing"):
        turn.go("t_summary")
    else:
        turn.go("t_photo")


# ----------------------------------------------------------------------------- order of steps


def _after(turn: Turn, field: str) -> None:
    """Next question after ``field`` was answered; back to the summary when editing."""
    draft = _draft(turn)
    if draft.get("editing"):
        turn.go("t_summary")
    elif field == "description":
        turn.go("t_location")
    elif field == "location":
        turn.go("t_photo")
    elif _questions(_service(draft)):
        _to_questions(turn)
    else:
        turn.go("t_summary")


# ----------------------------------------------------------------------------- summary


def _value_label(question: ServiceAttribute, value: Any) -> str:
    names = {v.key: v.name for v in question.values}
    if isinstance(value, list):
        return ", ".join(names.get(v, v) for v in value)
    if question.datatype == "datetime":
        try:
            return day_time(datetime.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    return names.get(value, str(value))


def summary_text(turn: Turn, draft: dict[str, Any]) -> str:
    t = turn.t
    service = _service(draft)
    lines = []
    answers = draft.get("attributes") or {}
    for question in _questions(service):
        if question.code in answers and answers[question.code] not in ("", []):
            lines.append(f"• {question.description}: {_value_label(question, answers[question.code])}")
    location = draft.get("location") or {}
    return t(
        "tickets.summary",
        category=service.service_name if service else t("tickets.not_chosen"),
        description=short(draft.get("description") or t("tickets.not_given"), 1500),
        place=location.get("address_string") or t("tickets.not_given"),
        photo=t("tickets.photo_yes" if draft.get("photo") else "tickets.photo_no"),
        extra="\n".join(lines) or t("tickets.extra_none"),
    )


def _missing(draft: dict[str, Any]) -> str | None:
    """The first step still to be answered before the request can be sent."""
    service = _service(draft)
    if service is None:
        return "category"
    if not draft.get("description"):
        return "t_description"
    if not draft.get("location"):
        return "t_location"
    answers = draft.get("attributes") or {}
    for n, question in enumerate(_questions(service)):
        if question.required and answers.get(question.code) in (None, "", []):
            return f"attr:{n}"
    return None


def ask_summary(turn: Turn) -> None:
    t, draft = turn.t, _draft(turn)
    draft["editing"] = True
    buttons = [
        button(t("tickets.button_send"), codes.SUMMARY_SEND),
        button(t("tickets.button_edit"), codes.SUMMARY_EDIT, 3),
        button(t("tickets.button_cancel"), codes.SUMMARY_CANCEL, 3),
    ]
    turn.say(summary_text(turn, draft), [*buttons, *navigation(t)])


async def answer_summary(turn: Turn, answer: Answer) -> bool:
    draft = _draft(turn)
    if answer.code == codes.SUMMARY_SEND:
        missing = _missing(draft)
        if missing is not None:
            turn.note("tickets.incomplete")
            _go_to(turn, missing)
            return True
        duplicate = _open_duplicate(turn, draft)
        if duplicate is not None:
            turn.go("t_duplicate", ticket_id=duplicate.ticket_id)
            return True
        send(turn)
        return True
    if answer.code == codes.SUMMARY_EDIT:
        turn.go("t_edit")
        return True
    if answer.code == codes.SUMMARY_CANCEL:
        turn.resident.ticket_draft = None
        turn.note("tickets.cancelled")
        turn.go_home()
        return True
    return turn.unrecognised(answer)


def _go_to(turn: Turn, where: str) -> None:
    if where == "category":
        turn.go("t_services" if len(_groups(turn.services or [])) == 1 else "t_groups", group=0, page=0)
    elif where.startswith("attr:"):
        _to_questions(turn, int(where.split(":", 1)[1]))
    else:
        turn.go(where)


def back_from_summary(turn: Turn) -> None:
    questions = _questions(_service(_draft(turn)))
    if questions:
        _to_questions(turn, len(questions) - 1)
    else:
        turn.go("t_photo")


def ask_edit(turn: Turn) -> None:
    t = turn.t
    fields = ["category", "description", "location", "photo"]
    if _questions(_service(_draft(turn))):
        fields.append("attributes")
    buttons = grid([button(t(f"tickets.edit_{f}"), f"{codes.EDIT_FIELD}{f}") for f in fields])
    turn.say(t("tickets.edit"), [*buttons, *navigation(t)])


async def answer_edit(turn: Turn, answer: Answer) -> bool:
    field = codes.value(answer.code or "", codes.EDIT_FIELD)
    if field is None:
        return turn.unrecognised(answer)
    _draft(turn)["editing"] = True
    if field == "category":
        if not turn.services:
            turn.note("tickets.no_services_edit")
            turn.go("t_summary")
            return True
        groups = _groups(turn.services)
        turn.go("t_services" if len(groups) == 1 else "t_groups", group=0, page=0)
    elif field == "attributes":
        _to_questions(turn)
    elif field in ("description", "location", "photo"):
        turn.go(f"t_{field}")
    else:
        return False
    return True


def ask_duplicate(turn: Turn) -> None:
    t = turn.t
    ticket_id = str(turn.data.get("ticket_id"))
    existing = next((v for v in turn.tickets if v.ticket_id == ticket_id), None)
    number = existing.number if existing and existing.number else t("tickets.no_number")
    status = t(f"ticket_status.{existing.status.value}") if existing else ""
    buttons = [button(t("tickets.button_follow"), f"{codes.TICKET_SHOW}{ticket_id}"),
               button(t("tickets.button_send_anyway"), codes.SUMMARY_FORCE)]
    turn.say(t("tickets.duplicate", number=number, status=status), [*buttons, *navigation(t)])


async def answer_duplicate(turn: Turn, answer: Answer) -> bool:
    if answer.code == codes.SUMMARY_FORCE:
        send(turn)
        return True
    return turn.unrecognised(answer)


def _open_duplicate(turn: Turn, draft: dict[str, Any]) -> TicketView | None:
    service = _service(draft)
    key = (draft.get("location") or {}).get("key")
    if service is None or not key:
        return None
    for view in turn.tickets:
        if view.open and view.service_code == service.service_code and view.location and view.location.key == key:
            return view
    return None


def _contact(turn: Turn) -> TicketContact:
    """The resident's name and phone for the contact center (S6)."""
    r = turn.resident
    first, _, last = (r.name or "").partition(" ")
    return TicketContact(first_name=first or None, last_name=last or None, phone=r.phone)


def send(turn: Turn) -> None:
    """Publish ``ticket.submitted`` with an id derived from this input; keep the draft
    (to restore it if the contact center refuses the request); home."""
    r, draft = turn.resident, _draft(turn)
    service = _service(draft)
    assert service is not None
    seed = turn.input_id or turn.ctx.clock().isoformat()
    ticket_id = derived_id(r.id, "ticket", seed)
    location = TicketLocation(**{k: v for k, v in (draft.get("location") or {}).items() if v is not None})
    turn.events.append(TicketSubmitted(
        ticket_id=ticket_id,
        resident_id=r.id,
        service_code=service.service_code,
        service_name=service.service_name,
        description=draft["description"][:MAX_DESCRIPTION],
        location=location,
        media_urls=[draft["photo"]] if draft.get("photo") else [],
        attributes={k: v for k, v in (draft.get("attributes") or {}).items() if v not in ("", [], None)},
        contact=_contact(turn),
        submitted_at=turn.ctx.clock(),
    ))
    kept = {k: v for k, v in draft.items() if k != "editing"}
    r.sent_drafts = dict(list({**r.sent_drafts, ticket_id: kept}.items())[-SENT_DRAFTS_KEPT:])
    r.ticket_draft = None
    turn.note("tickets.sent")
    turn.go_home()


def restore(turn: Turn, ticket_id: str, *, resend: bool) -> None:
    """A refused request: its draft again, to fix (summary) or to send as it was."""
    kept = turn.resident.sent_drafts.get(ticket_id)
    if kept is None:
        turn.note("tickets.draft_gone")
        turn.go_home()
        return
    turn.resident.sent_drafts = {k: v for k, v in turn.resident.sent_drafts.items() if k != ticket_id}
    turn.resident.ticket_draft = {**kept, "editing": True}
    if resend and _missing(turn.resident.ticket_draft) is None:
        send(turn)
    else:
        turn.go("t_summary")


# ----------------------------------------------------------------------------- my requests


def _ticket_line(turn: Turn, view: TicketView, n: int) -> str:
    t = turn.t
    deadline = t("tickets.deadline", date=day(view.expected_at)) if view.expected_at else ""
    return t(
        "tickets.list_item", n=n, number=view.number or t("tickets.no_number"), category=view.service_name,
        status=t(f"ticket_status.{view.status.value}"), deadline=deadline,
    )


def show_list(turn: Turn) -> None:
    turn.go("tickets", page=0)


def ask_tickets(turn: Turn) -> None:
    t, views = turn.t, turn.tickets
    if not views:
        new = button(turn.t("menu.new_ticket"), codes.MENU_NEW_TICKET)
        turn.say(t("tickets.list_empty"), [new, *navigation(t, back=False)])
        return
    pages = max(1, -(-len(views) // TICKETS_PER_PAGE))
    number = min(max(int(turn.data.get("page", 0)), 0), pages - 1)
    shown = views[number * TICKETS_PER_PAGE : (number + 1) * TICKETS_PER_PAGE]
    lines = [_ticket_line(turn, v, number * TICKETS_PER_PAGE + i + 1) for i, v in enumerate(shown)]
    items = [
        button(f"{number * TICKETS_PER_PAGE + i + 1}. {v.number or t('tickets.no_number')} · {v.service_name}",
               f"{codes.TICKET_SHOW}{v.ticket_id}")
        for i, v in enumerate(shown)
    ]
    keyboard = page(items, 0, TICKETS_PER_PAGE, t, columns=6)
    turns = []
    if number > 0:
        turns.append(Button(label=t("buttons.previous"), code=f"{codes.PAGE}{number - 1}", columns=3))
    if number < pages - 1:
        turns.append(Button(label=t("buttons.next"), code=f"{codes.PAGE}{number + 1}", columns=3))
    if len(turns) == 1:
        turns[0] = turns[0].model_copy(update={"columns": 6})
    text = t("tickets.list", count=len(views), page=number + 1, pages=pages, items="\n\n".join(lines))
    turn.say(text, [*keyboard, *turns, *navigation(t, back=False)])


async def answer_tickets(turn: Turn, answer: Answer) -> bool:
    number = codes.page_number(answer.code or "")
    if number is None:
        return False
    turn.set(page=number)
    turn.ask()
    return True


def show_ticket(turn: Turn, ticket_id: str) -> None:
    view = next((v for v in turn.tickets if v.ticket_id == ticket_id), None)
    if view is None:
        turn.note("tickets.unknown")
        turn.go("tickets", page=0)
        return
    turn.go("ticket", ticket_id=ticket_id)


def _history_line(turn: Turn, item: Any) -> str:
    t = turn.t
    when = day_time(item.at)
    if item.kind == "status" or item.kind == "submitted":
        line = t(f"ticket_status.{(item.status or TicketStatus.unknown).value}")
    elif item.kind == "registered":
        line = t("tickets.history_registered")
        if item.expected_at:
            line += " " + t("tickets.deadline", date=day(item.expected_at))
    elif item.kind == "deadline":
        line = t("tickets.history_deadline", date=day(item.expected_at))
    elif item.kind == "overdue":
        line = t("tickets.history_overdue")
    elif item.kind == "rejected":
        line = t("ticket_status.rejected")
    elif item.kind == "rated":
        line = t("tickets.history_rated", rating=item.rating)
        if item.reopen:
            line += " " + t("tickets.history_reopen_asked")
    else:
        line = item.kind
    if item.notes:
        line += "\n   " + t("tickets.history_notes", notes=short(item.notes, 500))
    return f"{when} — {line}"


def _rated_key(view: TicketView) -> str:
    return f"{view.ticket_id}@{view.status_at.isoformat() if view.status_at else ''}"


def can_rate(turn: Turn, view: TicketView) -> bool:
    return view.rateable and _rated_key(view) not in turn.resident.rated_tickets


def ask_ticket(turn: Turn) -> None:
    t = turn.t
    ticket_id = str(turn.data.get("ticket_id"))
    view = next((v for v in turn.tickets if v.ticket_id == ticket_id), None)
    if view is None:
        turn.go("tickets", page=0)
        return
    history = [_history_line(turn, item) for item in view.history[-HISTORY_SHOWN:]]
    text = t(
        "tickets.details",
        number=view.number or t("tickets.no_number"),
        category=view.service_name,
        place=(view.location.address_string if view.location else None) or t("tickets.not_given"),
        status=t(f"ticket_status.{view.status.value}"),
        deadline=day(view.expected_at) if view.expected_at else t("tickets.no_deadline"),
        history="\n".join(history) or t("tickets.not_given"),
    )
    if view.rating is not None:
        text += "\n\n" + t("tickets.rated", rating=view.rating)
    buttons: list[Button] = []
    if can_rate(turn, view):
        text += "\n\n" + t("tickets.rate_ask")
        buttons = [button(f"{n} ⭐", f"{codes.TICKET_RATE}{view.ticket_id}:{n}", 2) for n in range(1, 6)]
        buttons[-1] = buttons[-1].model_copy(update={"columns": 4})
    turn.say(text[:6900], [*buttons, *navigation(t)])


# ----------------------------------------------------------------------------- rating (P3, S1)


def start_rating(turn: Turn, raw: str) -> None:
    ticket_id, _, number = raw.rpartition(":")
    view = next((v for v in turn.tickets if v.ticket_id == ticket_id), None)
    if view is None or not number.isdigit() or not 1 <= int(number) <= 5:
        turn.note("tickets.unknown")
        turn.go("tickets", page=0)
        return
    if not view.status.final:
        turn.note("tickets.rate_not_final")
        turn.go("ticket", ticket_id=ticket_id)
        return
    if not can_rate(turn, view):
        turn.note("tickets.rate_already")
        turn.go("ticket", ticket_id=ticket_id)
        return
    turn.go("rating_comment", ticket_id=ticket_id, rating=int(number), key=_rated_key(view))


def ask_rating_comment(turn: Turn) -> None:
    t = turn.t
    turn.say(t("tickets.rate_comment", rating=turn.data.get("rating")),
             [button(t("tickets.button_no_comment"), codes.RATE_SKIP), *navigation(t)])


async def answer_rating_comment(turn: Turn, answer: Answer) -> bool:
    if answer.code == codes.RATE_SKIP:
        comment = None
    elif answer.code:
        return False
    else:
        comment = answer.text.strip()
        if not comment:
            turn.ask()
            return True
        if len(comment) > MAX_COMMENT:
            return turn.ask_again("tickets.answer_too_long", length=len(comment), limit=MAX_COMMENT)
    if int(turn.data.get("rating", 5)) <= 2:
        turn.go("rating_reopen", keep=True, comment=comment)
    else:
        _rate(turn, comment, reopen=False)
    return True


def ask_rating_reopen(turn: Turn) -> None:
    t = turn.t
    buttons = [button(t("tickets.button_reopen"), codes.RATE_REOPEN, 3),
               button(t("tickets.button_keep_closed"), codes.RATE_KEEP, 3)]
    turn.say(t("tickets.reopen_ask"), [*buttons, *navigation(t)])


async def answer_rating_reopen(turn: Turn, answer: Answer) -> bool:
    if answer.code in (codes.RATE_REOPEN, codes.RATE_KEEP):
        _rate(turn, turn.data.get("comment"), reopen=answer.code == codes.RATE_REOPEN)
        return True
    return turn.unrecognised(answer)


def _rate(turn: Turn, comment: str | None, *, reopen: bool) -> None:
    r = turn.resident
    ticket_id = str(turn.data["ticket_id"])
    view = next((v for v in turn.tickets if v.ticket_id == ticket_id), None)
    key = str(turn.data.get("key") or ticket_id)
    if view is None or key in r.rated_tickets:
        turn.note("tickets.rate_already")
        turn.go_home()
        return
    turn.events.append(TicketRated(
        ticket_id=ticket_id, resident_id=r.id, service_request_id=view.number, rating=int(turn.data["rating"]),
        comment=comment, reopen=reopen, at=turn.ctx.clock(),
    ))
    r.rated_tickets = [*r.rated_tickets, key][-RATED_KEPT:]
    turn.note("tickets.reopen_sent" if reopen else "tickets.rate_thanks")
    turn.go_home()


async def no_local_codes(turn: Turn, answer: Answer) -> bool:
    return False


def back_to_ticket(turn: Turn) -> None:
    turn.go("ticket", ticket_id=turn.data.get("ticket_id"))


STEPS = (
    Step("t_resume", ask_resume, answer_resume, back=Turn.go_home),
    Step("t_groups", ask_groups, answer_groups, back=Turn.go_home),
    Step("t_services", ask_services, answer_services, back=back_from_services),
    Step("t_emergency", ask_emergency, answer_emergency,
         back=lambda turn: turn.go("t_services", group=0, page=0) if len(_groups(turn.services or [])) == 1
         else turn.go("t_groups", page=0)),
    Step("t_emergency_help", ask_emergency_help, answer_emergency_help, back=lambda turn: turn.go("t_emergency")),
    Step("t_description", ask_description, answer_description, back=back_from_description),
    Step("t_location", ask_location, answer_location, back=back_from_location,
         accepts=frozenset({MessageKind.location})),
    Step("t_photo", ask_photo, answer_photo, back=back_from_photo, accepts=frozenset({MessageKind.picture})),
    Step("t_attr", ask_attr, answer_attr, back=back_from_attr),
    Step("t_summary", ask_summary, answer_summary, back=back_from_summary),
    Step("t_edit", ask_edit, answer_edit, back=lambda turn: turn.go("t_summary")),
    Step("t_duplicate", ask_duplicate, answer_duplicate, back=lambda turn: turn.go("t_summary")),
    Step("tickets", ask_tickets, answer_tickets, back=Turn.go_home, screen=True),
    Step("ticket", ask_ticket, no_local_codes, back=show_list, screen=True),
    Step("rating_comment", ask_rating_comment, answer_rating_comment, back=back_to_ticket),
    Step("rating_reopen", ask_rating_reopen, answer_rating_reopen,
         back=lambda turn: turn.go("rating_comment", keep=True)),
)
