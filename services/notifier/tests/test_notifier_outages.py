"""Outage mailings end to end on the in-memory bus (issue 8): published → exactly one
notice per resident in batches of ≤ 300 on the bulk lane; end moved, resolved and
cancelled → one each to those notified; delivery figures add up; redelivery and a
restart mid-mailing → nobody twice, nobody missed."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from chatbot_common.events import (
    MAX_RECEIVERS,
    ChannelAddress,
    CloudEvent,
    DeliveryDelivered,
    DeliveryFailed,
    DeliverySeen,
    DeliverySent,
    NotifyScope,
    OutageCancelled,
    OutageKind,
    OutageResolved,
    OutageState,
    OutageUpdated,
    derived_id,
    make_event,
    utcnow,
)
from notifier.mailings import CHUNKS, FIGURES, JOBS

from notifier_testkit import T0, Harness, eventually, outage, resident

K = "khmelnytskyi"
STREET = "proskurivska"


def population(n_address: int, n_city: int, n_other: int = 5) -> list:
    """``n_address`` residents at houses of one street, ``n_city`` city subscribers and
    ``n_other`` who must never be notified (another street, no notices, unsubscribed)."""
    residents = [resident(f"a{i:05d}", houses=[(K, STREET, str(1 + i % 40))]) for i in range(n_address)]
    residents += [resident(f"c{i:05d}", notify=NotifyScope.city) for i in range(n_city)]
    residents += [resident(f"x{i:05d}", houses=[(K, "kamianetska", "1")]) for i in range(n_other)]
    residents += [resident("none", houses=[(K, STREET, "1")], notify=NotifyScope.none),
                  resident("unsub", houses=[(K, STREET, "1")], subscribed=False)]
    return residents


async def seed(h: Harness, residents: list) -> None:
    for data in residents:
        await h.publish(data)
    await eventually(lambda: len(h.notifier.audience.index) == sum(
        1 for r in residents if r.subscribed and r.notify != NotifyScope.none), "residents projected")


def receivers_of(events: list[CloudEvent]) -> Counter:
    return Counter(r for e in events for r in e.data["receivers"])


def batches(h: Harness, text_start: str) -> list[CloudEvent]:
    return [e for e in h.outbound() if e.data["text"].startswith(text_start)]


def expected(residents: list, street_houses: set[str] | None = None) -> set[str]:
    out = set()
    for r in residents:
        if not r.subscribed or r.notify == NotifyScope.none:
            continue
        if r.notify == NotifyScope.city or any(a.street_id == STREET and (street_houses is None or a.house in street_houses)
                                               for a in r.addresses):
            out.add(f"v-{r.resident_id}")
    return out


async def test_one_notice_per_resident_per_change_in_batches_of_at_most_300(harness: Harness):
    """650 address + 100 city subscribers: the notice goes out as 3 bulk batches (≤ 300
    each, one text, the outages and home buttons); the end moved and the restoration
    reach the same residents once each; no one else ever gets anything."""
    h = harness
    await h.start()
    residents = population(650, 100)
    await seed(h, residents)
    want = expected(residents)
    published = outage(streets=[(STREET, [])])
    await h.publish(published)
    notices = await eventually(lambda: len(receivers_of(batches(h, "⚠️"))) == len(want) and batches(h, "⚠️"),
                               "the notice")
    assert receivers_of(notices) == Counter({r: 1 for r in want})
    assert len(notices) == 3 and all(len(e.data["receivers"]) <= MAX_RECEIVERS for e in notices)
    assert {e.data["lane"] for e in notices} == {"bulk"}
    assert len({e.data["text"] for e in notices}) == 1
    text = notices[0].data["text"]
    assert "холодне водопостачання" in text and "вул. Проскурівська (усі будинки)" in text
    assert "01.12.2026 10:00" in text and "01.12.2026 16:00" in text  # Kyiv time, дд.мм.рррр ГГ:ХХ
    assert [b["code"] for b in notices[0].data["buttons"]] == ["menu:outages", "nav:home"]
    assert {e.id for e in notices} == {derived_id(derived_id("o1", 1, "published"), "batch", n) for n in range(3)}

    moved = outage(revision=2, model=OutageUpdated, streets=[(STREET, [])], changed=["ends_at"],
                   ends_at=T0 + timedelta(hours=9))
    await h.publish(moved)
    moved_notices = await eventually(lambda: len(receivers_of(batches(h, "🔄"))) == len(want) and batches(h, "🔄"),
                                     "end moved")
    assert receivers_of(moved_notices) == Counter({r: 1 for r in want})
    assert "01.12.2026 19:00" in moved_notices[0].data["text"] and "раніше — 01.12.2026 16:00" in moved_notices[0].data["text"]

    reworded = outage(revision=3, model=OutageUpdated, streets=[(STREET, [])], changed=["description"],
                      ends_at=T0 + timedelta(hours=9))
    await h.publish(reworded)
    resolved = outage(revision=4, model=OutageResolved, streets=[(STREET, [])], state=OutageState.resolved,
                      ends_at=T0 + timedelta(hours=9))
    await h.publish(resolved)
    restored = await eventually(lambda: len(receivers_of(batches(h, "✅"))) == len(want) and batches(h, "✅"),
                                "restored")
    assert receivers_of(restored) == Counter({r: 1 for r in want})
    # the description change sent nothing: published + end moved + restored, nothing else
    assert len(h.outbound()) == 9
    assert receivers_of(h.outbound()) == Counter({r: 3 for r in want})


async def test_cancelled_goes_only_to_those_notified_and_a_planned_outage_is_reminded(harness: Harness):
    """A planned outage is announced at once and reminded NOTIFIER_PLANNED_REMINDER_HOURS
    before it starts; its cancellation reaches exactly those told about it — not a
    resident who subscribed to the street afterwards."""
    h = harness
    h.settings = h.settings.model_copy(update={"notifier_planned_reminder_hours": 2.0, "notifier_scheduler_seconds": 0.1})
    await h.start()
    residents = population(20, 3)
    await seed(h, residents)
    want = expected(residents)
    now = utcnow()
    planned = outage("p1", kind=OutageKind.planned, streets=[(STREET, [])], starts_at=now + timedelta(hours=1, minutes=59),
                     ends_at=now + timedelta(hours=5))
    planned = planned.model_copy(update={"at": now - timedelta(hours=1)})
    await h.publish(planned)
    await eventually(lambda: receivers_of(batches(h, "⚠️")) == Counter({r: 1 for r in want}), "announcement")
    assert "Планове відключення" in batches(h, "⚠️")[0].data["text"]
    await eventually(lambda: receivers_of(batches(h, "⏰")) == Counter({r: 1 for r in want}), "reminder")
    newcomer = resident("late", houses=[(K, STREET, "3")])
    await h.publish(newcomer)
    await eventually(lambda: "late" in h.notifier.audience.index.entries, "newcomer projected")
    cancelled = planned.model_copy(update={"revision": 2, "state": OutageState.cancelled})
    await h.publish(OutageCancelled(**cancelled.model_dump(exclude={"type"})))
    await eventually(lambda: receivers_of(batches(h, "❎")) == Counter({r: 1 for r in want}), "cancellation")
    assert "v-late" not in receivers_of(h.outbound())
    await h.notifier.outages.remind_due()  # the reminder is never sent twice
    assert receivers_of(batches(h, "⏰")) == Counter({r: 1 for r in want})


async def fake_gateway(h: Harness, batch: CloudEvent, *, failing: set[str], unreachable: set[str]) -> list[CloudEvent]:
    """What the gateway and Viber report for one accepted batch: ``delivery.sent``, a
    ``delivery.failed`` per failed_list receiver, and delivered+seen receipts (twice, as
    Viber may) for the rest."""
    token = f"tok-{batch.id[:8]}"
    receivers = batch.data["receivers"]
    rids = dict(zip(receivers, batch.data["resident_ids"], strict=True))
    bad = [r for r in receivers if r in failing or r in unreachable]
    events = [make_event(DeliverySent(channel="viber", outbound_event_id=batch.id, channel_message_id=token, lane="bulk",
                                      receivers=len(receivers), failed=len(bad), at=utcnow()), source="/gw",
                         id=derived_id(batch.id, "sent"))]
    for r in bad:
        events.append(make_event(DeliveryFailed(channel="viber", channel_user_id=r, at=utcnow(), reason="x",
                                                status_code=6 if r in unreachable else 2,
                                                outbound_event_id=batch.id, resident_id=rids[r]),
                                 source="/gw", id=derived_id(batch.id, "failed", r)))
    for r in receivers:
        if r not in bad:
            for model in (DeliveryDelivered, DeliverySeen, DeliveryDelivered):
                events.append(make_event(model(channel="viber", channel_user_id=r, channel_message_id=token, at=utcnow()),
                                         source="/gw"))
    return events


async def test_delivery_figures_add_up_and_are_reported_as_mailing_progress(harness: Harness):
    """targeted = sent + failed + unreachable; delivered and seen counted once per
    resident even when receipts repeat or arrive before ``delivery.sent``; a resident
    with no Viber identity is unreachable; the last progress says done."""
    h = harness
    await h.start()
    residents = population(400, 0, n_other=0)
    residents.append(resident("telegram-only", houses=[(K, STREET, "1")], channels=[]))
    await seed(h, residents)
    await h.publish(outage(streets=[(STREET, [])]))
    notices = await eventually(lambda: len(receivers_of(batches(h, "⚠️"))) == 400 and batches(h, "⚠️"), "notice")
    failing, unreachable = {"v-a00001", "v-a00002"}, {"v-a00003"}
    reports = [e for b in notices for e in await fake_gateway(h, b, failing=failing, unreachable=unreachable)]
    receipts = [e for e in reports if e.type in ("delivery.delivered", "delivery.seen")]
    for event in receipts[:50] + [e for e in reports if e not in receipts[:50]] + reports[:3]:  # early receipts, repeats
        await h.publisher.publish(event)
    job = derived_id("o1", 1, "published")

    def last() -> dict | None:
        progress = [e.data for e in h.of_type("mailing.progress") if e.data["mailing_id"] == job]
        return progress[-1] if progress else None

    final = await eventually(lambda: (p := last()) and p["done"] and p["seen"] == 397 and p, "final progress")
    assert final["subject"] == "outage" and final["subject_id"] == "o1"
    assert final["targeted"] == 401
    assert (final["sent"], final["failed"], final["unreachable"]) == (397, 2, 2)
    assert final["targeted"] == final["sent"] + final["failed"] + final["unreachable"]
    assert final["delivered"] == 397 and final["seen"] == 397
    # What was counted once is kept in short lists, spread over a chunk's figure
    # documents: a receipt never rewrites a list of the whole chunk's receivers.
    docs = [d async for d in h.runtime.store[FIGURES].find({"job_id": job})]
    assert sum(len(d.get("seen_users", [])) for d in docs) == 397
    assert max(len(d.get("delivered_users", [])) for d in docs) < 397 / 8


async def test_redelivered_outage_event_sends_nothing_new(harness: Harness):
    """The same ``outage.published`` delivered twice (and the relay running) re-emits only
    the same batch ids — which the gateway never sends twice — and plans no new batch."""
    h = harness
    await h.start()
    residents = population(310, 0, n_other=0)
    await seed(h, residents)
    event = await h.publish(outage(streets=[(STREET, [])]))
    await eventually(lambda: len(receivers_of(batches(h, "⚠️"))) == 310, "notice")
    await h.publisher.publish(event)  # redelivered through the queue …
    await h.notifier.outages.handle(event)  # … and handled here, awaited
    await h.notifier.mailer.outbox.relay_once()
    ids = {e.id for e in batches(h, "⚠️")}
    assert len(ids) == 2
    store = h.runtime.store
    assert await store[CHUNKS].count_documents({}) == 1
    job = await store[JOBS].find_one({})
    assert job["targeted"] == 310 and job["batches"] == 2


async def test_audience_preview_counts_residents_and_paid_messages(harness: Harness):
    """``POST /api/audience/preview`` (the admin panel's contract): the residents an
    outage draft would reach and the messages that costs (those reachable on Viber); a
    bad draft → 422 naming the field, and nothing is sent."""
    import aiohttp

    h = harness
    await h.start()
    residents = population(30, 4)
    residents.append(resident("no-viber", houses=[(K, STREET, "2")], channels=[]))
    await seed(h, residents)
    url = f"http://127.0.0.1:{h.runtime.bound_port}/api/audience/preview"
    draft = {"kind": "planned", "utility": "cold_water", "settlement_id": K, "city_wide": False,
             "addresses": [{"street_id": STREET, "street_name": "вул. Проскурівська", "spec": "", "houses": []}],
             "starts_at": "2030-06-01T06:00:00Z", "ends_at": "2030-06-01T15:00:00Z", "description": "…",
             "contact_phone": "+380382651122"}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=draft) as resp:
            assert resp.status == 200
            assert await resp.json() == {"residents": 35, "messages": 34}
        async with http.post(url, json={**draft, "utility": "lava"}) as resp:
            assert resp.status == 422
            assert (await resp.json())["errors"][0]["loc"] == ["utility"]
        async with http.post(url, data=b"not json") as resp:
            assert resp.status == 422
    assert h.outbound() == []


async def test_an_outage_extended_to_more_streets_tells_only_the_newly_affected(harness: Harness):
    """``outage.updated`` with ``addresses`` changed: residents of the added street get
    the notice once; those told before get nothing new; a later end moved reaches both."""
    h = harness
    await h.start()
    residents = [resident(f"a{i}", houses=[(K, STREET, "1")]) for i in range(5)]
    residents += [resident(f"k{i}", houses=[(K, "kamianetska", "2")]) for i in range(4)]
    await seed(h, residents)
    await h.publish(outage(streets=[(STREET, [])]))
    await eventually(lambda: len(receivers_of(batches(h, "⚠️"))) == 5, "the first notice")
    wider = outage(revision=2, model=OutageUpdated, streets=[(STREET, []), ("kamianetska", [])], changed=["addresses"])
    await h.publish(wider)
    await eventually(lambda: len(receivers_of(batches(h, "⚠️"))) == 9, "the newly affected")
    assert receivers_of(batches(h, "⚠️")) == Counter({f"v-{r.resident_id}": 1 for r in residents})
    moved = outage(revision=3, model=OutageUpdated, streets=[(STREET, []), ("kamianetska", [])], changed=["ends_at"],
                   ends_at=T0 + timedelta(hours=8))
    await h.publish(moved)
    await eventually(lambda: receivers_of(batches(h, "🔄")) == Counter({f"v-{r.resident_id}": 1 for r in residents}),
                     "end moved to all nine")


async def test_the_newly_affected_leave_out_a_viber_user_told_under_another_resident_id(harness: Harness):
    """One Viber user behind two resident ids (two records of one person, one address
    each): told once when the first address is affected, and not again when the outage
    widens to the second."""
    h = harness
    await h.start()
    first = resident("a0", houses=[(K, STREET, "1")])
    second = resident("k0", houses=[(K, "kamianetska", "2")],
                      channels=[ChannelAddress(channel="viber", channel_user_id="v-a0")])
    other = resident("k1", houses=[(K, "kamianetska", "4")])
    await seed(h, [first, second, other])
    await h.publish(outage(streets=[(STREET, [])]))
    await eventually(lambda: receivers_of(batches(h, "⚠️")) == Counter({"v-a0": 1}), "the first notice")
    wider = outage(revision=2, model=OutageUpdated, streets=[(STREET, []), ("kamianetska", [])], changed=["addresses"])
    await h.publish(wider)
    await eventually(lambda: "v-k1" in receivers_of(batches(h, "⚠️")), "the newly affected")
    await asyncio.sleep(0.3)  # a second notice to v-a0 would arrive now
    assert receivers_of(batches(h, "⚠️")) == Counter({"v-a0": 1, "v-k1": 1})


async def test_a_malformed_outage_event_is_parked_and_the_next_one_still_goes_out(harness: Harness):
    """An ``outage.published`` whose payload does not validate (no settlement, an unknown
    utility) is parked in ``notifier.outages.dead`` for ops to see — not retried, not
    lost — and sends nothing; the next valid outage is mailed as usual."""
    import json

    h = harness
    await h.start()
    await seed(h, [resident("a1", houses=[(K, STREET, "1")])])
    bad = make_event(outage("bad"), source="/test").model_dump(mode="json")
    bad["data"]["utility"] = "lava"
    del bad["data"]["settlement_id"]
    await h.publisher.publish_raw("outage.published", json.dumps(bad).encode())
    await h.publish(outage("good", streets=[(STREET, [])]))
    await eventually(lambda: batches(h, "⚠️"), "the valid outage's notice")
    parked = await eventually(lambda: h.runtime.bus.dead_letters("notifier.outages"), "the parked event")
    assert json.loads(parked[0])["id"] == bad["id"]
    assert receivers_of(h.outbound()) == Counter({"v-a1": 1})


async def test_changes_arriving_together_are_mailed_in_order(harness: Harness, monkeypatch):
    """The outage queue hands the notifier several events at once: published and end
    moved arriving back to back still reach each resident once each, the notice first
    — even when matching the first takes a while."""
    import asyncio

    from notifier.outages import Outages

    real_match = Outages.match

    async def slow_match(self, outage):  # type: ignore[no-untyped-def]
        if outage.revision == 1:
            await asyncio.sleep(0.3)  # the first event's audience takes a while
        return await real_match(self, outage)

    monkeypatch.setattr(Outages, "match", slow_match)
    h = harness
    await h.start()
    residents = population(900, 0, n_other=0)
    await seed(h, residents)
    want = expected(residents)
    await h.publish(outage(streets=[(STREET, [])]))
    await h.publish(outage(revision=2, model=OutageUpdated, streets=[(STREET, [])], changed=["ends_at"],
                           ends_at=T0 + timedelta(hours=9)))
    await eventually(lambda: len(receivers_of(batches(h, "🔄"))) == len(want), "end moved")
    order: dict[str, list[str]] = {}
    for event in h.outbound():
        for r in event.data["receivers"]:
            order.setdefault(r, []).append(event.data["text"][:1])
    assert order == {r: ["⚠", "🔄"] for r in want}
