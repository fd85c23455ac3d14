"""The profile (C10, S6): see and change every field collected at registration, the
birth date (C9 greetings), notification preferences, and delete all one's data."""

from __future__ import annotations

from chatbot_common.directory import display_phone
from . import address, codes
from .keyboards import button, grid, navigation, share_phone
from .model import ConversationState, Resident
from .registration import read_phone
from .turn import Answer, Step, Turn
from .validation import clean_name, display_date, parse_birth_date

#: Profile entries (also accepted from any screen of a registered resident).
ENTRIES = {
    codes.PROFILE_NAME: "profile_name",
    codes.PROFILE_PHONE: "profile_phone",
    codes.PROFILE_ADDRESSES: "addresses",
    codes.PROFILE_BIRTH_DATE: "birth_date",
    codes.PROFILE_NOTIFY: "notify",
    codes.PROFILE_APPS: "apps",
    codes.PROFILE_DELETE: "delete",
}


def show(turn: Turn) -> None:
    turn.go("profile")


def open_entry(turn: Turn, code: str) -> bool:
    if code == codes.PROFILE_SETTLEMENT:
        address.start(turn, "primary")
        return True
    step = ENTRIES.get(code)
    if step is None:
        return False
    turn.go(step)
    return True


def _saved(turn: Turn) -> None:
    turn.note("profile.saved")
    turn.go("profile")


# ----------------------------------------------------------------------------- overview


def summary(turn: Turn) -> str:
    t, r = turn.t, turn.resident
    not_set = t("profile.not_set")
    settlement = turn.city.settlement(r.settlement_id)
    addresses = "\n".join(
        f"{n}. {address.address_label(turn, a, with_settlement=True)}" for n, a in enumerate(r.addresses, 1)
    )
    return t(
        "profile.summary",
        name=r.name or not_set,
        phone=display_phone(r.phone) if r.phone else not_set,
        settlement=settlement.label if settlement else not_set,
        addresses=addresses or not_set,
        birth_date=display_date(r.birth_date) if r.birth_date else not_set,
        notify=t(f"notify.current_{r.notify.value}"),
        apps=", ".join(t(f"channels.{i.channel.value}") for i in r.identities),
    )


def ask_profile(turn: Turn) -> None:
    t = turn.t
    edits = grid(
        [
            button(t("profile.edit_name"), codes.PROFILE_NAME),
            button(t("profile.edit_phone"), codes.PROFILE_PHONE),
            button(t("profile.edit_settlement"), codes.PROFILE_SETTLEMENT),
            button(t("profile.edit_addresses"), codes.PROFILE_ADDRESSES),
            button(t("profile.edit_birth_date"), codes.PROFILE_BIRTH_DATE),
            button(t("profile.edit_notify"), codes.PROFILE_NOTIFY),
            button(t("profile.edit_apps"), codes.PROFILE_APPS),
        ]
    )
    turn.say(summary(turn), [*edits, button(t("profile.delete"), codes.PROFILE_DELETE), *navigation(t)])


async def no_local_codes(turn: Turn, answer: Answer) -> bool:
    return False


# ----------------------------------------------------------------------------- name, phone


def ask_name(turn: Turn) -> None:
    turn.say(turn.t("profile.name", current=turn.resident.name or ""), navigation(turn.t))


async def answer_name(turn: Turn, answer: Answer) -> bool:
    if answer.code:
        return False
    name = clean_name(answer.text)
    if name is None:
        return turn.ask_again("errors.name")
    turn.resident.name = name
    _saved(turn)
    return True


def ask_phone(turn: Turn) -> None:
    current = display_phone(turn.resident.phone) if turn.resident.phone else turn.t("profile.not_set")
    turn.say(turn.t("profile.phone", current=current), [share_phone(turn.t), *navigation(turn.t)])


async def answer_phone(turn: Turn, answer: Answer) -> bool:
    if answer.code and answer.code != codes.SHARE_PHONE:
        return False
    phone = read_phone(turn, answer)
    if phone is None:
        turn.ask()
        return True
    turn.resident.phone = phone  # a number to call back, not an identity (S7)
    _saved(turn)
    return True


# ----------------------------------------------------------------------------- birth date


def ask_birth_date(turn: Turn) -> None:
    t, born = turn.t, turn.resident.birth_date
    buttons = [button(t("buttons.birth_date_clear"), codes.BIRTH_CLEAR)] if born else []
    current = display_date(born) if born else t("profile.not_set")
    turn.say(t("profile.birth_date", current=current), [*buttons, *navigation(t)])


async def answer_birth_date(turn: Turn, answer: Answer) -> bool:
    if answer.code == codes.BIRTH_CLEAR and turn.resident.birth_date:
        turn.resident.birth_date = None
        _saved(turn)
        return True
    if answer.code:
        return False
    born = parse_birth_date(answer.text, turn.ctx.clock().date())
    if born is None:
        return turn.ask_again("errors.birth_date")
    turn.resident.birth_date = born.isoformat()
    _saved(turn)
    return True


# ----------------------------------------------------------------------------- addresses


def ask_addresses(turn: Turn) -> None:
    t, r = turn.t, turn.resident
    items = [button(f"📍 {address.address_label(turn, a)}", f"{codes.ADDRESS}{a.id}") for a in r.addresses]
    if len(r.addresses) < turn.ctx.max_addresses:
        items.append(button(t("buttons.address_add"), codes.ADDRESS_ADD))
    turn.say(t("profile.addresses", count=len(r.addresses), limit=turn.ctx.max_addresses), [*items, *navigation(t)])


async def answer_addresses(turn: Turn, answer: Answer) -> bool:
    if answer.code == codes.ADDRESS_ADD:
        if len(turn.resident.addresses) >= turn.ctx.max_addresses:
            turn.note("address.limit", limit=turn.ctx.max_addresses)
            turn.ask()
        else:
            address.start(turn, "add")
        return True
    address_id = codes.value(answer.code or "", codes.ADDRESS)
    if address_id is None or turn.resident.address_by_id(address_id) is None:
        return False
    turn.go("address", address_id=address_id)
    return True


def ask_address(turn: Turn) -> None:
    t, r = turn.t, turn.resident
    chosen = r.address_by_id(str(turn.data.get("address_id")))
    if chosen is None:  # removed meanwhile (another device): back to the list
        turn.go("addresses")
        return
    buttons = [button(t("buttons.address_edit"), f"{codes.ADDRESS_EDIT}{chosen.id}")]
    if len(r.addresses) > 1:
        buttons.append(button(t("buttons.address_remove"), f"{codes.ADDRESS_REMOVE}{chosen.id}"))
    label = address.address_label(turn, chosen, with_settlement=True)
    key = "profile.address_main" if chosen is r.addresses[0] else "profile.address"
    turn.say(t(key, address=label), [*buttons, *navigation(t)])


async def answer_address(turn: Turn, answer: Answer) -> bool:
    code, r = answer.code or "", turn.resident
    edit_id, remove_id = codes.value(code, codes.ADDRESS_EDIT), codes.value(code, codes.ADDRESS_REMOVE)
    if edit_id and r.address_by_id(edit_id):
        address.start(turn, "edit", address_id=edit_id)
        return True
    if remove_id and r.address_by_id(remove_id):
        if len(r.addresses) == 1:
            turn.note("address.keep_one")
        else:
            r.addresses = [a for a in r.addresses if a.id != remove_id]
            r.settlement_id = r.addresses[0].settlement_id
            turn.note("address.removed")
        turn.go("addresses")
        return True
    return False


# ----------------------------------------------------------------------------- delete


def ask_delete(turn: Turn) -> None:
    t = turn.t
    confirm = button(t("buttons.delete_confirm"), codes.PROFILE_DELETE_CONFIRM)
    turn.say(t("profile.delete_ask"), [confirm, *navigation(t)])


async def answer_delete(turn: Turn, answer: Answer) -> bool:
    if answer.code == codes.PROFILE_DELETE_CONFIRM:
        forget(turn)
        return True
    return turn.unrecognised(answer)


def forget(turn: Turn) -> None:
    """Delete all personal data (C10): the service erases the stored record and identity
    links; the engine announces ``resident.deleted`` and offers to start over."""
    old = turn.resident
    turn.forget = True
    turn.resident = Resident(
        id=old.id,
        identities=[i.model_copy() for i in old.identities],
        created_at=old.created_at,
        state=ConversationState(step="new"),
    )
    turn.say(turn.t("profile.deleted"), [button(turn.t("buttons.start"), codes.START)])


def to_profile(turn: Turn) -> None:
    turn.go("profile")


STEPS = (
    Step("profile", ask_profile, no_local_codes, back=lambda turn: turn.go("cabinet"), screen=True),
    Step("profile_name", ask_name, answer_name, back=to_profile),
    Step("profile_phone", ask_phone, answer_phone, back=to_profile, accepts_contact=True),
    Step("birth_date", ask_birth_date, answer_birth_date, back=to_profile),
    Step("addresses", ask_addresses, answer_addresses, back=to_profile, screen=True),
    Step("address", ask_address, answer_address, back=lambda turn: turn.go("addresses"), screen=True),
    Step("delete", ask_delete, answer_delete, back=to_profile),
)
