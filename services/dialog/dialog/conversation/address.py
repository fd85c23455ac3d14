"""The address flow: settlement → street → house → apartment (S5, C1, C5).

One flow serves registration and the profile; ``data["flow"]`` says what the finished
address is for: ``registration`` (the first address), ``primary`` (a new settlement and
main address), ``add`` (another address) or ``edit`` (replace ``data["address_id"]``).
"""

from __future__ import annotations

from chatbot_common.directory import Street, match_settlement, parse_apartment, parse_house
from chatbot_common.directory.text import fold
from . import codes
from .keyboards import button, navigation, page, short
from .model import Address
from .turn import Answer, Step, Turn

#: A typed street longer than this is not a street name.
MAX_STREET = 80
TYPED_PREFIX = "typed:"


def _flow(turn: Turn) -> str:
    return str(turn.data.get("flow", "registration"))


def _nav(turn: Turn) -> list:
    return navigation(turn.t)  # home: the main menu, or the guest menu while registering


def street_label(turn: Turn, settlement_id: str, street_id: str, typed: str | None = None) -> str:
    """What residents see for a street: the directory's label, or what they typed."""
    street = turn.city.street_directory(settlement_id).get(street_id)
    if street is not None:
        return street.label
    return typed or turn.t("address.unknown_street")


def address_label(turn: Turn, address: Address, *, with_settlement: bool = False) -> str:
    """«вул. Проскурівська, 12а, кв. 5» (with «м. Хмельницький, » in front if asked)."""
    parts = [street_label(turn, address.settlement_id, address.street_id, address.street_label), address.house]
    if address.apartment:
        parts.append(turn.t("address.apartment_short", apartment=address.apartment))
    if with_settlement:
        settlement = turn.city.settlement(address.settlement_id)
        if settlement is not None:
            parts.insert(0, settlement.label)
    return ", ".join(parts)


# ----------------------------------------------------------------------------- settlement


def start(turn: Turn, flow: str, address_id: str | None = None) -> None:
    """Begin the flow from the settlement question (profile: new, edited, main address)."""
    turn.go("settlement", flow=flow, page=0, address_id=address_id)


def ask_settlement(turn: Turn) -> None:
    t = turn.t
    flow = _flow(turn)
    settlement = turn.city.settlement(turn.resident.settlement_id)
    text = t(f"address.settlement_{flow}", current=settlement.label if settlement else t("profile.not_set"))
    items = [button(s.label, f"{codes.SETTLEMENT}{s.id}") for s in turn.city.settlements]
    keyboard = page(items, int(turn.data.get("page", 0)), turn.ctx.settlements_per_page, t)
    turn.say(text, [*keyboard, *_nav(turn)])


async def answer_settlement(turn: Turn, answer: Answer) -> bool:
    if answer.code:
        number = codes.page_number(answer.code)
        if number is not None:
            turn.set(page=number)
            turn.ask()
            return True
        settlement = turn.city.settlement(codes.value(answer.code, codes.SETTLEMENT))
        if settlement is None:
            return False
    else:
        settlement = match_settlement(turn.city.settlements, answer.text)
        if settlement is None:
            return turn.ask_again("errors.settlement")
    choose_settlement(turn, settlement.id)
    return True


def choose_settlement(turn: Turn, settlement_id: str) -> None:
    resident, flow = turn.resident, _flow(turn)
    if flow == "registration":
        if resident.settlement_id != settlement_id:
            resident.addresses = []
        resident.settlement_id = settlement_id
        turn.go("name", keep=True)
        return
    main = resident.addresses[0] if resident.addresses else None
    if flow == "primary" and main is not None and main.settlement_id == settlement_id == resident.settlement_id:
        turn.note("profile.settlement_same")
        turn.go("profile")
        return
    turn.go("street", keep=True, settlement_id=settlement_id)


def back_from_settlement(turn: Turn) -> None:
    flow = _flow(turn)
    if flow == "ticket":
        turn.go("t_location")
    elif flow == "registration":
        turn.go("consent")
    elif flow == "primary":
        turn.go("profile")
    else:
        turn.go("addresses")


# ----------------------------------------------------------------------------- street


def ask_street(turn: Turn) -> None:
    t = turn.t
    settlement_id = str(turn.data.get("settlement_id"))
    settlement = turn.city.settlement(settlement_id)
    directory = turn.city.street_directory(settlement_id)
    text = t("address.street", settlement=settlement.label if settlement else t("profile.not_set"))
    if directory:
        text += "\n" + t("address.street_example", example=directory.streets[0].name)
    turn.say(text, _nav(turn))


async def answer_street(turn: Turn, answer: Answer) -> bool:
    settlement_id = str(turn.data.get("settlement_id"))
    directory = turn.city.street_directory(settlement_id)
    if answer.code == codes.STREET_TYPED:
        typed = turn.data.get("typed")
        if not typed:
            return False
        choose_typed_street(turn, str(typed))
        return True
    if answer.code:
        street = directory.get(codes.value(answer.code, codes.STREET) or "")
        if street is None:
            return False
        choose_street(turn, street, None)
        return True
    text = " ".join(answer.text.split())
    if not 2 <= len(text) <= MAX_STREET or sum(ch.isalpha() for ch in text) < 2:
        return turn.ask_again("errors.street")
    if not directory:  # a settlement without a directory: take the street as written
        choose_typed_street(turn, text)
        return True
    found = directory.match(text)
    if found.street is not None:
        if found.bad_house:  # the street is right, the number is not a house number
            turn.note("errors.house")
        choose_street(turn, found.street, found.house)
        return True
    turn.set(typed=text)
    keep_typed = button(turn.t("buttons.street_typed"), codes.STREET_TYPED)
    if found.suggestions:
        options = [button(s.label, f"{codes.STREET}{s.id}") for s in found.suggestions]
        turn.say(turn.t("address.street_suggestions"), [*options, keep_typed, *_nav(turn)])
    else:
        turn.say(turn.t("address.street_unknown", typed=short(text, 60)), [keep_typed, *_nav(turn)])
    return True


def choose_street(turn: Turn, street: Street, house: str | None) -> None:
    turn.set(street_id=street.id, street_label=None, typed=None)
    if house:  # typed together: «Проскурівська 12а»
        turn.set(house=house)
        turn.go("apartment", keep=True)
    else:
        turn.go("house", keep=True)


def choose_typed_street(turn: Turn, text: str) -> None:
    """A street the directory lacks is kept as written, so nobody is stuck; matching
    by address finds it only once staff add it to the directory (the resident is told)."""
    turn.set(street_id=TYPED_PREFIX + fold(text).replace(" ", "-"), street_label=text, typed=None)
    turn.note("address.street_kept")
    turn.go("house", keep=True)


def back_from_street(turn: Turn) -> None:
    if _flow(turn) == "ticket":
        turn.go("t_location")
    elif _flow(turn) == "registration":
        turn.go("phone", keep=True)
    else:
        turn.go("settlement", keep=True)


# ----------------------------------------------------------------------------- house


def _draft_street(turn: Turn) -> str:
    return street_label(
        turn, str(turn.data.get("settlement_id")), str(turn.data.get("street_id")), turn.data.get("street_label")
    )


def ask_house(turn: Turn) -> None:
    turn.say(turn.t("address.house", street=_draft_street(turn)), _nav(turn))


async def answer_house(turn: Turn, answer: Answer) -> bool:
    if answer.code:
        return False
    house = parse_house(answer.text)
    if house is None:
        return turn.ask_again("errors.house")
    turn.set(house=house)
    turn.go("apartment", keep=True)
    return True


# ----------------------------------------------------------------------------- apartment


def ask_apartment(turn: Turn) -> None:
    t = turn.t
    where = f"{_draft_street(turn)}, {turn.data.get('house')}"
    no_apartment = button(t("buttons.no_apartment"), codes.NO_APARTMENT)
    turn.say(t("address.apartment", address=where), [no_apartment, *_nav(turn)])


async def answer_apartment(turn: Turn, answer: Answer) -> bool:
    if answer.code == codes.NO_APARTMENT:
        finish(turn, None)
        return True
    if answer.code:
        return False
    apartment = parse_apartment(answer.text)
    if apartment is None:
        return turn.ask_again("errors.apartment")
    finish(turn, apartment)
    return True


def finish(turn: Turn, apartment: str | None) -> None:
    """The address is complete: put it where the flow says."""
    data, resident = turn.data, turn.resident
    address = Address(
        settlement_id=str(data["settlement_id"]),
        street_id=str(data["street_id"]),
        house=str(data["house"]),
        apartment=apartment,
        street_label=data.get("street_label"),
    )
    flow = _flow(turn)
    if flow == "ticket":  # the place of a request, not one of the resident's addresses
        from .tickets import set_address

        set_address(turn, address, saved=False)
        return
    if flow == "registration":
        resident.addresses = [address]
        turn.go("notify", keep=True)
        return
    replaced_id = resident.addresses[0].id if flow == "primary" and resident.addresses else data.get("address_id")
    if any(a.key == address.key and a.id != replaced_id for a in resident.addresses):
        turn.note("address.duplicate")
        turn.go("addresses")
        return
    position = next((i for i, a in enumerate(resident.addresses) if a.id == replaced_id), None)
    if position is None:
        resident.addresses.append(address)
        turn.note("address.added")
    else:
        resident.addresses[position] = address.model_copy(update={"id": replaced_id})
        turn.note("address.saved")
    resident.settlement_id = resident.addresses[0].settlement_id
    turn.go("profile" if flow == "primary" else "addresses")


STEPS = (
    Step("settlement", ask_settlement, answer_settlement, back=back_from_settlement),
    Step("street", ask_street, answer_street, back=back_from_street),
    Step("house", ask_house, answer_house, back=lambda turn: turn.go("street", keep=True)),
    Step("apartment", ask_apartment, answer_apartment, back=lambda turn: turn.go("house", keep=True)),
)
