"""Registration (S5): consent → settlement → name → phone → address → notifications.

Answers are saved on the resident as they come, so a resident who leaves at any step
resumes there. Declining consent leaves public information and questions only (guest).
The phone, typed or shared as a contact, is only a number to call back (S6): it is never
proof of who the resident is and never links apps. Someone who already has a profile in
another app joins it with a one-time code instead (S7, «🔗 У мене вже є профіль» on the
consent question, see ``linking``).
"""

from __future__ import annotations

from chatbot_common.events import Button, MessageKind, NotifyScope

from chatbot_common.directory import normalise_phone
from . import codes
from .keyboards import button, navigation, share_phone
from .turn import Answer, Step, Turn
from .validation import clean_name

#: Steps of registration, in order; a resident on one of them is registering.
REGISTRATION_STEPS = ("consent", "settlement", "name", "phone", "street", "house", "apartment", "notify")


# ----------------------------------------------------------------------------- consent


def consent_buttons(turn: Turn) -> list[Button]:
    t = turn.t
    return [
        button(t("registration.consent_agree"), codes.CONSENT_YES, 3),
        button(t("registration.consent_more"), codes.CONSENT_MORE, 3),
        button(t("registration.consent_decline"), codes.CONSENT_NO),
        button(t("buttons.have_profile"), codes.APPS_JOIN),
    ]


def ask_consent(turn: Turn) -> None:
    turn.say(turn.t("registration.consent"), consent_buttons(turn))


async def answer_consent(turn: Turn, answer: Answer) -> bool:
    if answer.code == codes.CONSENT_YES:
        turn.resident.consent = True
        turn.resident.consent_at = turn.ctx.clock()
        turn.go("settlement", flow="registration", page=0)
    elif answer.code == codes.CONSENT_MORE:
        turn.say(turn.t("registration.consent_details"), consent_buttons(turn))
    elif answer.code == codes.CONSENT_NO:
        turn.resident.consent = False
        turn.resident.consent_at = None
        turn.note("registration.declined")
        turn.go("guest")
    elif answer.code == codes.APPS_JOIN:
        turn.go("link_enter")  # S7: type the code shown in the other app
    elif answer.code:
        return False
    else:
        turn.note("errors.use_buttons")
        turn.ask()
    return True


def begin(turn: Turn) -> None:
    """The first question for someone new (or who deleted their data)."""
    turn.go("consent")


def resume(turn: Turn) -> None:
    """Back to registration from the guest menu: the first thing still missing.
    Answers are kept on the resident, so nothing given before is asked again (a
    half-typed address restarts at the street)."""
    resident = turn.resident
    if not resident.consent:
        step = "consent"
    elif not resident.settlement_id:
        step = "settlement"
    elif not resident.name:
        step = "name"
    elif not resident.phone:
        step = "phone"
    elif not resident.addresses:
        step = "street"
    else:
        step = "notify"
    turn.go(step, flow="registration", page=0, settlement_id=resident.settlement_id)


# ----------------------------------------------------------------------------- name


def ask_name(turn: Turn) -> None:
    turn.say(turn.t("registration.name"), navigation(turn.t))


async def answer_name(turn: Turn, answer: Answer) -> bool:
    if answer.code:
        return False
    name = clean_name(answer.text)
    if name is None:
        return turn.ask_again("errors.name")
    turn.resident.name = name
    turn.go("phone", keep=True)
    return True


# ----------------------------------------------------------------------------- phone


def read_phone(turn: Turn, answer: Answer) -> str | None:
    """The phone, typed or shared as a contact (the same to us: a contact card from the
    phone book looks exactly like the share button's), or ``None`` after noting why it
    was refused."""
    if answer.code == codes.SHARE_PHONE:  # the share button on a device that can't share
        turn.note("errors.share_phone_unsupported")
        return None
    raw = answer.phone if answer.kind == MessageKind.contact else answer.text
    phone = normalise_phone(raw)
    if phone is None:
        turn.note("errors.phone")
        return None
    return phone


def ask_phone(turn: Turn) -> None:
    turn.say(turn.t("registration.phone"), [share_phone(turn.t), *navigation(turn.t)])


async def answer_phone(turn: Turn, answer: Answer) -> bool:
    if answer.code and answer.code != codes.SHARE_PHONE:
        return False
    phone = read_phone(turn, answer)
    if phone is None:
        turn.ask()
        return True
    turn.resident.phone = phone  # other residents may give the same number: it proves nothing
    turn.go("street", keep=True, settlement_id=turn.resident.settlement_id)
    return True


# ----------------------------------------------------------------------------- notify


def notify_buttons(turn: Turn) -> list[Button]:
    t = turn.t
    return [button(t(f"notify.{scope.value}"), f"{codes.NOTIFY}{scope.value}") for scope in NotifyScope]


def ask_notify(turn: Turn) -> None:
    t, resident = turn.t, turn.resident
    if resident.registered:
        text = t("profile.notify", current=t(f"notify.current_{resident.notify.value}"))
    else:
        text = t("registration.notify")
    turn.say(text, [*notify_buttons(turn), *navigation(t)])


async def answer_notify(turn: Turn, answer: Answer) -> bool:
    if not answer.code:
        return turn.ask_again("errors.use_buttons")
    scope = codes.value(answer.code, codes.NOTIFY)
    if scope not in {s.value for s in NotifyScope}:
        return False
    resident = turn.resident
    resident.notify = NotifyScope(scope)
    if resident.registered:
        turn.note("profile.saved")
        turn.go("outages" if turn.data.get("back_to") == "outages" else "profile")
        return True
    resident.registered = True
    resident.registered_at = turn.ctx.clock()
    turn.note("registration.done", name=resident.name or "")
    turn.go("cabinet")
    return True


def back_from_notify(turn: Turn) -> None:
    if turn.resident.registered:
        turn.go("outages" if turn.data.get("back_to") == "outages" else "profile")
    else:
        turn.go("apartment", keep=True)


STEPS = (
    Step("consent", ask_consent, answer_consent),
    Step("name", ask_name, answer_name, back=lambda turn: turn.go("settlement", keep=True)),
    Step("phone", ask_phone, answer_phone, back=lambda turn: turn.go("name", keep=True), accepts_contact=True),
    Step("notify", ask_notify, answer_notify, back=back_from_notify),
)
