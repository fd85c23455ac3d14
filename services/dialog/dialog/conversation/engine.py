"""Conversation engine entry point: one call per thing a resident did.

Order of reading a message: navigation that works everywhere (home, main-menu entries,
useful-info sections, profile entries), then the current step. A code nobody
understands came from an old keyboard: say so and ask the current question again.
"""

from __future__ import annotations

from chatbot_common.events import MessageKind

from . import address, cabinet, codes, linking, profile, registration, useful_info  # noqa: F401  (steps register)
from .api import Incoming, IncomingKind, Outcome
from .context import Context
from .model import Identity, Resident
from .turn import STEPS, Answer, Turn

#: Where a resident without consent may be: they keep public info and questions.
GUEST_STEPS = frozenset({"guest", "info", "links", "question"})


async def respond(resident: Resident, incoming: Incoming, ctx: Context) -> Outcome:
    """Answer one thing the resident did (see ``api`` for the contract)."""
    baseline = resident.model_copy(deep=True)
    identity = _identity(resident, incoming)
    turn = Turn(resident, ctx, identity, baseline)
    if incoming.kind == IncomingKind.started:
        pass  # the gateway already answered with the welcome; Viber allows nothing more
    elif incoming.kind == IncomingKind.unsubscribed:
        identity.subscribed = False  # no reply: the resident can no longer receive it
    elif incoming.kind == IncomingKind.subscribed:
        identity.subscribed = True
        _welcome_back(turn)
    else:
        identity.subscribed = True  # a resident's message subscribes them (Viber)
        await _message(turn, Answer.read(incoming.content))
    return turn.outcome()


def _identity(resident: Resident, incoming: Incoming) -> Identity:
    identity = resident.identity(incoming.channel, incoming.channel_user_id)
    if identity is None:
        identity = Identity(channel=incoming.channel, channel_user_id=incoming.channel_user_id)
        resident.identities.append(identity)
    return identity


def _mode(turn: Turn) -> str:
    if turn.resident.registered:
        return "registered"
    if turn.step in GUEST_STEPS:
        return "guest"
    return "registration"


def _welcome_back(turn: Turn) -> None:
    """Home for residents who have one; registration resumes where it stopped."""
    mode = _mode(turn)
    if mode != "registration":
        turn.go_home()
    elif turn.step not in STEPS or turn.step == "new":
        registration.begin(turn)
    else:
        if turn.step != "consent":
            turn.note("registration.resume")
        turn.ask()


async def _message(turn: Turn, answer: Answer) -> None:
    step = STEPS.get(turn.step)
    if step is None or turn.step == "new":
        if turn.resident.registered:  # a step from an older version: start from home
            turn.go_home()
        else:
            registration.begin(turn)
        return
    if answer.code and linking.is_answer(answer.code) and turn.resident.registered:
        await linking.answer_request(turn, answer.code)  # S7: from any screen
        return
    if answer.code and _navigate(turn, answer.code):
        return
    if answer.kind not in (MessageKind.text, MessageKind.contact):
        turn.note("errors.not_text")
        turn.ask()
    elif answer.kind == MessageKind.contact and not step.accepts_contact:
        turn.note("errors.contact_not_expected")
        turn.ask()
    elif answer.code == codes.BACK:
        step.back(turn) if step.back else turn.ask()
    elif answer.code:
        if not await step.answer(turn, answer):
            turn.note("errors.stale")
            turn.ask()
    elif step.screen:
        await cabinet.free_text(turn, answer.text)
    else:
        await step.answer(turn, answer)


def _navigate(turn: Turn, code: str) -> bool:
    """Codes that work from any screen; ``False`` leaves the code to the current step."""
    mode = _mode(turn)
    if code == codes.START or (code == codes.HOME and mode != "registration"):
        _welcome_back(turn)
        return True
    if mode == "registration":
        if code == codes.HOME:  # leave registration for now: public info meanwhile
            turn.go("guest")
            return True
        return False
    if code.startswith("menu:"):
        return cabinet.open_menu(turn, code)
    if code.startswith(codes.INFO):
        return useful_info.open_section(turn, code)
    if code.startswith(codes.LINK):
        turn.go("links")
        return True
    if mode == "registered":
        return profile.open_entry(turn, code)
    if code.startswith("profile:"):
        turn.note("guest.register_needed")
        turn.go("guest")
        return True
    return False
