"""System notices: what happened to a resident that is not their own message (a
request's status changed, an operator wrote, a survey arrived…).

:func:`~.engine.notify` opens a turn addressed to the resident's preferred app and
calls the handler for the notice's type; whatever the handler says reaches that app as
``Outcome.notices``. A handler may also move the conversation (``turn.go``), e.g. to a
rating question — its question is then part of the notice. Later issues add a payload
type to ``api.SystemNotice`` and its handler to :data:`HANDLERS`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .api import TextNotice
from .keyboards import navigation
from .turn import Turn


async def text(turn: Turn, notice: TextNotice) -> None:
    """A catalog text with a way home under it; the conversation stays where it was
    (an answer typed after it still goes to the current question)."""
    turn.say(turn.t(notice.key, **notice.params), navigation(turn.t, back=False))


HANDLERS: dict[type, Callable[[Turn, Any], Awaitable[None]]] = {
    TextNotice: text,
}
