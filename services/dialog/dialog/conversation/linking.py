"""Linking a new channel identity to an existing resident (S7), confirmed by the resident.

A Viber contact message is no proof of ownership: the share-phone button and a contact
card sent from the phone book look the same. So a phone that another registered
resident has verified links nothing by itself. The newcomer waits (``link_wait``) and
the existing resident's apps get a request with «✅ Так, це я» / «❌ Ні». Only their
approval moves the new identity onto their resident id; a refusal tells the newcomer,
who can give another number. Requests are checked on approval against the waiting
record, so an old or forged approval button does nothing.
"""

from __future__ import annotations

from chatbot_common.events import Button

from ..directory import display_phone
from . import codes
from .api import Notice, Reply
from .keyboards import button, navigation
from .model import Resident
from .turn import Answer, Step, Turn, register

WAIT_STEP = "link_wait"


def request(turn: Turn, existing: Resident, phone: str) -> None:
    """The newcomer shared a phone a registered resident verified: ask that resident."""
    t = turn.t
    turn.go(WAIT_STEP, keep=True, link_target=existing.id, link_phone=phone)
    text = t("linking.request", channel=t(f"channels.{turn.identity.channel.value}"), phone=display_phone(phone))
    buttons = [
        button(t("linking.approve"), f"{codes.LINK_APPROVE}{turn.resident.id}", 3),
        button(t("linking.reject"), f"{codes.LINK_REJECT}{turn.resident.id}", 3),
        *navigation(t, back=False),
    ]
    for identity in existing.identities:
        if identity.subscribed:
            turn.notices.append(
                Notice(identity.channel, identity.channel_user_id, existing.id, Reply(text, buttons))
            )


def _other_number(turn: Turn) -> list[Button]:
    return [button(turn.t("linking.other_number"), codes.LINK_CANCEL), *navigation(turn.t, back=False)]


def ask_wait(turn: Turn) -> None:
    turn.say(turn.t("linking.waiting"), _other_number(turn))


async def answer_wait(turn: Turn, answer: Answer) -> bool:
    if answer.code == codes.LINK_CANCEL:
        turn.go("phone", keep=True, link_target=None, link_phone=None)
        return True
    if answer.code:
        return False
    turn.ask()  # still waiting: say so again, with the way out
    return True


def is_answer(code: str) -> bool:
    return code.startswith((codes.LINK_APPROVE, codes.LINK_REJECT))


async def answer_request(turn: Turn, code: str) -> None:
    """The existing resident answered a link request (from any of their apps)."""
    approve = code.startswith(codes.LINK_APPROVE)
    asking_id = codes.value(code, codes.LINK_APPROVE if approve else codes.LINK_REJECT) or ""
    asking = await turn.ctx.directory.by_id(asking_id)
    if asking is None or asking.state.step != WAIT_STEP or asking.state.data.get("link_target") != turn.resident.id:
        turn.note("linking.expired")
        turn.go_home()
        return
    if approve:
        _take_over(turn, asking)
    else:
        _refuse(turn, asking)


def _take_over(turn: Turn, asking: Resident) -> None:
    resident = turn.resident
    for identity in asking.identities:
        if resident.identity(identity.channel, identity.channel_user_id) is None:
            resident.identities.append(identity.model_copy(update={"subscribed": True}))
    turn.absorbed = asking.id
    turn.note("linking.approved_here")
    turn.go_home()
    menu = turn.replies[-1]
    welcome = Reply(turn.t("registration.linked", name=resident.name or "") + "\n\n" + menu.text, menu.buttons)
    for identity in asking.identities:
        turn.notices.append(Notice(identity.channel, identity.channel_user_id, resident.id, welcome))


def _refuse(turn: Turn, asking: Resident) -> None:
    turn.note("linking.rejected_here")
    turn.go_home()
    reply = Reply(turn.t("linking.rejected"), _other_number(turn))
    for identity in asking.identities:
        turn.notices.append(Notice(identity.channel, identity.channel_user_id, asking.id, reply))


register(Step(WAIT_STEP, ask_wait, answer_wait, back=lambda turn: turn.go("phone", keep=True)))
