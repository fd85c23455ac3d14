"""«⚠️ Відключення» (issue 8) and a crawl of every screen of requests and outages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chatbot_common.events import (
    OutageAddress,
    OutageCancelled,
    OutageKind,
    OutagePublished,
    OutageUpdated,
    TicketRegistered,
    TicketStatus,
    TicketStatusChanged,
    TicketSubmitted,
    Utility,
)
from chatbot_common.texts import catalog

from dialog.conversation import build_context
from dialog.conversation.records import MemoryRecords
from engine_chat import Chat, register
from test_engine_crawler import crawl
from tickets_data import services_event

t = catalog()
AT = datetime(2026, 3, 2, 8, tzinfo=UTC)


def outage(outage_id: str, *, revision: int = 1, cls=OutagePublished, **fields) -> OutagePublished:
    base = dict(outage_id=outage_id, revision=revision, kind=OutageKind.emergency, utility=Utility.cold_water,
                settlement_id="khmelnytskyi", starts_at=datetime(2026, 3, 2, 7, tzinfo=UTC),
                ends_at=datetime(2026, 3, 2, 16, 30, tzinfo=UTC), contact_phone="0382 65 00 00", at=AT)
    return cls(**{**base, **fields})


MINE = outage("o-mine", addresses=[OutageAddress(street_id="proskurivska", street_name="вул. Проскурівська",
                                                 spec="10-14 парні, 12а", houses=["10", "12", "12а", "14"])])
STREET = outage("o-street", utility=Utility.heating,
                addresses=[OutageAddress(street_id="proskurivska", street_name="вул. Проскурівська")])
ELSEWHERE = outage("o-else", kind=OutageKind.planned, utility=Utility.electricity,
                   starts_at=datetime(2026, 3, 5, 6, tzinfo=UTC), ends_at=datetime(2026, 3, 5, 15, tzinfo=UTC),
                   addresses=[OutageAddress(street_id="kamianetska", street_name="вул. Кам'янецька", spec="1-9",
                                            houses=["1", "3", "5", "7", "9"])])
OTHER_TOWN = outage("o-town", settlement_id="ivankivtsi", city_wide=True)


@pytest.fixture
def records() -> MemoryRecords:
    return MemoryRecords()


@pytest.fixture
def ctx(directory, clock, records):
    return build_context(directory, clock=clock, records=records)


@pytest.fixture
async def resident(chat: Chat) -> Chat:
    return await register(chat)


async def test_outages_at_my_address_come_first_then_the_rest_of_the_settlement(resident: Chat, records):
    """The resident's house (by its key) and their whole street (``…|*``) are «mine»;
    another street of the settlement is listed after; another settlement not at all.
    Times are дд.мм.рррр ГГ:ХХ Kyiv time, with the phone to call."""
    for o in (MINE, STREET, ELSEWHERE, OTHER_TOWN):
        records.apply(o.outage_id, o)
    await resident.tap("menu:outages")
    text = resident.text
    mine, _, rest = text.partition(t("outages.others"))
    assert t("outages.mine") in mine
    assert t("utility.cold_water") in mine and t("utility.heating") in mine
    assert t("utility.electricity") in rest and t("outage_kind.planned") in rest
    assert "02.03.2026 09:00" in mine and "02.03.2026 18:30" in mine  # UTC+2 in March
    assert "0382 65 00 00" in mine
    assert "заплановано з 05.03.2026 08:00" in rest
    assert OTHER_TOWN.outage_id not in text and "увесь населений пункт" not in text
    assert "outages:notify" in resident.codes()


async def test_a_city_wide_outage_in_my_settlement_is_mine_and_finished_ones_vanish(resident: Chat, records):
    records.apply("1", outage("o-city", city_wide=True, utility=Utility.gas))
    await resident.tap("menu:outages")
    assert t("utility.gas") in resident.text.partition(t("outages.others"))[0]
    records.apply("2", outage("o-city", revision=2, cls=OutageCancelled, city_wide=True, utility=Utility.gas,
                              state="cancelled"))
    await resident.tap("nav:home")
    await resident.tap("menu:outages")
    assert resident.text.startswith(t("outages.mine_none"))


async def test_an_older_revision_never_replaces_a_newer_one(records):
    newer = outage("o1", revision=3, cls=OutageUpdated, ends_at=datetime(2026, 3, 3, tzinfo=UTC))
    records.apply("b", newer)
    records.apply("a", outage("o1", revision=2))
    records.apply("b", newer)
    assert records.by_outage["o1"] == newer


async def test_the_notification_setting_is_one_tap_away_and_comes_back(resident: Chat, records):
    await resident.tap("menu:outages")
    await resident.tap("outages:notify")
    assert resident.step == "notify"
    await resident.tap("notify:city")
    assert resident.step == "outages" and resident.resident.notify.value == "city"
    assert t("notify.current_city") in resident.text
    await resident.tap("outages:notify")
    await resident.tap("nav:back")
    assert resident.step == "outages"


async def test_every_screen_of_requests_and_outages_is_polite_ukrainian_with_a_way_home(resident: Chat, records):
    """Crawl from the main menu with a service list, a request in its final status and
    outages: every reply passes ux_checks (formal, Ukrainian, home, Viber limits)."""
    records.apply("services", services_event())
    for o in (MINE, ELSEWHERE):
        records.apply(o.outage_id, o)
    r = resident.resident
    sent = TicketSubmitted(ticket_id="t-1", resident_id=r.id, service_code="light.street",
                           service_name="Не світить ліхтар", description="Темно", location={"address_string": "тут"},
                           submitted_at=AT)
    records.apply("e1", sent)
    records.apply("e2", TicketRegistered(ticket_id="t-1", resident_id=r.id, service_name="Не світить ліхтар",
                                         service_request_id="777", at=AT))
    records.apply("e3", TicketStatusChanged(ticket_id="t-1", resident_id=r.id, service_name="Не світить ліхтар",
                                            service_request_id="777", update_id="u", status=TicketStatus.fixed,
                                            raw_status="closed", notes="Замінено лампу", at=AT))
    await resident.send("nav:home")
    taps, steps, found = await crawl(resident)
    assert found == []
    assert {"t_groups", "t_services", "t_emergency", "t_emergency_help", "t_description", "tickets", "ticket",
            "rating_comment", "outages"} <= steps
