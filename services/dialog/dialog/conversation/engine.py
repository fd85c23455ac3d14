"""Conversation engine entry points: :func:`respond` for each thing a resident did,
:func:`notify` for each thing that happened to them (a :data:`~.api.SystemNotice`).

Order of reading a message: a link code typed by someone not registered (S7), then
navigation that works everywhere (home, main-menu entries, useful-info sections,
profile entries, unlinking an app), then the current step. A code nobody understands
came from an old keyboard: say so and ask the current question again.

The engine reads nothing but its arguments: the resident, what happened, and the
:class:`~.context.Context` (other residents only through ``ctx.directory``).
"""

from __future__ import annotations

from chatbot_common.events import MessageKind

from . import cabinet, chat, codes, linking, notices, outages, profile, questions, registration, surveys, tickets, useful_info
from .api import Incoming, IncomingKind, Outcome, SystemNotice
from .context import Context
from .model import Identity, Resident
from .steps import STEPS
from .turn import Answer, Turn

#: Where a resident without consent may be: they keep public info and questions.
GUEST_STEPS = frozenset({"guest", "info", "links", "question"})


async def respond(resident: Resident, incoming: Incoming, ctx: Context) -> Outcome:
    """Answer one thing the resident did (see ``api`` for the contract)."""
    baseline = snapshot(resident)
    identity = _identity(resident, incoming)
    now = ctx.clock()
    linking.tidy(resident, now)
    turn = Turn(resident, ctx, identity, baseline, STEPS)
    turn.input_id = incoming.input_id
    await useful_info.preload(turn)
    if incoming.kind == IncomingKind.unsubscribed:
        identity.subscribed = False  # no reply: the resident can no longer receive it
        chat.unsubscribed(turn)
        return turn.outcome()
    identity.last_seen_at = now  # the app in use: system notices go here
    if incoming.kind == IncomingKind.started:
        pass  # the gateway already answered with the welcome; Viber allows nothing more
    elif incoming.kind == IncomingKind.subscribed:
        identity.subscribed = True
        _welcome_back(turn)
    else:
        identity.subscribed = True  # a resident's message subscribes them (Viber)
        answer = Answer.read(incoming.content)
        screen_before = turn.step == "question" or getattr(STEPS.get(turn.step), "screen", False)
        if turn.resident.chat is not None:
            await chat.message(turn, answer, incoming.content)  # everything goes to the operator
        else:
            await _message(turn, answer)
            chat.remember_exchange(turn, answer, screen_before)
    return turn.outcome()


async def notify(resident: Resident, notice: SystemNotice, ctx: Context) -> Outcome:
    """Tell the resident that something happened (not their own message): what the
    notice's handler says goes to their preferred app as ``Outcome.notices``. A resident
    with no subscribed app gets nothing (``notices`` is empty)."""
    identity = resident.preferred_identity()
    handler = notices.HANDLERS.get(type(notice))
    if handler is None:
        raise TypeError(f"no handler for the system notice {type(notice).__name__}")
    if identity is None:
        if not resident.identities:
            return Outcome(resident=resident)
        # Nobody can be told, but what happened still happened (a chat closed): the
        # handler runs and what it said is dropped.
        turn = Turn(resident, ctx, resident.identities[0], snapshot(resident), STEPS)
        await handler(turn, notice)
        outcome = turn.outcome(replies_as_notices=True)
        outcome.notices = []
        return outcome
    turn = Turn(resident, ctx, identity, snapshot(resident), STEPS)
    await useful_info.preload(turn)
    await tickets.preload(turn, None)
    await handler(turn, notice)
    return turn.outcome(replies_as_notices=True)


def snapshot(resident: Resident) -> Resident:
    """An independent copy of the resident as it was (to tell what changed): dumped and
    validated by pydantic's core, several times cheaper than ``model_copy(deep=True)``."""
    return Resident.model_validate(resident.model_dump())


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
    if turn.resident.chat is not None:
        turn.go("chat")  # back in the bot during a chat: the chat's keyboard
    elif mode != "registration":
        turn.go_home()
    elif turn.step not in STEPS or turn.step == "new":
        _restart(turn)
    else:
        if turn.step not in ("consent", "link_enter"):
            turn.note("registration.resume")
        turn.ask()


def _restart(turn: Turn) -> None:
    """First contact, or a step an older version left the resident on."""
    if turn.resident.registered:
        turn.go_home()
    elif turn.resident.consent:
        turn.note("registration.resume")
        registration.resume(turn)
    else:
        registration.begin(turn)


async def _message(turn: Turn, answer: Answer) -> None:
    if linking.looks_like_code(turn, answer):
        await linking.enter_code(turn, answer.text)  # S7: the code from another app
        return
    step = STEPS.get(turn.step)
    if step is None or turn.step == "new":
        _restart(turn)
        return
    await tickets.preload(turn, answer.code)
    await surveys.preload(turn, answer.code)
    if answer.code and await _navigate(turn, answer.code):
        return
    if answer.kind in step.accepts:
        await step.answer(turn, answer)
    elif answer.kind not in (MessageKind.text, MessageKind.contact):
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


async def _navigate(turn: Turn, code: str) -> bool:
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
        return await cabinet.open_menu(turn, code)
    if code.startswith(codes.INFO):
        return useful_info.open_section(turn, code)
    if code.startswith(codes.LINK):
        turn.go("links")
        return True
    if code.startswith(codes.FAQ):
        return await questions.open_code(turn, code)
    if code.startswith(codes.SURVEY_OPEN) and mode == "registered":
        return surveys.open_code(turn, code)
    if code.startswith(codes.CHAT) and mode == "registered":
        return await chat.open_code(turn, code)
    if mode == "registered":
        return (profile.open_entry(turn, code) or linking.open_unlink(turn, code)
                or await tickets.open_code(turn, code) or outages.open_code(turn, code))
    if code.startswith(("profile:", codes.SURVEY_OPEN)):
        turn.note("guest.register_needed")
        turn.go("guest")
        return True
    return False
