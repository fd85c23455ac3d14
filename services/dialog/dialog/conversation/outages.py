"""«⚠️ Відключення» (issue 8; P2, C1, S3): current and planned outages for the resident's
addresses first, then the rest of their settlements, from the dialog's projection of
``outage.*`` (``records``); the notification setting one tap away (the profile's
``notify`` step, which comes back here).
"""

from __future__ import annotations

from chatbot_common.events import OutageKind, OutageSnapshot

from . import codes
from .keyboards import button, navigation, short
from .records import outage_applies
from .tickets import day_time
from .turn import Answer, Step, Turn

#: Outages listed beyond the resident's own (a message stays well under Viber's 7000).
OTHERS_SHOWN = 8
MINE_SHOWN = 8


def open_code(turn: Turn, code: str) -> bool:
    if code == codes.OUTAGES_NOTIFY:
        turn.go("notify", back_to="outages")
        return True
    return False


def show(turn: Turn) -> None:
    turn.go("outages")


def split(turn: Turn) -> tuple[list[OutageSnapshot], list[OutageSnapshot]]:
    """(affecting one of the resident's addresses, the rest of their settlements)."""
    r = turn.resident
    keys = [a.key for a in r.addresses]
    mine, others = [], []
    for outage in turn.outages:
        (mine if outage_applies(outage, keys, r.settlement_id) else others).append(outage)
    return mine, others


def describe(turn: Turn, outage: OutageSnapshot) -> str:
    t = turn.t
    if outage.city_wide:
        settlement = turn.city.settlement(outage.settlement_id)
        where = t("outages.city_wide", settlement=settlement.label if settlement else "")
    else:
        streets = [
            f"{a.street_name}: {a.spec}" if a.spec else t("outages.whole_street", street=a.street_name)
            for a in outage.addresses
        ]
        where = short("; ".join(streets), 600)
    now = turn.ctx.clock()
    when = "outages.planned_when" if outage.starts_at > now else "outages.current_when"
    text = t(
        "outages.item",
        icon="🛠" if outage.kind == OutageKind.planned else "⚠️",
        kind=t(f"outage_kind.{outage.kind.value}"),
        utility=t(f"utility.{outage.utility.value}"),
        where=where,
        when=t(when, since=day_time(outage.starts_at), until=day_time(outage.ends_at)),
    )
    if outage.description:
        text += "\n" + short(outage.description, 300)
    if outage.contact_phone:
        text += "\n" + t("outages.phone", phone=outage.contact_phone)
    return text


def ask_outages(turn: Turn) -> None:
    t, r = turn.t, turn.resident
    mine, others = split(turn)
    parts = []
    if mine:
        parts.append(t("outages.mine"))
        parts.extend(describe(turn, o) for o in mine[:MINE_SHOWN])
    else:
        parts.append(t("outages.mine_none"))
    if others:
        parts.append(t("outages.others"))
        parts.extend(describe(turn, o) for o in others[:OTHERS_SHOWN])
        if len(others) > OTHERS_SHOWN:
            parts.append(t("outages.more", count=len(others) - OTHERS_SHOWN))
    elif mine:
        parts.append(t("outages.others_none"))
    parts.append(t("outages.subscription", current=t(f"notify.current_{r.notify.value}")))
    setting = button(t("outages.button_notify"), codes.OUTAGES_NOTIFY)
    turn.say("\n\n".join(parts)[:6900], [setting, *navigation(t, back=False)])


async def no_local_codes(turn: Turn, answer: Answer) -> bool:
    return False


STEPS = (Step("outages", ask_outages, no_local_codes, back=Turn.go_home, screen=True),)
