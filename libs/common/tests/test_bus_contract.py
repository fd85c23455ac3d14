"""One contract, two adapters: the in-memory bus must behave like RabbitMQ for routing,
ack/requeue, the delivery limit and dead-lettering (architecture: queues & guarantees).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from chatbot_common.bus import Bus, PermanentError, create_bus
from chatbot_common.events import CloudEvent, InboundUnsubscribed, make_event, utcnow

DELIVERY_LIMIT = 2


def sample_event(user: str = "u1") -> CloudEvent:
    data = InboundUnsubscribed(channel="viber", channel_user_id=user, channel_message_id="1", sent_at=utcnow())
    return make_event(data, source="test")


async def eventually(check: Callable[[], object], timeout: float = 15.0) -> None:
    """Poll ``check`` (an assertion) until it passes or the deadline ends."""
    async for attempt in AsyncRetrying(
        stop=stop_after_delay(timeout), wait=wait_fixed(0.05), retry=retry_if_exception_type(AssertionError), reraise=True
    ):
        with attempt:
            result = check()
            if asyncio.iscoroutine(result):
                await result


@pytest.fixture(params=["memory", "rabbitmq"])
async def make_bus(request: pytest.FixtureRequest, unique: str) -> AsyncIterator[Callable[[], Bus]]:
    """Factory of connected buses of one kind; several clients share one broker."""
    if request.param == "rabbitmq":
        url = request.getfixturevalue("vhost_amqp_url")  # a fresh vhost: the topology is declared there
    else:
        url = f"memory://contract-{unique}"
    buses: list[Bus] = []

    def factory() -> Bus:
        bus = create_bus(url, name="contract-test", prefetch=4, delivery_limit=DELIVERY_LIMIT)
        buses.append(bus)
        return bus

    yield factory
    for bus in buses:
        await bus.close()


async def started(bus: Bus) -> Bus:
    await bus.connect()
    await bus.start_consuming()
    return bus


async def test_topic_routing_delivers_only_to_matching_bindings(make_bus, unique):
    got: dict[str, list[str]] = {"star": [], "hash": [], "other": []}

    def recorder(name: str):
        async def handle(event: CloudEvent) -> None:
            got[name].append(event.id)
        return handle

    consumer = make_bus()
    consumer.subscribe(f"test-{unique}.star", ["inbound.*"], recorder("star"))
    consumer.subscribe(f"test-{unique}.hash", ["outbound.#"], recorder("hash"))
    consumer.subscribe(f"test-{unique}.other", ["delivery.seen"], recorder("other"))
    await started(consumer)
    publisher = make_bus()
    await publisher.connect()
    event = sample_event()
    await publisher.publish(event)

    async def check() -> None:
        assert got["star"] == [event.id]
    await eventually(check)
    assert got["hash"] == [] and got["other"] == []


async def test_failed_handler_is_retried_then_acked_once_it_succeeds(make_bus, unique):
    attempts: list[str] = []
    handled: list[str] = []

    async def flaky(event: CloudEvent) -> None:
        attempts.append(event.id)
        if len(attempts) == 1:
            raise RuntimeError("transient")
        handled.append(event.id)

    bus = make_bus()
    bus.subscribe(f"test-{unique}.flaky", ["inbound.unsubscribed"], flaky)
    await started(bus)
    event = sample_event()
    await bus.publish(event)
    await eventually(lambda: _assert_eq(handled, [event.id]))
    assert len(attempts) == 2
    assert await bus.dead_letters(f"test-{unique}.flaky") == []


async def test_always_failing_handler_ends_in_dead_letter_queue_after_the_limit(make_bus, unique):
    attempts: list[str] = []

    async def broken(event: CloudEvent) -> None:
        attempts.append(event.id)
        raise RuntimeError("always")

    queue = f"test-{unique}.broken"
    bus = make_bus()
    bus.subscribe(queue, ["inbound.unsubscribed"], broken)
    await started(bus)
    event = sample_event()
    await bus.publish(event)
    dead: list[bytes] = []

    async def check() -> None:
        dead.extend(await bus.dead_letters(queue))
        assert len(dead) == 1
    await eventually(check)
    assert CloudEvent.model_validate_json(dead[0]).id == event.id
    assert len(attempts) == DELIVERY_LIMIT + 1  # first delivery + limit redeliveries


async def test_invalid_message_is_parked_at_once_without_calling_the_handler(make_bus, unique):
    calls: list[CloudEvent] = []

    async def handle(event: CloudEvent) -> None:
        calls.append(event)

    queue = f"test-{unique}.strict"
    bus = make_bus()
    bus.subscribe(queue, ["inbound.#"], handle)
    await started(bus)
    bad_payload = sample_event().model_dump(mode="json")
    bad_payload["data"]["channel"] = "pigeon-post"
    import json

    await bus.publish_raw("inbound.message", b"not json at all")
    await bus.publish_raw("inbound.unsubscribed", json.dumps(bad_payload).encode())
    dead: list[bytes] = []

    async def check() -> None:
        dead.extend(await bus.dead_letters(queue))
        assert len(dead) == 2
    await eventually(check)
    assert calls == []


async def test_permanent_error_parks_the_message_without_retries(make_bus, unique):
    attempts: list[str] = []

    async def refuse(event: CloudEvent) -> None:
        attempts.append(event.id)
        raise PermanentError("cannot ever succeed")

    queue = f"test-{unique}.refuse"
    bus = make_bus()
    bus.subscribe(queue, ["inbound.unsubscribed"], refuse)
    await started(bus)
    await bus.publish(sample_event())
    dead: list[bytes] = []

    async def check() -> None:
        dead.extend(await bus.dead_letters(queue))
        assert len(dead) == 1
    await eventually(check)
    assert len(attempts) == 1


async def test_stop_consuming_waits_for_in_flight_handler_and_acks_it(make_bus, unique):
    entered = asyncio.Event()
    finished: list[str] = []

    async def slow(event: CloudEvent) -> None:
        entered.set()
        await asyncio.sleep(0.3)
        finished.append(event.id)

    queue = f"test-{unique}.slow"
    bus = make_bus()
    bus.subscribe(queue, ["inbound.unsubscribed"], slow)
    await started(bus)
    event = sample_event()
    await bus.publish(event)
    await asyncio.wait_for(entered.wait(), 15)
    await bus.stop_consuming()
    assert finished == [event.id]

    # A new consumer on the same queue gets nothing again: the message was acked.
    again: list[str] = []

    async def record(ev: CloudEvent) -> None:
        again.append(ev.id)

    second = make_bus()
    second.subscribe(queue, ["inbound.unsubscribed"], record)
    await started(second)
    marker = sample_event("marker")
    await second.publish(marker)
    await eventually(lambda: _assert_eq(again, [marker.id]))


async def test_messages_published_before_consumers_start_wait_in_declared_queue(make_bus, unique):
    got: list[str] = []

    async def handle(event: CloudEvent) -> None:
        got.append(event.id)

    queue = f"test-{unique}.early"
    bus = make_bus()
    bus.subscribe(queue, ["inbound.unsubscribed"], handle)
    await bus.connect()
    await bus.declare()
    events = [sample_event(str(i)) for i in range(3)]
    for event in events:
        await bus.publish(event)
    await bus.start_consuming()
    await eventually(lambda: _assert_eq(sorted(got), sorted(e.id for e in events)))


def _assert_eq(actual: object, expected: object) -> None:
    assert actual == expected


async def test_an_event_no_queue_is_bound_to_lands_in_chatbot_unroutable_not_dropped(make_bus, unique):
    """Issue 6, case 5: mandatory publishes + the alternate exchange: nothing vanishes."""
    bus = make_bus()
    await bus.connect()
    await bus.declare()
    await bus.publish_raw(f"nobody.listens.{unique}", b'{"marker": 1}')
    parked: list[bytes] = []

    async def check() -> None:
        parked.extend(await bus.unroutable())
        assert parked == [b'{"marker": 1}']
    await eventually(check)


async def test_the_whole_topology_is_declared_by_any_service_so_early_events_wait(make_bus):
    """Issue 6, case 5: a resident event published before its consumer ever ran waits in
    that consumer's declared queue (here: the notifier's), whoever started first."""
    from chatbot_common.events import ResidentDeleted

    publisher = make_bus()  # e.g. the dialog: it declares the notifier's queue too
    await publisher.connect()
    await publisher.declare()
    event = make_event(ResidentDeleted(resident_id="r-1"), source="test")
    await publisher.publish(event)
    got: list[str] = []

    async def handle(ev: CloudEvent) -> None:
        got.append(ev.id)

    notifier = make_bus()
    notifier.subscribe("notifier.residents", ["resident.*"], handle, single_active=True)
    await started(notifier)
    await eventually(lambda: _assert_eq(got, [event.id]))
    assert await publisher.unroutable() == []


async def test_a_requeued_message_is_redelivered_before_newer_ones(make_bus, unique):
    """Quorum queues deliver returned messages first; the in-memory bus does the same."""
    order: list[str] = []
    failed: set[str] = set()
    gate = asyncio.Event()

    async def handle(event: CloudEvent) -> None:
        await gate.wait()
        order.append(event.data["channel_user_id"])
        if event.data["channel_user_id"] == "first" and "first" not in failed:
            failed.add("first")
            raise RuntimeError("transient")

    bus = make_bus()
    bus.subscribe(f"test-{unique}.order", ["inbound.unsubscribed"], handle, prefetch=1)
    await bus.connect()
    await bus.declare()
    for user in ("first", "second", "third"):
        await bus.publish(sample_event(user))
    await bus.start_consuming()
    gate.set()
    await eventually(lambda: _assert_eq(len(order), 4))
    assert order == ["first", "first", "second", "third"]


async def test_a_single_active_consumer_queue_feeds_one_consumer_until_it_stops(make_bus, unique):
    queue = f"test-{unique}.single"
    got: dict[str, list[str]] = {"a": [], "b": []}

    def recorder(name: str):
        async def handle(event: CloudEvent) -> None:
            got[name].append(event.id)
        return handle

    first, second = make_bus(), make_bus()
    first.subscribe(queue, ["inbound.unsubscribed"], recorder("a"), single_active=True)
    second.subscribe(queue, ["inbound.unsubscribed"], recorder("b"), single_active=True)
    await started(first)
    await started(second)
    events = [sample_event(str(i)) for i in range(4)]
    for event in events:
        await first.publish(event)
    await eventually(lambda: _assert_eq(len(got["a"]), 4))
    assert got["b"] == []
    await first.stop_consuming()  # the standby takes over
    later = sample_event("later")
    await second.publish(later)
    await eventually(lambda: _assert_eq(got["b"], [later.id]))


async def test_a_publish_the_broker_does_not_confirm_raises_publish_error(make_bus, request, unique):
    """Publishers learn of an unconfirmed publish (memory: injected; RabbitMQ: a closed
    connection) — they never assume it went out."""
    from chatbot_common.bus import PublishError

    bus = make_bus()
    await bus.connect()
    await bus.declare()
    if request.node.callspec.params["make_bus"] == "memory":
        bus.broker.fail_publishes = lambda key: ConnectionError("injected")
    else:
        await bus.close()
    with pytest.raises(PublishError):
        await bus.publish(sample_event())
