"""Keyboard building blocks, so every screen lays buttons out the same way and stays
inside Viber's limits (6 columns a row, at most 12 rows, labels that fit a button)."""

from __future__ import annotations

from collections.abc import Sequence

from chatbot_common.events import Button, ButtonAction
from chatbot_common.texts import Catalog

from . import codes

#: Longer labels are cut with «…»: a Viber button shows about this much on a phone.
MAX_LABEL = 40


def short(label: str, limit: int = MAX_LABEL) -> str:
    label = " ".join(label.split())
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def button(label: str, code: str, columns: int = 6) -> Button:
    return Button(label=short(label), code=code, columns=columns)


def share_phone(t: Catalog) -> Button:
    return Button(label=t("buttons.share_phone"), code=codes.SHARE_PHONE, action=ButtonAction.share_phone)


def open_url(label: str, code: str, url: str) -> Button:
    return Button(label=short(label), code=code, action=ButtonAction.open_url, url=url)


def grid(buttons: Sequence[Button], columns: int = 3) -> list[Button]:
    """Lay buttons out ``6 // columns`` to a row; the last one of an odd row takes the
    whole row so the navigation row below starts on a line of its own."""
    laid = [b.model_copy(update={"columns": columns}) for b in buttons]
    per_row = 6 // columns
    if per_row > 1 and len(laid) % per_row:
        laid[-1] = laid[-1].model_copy(update={"columns": 6})
    return laid


def navigation(t: Catalog, *, back: bool = True, home: bool = True) -> list[Button]:
    """«⬅️ Назад» and «🏠 Головне меню» on one row (or the one asked for, full width)."""
    row = []
    if back:
        row.append(Button(label=t("buttons.back"), code=codes.BACK, columns=3))
    if home:
        row.append(Button(label=t("buttons.home"), code=codes.HOME, columns=3))
    if len(row) == 1:
        row[0] = row[0].model_copy(update={"columns": 6})
    return row


def page(items: Sequence[Button], number: int, per_page: int, t: Catalog, columns: int = 3) -> list[Button]:
    """One page of a long list plus «⬅️ Попередні» / «Далі ➡️» when there are more."""
    pages = max(1, -(-len(items) // per_page))
    number = min(max(number, 0), pages - 1)
    shown = grid(items[number * per_page : (number + 1) * per_page], columns)
    turns = []
    if number > 0:
        turns.append(Button(label=t("buttons.previous"), code=f"{codes.PAGE}{number - 1}", columns=3))
    if number < pages - 1:
        turns.append(Button(label=t("buttons.next"), code=f"{codes.PAGE}{number + 1}", columns=3))
    if len(turns) == 1:
        turns[0] = turns[0].model_copy(update={"columns": 6})
    return shown + turns
