"""contactcenter-sync against the project's contact-center simulator (``ccsim``, over
real HTTP): the client on every service definition and datatype, the simulator's own
validation and refusals, and the whole request life on the in-memory bus — filed,
numbered with its deadline, moved twice, deadline moved, closed, rated, reopened."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from ccsim.app import start_simulator
from ccsim.state import Simulator
from ccsync_support import Listener, Sync, eventually, rated, submitted

from chatbot_common.events import TicketLocation, TicketSubmitted
from contactcenter_sync.open311 import Open311Client, Open311Error, Unavailable, service_info

API_KEY = "ccsim-key"


@pytest.fixture
async def sim() -> AsyncIterator[tuple[Simulator, str]]:
    simulator = Simulator(api_key=API_KEY)
    runner, url = await start_simulator(simulator, port=0)
    yield simulator, url + "/open311/v2"
    await runner.cleanup()


@pytest.fixture
async def client(sim: tuple[Simulator, str]) -> AsyncIterator[Open311Client]:
    c = Open311Client(sim[1], api_key=API_KEY, get_attempts=1)
    yield c
    await c.close()


def stray_dogs(ticket_id: str = "s-1", **changes: object) -> TicketSubmitted:
    data: dict[str, object] = dict(
        ticket_id=ticket_id, resident_id="r-1", service_code="animals-stray", service_name="Безпритульні тварини",
        description="Зграя собак біля школи", submitted_at=datetime.now(UTC),
        location=TicketLocation(address_string="Хмельницький, вул. Зарічанська, 10", lat=49.43, long=26.99),
        attributes={"animal": "dog", "count": "5", "behaviour": ["aggressive", "pack"]},
    )
    data.update(changes)
    return TicketSubmitted(**data)  # type: ignore[arg-type]


async def test_every_service_and_definition_parses(client: Open311Client, sim: tuple[Simulator, str]) -> None:
    """The simulator's whole service list and every definition (all six datatypes)
    become our catalog's ServiceInfo without loss."""
    services = await client.services()
    assert len(services) == len(sim[0].services)
    datatypes = set()
    for service in services:
        definition = await client.service_definition(service.service_code) if service.metadata else None
        info = service_info(service, definition)
        expected = sim[0].service(service.service_code)
        assert expected is not None
        assert [a.code for a in info.attributes] == [a["code"] for a in sorted(expected.get("attributes") or [],
                                                                                key=lambda a: a.get("order", 0))]
        datatypes |= {a.datatype for a in info.attributes}
    assert datatypes == {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}


async def test_post_reaches_the_simulator_with_the_right_fields(client: Open311Client,
                                                                sim: tuple[Simulator, str]) -> None:
    """The simulator accepts our POST (its own form validation) and reads a
    multivaluelist from repeated attribute[code]; a repeat with the same
    Idempotency-Key gets the same number and files nothing new."""
    first = await client.post_request(stray_dogs(), idempotency_key="s-1")
    again = await client.post_request(stray_dogs(), idempotency_key="s-1")
    assert first.service_request_id and again.service_request_id == first.service_request_id
    [request] = sim[0].requests.values()
    assert request.attributes == {"animal": "dog", "count": "5", "behaviour": ["aggressive", "pack"]}
    assert request.fields["address_string"].startswith("Хмельницький") and request.lat == 49.43
    record = await client.request(first.service_request_id)
    assert record is not None and record.expected_datetime is not None  # the service's SLA


async def test_the_simulators_refusals(client: Open311Client, sim: tuple[Simulator, str]) -> None:
    """An unknown list value is a 400 with the simulator's Ukrainian reason; a wrong key a 403."""
    with pytest.raises(Open311Error) as caught:
        await client.post_request(stray_dogs(attributes={"animal": "dragon"}))
    assert caught.value.http_status == 400 and caught.value.has_body and "dragon" in (caught.value.description or "")
    wrong = Open311Client(sim[1], api_key="wrong")
    try:
        with pytest.raises(Open311Error) as caught:
            await wrong.post_request(stray_dogs())
        assert caught.value.http_status == 403
    finally:
        await wrong.close()
    sim[0].faults.down = True
    with pytest.raises(Unavailable):
        await client.services()


async def test_tokens_and_updates(client: Open311Client, sim: tuple[Simulator, str]) -> None:
    """Token answer → number after the operator assigns it; the updates feed parses."""
    sim[0].faults.answer_with = "token"
    sim[0].faults.token_delay_seconds = None
    answer = await client.post_request(stray_dogs())
    assert answer.token and answer.service_request_id is None
    assert await client.token(answer.token) is None
    number = sim[0].assign(answer.token).service_request_id
    assert await client.token(answer.token) == number
    assert number is not None
    sim[0].set_status(number, "in_progress", "Виїхала бригада")
    updates = await client.updates(datetime.now(UTC) - timedelta(hours=1))
    assert [(u.service_request_id, u.status, u.description) for u in updates] == [(number, "in_progress", "Виїхала бригада")]


@pytest.fixture
def amqp_url() -> str:
    return f"memory://ccsync-sim-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def listener(amqp_url: str) -> AsyncIterator[Listener]:
    lst = Listener(amqp_url)
    await lst.start()
    yield lst
    await lst.stop()


async def test_a_request_from_filing_to_reopening(sim: tuple[Simulator, str], amqp_url: str,
                                                  listener: Listener) -> None:
    """Filed (the contact center down for a while first) → one ticket.registered with the
    number and the SLA deadline → two status moves, a deadline move and closing, each
    told once → rating 1 with reopen reaches the simulator → reopened."""
    simulator, url = sim
    simulator.faults.down = True
    svc = await Sync(url, amqp_url, contactcenter_api_key=API_KEY).start()
    try:
        await svc.publish(submitted("s-2", service_code="water-leak", attributes={"intensity": "stream"}))
        await eventually(lambda: len(simulator.posts) == 0 and _attempted(svc, "s-2"), "tried while down")
        simulator.faults.down = False
        [registered] = await listener.wait("ticket.registered")
        number = registered.data["service_request_id"]
        assert registered.data.get("expected_at")  # water-leak: 12 h SLA
        assert len(simulator.requests) == 1
        simulator.set_status(number, "in_progress")
        simulator.set_status(number, "action_scheduled", "Заміна труби завтра")
        simulator.set_deadline(number, datetime.now(UTC) + timedelta(days=2))
        await listener.wait("ticket.status_changed", 2)
        [moved] = await listener.wait("ticket.deadline_changed")
        assert moved.data["previous_expected_at"][:16] == registered.data["expected_at"][:16]
        simulator.set_status(number, "fixed", "Трубу замінено")
        changes = await listener.wait("ticket.status_changed", 3)
        assert [c.data["status"] for c in changes] == ["in_progress", "action_scheduled", "fixed"]
        await svc.publish(rated("s-2", 1, reopen=True, comment="Знову тече"))
        reopened = await listener.wait("ticket.status_changed", 4)
        assert reopened[3].data["status"] == "reopened"
        assert simulator.ratings[number].rating == 1
        await asyncio.sleep(0.5)
        assert len(listener.of("ticket.status_changed")) == 4 and len(listener.of("ticket.deadline_changed")) == 1
        assert len(listener.of("ticket.registered")) == 1
    finally:
        await svc.stop()


async def _attempted(svc: Sync, ticket_id: str) -> bool:
    doc = await svc.ticket(ticket_id)
    return bool(doc and doc.get("attempts", 0) >= 2)


def _kyiv(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def test_outage_feed_import(sim: tuple[Simulator, str], amqp_url: str, listener: Listener) -> None:
    """S3: an outage in the contact center's feed becomes one outage.published
    (source contactcenter, directory ids, houses expanded); a new end time one
    outage.updated naming ``ends_at``; resolving it one outage.resolved — revisions
    1, 2, 3, each once however often the feed is read. An entry whose street the
    directory does not know is skipped, not published half right."""
    simulator, url = sim
    svc = await Sync(url, amqp_url, contactcenter_api_key=API_KEY).start()
    try:
        simulator.add_outage({"outage_id": "o-1", "kind": "planned", "utility": "cold_water",
                              "settlement": "Хмельницький", "starts_at": _kyiv(1), "ends_at": _kyiv(5),
                              "addresses": [{"street": "вул. Проскурівська", "houses": "1-7 непарні"},
                                            {"street": "Зарічанська", "houses": ""}],
                              "description": "Ремонт водогону"})
        simulator.add_outage({"outage_id": "o-2", "settlement": "Хмельницький", "starts_at": _kyiv(1),
                              "ends_at": _kyiv(2), "addresses": [{"street": "вул. Неіснуюча Вигадана", "houses": "1"}]})
        [published] = await listener.wait("outage.published")
        data = published.data
        assert (data["source"], data["external_id"], data["revision"]) == ("contactcenter", "o-1", 1)
        assert data["settlement_id"] == "khmelnytskyi" and data["utility"] == "cold_water"
        assert [a["houses"] for a in data["addresses"]] == [["1", "3", "5", "7"], []]
        assert data["addresses"][0]["spec"] == "1-7 непарні"
        simulator.update_outage("o-1", {"ends_at": _kyiv(8)})
        [updated] = await listener.wait("outage.updated")
        assert updated.data["changed"] == ["ends_at"] and updated.data["revision"] == 2
        assert updated.data["outage_id"] == data["outage_id"]
        simulator.update_outage("o-1", {"status": "resolved"})
        [resolved] = await listener.wait("outage.resolved")
        assert resolved.data["revision"] == 3 and resolved.data["state"] == "resolved"
        await asyncio.sleep(0.5)
        outage_events = [e for e in listener.events if e.type.startswith("outage.")]
        assert len(outage_events) == 3  # o-2 skipped, nothing repeated
    finally:
        await svc.stop()
