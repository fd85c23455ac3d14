"""Staff mailings to segments (issue 9, S7) end to end on the in-memory bus: sent now,
once per resident of the segment in ≤ 300-receiver bulk batches with the link and home
buttons; scheduled ones sent once at their time across a restart; cancelled before
(nothing sent) and during (stops before the next chunk); progress figures; the preview
counts equal what is then sent; bad requests are parked, not sent. One run on real
RabbitMQ."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from chatbot_common.events import (
    MAX_RECEIVERS,
    ChannelAddress,
    DeliverySent,
    MailingCancelled,
    MailingRequested,
    NotifyScope,
    Segment,
    SegmentStreet,
)
from notifier.mailings import CHUNKS
from notifier.staff import STAFF, job_id_of

from notifier_testkit import T0, FakeClock, Harness, eventually, resident, running

K = "khmelnytskyi"
STREET = "proskurivska"
ON_STREET = Segment(streets=[SegmentStreet(settlement_id=K, street_id=STREET)])


def population(n: int) -> list:
    """``n`` residents on Proskurivska, 5 elsewhere, and three who are never reached."""
    residents = [resident(f"a{i:04d}", houses=[(K, STREET, str(1 + i % 40))]) for i in range(n)]
    residents += [resident(f"x{i}", houses=[(K, "kamianetska", "1")]) for i in range(5)]
    residents += [resident("none", houses=[(K, STREET, "1")], notify=NotifyScope.none),
                  resident("unsub", houses=[(K, STREET, "1")], subscribed=False),
                  resident("city", notify=NotifyScope.city)]
    return residents


async def seed(h: Harness, residents: list) -> None:
    for data in residents:
        await h.publish(data)
    want = sum(1 for r in residents if r.subscribed and r.notify != NotifyScope.none)
    await eventually(lambda: len(h.notifier.audience.index) == want, "residents projected")


def request(mailing_id: str = "m1", *, send_at: Any = None, segment: Segment = ON_STREET, **extra: Any) -> MailingRequested:
    return MailingRequested(mailing_id=mailing_id, text="Шановні мешканці! Запрошуємо на толоку в суботу.",
                            segment=segment, send_at=send_at, requested_by="staff-1", at=T0 - timedelta(hours=1),
                            **extra)


def receivers(h: Harness, mailing_id: str = "m1") -> Counter:
    """Receivers of the mailing's distinct batches (the gateway sends an event id once)."""
    batches = {e.id: e for e in h.outbound() if e.correlationid == job_id_of(mailing_id)}
    return Counter(r for e in batches.values() for r in e.data["receivers"])


def street_receivers(n: int) -> set[str]:
    return {f"v-a{i:04d}" for i in range(n)}


def progress_of(h: Harness, mailing_id: str = "m1") -> list[dict]:
    return [e.data for e in h.of_type("mailing.progress") if e.data["subject_id"] == mailing_id]


async def test_sent_now_once_per_resident_with_link_picture_and_home(harness: Harness):
    """A mailing without ``send_at`` goes at once: 650 street residents in three bulk
    batches (≤ 300), one text with the picture as ``media_url`` (a caption, no link), the open-url
    link button and «🏠 Головне меню»; nobody outside the segment, nobody with no
    notices or unsubscribed; redelivering the request sends nothing more. Progress
    (subject «mailing») reaches done once the batches are reported sent."""
    h = harness
    clock = FakeClock(T0)
    await h.start(clock=clock)
    await seed(h, population(650))
    event = await h.publish(request(image_url="https://city.example/tolока.jpg", link_label="Деталі",
                                    link_url="https://city.example/toloka"))
    await eventually(lambda: sum(receivers(h).values()) == 650, "the mailing")
    await h.publisher.publish(event)  # redelivered
    await asyncio.sleep(0.3)
    assert receivers(h) == Counter({r: 1 for r in street_receivers(650)})
    batches = {e.id: e for e in h.outbound()}.values()
    assert len(batches) == 3 and all(len(e.data["receivers"]) <= MAX_RECEIVERS for e in batches)
    for e in batches:
        assert e.data["lane"] == "bulk"
        assert e.data["text"].startswith("Шановні мешканці!")
        assert "https://city.example/tolока.jpg" not in e.data["text"]  # the gateway shows the picture itself
        assert e.data["media_url"] == "https://city.example/tolока.jpg"
        link, home = e.data["buttons"]
        assert (link["action"], link["url"], link["label"]) == ("open-url", "https://city.example/toloka", "Деталі")
        assert (home["code"], home["label"]) == ("nav:home", "🏠 Головне меню")
        assert len(e.data["receivers"]) == len(e.data["resident_ids"])
    for e in batches:
        await h.publish(DeliverySent(channel="viber", lane="bulk", outbound_event_id=e.id, channel_message_id=f"tok-{e.id}",
                                     receivers=len(e.data["receivers"]), at=T0))
    done = await eventually(lambda: [p for p in progress_of(h) if p["done"]], "progress done")
    assert done[-1]["subject"] == "mailing" and done[-1]["mailing_id"] == job_id_of("m1")
    assert (done[-1]["targeted"], done[-1]["sent"]) == (650, 650)
    assert (await h.store()[STAFF].find_one({"_id": "m1"}))["state"] == "sent"


async def test_preview_counts_equal_what_is_then_sent(harness: Harness):
    """The admin's count before sending (``POST /api/segment/preview``) is what the
    mailing then targets and pays for: 40 on the street, one Viber user listed under
    two residents counted and paid once."""
    h = harness
    clock = FakeClock(T0)
    await h.start(clock=clock)
    residents = population(40)
    residents.append(resident("twin", houses=[(K, STREET, "2")],
                              channels=[ChannelAddress(channel="viber", channel_user_id="v-a0001")]))
    await seed(h, residents)
    url = f"http://127.0.0.1:{h.runtime.bound_port}/api/segment/preview"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=ON_STREET.model_dump(mode="json")) as resp:
            preview = await resp.json()
    assert preview == {"residents": 41, "messages": 40}
    await h.publish(request())
    await eventually(lambda: sum(receivers(h).values()) == 40, "the mailing")
    batches = {e.id: e for e in h.outbound()}.values()
    for e in batches:
        await h.publish(DeliverySent(channel="viber", lane="bulk", outbound_event_id=e.id, channel_message_id=f"tok-{e.id}",
                                     receivers=len(e.data["receivers"]), at=T0))
    done = await eventually(lambda: [p for p in progress_of(h) if p["done"]], "progress done")
    assert (done[-1]["targeted"], done[-1]["sent"]) == (preview["residents"], preview["messages"])


async def test_scheduled_mailing_is_sent_once_at_its_time_across_a_restart(harness: Harness):
    """Scheduled for T0: nothing before; the notifier dies at T0 having stored one chunk
    of three; started again, it finishes — each resident exactly once; a third start
    sends nothing more."""
    h = harness
    h.settings = h.settings.model_copy(update={"notifier_chunk_batches": 1, "notifier_scheduler_seconds": 0.05})
    clock = FakeClock(T0 - timedelta(minutes=30))
    await h.start(clock=clock, delivery_limit=50)
    await seed(h, population(700))
    await h.publish(request(send_at=T0))
    await eventually(lambda: h.store()[STAFF].find_one({"_id": "m1"}), "stored")
    await asyncio.sleep(0.3)  # the scheduler looked several times: not due
    assert h.outbound() == []

    crashed = h.die_planning_after(1)
    clock.now = T0
    await asyncio.wait_for(crashed.wait(), 15)
    await asyncio.sleep(0.5)
    await h.stop()
    store = h.store()
    assert await store[CHUNKS].count_documents({}) == 1
    assert (await store[STAFF].find_one({"_id": "m1"}))["state"] == "sending"

    await h.start(clock=clock, delivery_limit=50)
    await eventually(lambda: sum(receivers(h).values()) >= 700, "the rest of the mailing")
    await eventually(lambda: store[STAFF].find_one({"_id": "m1", "state": "sent"}), "marked sent")
    await asyncio.sleep(0.3)
    await h.stop()
    await h.start(clock=clock, delivery_limit=50)
    await asyncio.sleep(0.5)
    assert receivers(h) == Counter({r: 1 for r in street_receivers(700)})


async def test_a_send_time_without_a_zone_is_kyiv_time(harness: Harness):
    """``send_at`` 10:00 with no zone is 10:00 in Kyiv (08:00 UTC in December): not
    sent at 07:59 UTC, sent at 08:00 UTC."""
    h = harness
    h.settings = h.settings.model_copy(update={"notifier_scheduler_seconds": 0.05})
    clock = FakeClock(datetime(2026, 12, 1, 7, 59, tzinfo=UTC))
    await h.start(clock=clock)
    await seed(h, population(3))
    await h.publish(request(send_at=datetime(2026, 12, 1, 10, 0)))
    await eventually(lambda: h.store()[STAFF].find_one({"_id": "m1"}), "stored")
    await asyncio.sleep(0.3)
    assert h.outbound() == []
    clock.now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    await eventually(lambda: sum(receivers(h).values()) == 3, "the mailing")


async def test_cancelled_before_its_time_nothing_is_sent(harness: Harness):
    """A scheduled mailing cancelled before its time is never sent, even once the
    time comes; progress says done with zeros. A cancel that overtakes its request (or
    a repeated cancel) leaves nothing to send either."""
    h = harness
    h.settings = h.settings.model_copy(update={"notifier_scheduler_seconds": 0.05})
    clock = FakeClock(T0 - timedelta(hours=2))
    await h.start(clock=clock)
    await seed(h, population(20))
    await h.publish(request(send_at=T0))
    await h.publish(MailingCancelled(mailing_id="m1", at=T0 - timedelta(hours=1)))
    await h.publish(MailingCancelled(mailing_id="m1", at=T0 - timedelta(hours=1)))
    await h.publish(MailingCancelled(mailing_id="m2", at=T0 - timedelta(hours=1)))
    await h.publish(request("m2", send_at=T0))
    progress = await eventually(lambda: progress_of(h), "progress of the cancelled mailing")
    assert progress[0]["done"] and progress[0]["targeted"] == progress[0]["sent"] == 0
    clock.now = T0 + timedelta(minutes=1)
    await asyncio.sleep(0.5)
    assert h.outbound() == []
    store = h.store()
    assert (await store[STAFF].find_one({"_id": "m1"}))["state"] == "cancelled"
    assert (await store[STAFF].find_one({"_id": "m2"}))["state"] == "cancelled"


async def test_cancelled_under_way_stops_before_the_next_chunk(harness: Harness):
    """900 residents, one batch per chunk: the cancel lands while the second chunk is
    being stored — the first two chunks go out, the third is never planned; progress
    reports the 600 handed over as targeted and done once they are sent."""
    h = harness
    h.settings = h.settings.model_copy(update={"notifier_chunk_batches": 1})
    clock = FakeClock(T0)
    await h.start(clock=clock)
    await seed(h, population(900))
    staff = h.notifier.staff
    chunks = h.notifier.mailer.chunks
    real_insert = chunks.insert_one
    inserts = 0

    async def insert_then_cancel(doc: dict, *args: Any, **kwargs: Any) -> Any:
        nonlocal inserts
        inserts += 1
        if inserts == 2:  # the cancel arrives while this chunk is being stored
            await h.publish(MailingCancelled(mailing_id="m1", at=T0))
            await eventually(lambda: h.store()[STAFF].find_one({"_id": "m1", "state": "cancelled"}), "cancelled")
        return await real_insert(doc, *args, **kwargs)

    chunks.insert_one = insert_then_cancel  # type: ignore[method-assign]
    await h.publish(request())
    await eventually(lambda: sum(receivers(h).values()) >= 600, "two chunks")
    await eventually(lambda: staff.collection.find_one({"_id": "m1", "state": "cancelled"}), "cancelled")
    await asyncio.sleep(0.5)
    got = receivers(h)
    assert sum(got.values()) == 600 and set(got) < street_receivers(900) and max(got.values()) == 1
    assert await h.store()[CHUNKS].count_documents({}) == 2
    for e in {e.id: e for e in h.outbound()}.values():
        await h.publish(DeliverySent(channel="viber", lane="bulk", outbound_event_id=e.id, channel_message_id=f"tok-{e.id}",
                                     receivers=len(e.data["receivers"]), at=T0))
    done = await eventually(lambda: [p for p in progress_of(h) if p["done"]], "progress done")
    assert (done[-1]["targeted"], done[-1]["sent"]) == (600, 600)


async def test_a_bad_request_is_parked_not_sent(harness: Harness):
    """A link without its label, or a link that is not a web address: the request is
    parked (kept with the reason, nothing lost) and nothing is sent; the next good
    request still goes out."""
    h = harness
    await h.start(clock=FakeClock(T0))
    await seed(h, population(3))
    bad1 = await h.publish(request("bad1", link_url="https://city.example"))
    bad2 = await h.publish(request("bad2", link_label="Сайт", link_url="javascript:alert(1)"))
    await h.publish(request("good"))
    await eventually(lambda: sum(receivers(h, "good").values()) == 3, "the good mailing")
    store = h.store()
    assert await store[STAFF].find_one({"_id": "bad1"}) is None
    assert await store[STAFF].find_one({"_id": "bad2"}) is None
    async def both_parked() -> list:
        parked = await h.runtime.bus.dead_letters("notifier.mailings")
        return parked if len(parked) == 2 else []

    parked = await eventually(both_parked, "both parked")
    assert {json.loads(p)["id"] for p in parked} == {bad1.id, bad2.id}
    assert receivers(h, "bad1") == Counter() and receivers(h, "bad2") == Counter()


@pytest.mark.rabbitmq
async def test_staff_mailing_on_rabbitmq(vhost_amqp_url: str, unique: str):
    """On real RabbitMQ: a mailing to a street reaches each resident there once, in
    one bulk batch, and nobody else; its cancel afterwards is too late and changes
    nothing."""
    async with running(vhost_amqp_url, unique) as h:
        await h.start(clock=FakeClock(T0))
        await seed(h, population(30))
        await h.publish(request())
        await eventually(lambda: sum(receivers(h).values()) == 30, "the mailing", timeout=30)
        await eventually(lambda: h.store()[STAFF].find_one({"_id": "m1", "state": "sent"}), "sent")
        await h.publish(MailingCancelled(mailing_id="m1", at=T0))
        await asyncio.sleep(0.5)
        assert receivers(h) == Counter({r: 1 for r in street_receivers(30)})
        assert (await h.store()[STAFF].find_one({"_id": "m1"}))["state"] == "sent"



def test_a_text_too_long_for_a_picture_caption_keeps_the_pictures_link():
    """Viber takes ≤ 768 characters with a picture; the gateway sends a longer text as
    plain text, so the picture's link goes into it and nothing is lost."""
    from chatbot_common.events import MailingRequested, utcnow
    from notifier.staff import mailing_message

    long = MailingRequested(mailing_id="m-long", text="Т" * 800, image_url="https://city.example/a.jpg",
                            requested_by="staff", at=utcnow())
    text, _, media = mailing_message(long, image_link_in_text=False)
    assert "https://city.example/a.jpg" in text and media == "https://city.example/a.jpg"
    short = long.model_copy(update={"text": "Толока в суботу"})
    text, _, _ = mailing_message(short, image_link_in_text=False)
    assert "https://city.example/a.jpg" not in text
