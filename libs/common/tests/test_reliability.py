"""The reliable foundation's parts on their own: the outbox, leases, background jobs,
the declared topology, and stopping while starting (issue 6)."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from chatbot_common import topology
from chatbot_common.bus import PublishError, create_bus
from chatbot_common.events import CloudEvent, InboundUnsubscribed, make_event, utcnow
from chatbot_common.lease import Lease
from chatbot_common.outbox import Outbox, push
from chatbot_common.runner import ServiceRuntime, serve_until_signalled
from chatbot_common.settings import Settings
from chatbot_common.store import open_store


def event(n: int) -> CloudEvent:
    data = InboundUnsubscribed(channel="viber", channel_user_id=f"u{n}", channel_message_id=str(n), sent_at=utcnow())
    return make_event(data, source="test", id=f"e{n}")


@pytest.fixture
def store(unique: str):
    return open_store("memory://", f"rel_{unique}", memory_namespace=f"rel-{unique}")


@pytest.fixture
async def recorded(unique: str):
    """A bus and the ids of what reached a queue bound to everything inbound."""
    url = f"memory://rel-{unique}"
    bus = create_bus(url)
    listener = create_bus(url)
    got: list[str] = []

    async def record(ev: CloudEvent) -> None:
        got.append(ev.id)

    listener.subscribe("test.all", ["inbound.#"], record)
    await listener.start_consuming()
    yield bus, got
    await listener.close()


async def until(check, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.01)


async def test_outbox_entries_of_two_inputs_are_kept_apart_and_published_in_order(store, recorded):
    bus, got = recorded
    docs = store["things"]
    outbox = Outbox(bus, store, "things", grace=0.0)
    await docs.insert_one({"_id": "t1", "state": 0})
    await docs.update_one({"_id": "t1"}, {"$set": {"state": 1}, **push("in-1", [event(1), event(2)])})
    await docs.update_one({"_id": "t1"}, {"$set": {"state": 2}, **push("in-2", [event(3)])})
    doc = await docs.find_one({"_id": "t1"})
    assert [e["input"] for e in doc["outbox"]] == ["in-1", "in-2"]  # the second did not overwrite the first
    assert await outbox.flush("t1")
    await until(lambda: len(got) == 3)
    assert got == ["e1", "e2", "e3"]
    assert (await docs.find_one({"_id": "t1"}))["outbox"] == []


def unpublished(collection: str) -> float:
    return REGISTRY.get_sample_value("chatbot_outbox_publish_failures_total", {"collection": collection}) or 0.0


async def test_a_failed_flush_stops_at_the_first_unconfirmed_entry_and_the_relay_finishes_later(store, recorded):
    bus, got = recorded
    docs = store["things"]
    outbox = Outbox(bus, store, "things", grace=0.0)
    await docs.insert_one({"_id": "t1", "outbox": []})
    await docs.update_one({"_id": "t1"}, push("in-1", [event(1)]))
    await docs.update_one({"_id": "t1"}, push("in-2", [event(2)]))
    bus.broker.fail_publishes = lambda key: ConnectionError("alarm")
    before = unpublished("things")
    assert not await outbox.flush("t1")
    assert outbox.failed.is_set()  # the relay is told to look soon
    assert unpublished("things") == before + 1  # and ops see it (chatbot_outbox_publish_failures_total)
    assert len((await docs.find_one({"_id": "t1"}))["outbox"]) == 2  # nothing marked sent
    bus.broker.fail_publishes = None
    assert await outbox.relay_once() == 1
    await until(lambda: len(got) == 2)
    assert got == ["e1", "e2"]


async def test_the_relay_leaves_fresh_entries_to_the_handling_path(store, recorded):
    bus, got = recorded
    outbox = Outbox(bus, store, "things", grace=60.0)
    await store["things"].insert_one({"_id": "t1", "outbox": []})
    await store["things"].update_one({"_id": "t1"}, push("in-1", [event(1)]))
    assert await outbox.relay_once() == 0
    await asyncio.sleep(0.05)
    assert got == []


@pytest.mark.parametrize("shared", [True, False])
async def test_the_relay_scans_at_start_after_a_failed_flush_and_periodically_only_when_shared(
        store, recorded, shared):
    """Another replica's leftovers are only possible in a shared (MongoDB) collection: the
    in-memory store's relay scans at start and after a failed flush, never on a timer."""
    bus, _got = recorded
    outbox = Outbox(bus, store, "things", grace=0.0)
    outbox.shared = shared
    scans = 0

    async def scan() -> None:
        nonlocal scans
        scans += 1

    job = asyncio.create_task(outbox.relay(safety_scan=0.05, scan=scan))
    try:
        await until(lambda: scans == 1)
        await asyncio.sleep(0.3)  # six safety periods
        assert (scans > 3) if shared else (scans == 1)
        before = scans
        outbox.failed.set()  # a flush here failed: the relay looks again either way
        await until(lambda: scans > before)
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)


async def test_an_outbox_knows_whether_its_collection_is_shared(store, recorded, unique):
    bus, _got = recorded
    assert Outbox(bus, store, "things").shared is (not store.in_memory)


async def test_a_lease_is_held_by_one_replica_and_taken_over_after_it_expires(store):
    first = Lease(store, "poller", ttl=0.3, holder="replica-a")
    second = Lease(store, "poller", ttl=0.3, holder="replica-b")
    assert await first.try_acquire()
    assert not await second.try_acquire()  # held and not expired
    assert await first.try_acquire()  # the holder renews
    await asyncio.sleep(0.35)  # replica-a died: no renewal
    assert await second.try_acquire()
    assert not await first.try_acquire()
    assert await second.holder_now() == "replica-b"


async def test_a_singleton_job_runs_on_one_replica_and_moves_when_that_replica_stops(store):
    running: dict[str, int] = {"a": 0, "b": 0}
    active: set[str] = set()
    overlap: list[set[str]] = []

    def job(name: str):
        async def run() -> None:
            active.add(name)
            try:
                while True:
                    running[name] += 1
                    if len(active) > 1:
                        overlap.append(set(active))
                    await asyncio.sleep(0.02)
            finally:
                active.discard(name)
        return run

    a = asyncio.create_task(Lease(store, "job", ttl=0.3, holder="a").run(job("a")))
    await until(lambda: running["a"] > 0)
    b = asyncio.create_task(Lease(store, "job", ttl=0.3, holder="b").run(job("b")))
    await asyncio.sleep(0.5)
    assert running["b"] == 0  # the standby waits
    a.cancel()
    await asyncio.gather(a, return_exceptions=True)  # the lease is released on stop
    await until(lambda: running["b"] > 0, timeout=3)
    b.cancel()
    await asyncio.gather(b, return_exceptions=True)
    assert overlap == []


async def test_every_event_type_in_the_catalog_reaches_a_declared_queue():
    assert topology.check_catalog() == []
    assert topology.consumers_of("resident.registered") == ["notifier.residents"]
    assert topology.consumers_of("outbound.viber.bulk") == ["gateway.viber-mailings"]
    with pytest.raises(KeyError):
        topology.queue("dialog.inbond")


async def test_background_jobs_run_after_start_and_are_cancelled_at_stop(unique, store):
    ticks: list[int] = []
    stopped = asyncio.Event()

    async def job() -> None:
        try:
            while True:
                ticks.append(1)
                await asyncio.sleep(0.01)
        finally:
            stopped.set()

    runtime = ServiceRuntime("probe", Settings(), port=0, bus=create_bus(f"memory://job-{unique}"), store=store)
    runtime.background("ticker", job)
    await runtime.start(host="127.0.0.1")
    await until(lambda: len(ticks) > 2)
    await runtime.stop()
    assert stopped.is_set()


async def test_a_service_still_starting_stops_on_sigterm(unique, store):
    """Issue 6, case 8: SIGTERM works while a service waits at start (e.g. for a broker
    that is gone), instead of being ignored until the start succeeds."""
    import os
    import signal

    class StuckBus(type(create_bus("memory://"))):  # type: ignore[misc]
        async def connect(self) -> None:
            await asyncio.sleep(3600)

    runtime = ServiceRuntime("probe", Settings(), port=0, bus=StuckBus(), store=store)
    serving = asyncio.create_task(serve_until_signalled(runtime, host="127.0.0.1"))
    await asyncio.sleep(0.1)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(serving, 5)


async def test_a_publish_to_a_closed_bus_is_an_error_not_a_silent_drop(unique):
    bus = create_bus(f"memory://closed-{unique}")
    bus.broker.fail_publishes = lambda key: ConnectionError("gone")
    with pytest.raises(PublishError):
        await bus.publish(event(1))
