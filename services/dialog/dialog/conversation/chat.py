"""Live chat with a Contact Center operator (issue 11, P4): the resident's side.

«💬 Чат з оператором» (main menu, or the question search giving up) opens a chat: a
``chat_id`` derived from the input, ``chat.requested`` with the operator's note (the last
bot exchanges and the resident's open requests), and :class:`~.model.ChatSession` on the
resident. While it is set, :func:`message` takes everything the resident sends
(before any other reading of the message):

- text, photos, files, locations, contacts → ``chat.resident_message`` (``seq`` from 1,
  ``message_id`` derived from the input) and **no reply**: Viber keeps the last keyboard
  («✅ Завершити чат», «🏠 Головне меню»), and every bot message counts against Viber's
  limits (100 unanswered messages an hour, paid messages outside the resident's 24-hour
  session), so the bot speaks only when the resident needs to know something;
- «✅ Завершити чат» → ``chat.end_requested`` (resident) and the cabinet;
- «🏠 Головне меню» → a confirmation: «🏠 Так, завершити чат» (``nav:home`` again, so
  every keyboard keeps a way home) or «Ні, продовжити чат»; anything sent instead is
  relayed and the chat keyboard comes back;
- another button (an old keyboard, a notice's button) or a sticker → a short explanation
  with the chat keyboard, nothing relayed.

What the contact center answers (``dialog.chat``) arrives as :class:`~.api.ChatNotice`
through :func:`~.engine.notify` (:func:`on_event`); events of another chat than the open
one are ignored (stale), except «not delivered» for the chat that just ended. The idle
time-out (:class:`~.api.ChatIdleNotice`) is sent by the service's lease-held job.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from chatbot_common.events import (
    Button,
    ChatClosed,
    ChatDeclined,
    ChatEndRequested,
    ChatMessageKind,
    ChatOpened,
    ChatOperatorMessage,
    ChatRated,
    ChatRequested,
    ChatResidentMessage,
    ChatUnanswered,
    ChatUndelivered,
    InboundContent,
    MessageKind,
    derived_id,
)

from . import codes, tickets
from .address import address_label
from .api import ChatIdleNotice, ChatNotice
from .keyboards import button, navigation, short
from .model import ChatSession, ConversationState
from .turn import Answer, Step, Turn

KYIV = ZoneInfo("Europe/Kyiv")
#: Viber shows up to 7000 characters a message; an operator may write far more.
PART = 6500
MAX_PARTS = 3
#: What the note and the «not delivered» list keep of one message.
PREVIEW = 60
SENT_KEPT = 30
RECENT_KEPT = 6
RECENT_TEXT = 300
#: Message kinds relayed to the operator, as the bridge names them.
RELAYED = {
    MessageKind.text: ChatMessageKind.text,
    MessageKind.url: ChatMessageKind.text,
    MessageKind.picture: ChatMessageKind.picture,
    MessageKind.video: ChatMessageKind.file,
    MessageKind.file: ChatMessageKind.file,
    MessageKind.location: ChatMessageKind.location,
    MessageKind.contact: ChatMessageKind.contact,
}


def keyboard(turn: Turn) -> list[Button]:
    """The persistent chat keyboard."""
    return [button(turn.t("chat_buttons.end"), codes.CHAT_END, 3), button(turn.t("buttons.home"), codes.HOME, 3)]


def contact_phone(turn: Turn) -> str:
    phone, hours = turn.ctx.contact_center_phone, turn.city.contact_center_hours
    if not phone:
        return turn.t("chat.phone_unknown")
    said = turn.t("chat.phone", phone=phone)
    return f"{said} {turn.t('chat.hours', hours=hours)}" if hours else said


# ----------------------------------------------------------------------------- start


async def start(turn: Turn) -> None:
    """«💬 Чат з оператором»: ask the contact center for an operator."""
    resident, now = turn.resident, turn.ctx.clock()
    if resident.chat is not None:  # already in one (an old menu tapped): go on
        turn.go("chat")
        return
    chat_id = derived_id(turn.input_id or f"{resident.id}/{now.isoformat()}", "chat")
    turn.events.append(ChatRequested(chat_id=chat_id, resident_id=resident.id, name=resident.name,
                                     phone=resident.phone, note=await operator_note(turn), at=now))
    resident.chat = ChatSession(chat_id=chat_id, started_at=now, last_activity_at=now)
    resident.state = ConversationState(step="chat")
    turn.say(turn.t("chat.connecting"), keyboard(turn))


async def operator_note(turn: Turn) -> str:
    """The private note for the operator: the resident's main address, the last bot
    exchanges and their open requests (plain Ukrainian text)."""
    t, resident = turn.t, turn.resident
    lines: list[str] = []
    if resident.addresses:
        lines.append(t("chat_note.address", address=address_label(turn, resident.addresses[0], with_settlement=True)))
    if resident.recent:
        lines += ["", t("chat_note.recent")]
        lines += [t(f"chat_note.{item['who']}", text=item["text"]) for item in resident.recent]
    views = [v for v in await turn.ctx.records.tickets(resident.id) if v.open]
    lines += ["", t("chat_note.tickets") if views else t("chat_note.no_tickets")]
    for view in views[:10]:
        where = view.location.address_string if view.location and view.location.address_string else None
        lines.append(t("chat_note.ticket", number=t("chat_note.number", number=view.number) if view.number else "",
                       service=view.service_name, status=t(f"ticket_status.{view.status.value}"),
                       address=f", {where}" if where else ""))
    return "\n".join(lines).strip()


def remember_exchange(turn: Turn, answer: Answer, screen_before: bool) -> None:
    """Keep the last exchanges for the operator's note: what the resident typed at a
    screen or at «❓ Поставити питання» (their questions; never answers to the bot's own
    questions such as a new phone) and what the bot answered. Button taps are not kept:
    they change nothing of the resident."""
    resident = turn.resident
    if not resident.registered or resident.chat is not None:
        return
    if not (screen_before and answer.kind == MessageKind.text and answer.text and not answer.code):
        return
    items = [*resident.recent, {"who": "resident", "text": short(answer.text, RECENT_TEXT)}]
    for reply in turn.replies:
        if reply.text:
            items.append({"who": "bot", "text": short(reply.text, RECENT_TEXT)})
    resident.recent = items[-RECENT_KEPT:]


# ----------------------------------------------------------------------------- in the chat


async def message(turn: Turn, answer: Answer, content: InboundContent | None) -> None:
    """Anything the resident sends while a chat is open."""
    session = turn.resident.chat
    assert session is not None
    code = answer.code
    if code in (codes.CHAT_END, codes.CHAT_LEAVE_YES):
        end(turn, "resident")
        return
    if code == codes.CHAT_TICKET:
        end(turn, "resident", say=False)
        await tickets.preload(turn, codes.MENU_NEW_TICKET)
        tickets.start_new(turn)
        return
    if code == codes.HOME and session.leaving:  # «🏠 Так, завершити чат»: confirmed
        end(turn, "resident")
        return
    if code == codes.HOME:
        session.leaving = True
        turn.say(turn.t("chat.confirm_leave"), [button(turn.t("chat_buttons.leave_yes"), codes.HOME, 3),
                                                button(turn.t("chat_buttons.leave_no"), codes.CHAT_STAY, 3)])
        return
    if code == codes.START:  # the gateway's welcome button: where the resident is
        ask_chat(turn)
        return
    if code == codes.CHAT_STAY:
        session.leaving = False
        turn.say(turn.t("chat.stay"), keyboard(turn))
        return
    if code and code.startswith(codes.CHAT_RATE):
        rate(turn, code)  # the previous chat's rating, tapped during a new one
        turn.say("", keyboard(turn))
        return
    if code:
        # A button of an old keyboard or of a notice: not for the operator, said plainly.
        turn.say(turn.t("chat.button_inactive"), keyboard(turn))
        return
    kind = RELAYED.get(answer.kind)
    if kind is None or content is None:
        turn.say(turn.t("chat.not_relayed"), keyboard(turn))
        return
    relay(turn, session, kind, content)
    if session.leaving:  # the confirmation keyboard is on screen: bring the chat's back
        session.leaving = False
        turn.say(turn.t("chat.sent_after_confirm"), keyboard(turn))


def relay(turn: Turn, session: ChatSession, kind: ChatMessageKind, content: InboundContent) -> None:
    now = turn.ctx.clock()
    session.seq += 1
    session.last_activity_at = now
    message_id = derived_id(turn.input_id or f"{session.chat_id}/{session.seq}", "chat_message")
    text = (content.text or "").strip() or None
    if kind == ChatMessageKind.contact:
        text = " ".join(p for p in (content.contact_name, content.phone) if p) or None
    elif content.kind in (MessageKind.file, MessageKind.video) and content.file_name and not text:
        text = content.file_name
    turn.events.append(ChatResidentMessage(
        chat_id=session.chat_id, resident_id=turn.resident.id, message_id=message_id, seq=session.seq, kind=kind,
        text=text, media_url=content.media_url, lat=content.lat, lon=content.lon, at=now,
    ))
    preview = short(text, PREVIEW) if kind == ChatMessageKind.text and text else turn.t(f"chat.preview_{_preview(kind)}")
    session.sent = [*session.sent, {"id": message_id, "seq": session.seq, "preview": preview}][-SENT_KEPT:]


def _preview(kind: ChatMessageKind) -> str:
    return {ChatMessageKind.picture: "picture", ChatMessageKind.location: "location",
            ChatMessageKind.contact: "contact"}.get(kind, "file")


def close(turn: Turn, *, rate_it: bool = False) -> None:
    """The chat is over on our side: remember it (late «not delivered», the rating)."""
    session = turn.resident.chat
    assert session is not None
    turn.resident.chat_last = {"chat_id": session.chat_id, "sent": session.sent, "rate": rate_it, "rated": False}
    turn.resident.chat = None


def end(turn: Turn, reason: str, *, say: bool = True) -> None:
    """The resident ends the chat (or it idled out): ``chat.end_requested``, cabinet."""
    session = turn.resident.chat
    assert session is not None
    turn.events.append(ChatEndRequested(chat_id=session.chat_id, resident_id=turn.resident.id, reason=reason,
                                        at=turn.ctx.clock()))
    close(turn)
    if say:
        turn.note("chat.ended_idle" if reason == "idle" else "chat.ended_resident")
        turn.go_home()


def unsubscribed(turn: Turn) -> None:
    """The resident blocked the bot in their last app during a chat: nobody would read
    the operator's answers, so the chat ends (nothing is said: it cannot arrive)."""
    if turn.resident.chat is not None and not turn.resident.subscribed:
        end(turn, "resident", say=False)
        turn.resident.state = ConversationState(step="cabinet")


# ----------------------------------------------------------------------------- rating


def rate(turn: Turn, code: str) -> bool:
    """``chat:rate:<chat id>:<n>``: the rating of a chat the operator closed, once."""
    raw = codes.value(code, codes.CHAT_RATE) or ""
    chat_id, _, digit = raw.rpartition(":")
    last = turn.resident.chat_last or {}
    if not digit.isdigit() or not 1 <= int(digit) <= 5 or last.get("chat_id") != chat_id or not last.get("rate") \
            or last.get("rated"):
        turn.note("chat.rate_stale")
        return False
    turn.events.append(ChatRated(chat_id=chat_id, resident_id=turn.resident.id, rating=int(digit),
                                 at=turn.ctx.clock()))
    turn.resident.chat_last = {**last, "rated": True}
    turn.note("chat.rate_thanks")
    return True


async def open_code(turn: Turn, code: str) -> bool:
    """``chat:*`` codes outside a chat (from any screen); ``False`` when not one."""
    if code.startswith(codes.CHAT_RATE):
        rate(turn, code)
        turn.go_home()
        return True
    if code.startswith(codes.CHAT):
        # «Завершити чат» of a chat that is over already (an old keyboard): say so, go home.
        turn.note("chat.closed")
        turn.go_home()
        return True
    return False


def ask_rate(turn: Turn) -> None:
    chat_id = (turn.resident.chat_last or {}).get("chat_id", "")
    stars = [button(str(n), f"{codes.CHAT_RATE}{chat_id}:{n}", 1) for n in range(1, 6)]
    stars[-1] = stars[-1].model_copy(update={"columns": 2})
    turn.say(turn.t("chat.closed_by_operator"), [*stars, button(turn.t("chat_buttons.rate_skip"), codes.HOME)])


def ask_chat(turn: Turn) -> None:
    turn.say(turn.t("chat.in_chat"), keyboard(turn))


async def answer_chat(turn: Turn, answer: Answer) -> bool:
    """Reached only when the chat is over but the step was left behind (never normally:
    ``message`` takes everything while a chat is open)."""
    turn.go_home()
    return True


async def answer_rate(turn: Turn, answer: Answer) -> bool:
    return False


# ----------------------------------------------------------------------------- events


def _phone_and_home(turn: Turn, text: str) -> None:
    """A chat that did not happen: why, the phone, a request or home (the cabinet)."""
    turn.resident.state = ConversationState(step="cabinet")
    turn.say(f"{text}\n\n{contact_phone(turn)}",
             [button(turn.t("menu.new_ticket"), codes.MENU_NEW_TICKET), *navigation(turn.t, back=False)])


def when(turn: Turn, at: datetime) -> str:
    """«сьогодні о 08:00», «завтра о 08:00», «у понеділок, 09.03, о 08:00» (Kyiv time)."""
    if at.tzinfo is None:  # the catalog's times are UTC; a naive one is read as such
        at = at.replace(tzinfo=UTC)
    local, today = at.astimezone(KYIV), turn.ctx.clock().astimezone(KYIV).date()
    time = local.strftime("%H:%M")
    if local.date() == today:
        return turn.t("chat.today", time=time)
    if local.date() == today + timedelta(days=1):
        return turn.t("chat.tomorrow", time=time)
    weekday = turn.t("chat.weekdays").split("|")[local.weekday()]
    return turn.t("chat.on_day", weekday=weekday, date=local.strftime("%d.%m"), time=time)


def _operator_parts(turn: Turn, event: ChatOperatorMessage) -> list[str]:
    head = turn.t("chat.operator_named", name=short(event.operator_name, 40)) if event.operator_name \
        else turn.t("chat.operator")
    body = (event.text or "").strip()
    if event.attachments:
        links = "\n".join(event.attachments[:10])
        body = f"{body}\n\n{turn.t('chat.attachments')}\n{links}".strip()
    text = f"{head}\n{body}"
    parts = [text[i:i + PART] for i in range(0, len(text), PART)] or [head]
    if len(parts) > MAX_PARTS:
        parts = parts[:MAX_PARTS]
        parts[-1] = parts[-1][: PART - 200] + "…\n\n" + turn.t("chat.cut")
    return parts


async def on_event(turn: Turn, notice: ChatNotice) -> None:
    """What the contact center said about a chat (``dialog.chat``)."""
    event, resident = notice.event, turn.resident
    session = resident.chat
    current = session is not None and session.chat_id == event.chat_id
    if isinstance(event, ChatUndelivered):
        _undelivered(turn, event, current)
        return
    if not current:
        return  # another chat's (an ended one, a redelivery after the end): stale
    assert session is not None
    match event:
        case ChatOpened():
            if not session.opened:
                session.opened = True
                turn.say(turn.t("chat.queued"), keyboard(turn))
        case ChatDeclined(reason="outside_hours", opens_at=opens_at):
            close(turn)
            text = (turn.t("chat.declined_outside_hours", opens_at=when(turn, opens_at)) if opens_at
                    else turn.t("chat.declined_outside_hours_unknown"))
            _phone_and_home(turn, text)
        case ChatDeclined(reason=reason):
            close(turn)
            _phone_and_home(turn, turn.t(f"chat.declined_{reason}"))
        case ChatOperatorMessage():
            session.last_activity_at = max(session.last_activity_at, turn.ctx.clock())
            for part in _operator_parts(turn, event):
                turn.say(part, keyboard(turn))
        case ChatUnanswered():
            turn.say(f"{turn.t('chat.unanswered')}\n\n{contact_phone(turn)}",
                     [button(turn.t("chat_buttons.new_ticket"), codes.CHAT_TICKET), *keyboard(turn)])
        case ChatClosed(by="operator"):
            close(turn, rate_it=True)
            resident.state = ConversationState(step="chat_rate")
            ask_rate(turn)
        case ChatClosed():
            close(turn)
            turn.note("chat.closed")
            turn.go_home()


def _undelivered(turn: Turn, event: ChatUndelivered, current: bool) -> None:
    resident = turn.resident
    if current:
        sent, buttons = (resident.chat.sent if resident.chat else []), keyboard(turn)
    elif (resident.chat_last or {}).get("chat_id") == event.chat_id:
        sent, buttons = resident.chat_last.get("sent") or [], navigation(turn.t, back=False)
    else:
        return
    by_id = {item["id"]: item for item in sent}
    known = [by_id[i] for i in event.message_ids if i in by_id]
    if known and len(known) == len(event.message_ids):
        items = "\n".join(turn.t("chat.undelivered_item", seq=i["seq"], preview=i["preview"])
                          for i in sorted(known, key=lambda i: i["seq"]))
        text = turn.t("chat.undelivered", items=items)
    else:
        text = turn.t("chat.undelivered_count", count=len(event.message_ids) or 1)
    turn.say(text, buttons)


async def on_idle(turn: Turn, notice: ChatIdleNotice) -> None:
    """The lease-held job found the chat quiet too long: end it (once; a resident who
    wrote since the job looked keeps their chat)."""
    session = turn.resident.chat
    if session is None or session.chat_id != notice.chat_id or session.last_activity_at > notice.quiet_since:
        return
    end(turn, "idle")


STEPS = (
    Step("chat", ask_chat, answer_chat),
    Step("chat_rate", ask_rate, answer_rate, back=Turn.go_home, screen=True),
)
