"""Field checks several admin forms share (links on buttons: knowledge base, useful
information, mailings) — one wording, one rule."""

from __future__ import annotations

import re

_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$")
URL_MESSAGE = "адреса має починатися з https:// (або http://) і не містити пробілів"


def web_url(value: str) -> str:
    """An http(s) address without spaces, trimmed; else ``ValueError`` (a 422 on the field)."""
    value = value.strip()
    if not _URL.match(value):
        raise ValueError(URL_MESSAGE)
    return value


def button_label(value: str, empty: str = "напис не може бути порожнім") -> str:
    """A button's label with its spaces collapsed; an empty one is refused with ``empty``."""
    value = " ".join(value.split())
    if not value:
        raise ValueError(empty)
    return value
