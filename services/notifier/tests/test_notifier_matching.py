"""Who is in an outage's audience (issue 8, matching): address, whole street, city-wide,
other settlement, and residents who must never be (unsubscribed, deleted, no notices)."""

from __future__ import annotations

import pytest

from chatbot_common.events import (
    ChannelAddress,
    NotifyScope,
    ResidentDeleted,
    utcnow,
)
from chatbot_common.store import open_store
from notifier.audience import Audience, AudienceIndex, document_of, pick_receiver

from notifier_testkit import outage, resident

K = "khmelnytskyi"
VILLAGE = "bohdanivtsi"

RESIDENTS = {
    "at-12a": resident("at-12a", houses=[(K, "proskurivska", "12а")]),
    "at-14": resident("at-14", houses=[(K, "proskurivska", "14")]),
    "other-street": resident("other-street", houses=[(K, "kamianetska", "12а")]),
    "second-address": resident("second-address", houses=[(K, "zarichanska", "1"), (K, "proskurivska", "14")]),
    "city": resident("city", notify=NotifyScope.city),
    "city-village": resident("city-village", notify=NotifyScope.city, settlement=VILLAGE),
    "village-address": resident("village-address", settlement=VILLAGE, houses=[(VILLAGE, "proskurivska", "12а")]),
    "unsubscribed": resident("unsubscribed", houses=[(K, "proskurivska", "12а")], subscribed=False),
    "none": resident("none", houses=[(K, "proskurivska", "12а")], notify=NotifyScope.none),
    "city-none": resident("city-none", notify=NotifyScope.none),
}


def index_of(residents: dict) -> AudienceIndex:
    index = AudienceIndex()
    for rid, data in residents.items():
        index.put(rid, document_of(data, utcnow()))
    return index


@pytest.mark.parametrize(("case", "kwargs", "expected"), [
    ("one house", {"streets": [("proskurivska", ["12а"])]}, {"at-12a", "city"}),
    ("house list", {"streets": [("proskurivska", ["12а", "14"])]}, {"at-12a", "at-14", "second-address", "city"}),
    ("whole street", {"streets": [("proskurivska", [])]}, {"at-12a", "at-14", "second-address", "city"}),
    ("other street only", {"streets": [("kamianetska", ["12а"])]}, {"other-street", "city"}),
    ("house not lived in", {"streets": [("proskurivska", ["99"])]}, {"city"}),
    ("city-wide", {"city_wide": True},
     {"at-12a", "at-14", "other-street", "second-address", "city"}),
    ("village street", {"settlement": VILLAGE, "streets": [("proskurivska", ["12а"])]},
     {"village-address", "city-village"}),
    ("city-wide in the village", {"settlement": VILLAGE, "city_wide": True}, {"village-address", "city-village"}),
])
def test_the_audience_is_exactly_who_the_outage_affects(case, kwargs, expected):
    """Address subscribers of an affected house or a whole affected street, city
    subscribers of that settlement and (city-wide) everyone eligible there; never the
    unsubscribed, "no notices", nor anyone of another settlement."""
    assert index_of(RESIDENTS).match(outage(**kwargs)) == expected, case


def test_a_changed_resident_is_reindexed_and_a_removed_one_forgotten():
    """Moving to another address, switching to "no notices" and deletion take effect on
    the next match; the index keeps no empty buckets behind."""
    index = index_of({"r": RESIDENTS["at-12a"]})
    one_house = outage(streets=[("proskurivska", ["12а"])])
    assert index.match(one_house) == {"r"}
    index.put("r", document_of(resident("r", houses=[(K, "kamianetska", "1")]), utcnow()))
    assert index.match(one_house) == set()
    index.put("r", document_of(resident("r", houses=[(K, "proskurivska", "12а")], notify=NotifyScope.none), utcnow()))
    assert index.match(one_house) == set() and not index.by_key and not index.anyone
    index.put("r", document_of(RESIDENTS["at-12a"], utcnow()))
    index.remove("r")
    assert index.match(outage(city_wide=True)) == set() and not index.by_street


def test_the_receiver_is_the_first_viber_identity():
    """Mailings go to one address per resident: the first subscribed Viber identity the
    dialog lists; a resident with none is unreachable."""
    viber = [ChannelAddress(channel="telegram", channel_user_id="t1"), ChannelAddress(channel="viber", channel_user_id="v1"),
             ChannelAddress(channel="viber", channel_user_id="v2")]
    assert pick_receiver(viber) == "v1"
    assert pick_receiver([ChannelAddress(channel="telegram", channel_user_id="t1")]) is None
    assert pick_receiver([]) is None


async def test_the_projection_keeps_the_newest_and_a_deleted_resident_stays_deleted(unique):
    """An older event arriving late changes nothing; after ``resident.deleted`` a late
    ``resident.updated`` cannot bring the resident back into any audience."""
    store = open_store("memory://", f"notifier_{unique}", memory_namespace=unique)
    audience = Audience(store)
    await audience.setup()
    t1 = utcnow()
    t0 = t1.replace(year=t1.year - 1)
    assert await audience.apply(RESIDENTS["at-12a"], t1)
    moved = resident("at-12a", houses=[(K, "kamianetska", "1")])
    assert not await audience.apply(moved, t0)  # older: ignored
    assert audience.index.match(outage(streets=[("proskurivska", ["12а"])])) == {"at-12a"}
    t2 = t1.replace(year=t1.year + 1)
    assert await audience.apply(ResidentDeleted(resident_id="at-12a"), t2)
    assert not await audience.apply(RESIDENTS["at-12a"], t1)
    assert audience.index.match(outage(city_wide=True)) == set()
    reloaded = Audience(store)
    await reloaded.load()
    assert len(reloaded.index) == 0
    assert (await store["audience"].find_one({"_id": "at-12a"}))["deleted"] is True


@pytest.mark.parametrize("share", [1, 4, 9])  # one, some, all: small audiences are looked up, large ones walked
def test_recipients_come_in_resident_id_order_whatever_the_audience_s_size(share):
    """The batch order is the residents' ids sorted, with each one's receiver, whether
    the audience is a few residents of the index or nearly all of them."""
    rids = [f"r-{n:03d}" for n in (7, 3, 9, 1, 5, 8, 2, 6, 4)]  # the index holds them in this order
    index = index_of({rid: resident(rid, houses=[(K, "proskurivska", "12а")]) for rid in rids})
    audience = set(rids[:share])
    got = index.recipients(audience)
    assert [rid for rid, _ in got] == sorted(audience)
    assert all(receiver == index.entries[rid].receiver and receiver for rid, receiver in got)
