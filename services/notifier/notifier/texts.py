"""What residents read in the notifier's messages, from the one text catalog
(``texts/uk/notices.toml`` + the shared names of ``texts/uk/shared.toml``)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chatbot_common.directory import load_city
from chatbot_common.events import Button, OutageSnapshot
from chatbot_common.texts import catalog

#: The longest text one Viber message carries is 7000; addresses beyond this are
#: summarised («та ще N вул.»).
MAX_WHERE = 3000


def kyiv() -> timezone | ZoneInfo:
    try:
        return ZoneInfo("Europe/Kyiv")
    except ZoneInfoNotFoundError:  # no tz database at all (tzdata is a dependency)
        return timezone(timedelta(hours=2))


def when(moment: datetime) -> str:
    """дд.мм.рррр ГГ:ХХ, Kyiv time."""
    return moment.astimezone(kyiv()).strftime("%d.%m.%Y %H:%M")


def outage_buttons() -> list[Button]:
    t = catalog()
    return [
        Button(label=t("notice_button.outages"), code="menu:outages", columns=3),
        Button(label=t("notice_button.home"), code="nav:home", columns=3),
    ]


def settlement_label(settlement_id: str) -> str:
    settlement = load_city().settlement(settlement_id)
    return settlement.label if settlement else settlement_id


def street_label(settlement_id: str, street_id: str, fallback: str) -> str:
    street = load_city().street_directory(settlement_id).get(street_id)
    return street.label if street else fallback


def where(outage: OutageSnapshot) -> str:
    t = catalog()
    settlement = settlement_label(outage.settlement_id)
    if outage.city_wide or not outage.addresses:
        return t("outage_notice.where_city", settlement=settlement)
    parts: list[str] = []
    for n, a in enumerate(outage.addresses):
        street = street_label(outage.settlement_id, a.street_id, a.street_name)
        if a.houses or a.spec:
            part = t("outage_notice.where_street_houses", street=street, houses=a.spec or ", ".join(a.houses))
        else:
            part = t("outage_notice.where_street_whole", street=street)
        if sum(len(p) + 2 for p in parts) + len(part) > MAX_WHERE:
            parts.append(t("outage_notice.where_more", count=len(outage.addresses) - n))
            break
        parts.append(part)
    return t("outage_notice.where_settlement", settlement=settlement, streets="; ".join(parts))


def outage_text(outage: OutageSnapshot, change: str, previous_ends: datetime | None = None) -> str:
    """The one text of a mailing: ``change`` is published / reminder / end_moved /
    resolved / cancelled."""
    t = catalog()
    utility = t(f"utility.{outage.utility.value}")
    title = t("outage_notice.title", kind=t(f"outage_kind.{outage.kind.value}"), utility=utility)
    details = t("outage_notice.details", description=outage.description.strip()[:1500]) if outage.description.strip() else ""
    contact = t("outage_notice.contact", phone=outage.contact_phone) if outage.contact_phone else ""
    contact_short = t("outage_notice.contact_short", phone=outage.contact_phone) if outage.contact_phone else ""
    fields = {
        "title": title,
        "title_lower": title[:1].lower() + title[1:],
        "utility": utility,
        "where": where(outage),
        "starts": when(outage.starts_at),
        "ends": when(outage.ends_at),
        "details": details,
        "contact": contact,
        "contact_short": contact_short,
    }
    if change == "end_moved":
        if previous_ends is None:
            return t("outage_notice.end_moved_unknown_previous", **fields)
        return t("outage_notice.end_moved", previous_ends=when(previous_ends), **fields)
    return t(f"outage_notice.{change}", **fields)
