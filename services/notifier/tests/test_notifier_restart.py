"""A notifier that dies mid-mailing — while planning its chunks, then while publishing
them — and is started again: every resident gets the notice exactly once (issue 8:
"redelivery and a notifier restart mid-mailing: no resident notified twice, none
missed"). Proven on the in-memory bus and on real RabbitMQ."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from chatbot_common.events import CloudEvent, utcnow
from chatbot_common.outbox import FIELD as OUTBOX
from notifier.audience import Audience
from notifier.mailings import CHUNKS, JOBS, Mailer

from notifier_testkit import Crash, Harness, eventually, outage, resident, running

K = "khmelnytskyi"
STREET = "proskurivska"


async def settle() -> None:
    """Let the background jobs take their leases before stopping: on Python 3.11 a stop
    that lands exactly as a lease is acquired can be swallowed by ``asyncio.wait_for``
    (chatbot_common.lease, reported), and the stop would hang."""
    await asyncio.sleep(0.5)


def distinct_batches(h: Harness) -> dict[str, CloudEvent]:
    """Outbound events by id: the gateway sends each event id once, so these are what
    residents receive."""
    return {e.id: e for e in h.outbound()}


async def die_and_restart(h: Harness) -> None:
    residents = [resident(f"a{i:04d}", houses=[(K, STREET, str(1 + i % 30))]) for i in range(700)]
    audience = Audience(h.store())
    await audience.setup()
    for data in residents:  # the projection as the dialog's events left it
        await audience.apply(data, utcnow())
    want = {f"v-{r.resident_id}" for r in residents}

    h.settings = h.settings.model_copy(update={"notifier_chunk_batches": 1})  # a chunk per batch
    # 1. dies while planning: the first chunk (300 residents) is stored and sent, the
    # second is not stored
    await h.start(delivery_limit=50)
    crashed = h.die_planning_after(1)
    await h.publish(outage(streets=[(STREET, [])]))
    await asyncio.wait_for(crashed.wait(), 15)
    await settle()
    await h.stop()
    store = h.store()
    assert await store[CHUNKS].count_documents({}) == 1
    assert (await store[JOBS].find_one({}))["state"] == "planning"
    # meanwhile one more resident moves in: the resumed plan must include them
    await audience.apply(resident("late", houses=[(K, STREET, "5")]), utcnow())
    want.add("v-late")

    # 2. started again, dies while publishing: the second chunk goes out, the third
    # does not (the outbox relay waits long here, so only the handler publishes)
    h.settings = h.settings.model_copy(update={"outbox_relay_seconds": 300.0})
    died = asyncio.Event()
    real_send, real_publish = Mailer._send_chunk, Mailer.publish
    sends = 0

    async def send_first(self: Mailer, cid: str, pending: Any, events: Any) -> bool:
        nonlocal sends
        sends += 1
        if sends > 1:
            return False  # died before this chunk's publishes
        return await real_send(self, cid, pending, events)

    async def crash(self: Mailer, job_id: str) -> bool:
        died.set()
        raise Crash("died while publishing")

    Mailer._send_chunk, Mailer.publish = send_first, crash  # before the start: the input may come at once
    try:
        await h.start(delivery_limit=50)
        await asyncio.wait_for(died.wait(), 15)
        await settle()
        await h.stop()
    finally:
        Mailer._send_chunk, Mailer.publish = real_send, real_publish
    h.settings = h.settings.model_copy(update={"outbox_relay_seconds": 0.3})
    pending = await store[CHUNKS].count_documents({f"{OUTBOX}.0": {"$exists": True}})
    assert pending >= 1, "the crash left chunks unpublished"
    assert await store[CHUNKS].count_documents({}) == 3  # all planned: 300 + 300 + 101
    sent_before = Counter(r for e in distinct_batches(h).values() for r in e.data["receivers"])
    assert 0 < sum(sent_before.values()) < len(want)

    # 3. started again: finishes, and nobody is twice or missing
    await h.start(delivery_limit=50)
    await eventually(lambda: sum(len(e.data["receivers"]) for e in distinct_batches(h).values()) >= len(want),
                     "the rest of the mailing", timeout=30)
    await asyncio.sleep(0.5)  # anything extra would arrive now
    received = Counter(r for e in distinct_batches(h).values() for r in e.data["receivers"])
    assert received == Counter({r: 1 for r in want})
    assert len(distinct_batches(h)) == 3
    assert (await store[JOBS].find_one({}))["targeted"] == 701


async def test_restart_mid_mailing_on_the_memory_bus(unique: str):
    async with running(f"memory://notifier-{unique}", unique) as h:
        await die_and_restart(h)


@pytest.mark.rabbitmq
async def test_restart_mid_mailing_on_rabbitmq(vhost_amqp_url: str, unique: str):
    async with running(vhost_amqp_url, unique) as h:
        await die_and_restart(h)


async def test_a_batch_is_attributed_to_its_chunk_whichever_replica_planned_it(unique: str, monkeypatch):
    """``delivery.*`` events name an outbound batch: the planner remembers its own
    batches' chunks, another replica (or this one after a restart, or once its memo
    was cleared) finds them in the store; a batch no mailing planned (a reply) has
    none."""
    from chatbot_common.bus import create_bus
    from chatbot_common.store import open_store
    from notifier import mailings
    from notifier.mailings import Job

    store = open_store("memory://", "notifier", memory_namespace=unique)
    bus = create_bus(f"memory://{unique}")
    planner, other = Mailer(bus, store, chunk_batches=1), Mailer(bus, store)
    await planner.setup()
    await bus.connect()
    await bus.declare()
    job = Job(job_id="job-1", subject="outage", subject_id="o1", kind="published", text="Відключення")
    recipients = [(f"r{i:04d}", f"v{i:04d}") for i in range(700)]  # 3 batches, 3 chunks

    async def audience() -> list[tuple[str, str]]:
        return recipients

    await planner.run(job, audience)
    chunks = [c async for c in store[CHUNKS].find({"job_id": "job-1"}, {"events": 1})]
    assert len(chunks) == 3
    monkeypatch.setattr(mailings, "MEMO_BATCHES", 2)  # the memo is cleared along the way
    for mailer in (planner, other, planner):
        for c in chunks:
            for batch in c["events"]:
                assert await mailer.chunk_of_batch(batch) == {"_id": c["_id"], "job_id": "job-1"}
    assert await other.chunk_of_batch("a-reply") is None
    await bus.close()


async def test_one_viber_user_of_two_resident_ids_is_sent_once_across_a_crash_between_their_chunks(unique: str):
    """Two resident ids with one receiver (two records of one person, before they are
    merged) are sent one notice. Also when the first is in a chunk stored before the
    planner died and the second would go in a chunk planned after the restart: the
    resumed plan knows the stored chunk's receivers too."""
    from chatbot_common.bus import create_bus
    from chatbot_common.store import open_store
    from notifier.mailings import Job

    from notifier_testkit import FailingInserts

    store = open_store("memory://", "notifier", memory_namespace=unique)
    bus = create_bus(f"memory://{unique}")
    recorder = create_bus(f"memory://{unique}")
    sent: list[CloudEvent] = []

    async def record(event: CloudEvent) -> None:
        sent.append(event)

    recorder.subscribe("test.outbound", ["outbound.#"], record)
    await recorder.start_consuming()
    await bus.connect()
    job = Job(job_id="job-1", subject="outage", subject_id="o1", kind="published", text="Відключення")
    recipients = [(f"r{i:04d}", f"v{i:04d}") for i in range(700)] + [("r9999", "v0000")]  # r9999: last chunk

    async def audience() -> list[tuple[str, str]]:
        return recipients

    crashed = asyncio.Event()
    planner = Mailer(bus, store, chunk_batches=1)
    await planner.setup()
    planner.chunks = FailingInserts(planner.chunks, 1, crashed)  # dies after the first chunk (r0000 → v0000)
    with pytest.raises(Crash):
        await planner.run(job, audience)
    assert crashed.is_set()
    await Mailer(bus, store, chunk_batches=1).run(job, audience)  # started again
    await eventually(lambda: sum(len(e.data["receivers"]) for e in sent) >= 700, "the whole mailing")
    await asyncio.sleep(0.2)  # anything extra would arrive now
    received = Counter(r for e in {e.id: e for e in sent}.values() for r in e.data["receivers"])
    assert received == Counter({f"v{i:04d}": 1 for i in range(700)})
    await recorder.close()
    await bus.close()
