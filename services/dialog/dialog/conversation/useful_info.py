"""Useful information (C11) as menus: the sections of ``useful_info.toml`` become
buttons, a section with subsections is a submenu, a section with text is a page."""

from __future__ import annotations

from . import codes
from .keyboards import button, navigation, page
from .turn import Answer, Step, Turn

#: Sections per page before «Далі ➡️» (full-width buttons: titles are long).
PER_PAGE = 10


def show(turn: Turn, section_id: str | None) -> None:
    turn.go("info", node=section_id, page=0)


def open_section(turn: Turn, code: str) -> bool:
    """``info:<id>`` from any screen opens that section; ``False`` if there is none."""
    section_id = codes.value(code, codes.INFO)
    if section_id is None or turn.city.info.get(section_id) is None:
        return False
    show(turn, section_id)
    return True


def ask_info(turn: Turn) -> None:
    t, info = turn.t, turn.city.info
    section = info.get(str(turn.data.get("node"))) if turn.data.get("node") else None
    if section is None:
        text = t("info.menu") if info.sections else t("info.empty")
        children = info.sections
    else:
        text = f"{section.title}\n\n{section.text}" if section.text else section.title
        children = section.children
    items = [button(child.title, f"{codes.INFO}{child.id}") for child in children]
    keyboard = page(items, int(turn.data.get("page", 0)), PER_PAGE, t, columns=6)
    turn.say(text, [*keyboard, *navigation(t, back=section is not None)])


async def answer_info(turn: Turn, answer: Answer) -> bool:
    number = codes.page_number(answer.code or "")
    if number is None:
        return False
    turn.set(page=number)
    turn.ask()
    return True


def back_from_info(turn: Turn) -> None:
    section = turn.city.info.get(str(turn.data.get("node"))) if turn.data.get("node") else None
    if section is None:
        turn.go_home()
    else:
        show(turn, section.parent_id)


STEPS = (Step("info", ask_info, answer_info, back=back_from_info, screen=True),)
