"""Useful information (C11) as menus: the sections become buttons, a section with
subsections is a submenu, a section with text is a page.

The sections and the links (C7) come from the packaged ``useful_info.toml`` /
``links.toml`` until staff publish their own (``info.changed``, highest revision kept in
the dialog's projection): :func:`preload` then puts the published ones in place of the
city data for the turn, so an edit shows from the next screen on, without a restart.
A tapped ``info:<id>`` whose section was deleted meanwhile says the section was updated
and shows the current menu.
"""

from __future__ import annotations

from dataclasses import replace

from chatbot_common.directory import CityData

from . import codes
from .keyboards import button, navigation, page
from .turn import Answer, Step, Turn

#: Sections per page before «Далі ➡️» (full-width buttons: titles are long).
PER_PAGE = 10


#: (id of the packaged city data, revision) → the city data with the published info
_CITY_CACHE: dict[tuple[int, int], CityData] = {}


async def preload(turn: Turn) -> None:
    """Put the useful information staff published last in place of the packaged one."""
    reader = getattr(turn.ctx.records, "info", None)
    if reader is None:
        return
    published = await reader()
    if published is None:
        return
    key = (id(turn.ctx.city), published.revision)
    city = _CITY_CACHE.get(key)
    if city is None or city.info is not published.info or city.settlements is not turn.ctx.city.settlements:
        city = replace(turn.ctx.city, info=published.info, links=published.links)
        if len(_CITY_CACHE) > 8:
            _CITY_CACHE.clear()
        _CITY_CACHE[key] = city
    turn.city_override = city


def show(turn: Turn, section_id: str | None) -> None:
    turn.go("info", node=section_id, page=0)


def open_section(turn: Turn, code: str) -> bool:
    """``info:<id>`` from any screen opens that section; ``False`` if there is none."""
    section_id = codes.value(code, codes.INFO)
    if section_id is None:
        return False
    if turn.city.info.get(section_id) is None:
        turn.note("info.gone")  # staff removed it since the keyboard was sent
        show(turn, None)
        return True
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
