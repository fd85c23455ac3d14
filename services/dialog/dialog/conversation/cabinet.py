"""The personal cabinet (S4): the main menu, the guest menu for residents without
consent, website and apps (C7), and free text outside a question (C3 hook).

Entries whose capability is not built yet answer honestly that it is coming, with the
menu again — a button never does nothing.
"""

from __future__ import annotations

from chatbot_common.events import Button

from . import chat, codes, outages, profile, questions, registration, surveys, tickets, useful_info
from .keyboards import button, grid, navigation, open_url
from .turn import Answer, Step, Turn

#: Main menu entries in the order of conversation.md, with their catalog keys.
MAIN_MENU = (
    (codes.MENU_NEW_TICKET, "menu.new_ticket"),
    (codes.MENU_TICKETS, "menu.tickets"),
    (codes.MENU_OUTAGES, "menu.outages"),
    (codes.MENU_QUESTION, "menu.question"),
    (codes.MENU_CHAT, "menu.chat"),
    (codes.MENU_SURVEYS, "menu.surveys"),
    (codes.MENU_INFO, "menu.info"),
    (codes.MENU_PROFILE, "menu.profile"),
    (codes.MENU_LINKS, "menu.links"),
)
GUEST_MENU = (
    (codes.MENU_INFO, "menu.info"),
    (codes.MENU_QUESTION, "menu.question"),
    (codes.MENU_LINKS, "menu.links"),
    (codes.MENU_REGISTER, "menu.register"),
)
#: Entries that answer «coming soon»: questions when the answerer (C3) is switched off.
COMING_SOON = {
    codes.MENU_QUESTION: "soon.question",
}


def menu_buttons(turn: Turn, entries: tuple[tuple[str, str], ...]) -> list[Button]:
    return grid([button(turn.t(key), code) for code, key in entries])


def ask_cabinet(turn: Turn) -> None:
    turn.say(turn.t("cabinet.menu"), menu_buttons(turn, MAIN_MENU))


def ask_guest(turn: Turn) -> None:
    turn.say(turn.t("guest.menu"), menu_buttons(turn, GUEST_MENU))


async def no_local_codes(turn: Turn, answer: Answer) -> bool:
    return False


async def open_menu(turn: Turn, code: str) -> bool:
    """A main-menu (or guest-menu) entry; ``False`` when it is not one."""
    registered = turn.resident.registered
    allowed = {c for c, _ in (MAIN_MENU if registered else GUEST_MENU)}
    if code not in allowed:
        if registered or not code.startswith("menu:"):
            return False
        turn.note("guest.register_needed")
        turn.go("guest")
        return True
    if code == codes.MENU_REGISTER:
        registration.resume(turn)
    elif code == codes.MENU_INFO:
        useful_info.show(turn, None)
    elif code == codes.MENU_PROFILE:
        profile.show(turn)
    elif code == codes.MENU_NEW_TICKET:
        tickets.start_new(turn)
    elif code == codes.MENU_TICKETS:
        tickets.show_list(turn)
    elif code == codes.MENU_OUTAGES:
        outages.show(turn)
    elif code == codes.MENU_LINKS:
        turn.go("links")
    elif code == codes.MENU_SURVEYS:
        surveys.show_list(turn)
    elif code == codes.MENU_CHAT:
        await chat.start(turn)
    elif code == codes.MENU_QUESTION and turn.ctx.questions is not None:
        turn.go("question")
    else:
        turn.note(COMING_SOON[code])
        turn.go_home()
    return True


# ----------------------------------------------------------------------------- links


def ask_links(turn: Turn) -> None:
    links = turn.city.links
    buttons = [open_url(link.label, f"{codes.LINK}{link.id}", link.url) for link in links]
    turn.say(turn.t("links.text" if links else "links.none"), [*buttons, *navigation(turn.t, back=False)])


# ----------------------------------------------------------------------------- free text


async def free_text(turn: Turn, text: str) -> None:
    """Text the bot did not ask for is never an error (conversation.md): a question for
    C3 when the answerer is plugged in, otherwise a polite hint and the menu."""
    if await answer_question(turn, text):
        return
    turn.note("cabinet.free_text")
    turn.go_home()


async def answer_question(turn: Turn, text: str) -> bool:
    """Ask the C3 answerer; ``False`` when there is none or it has nothing to say."""
    answerer = turn.ctx.questions
    if answerer is None or not text:
        return False
    result = await answerer.answer(turn.resident, text)
    if result is None:
        return False
    questions.show(turn, result)
    return True


def ask_question(turn: Turn) -> None:
    turn.say(turn.t("question.ask"), navigation(turn.t, back=False))


async def answer_question_step(turn: Turn, answer: Answer) -> bool:
    if answer.code:
        return False
    if not await answer_question(turn, answer.text):
        turn.note("question.no_answer")
        turn.go_home()
    return True


STEPS = (
    Step("cabinet", ask_cabinet, no_local_codes, screen=True),
    Step("guest", ask_guest, no_local_codes, screen=True),
    Step("links", ask_links, no_local_codes, back=Turn.go_home, screen=True),
    Step("question", ask_question, answer_question_step, back=Turn.go_home),
)
