"""Who is in a staff mailing's segment (issue 9, S7): each filter alone and combined —
all the filters given must hold — and residents with no notices, unsubscribed or
deleted are never in any segment. Plus the open-request projection from ticket events,
and the segment preview over HTTP (bad input → 422 naming the field)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from chatbot_common.events import (
    ChannelAddress,
    NotifyScope,
    ResidentDeleted,
    Segment,
    SegmentStreet,
    TicketRegistered,
    TicketStatus,
    TicketStatusChanged,
)
from chatbot_common.store import open_store
from notifier.audience import AudienceIndex, document_of
from notifier.tickets import OpenRequests

from notifier_testkit import Harness, eventually, resident

K = "khmelnytskyi"
VILLAGE = "bohdanivtsi"
JAN = datetime(2026, 1, 1, tzinfo=UTC)
JUN = datetime(2026, 6, 1, tzinfo=UTC)
TG = ChannelAddress(channel="telegram", channel_user_id="t-1")

RESIDENTS = {
    # my-address subscribers
    "p12": resident("p12", houses=[(K, "proskurivska", "12а")], registered_at=JAN),
    "p14": resident("p14", houses=[(K, "proskurivska", "14")], registered_at=JUN),
    "kam": resident("kam", houses=[(K, "kamianetska", "1")]),  # registered_at unknown
    # a whole-city subscriber who lives on Proskurivska 14 (segments look at every address)
    "city-p14": resident("city-p14", notify=NotifyScope.city, houses=[(K, "proskurivska", "14")], registered_at=JUN),
    "village": resident("village", settlement=VILLAGE, houses=[(VILLAGE, "proskurivska", "12а")], registered_at=JAN),
    "both": resident("both", houses=[(K, "zarichanska", "3")], registered_at=JUN,
                     channels=[ChannelAddress(channel="viber", channel_user_id="v-both"), TG]),
    "tg-only": resident("tg-only", houses=[(K, "zarichanska", "3")], channels=[TG]),
    # never, whatever the segment
    "none": resident("none", houses=[(K, "proskurivska", "12а")], notify=NotifyScope.none, registered_at=JUN),
    "unsub": resident("unsub", houses=[(K, "proskurivska", "12а")], subscribed=False, registered_at=JUN),
    "deleted": resident("deleted", houses=[(K, "proskurivska", "12а")], registered_at=JUN),
}
NEVER = {"none", "unsub", "deleted"}
OPEN = {"p14", "none", "deleted", "village"}


def index_of() -> AudienceIndex:
    index = AudienceIndex()
    now = datetime.now(UTC)
    for rid, data in RESIDENTS.items():
        index.put(rid, document_of(data, now))
    index.put("deleted", {"deleted": True, "subscribed": False, "keys": [], "settlements": [], "notify": "address"})
    return index


EVERYONE = set(RESIDENTS) - NEVER

CASES = [
    ("empty: every eligible resident", {}, EVERYONE),
    ("settlement", {"settlement_ids": [VILLAGE]}, {"village"}),
    ("settlement: the main city", {"settlement_ids": [K]}, EVERYONE - {"village"}),
    ("street, houses listed (canonical spelling «12А» = «12а»)",
     {"streets": [{"settlement_id": K, "street_id": "proskurivska", "houses": ["12А"]}]}, {"p12"}),
    ("whole street, any notify scope",
     {"streets": [{"settlement_id": K, "street_id": "proskurivska"}]}, {"p12", "p14", "city-p14"}),
    ("two streets", {"streets": [{"settlement_id": K, "street_id": "kamianetska"},
                                 {"settlement_id": K, "street_id": "proskurivska", "houses": ["14"]}]},
     {"kam", "p14", "city-p14"}),
    ("notify scope", {"notify_scopes": ["city"]}, {"city-p14"}),
    ("notify scope none reaches nobody", {"notify_scopes": ["none"]}, set()),
    ("channel", {"channels": ["telegram"]}, {"both", "tg-only"}),
    ("registered after (inclusive)", {"registered_after": JUN.isoformat()}, {"p14", "city-p14", "both"}),
    ("registered before (exclusive)", {"registered_before": JUN.isoformat()}, {"p12", "village"}),
    ("has an open request", {"has_open_request": True}, {"p14", "village"}),
    ("has no open request", {"has_open_request": False}, EVERYONE - {"p14", "village"}),
    ("answered a survey, who answered not given: nobody", {"answered_survey_id": "s1"}, set()),
    ("settlement and street", {"settlement_ids": [VILLAGE], "streets": [{"settlement_id": K,
                                                                          "street_id": "proskurivska"}]}, set()),
    ("street and scope", {"streets": [{"settlement_id": K, "street_id": "proskurivska"}],
                          "notify_scopes": ["address"]}, {"p12", "p14"}),
    ("street and registered after and open request",
     {"streets": [{"settlement_id": K, "street_id": "proskurivska"}], "registered_after": JUN.isoformat(),
      "has_open_request": True}, {"p14"}),
    ("settlement, channel and registered before",
     {"settlement_ids": [K], "channels": ["viber"], "registered_before": (JUN + timedelta(days=1)).isoformat()},
     {"p12", "p14", "city-p14", "both"}),
]


@pytest.mark.parametrize(("what", "segment", "want"), CASES, ids=[c[0] for c in CASES])
def test_segment_matching(what: str, segment: dict, want: set):
    """Each filter alone and combined (all must hold); no notices, unsubscribed and
    deleted residents are never matched, even by the filters that would fit them."""
    got = index_of().match_segment(Segment.model_validate(segment), OPEN)
    assert got == want, what
    assert not got & NEVER


def test_a_resident_leaves_every_segment_when_they_turn_notices_off_or_are_deleted():
    """The index follows the projection: after «no notices» or deletion, the resident is
    in no segment and no birthday list."""
    index = index_of()
    now = datetime.now(UTC)
    bday = resident("bday", houses=[(K, "proskurivska", "12а")], birth_date="1990-05-04")
    index.put("bday", document_of(bday, now))
    assert "bday" in index.match_segment(Segment()) and index.born_on(["05-04"]) == {"bday"}
    index.put("bday", document_of(bday.model_copy(update={"notify": NotifyScope.none}), now))
    assert "bday" not in index.match_segment(Segment()) and index.born_on(["05-04"]) == set()
    index.put("bday", document_of(bday, now))
    index.put("bday", {"deleted": True, "subscribed": False, "keys": [], "settlements": [], "notify": "address"})
    assert "bday" not in index.match_segment(Segment(streets=[SegmentStreet(settlement_id=K, street_id="proskurivska")]))
    assert index.born_on(["05-04"]) == set()
    # still nothing leaks from the outage tables: city-p14 is not on the address list
    assert "city-p14" not in index.by_street.get(f"{K}|proskurivska|*", set())


async def test_open_requests_follow_the_ticket_events(unique: str):
    """registered → open; a final status → closed; a status after that (reopened) →
    open again; an older event arriving late changes nothing."""
    store = open_store("memory://", f"notifier_{unique}", memory_namespace=unique)
    requests = OpenRequests(store)
    await requests.setup()
    t0 = datetime(2026, 12, 1, 8, tzinfo=UTC)

    def status(status: TicketStatus, minutes: int) -> TicketStatusChanged:
        return TicketStatusChanged(ticket_id="t1", resident_id="r1", service_name="Ями", service_request_id="42",
                                   update_id=f"u{minutes}", status=status, raw_status=status.value,
                                   at=t0 + timedelta(minutes=minutes))

    await requests.apply(TicketRegistered(ticket_id="t1", resident_id="r1", service_name="Ями",
                                          service_request_id="42", at=t0))
    assert await requests.residents() == {"r1"}
    await requests.apply(status(TicketStatus.fixed, 10))
    assert await requests.residents() == set()
    assert not await requests.apply(status(TicketStatus.in_progress, 5))  # late: older than «fixed»
    assert await requests.residents() == set()
    await requests.apply(status(TicketStatus.in_progress, 20))  # reopened
    assert await requests.residents() == {"r1"}


async def test_segment_preview_over_http(harness: Harness):
    """``POST /api/segment/preview`` counts residents and paid messages (distinct
    reachable Viber users: a Telegram-only resident is counted, not paid); a bad body
    gets 422 naming the field and changes nothing."""
    h = harness
    await h.start()
    for rid in ("p12", "p14", "city-p14", "tg-only", "none"):
        await h.publish(RESIDENTS[rid])
    await h.publish(ResidentDeleted(resident_id="p12"))
    await eventually(lambda: set(h.notifier.audience.index.entries) == {"p14", "city-p14", "tg-only"}, "projected")
    url = f"http://127.0.0.1:{h.runtime.bound_port}/api/segment/preview"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={}) as resp:
            assert resp.status == 200
            assert await resp.json() == {"residents": 3, "messages": 2}
        async with session.post(url, json={"streets": [{"settlement_id": K, "street_id": "proskurivska"}]}) as resp:
            assert await resp.json() == {"residents": 2, "messages": 2}
        async with session.post(url, json={"channels": ["fax"]}) as resp:
            assert resp.status == 422
            body = await resp.json()
            assert body["errors"][0]["loc"][0] == "channels"
        async with session.post(url, json={"streets": [{"settlement_id": K}]}) as resp:
            assert resp.status == 422
            assert (await resp.json())["errors"][0]["loc"][:3] == ["streets", 0, "street_id"]
        async with session.post(url, data="not json") as resp:
            assert resp.status == 422
    assert h.outbound() == []
