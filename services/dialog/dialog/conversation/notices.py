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

from . import chat, codes
from .api import ChatIdleNotice, ChatNotice, TextNotice, TicketRejectedNotice
from .keyboards import button, navigation, short
from .turn import Turn


async def text(turn: Turn, notice: TextNotice) -> None:
    """A catalog text with a way home under it; the conversation stays where it was
    (an answer typed after it still goes to the current question)."""
    turn.say(turn.t(notice.key, **notice.params), navigation(turn.t, back=False))


async def ticket_rejected(turn: Turn, notice: TicketRejectedNotice) -> None:
    """The contact center refused the resident's request: its reason (as it wrote it,
    in a Ukrainian frame) and buttons to fix and resend the kept draft."""
    t = turn.t
    reason = short(notice.reason, 1000) if notice.reason else t("tickets.rejected_no_reason")
    text = t("tickets.rejected", category=notice.service_name, reason=reason)
    buttons = []
    if notice.ticket_id in turn.resident.sent_drafts:
        buttons = [button(t("tickets.button_fix"), f"{codes.DRAFT_EDIT}{notice.ticket_id}", 3),
                   button(t("tickets.button_resend"), f"{codes.DRAFT_RESEND}{notice.ticket_id}", 3)]
    else:
        text += "\n\n" + t("tickets.rejected_new")
        buttons = [button(t("menu.new_ticket"), codes.MENU_NEW_TICKET)]
    turn.say(text, [*buttons, *navigation(t, back=False)])


HANDLERS: dict[type, Callable[[Turn, Any], Awaitable[None]]] = {
    TextNotice: text,
    TicketRejectedNotice: ticket_rejected,
    ChatNotice: chat.on_event,
    ChatIdleNotice: chat.on_idle,
}
