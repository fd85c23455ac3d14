"""One resident in several apps (S7): linking with a one-time code, and unlinking.

A phone number proves nothing: a Viber contact message looks the same whether it came
from the share-phone button or from a card in the phone book, and anyone may type any
number. So an app joins an existing resident only when the same person shows they hold
both devices:

1. In an app where they are registered: «👤 Мій профіль» → «📲 Застосунки» →
   «🔗 Під'єднати інший застосунок». The app shows an 8-digit code (valid
   :data:`CODE_TTL`, single use); only its digest is stored (``Resident.link_code``).
2. In the new app (not registered there): «🔗 У мене вже є профіль» on the consent
   question — or just send the code as the first message — and type the code.
3. The new identity joins the resident who issued the code (the resident id stays
   theirs; the writer's own unfinished record is ``absorbed``); the new app gets the
   main menu, the older apps a notice with «🔌 Від'єднати» to undo it.

Wrong codes are counted on the writer's record (the only one a wrong code can name):
after :data:`MAX_FAILURES` that app may not try for :data:`LOCKOUT`. An app can unlink
the apps linked *after* it and itself, never an older one — so the first app can never
be removed and whoever sneaks in later cannot lock the owner out. The threat model is
in ``docs/conversation.md``.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chatbot_common.events import Button

from . import codes, registration
from .api import Reply
from .keyboards import button, navigation
from .model import LINK_CODE_DIGITS, ConversationState, Identity, LinkAttempts, LinkCode, Resident
from .turn import Answer, Step, Turn

CODE_DIGITS = LINK_CODE_DIGITS
CODE_TTL = timedelta(minutes=10)
#: wrong codes an app may type before it must wait :data:`LOCKOUT`
MAX_FAILURES = 5
LOCKOUT = timedelta(hours=1)
#: apps (channel identities) one resident may have
MAX_APPS = 5
#: Codes are hashed with this fixed prefix only: the app where the code is typed knows
#: nothing else, and the store looks the resident up by this digest.
DIGEST_PREFIX = "chatbot-link-code:v1:"
#: Where a not yet registered resident may type a code without pressing anything first.
CODE_STEPS = frozenset({"new", "consent", "link_enter"})

_TYPED_CODE = re.compile(rf"^\d{{{CODE_DIGITS}}}$")
_CODE_SEPARATORS = re.compile(r"[\s\-.]")


def code_digest(code: str) -> str:
    return hashlib.sha256(f"{DIGEST_PREFIX}{code}".encode()).hexdigest()


def read_code(text: str) -> str | None:
    """``1234 5678``, ``1234-5678`` or ``12345678`` → ``12345678``; else ``None``."""
    compact = _CODE_SEPARATORS.sub("", text)
    return compact if _TYPED_CODE.match(compact) else None


def display_code(code: str) -> str:
    half = CODE_DIGITS // 2
    return f"{code[:half]} {code[half:]}"


def tidy(resident: Resident, now: datetime) -> None:
    """Forget an expired code and a lockout that is over."""
    if resident.link_code is not None and resident.link_code.expires_at <= now:
        resident.link_code = None
    locked = resident.link_attempts.locked_until
    if locked is not None and locked <= now:
        resident.link_attempts = LinkAttempts()


def _kyiv() -> timezone | ZoneInfo:
    try:
        return ZoneInfo("Europe/Kyiv")
    except ZoneInfoNotFoundError:  # a container without tzdata: dates only, so close enough
        return timezone(timedelta(hours=2))


def app_name(turn: Turn, identity: Identity) -> str:
    return turn.t(f"channels.{identity.channel.value}")


def app_label(turn: Turn, identity: Identity) -> str:
    """«2. Telegram»: numbered, since one resident may have two Viber accounts."""
    number = turn.resident.identities.index(identity) + 1
    return turn.t("apps.item", number=number, app=app_name(turn, identity))


# ----------------------------------------------------------------------------- the apps screen


def _position(resident: Resident, identity: Identity) -> int:
    return next((n for n, i in enumerate(resident.identities) if i.key == identity.key), -1)


def can_unlink(resident: Resident, by: Identity, target: Identity) -> bool:
    """Apps linked after ``by``, and ``by`` itself unless it is the first app."""
    mine, theirs = _position(resident, by), _position(resident, target)
    if mine < 0 or theirs < 0:
        return False
    return theirs > mine or (theirs == mine and mine > 0)


def ask_apps(turn: Turn) -> None:
    t, resident = turn.t, turn.resident
    lines = []
    for identity in resident.identities:
        line = app_label(turn, identity)
        if identity.key == turn.identity.key:
            line += t("apps.this_app")
        elif identity.linked_at is not None:
            line += t("apps.linked_on", date=identity.linked_at.astimezone(_kyiv()).strftime("%d.%m.%Y"))
        lines.append(line)
    buttons = [button(t("buttons.apps_link"), codes.APPS_CODE)]
    for identity in resident.identities:
        if identity.key != turn.identity.key and can_unlink(resident, turn.identity, identity):
            label = t("buttons.apps_unlink", app=app_label(turn, identity))
            buttons.append(button(label, f"{codes.APPS_UNLINK}{identity.token}"))
    if can_unlink(resident, turn.identity, turn.identity):
        buttons.append(button(t("buttons.apps_unlink_self"), f"{codes.APPS_UNLINK}{turn.identity.token}"))
    turn.say(t("apps.list", apps="\n".join(lines)), [*buttons, *navigation(t)])


async def answer_apps(turn: Turn, answer: Answer) -> bool:
    if answer.code == codes.APPS_CODE:
        await issue_code(turn)
        return True
    return False


# ----------------------------------------------------------------------------- issuing a code


def _code_buttons(turn: Turn) -> list[Button]:
    t = turn.t
    return [
        button(t("buttons.code_new"), codes.APPS_CODE, 3),
        button(t("buttons.code_cancel"), codes.APPS_CODE_CANCEL, 3),
        *navigation(t),
    ]


async def issue_code(turn: Turn) -> None:
    """A new code for this resident (replacing any earlier one), shown once."""
    resident, ctx = turn.resident, turn.ctx
    if len(resident.identities) >= MAX_APPS:
        turn.note("apps.limit", limit=MAX_APPS)
        turn.go("apps")
        return
    for _ in range(5):  # two residents must never hold the same code at once
        code = ctx.new_link_code()
        digest = code_digest(code)
        holder = await ctx.directory.by_link_code(digest)
        if holder is None or holder.id == resident.id:
            break
    else:
        turn.note("apps.code_failed")
        turn.go("apps")
        return
    resident.link_code = LinkCode(digest=digest, expires_at=ctx.clock() + CODE_TTL)
    # The code is in this one message only (we keep its digest): asking the step again
    # says where to find it rather than showing it.
    resident.state = ConversationState(step="apps_code")
    minutes = int(CODE_TTL.total_seconds() // 60)
    turn.say(turn.t("apps.code", code=display_code(code), minutes=minutes), _code_buttons(turn))


def ask_code(turn: Turn) -> None:
    key = "apps.code_shown" if turn.resident.link_code is not None else "apps.code_gone"
    turn.say(turn.t(key), _code_buttons(turn))


async def answer_code(turn: Turn, answer: Answer) -> bool:
    if answer.code == codes.APPS_CODE:
        await issue_code(turn)
    elif answer.code == codes.APPS_CODE_CANCEL:
        if turn.resident.link_code is not None:
            turn.resident.link_code = None
            turn.note("apps.code_cancelled")
        turn.go("apps")
    elif answer.code:
        return False
    else:
        turn.note("apps.code_here" if read_code(answer.text) else "errors.use_buttons")
        turn.ask()
    return True


# ----------------------------------------------------------------------------- typing a code


def ask_enter(turn: Turn) -> None:
    turn.say(turn.t("linking.enter", digits=CODE_DIGITS), navigation(turn.t))


async def answer_enter(turn: Turn, answer: Answer) -> bool:
    if answer.code:
        return False
    if read_code(answer.text) is None:
        return turn.ask_again("linking.not_a_code", digits=CODE_DIGITS)
    await enter_code(turn, answer.text)
    return True


def looks_like_code(turn: Turn, answer: Answer) -> bool:
    """A code typed by someone not registered where they may type one."""
    return (
        not turn.resident.registered
        and turn.step in CODE_STEPS
        and not answer.code
        and read_code(answer.text) is not None
    )


async def enter_code(turn: Turn, typed: str) -> None:
    """The writer (not registered in this app) typed a code: join its owner, or count a
    failure on the writer's own record."""
    resident, ctx = turn.resident, turn.ctx
    now = ctx.clock()
    if resident.registered:  # a registered app has its own profile: nothing to join
        turn.go_home()
        return
    if resident.link_attempts.locked_until is not None and now < resident.link_attempts.locked_until:
        turn.note("linking.locked", minutes=int(LOCKOUT.total_seconds() // 60))
        turn.go("link_enter")
        return
    code = read_code(typed) or ""
    digest = code_digest(code)
    owner = await ctx.directory.by_link_code(digest)
    issued = owner.link_code if owner is not None else None
    if (
        owner is None
        or issued is None
        or issued.digest != digest
        or owner.id == resident.id
        or not owner.registered
        or owner.identity(turn.identity.channel, turn.identity.channel_user_id) is not None
    ):
        _failed(turn, now, "linking.wrong")
    elif issued.expires_at <= now:
        _failed(turn, now, "linking.expired")
    elif len(owner.identities) >= MAX_APPS:
        turn.note("linking.owner_full", limit=MAX_APPS)
        turn.go("link_enter")
    else:
        _join(turn, owner, digest, now)


def _failed(turn: Turn, now: datetime, key: str) -> None:
    attempts = turn.resident.link_attempts
    attempts.failures += 1
    if attempts.failures >= MAX_FAILURES:
        turn.resident.link_attempts = LinkAttempts(locked_until=now + LOCKOUT)
        turn.note("linking.locked", minutes=int(LOCKOUT.total_seconds() // 60))
    else:
        turn.note(key, left=MAX_FAILURES - attempts.failures)
    turn.go("link_enter")


def _join(turn: Turn, owner: Resident, digest: str, now: datetime) -> None:
    """The writer's identity joins ``owner``; from here on the turn speaks for ``owner``
    (one resident document changes: the owner's; the writer's own record is dropped)."""
    writer_record = turn.resident
    joined = owner.model_copy(deep=True)
    older = [i for i in joined.identities if i.subscribed]
    identity = turn.identity.model_copy(update={"subscribed": True, "linked_at": now, "last_seen_at": now})
    joined.identities.append(identity)
    joined.link_code = None  # single use
    turn.baseline = owner  # events compare the owner before and after: a new channel
    turn.resident = joined
    turn.identity = identity
    turn.absorbed = writer_record.id
    turn.consumed_link_code = digest
    turn.note("linking.joined", name=joined.name or "")
    turn.go_home()
    t = turn.t
    notice = Reply(
        t("linking.joined_notice", app=app_label(turn, identity)),
        [
            button(t("buttons.apps_unlink", app=app_label(turn, identity)), f"{codes.APPS_UNLINK}{identity.token}"),
            *navigation(t, back=False),
        ],
    )
    for other in older:
        turn.notify(other, notice)


# ----------------------------------------------------------------------------- unlinking


def open_unlink(turn: Turn, code: str) -> bool:
    """``apps:unlink:<token>`` from any screen (the «new app linked» notice, the apps
    list): ask to confirm. ``False`` when it is not such a code."""
    token = codes.value(code, codes.APPS_UNLINK)
    if token is None:
        return False
    target = turn.resident.identity_by_token(token)
    if target is None or not can_unlink(turn.resident, turn.identity, target):
        turn.note("apps.unlink_unavailable")
        turn.go("apps")
        return True
    turn.go("apps_unlink", token=token)
    return True


def ask_unlink(turn: Turn) -> None:
    t = turn.t
    target = turn.resident.identity_by_token(str(turn.data.get("token")))
    if target is None:  # unlinked meanwhile from another app
        turn.go("apps")
        return
    key = "apps.unlink_self_ask" if target.key == turn.identity.key else "apps.unlink_ask"
    confirm = button(t("buttons.apps_unlink_confirm"), codes.APPS_UNLINK_CONFIRM)
    turn.say(t(key, app=app_label(turn, target)), [confirm, *navigation(t)])


async def answer_unlink(turn: Turn, answer: Answer) -> bool:
    if answer.code == codes.APPS_UNLINK_CONFIRM:
        unlink(turn, str(turn.data.get("token")))
        return True
    return turn.unrecognised(answer)


def unlink(turn: Turn, token: str) -> None:
    resident, t = turn.resident, turn.t
    target = resident.identity_by_token(token)
    if target is None or not can_unlink(resident, turn.identity, target):
        turn.note("apps.unlink_unavailable")
        turn.go("apps")
        return
    label = app_label(turn, target)
    resident.identities = [i for i in resident.identities if i.key != target.key]
    turn.released.append(target)
    farewell = Reply(t("apps.unlinked_there"), [button(t("buttons.start"), codes.START)])
    if target.key == turn.identity.key:
        # This app leaves: it is answered once more, then starts afresh. The resident's
        # other apps find the main menu when they come back.
        resident.state = ConversationState(step="cabinet")
        turn.replies.append(farewell)
        return
    turn.notify(target, farewell)
    turn.note("apps.unlinked", app=label)
    turn.go("apps")


def back_from_enter(turn: Turn) -> None:
    registration.resume(turn)


STEPS = (
    Step("apps", ask_apps, answer_apps, back=lambda turn: turn.go("profile"), screen=True),
    Step("apps_code", ask_code, answer_code, back=lambda turn: turn.go("apps")),
    Step("apps_unlink", ask_unlink, answer_unlink, back=lambda turn: turn.go("apps")),
    Step("link_enter", ask_enter, answer_enter, back=back_from_enter),
)
