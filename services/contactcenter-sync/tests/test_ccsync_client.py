"""The Open311 client over real HTTP (a small fake contact center on a local port) and
on the Open311 spec's own example documents."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from ccsync_fake import FakeContactCenter

from chatbot_common.events import TicketContact, TicketLocation, TicketStatus, TicketSubmitted
from contactcenter_sync.open311 import (
    Open311Client,
    Open311Error,
    OutageEntry,
    PostAnswer,
    RequestRecord,
    Service,
    ServiceDefinition,
    TokenAnswer,
    _parse_list,
    map_status,
    Unavailable,
    service_info,
)

EXAMPLES = json.loads((Path(__file__).parent / "data" / "open311_spec_examples.json").read_text())


@pytest.fixture
async def center() -> AsyncIterator[FakeContactCenter]:
    fake = FakeContactCenter()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def client(center: FakeContactCenter) -> AsyncIterator[Open311Client]:
    c = Open311Client(center.url, api_key="secret-key", jurisdiction_id="city.example", timeout=3, get_attempts=2,
                      ids_per_request=2)
    yield c
    await c.close()


def ticket(**changes: object) -> TicketSubmitted:
    base = dict(
        ticket_id="t-1", resident_id="r-1", service_code="water-leak", service_name="Витік води",
        description="Тече труба в підвалі", submitted_at=datetime.now(UTC),
        location=TicketLocation(address_string="Хмельницький, вул. Проскурівська, 1", lat=49.42, long=26.98,
                                address_id="A-17"),
        media_urls=["https://example.org/p/1.jpg", "https://example.org/p/2.jpg"],
        attributes={"where": ["1", "2"], "floor": "3"},
        contact=TicketContact(first_name="Олена", last_name="Коваль", phone="+380501234567"),
    )
    base.update(changes)
    return TicketSubmitted(**base)  # type: ignore[arg-type]


async def test_post_sends_every_field_form_encoded(client: Open311Client, center: FakeContactCenter) -> None:
    """POST requests.json carries api_key, jurisdiction_id, service_code, every location
    form, the description, the first photo, attribute[code] repeated for a
    multivaluelist, the name and phone (S6), and our ticket id as Idempotency-Key."""
    answer = await client.post_request(ticket(), idempotency_key="t-1")
    assert answer.service_request_id == "1001"  # the fake answers a JSON number: read as text
    post = center.posts[0]
    assert post["headers"]["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert post["headers"]["Idempotency-Key"] == "t-1"
    form = post["form"]
    fields = dict(form)
    assert fields["api_key"] == "secret-key" and fields["jurisdiction_id"] == "city.example"
    assert fields["service_code"] == "water-leak"
    assert (fields["lat"], fields["long"]) == ("49.42", "26.98")
    assert fields["address_string"].startswith("Хмельницький") and fields["address_id"] == "A-17"
    assert fields["description"] == "Тече труба в підвалі"
    assert fields["media_url"] == "https://example.org/p/1.jpg"
    assert [v for k, v in form if k == "attribute[where]"] == ["1", "2"]
    assert fields["attribute[floor]"] == "3"
    assert (fields["first_name"], fields["last_name"], fields["phone"]) == ("Олена", "Коваль", "+380501234567")
    assert "email" not in fields  # nothing is sent that the resident did not give


async def test_post_with_a_pin_only_or_an_address_only(client: Open311Client, center: FakeContactCenter) -> None:
    """One location form is enough: a pin alone, or an address alone."""
    await client.post_request(ticket(location=TicketLocation(lat=49.4, long=26.9), media_urls=[], attributes={}))
    await client.post_request(ticket(location=TicketLocation(address_string="вул. Шевченка, 5")))
    pin, address = (dict(p["form"]) for p in center.posts)
    assert "address_string" not in pin and pin["lat"] == "49.4"
    assert "lat" not in address and address["address_string"] == "вул. Шевченка, 5"


async def test_token_answer_and_resolution(client: Open311Client, center: FakeContactCenter) -> None:
    """A token answer is returned as such; /tokens/{token} gives the number once known."""
    center.answer_with = "token"
    answer = await client.post_request(ticket())
    assert answer.service_request_id is None and answer.token == "tk1"
    assert await client.token("tk1") is None
    number = center.assign("tk1")
    assert await client.token("tk1") == number


@pytest.mark.parametrize("status", [400, 403, 404])
async def test_refusals_carry_the_contact_centers_reason(client: Open311Client, center: FakeContactCenter,
                                                         status: int) -> None:
    """400/403/404 with an Open311 error body → Open311Error with its code and text."""
    center.refuse = (status, f"E{status}", "Опис задовгий")
    with pytest.raises(Open311Error) as caught:
        await client.post_request(ticket())
    assert (caught.value.http_status, caught.value.code, caught.value.description) == (status, f"E{status}", "Опис задовгий")
    assert caught.value.has_body


async def test_down_slow_or_closed_is_unavailable(client: Open311Client, center: FakeContactCenter) -> None:
    """503, a closed port and a body that is not JSON are 'try again later', never a refusal."""
    center.down = True
    with pytest.raises(Unavailable):
        await client.post_request(ticket())
    with pytest.raises(Unavailable):
        await client.services()  # GETs retried (get_attempts) and still down
    center.down = False
    await center.stop()
    with pytest.raises(Unavailable):
        await client.post_request(ticket())


async def test_not_json_and_404_without_body() -> None:
    """A proxy's HTML page is Unavailable; a bare 404 is a refusal without an Open311 body."""
    async def html(_request: web.Request) -> web.Response:
        return web.Response(text="<html>oops</html>")

    app = web.Application()
    app.router.add_get("/v2/services.json", html)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    client = Open311Client(f"http://127.0.0.1:{port}/v2", get_attempts=1)
    try:
        with pytest.raises(Unavailable):
            await client.services()
        with pytest.raises(Open311Error) as caught:
            await client.updates(datetime.now(UTC))
        assert caught.value.http_status == 404 and not caught.value.has_body
    finally:
        await client.close()
        await runner.cleanup()


async def test_services_and_definitions(client: Open311Client) -> None:
    """Service codes given as numbers become text; comma-separated keywords a list; a
    definition's values keep their keys as text."""
    services = await client.services()
    assert [s.service_code for s in services] == ["water-leak", "17"]
    assert services[0].keywords == ["вода", "витік"]
    definition = await client.service_definition("water-leak")
    info = service_info(services[0], definition)
    assert info.attributes[0].datatype == "multivaluelist"
    assert [v.key for v in info.attributes[0].values] == ["1", "2"]


async def test_requests_by_id_lists_are_chunked(client: Open311Client, center: FakeContactCenter) -> None:
    """ids_per_request=2: five ids are asked for in three calls and all come back."""
    for _ in range(5):
        await client.post_request(ticket())
    center.calls.clear()
    records = await client.requests([str(n) for n in range(1001, 1006)])
    assert sorted(r.service_request_id for r in records) == [str(n) for n in range(1001, 1006)]
    assert center.calls.count("GET /open311/v2/requests.json") == 3


async def test_updates_and_extensions(client: Open311Client, center: FakeContactCenter) -> None:
    """servicerequestupdates parse; rating and reopen reach the extension; 404 when the
    contact center does not offer them."""
    answer = await client.post_request(ticket())
    srid = answer.service_request_id
    assert srid
    center.set_status(srid, "in_progress", "Бригада виїхала")
    updates = await client.updates(datetime(2000, 1, 1, tzinfo=UTC))
    assert [(u.status, u.description) for u in updates] == [("in_progress", "Бригада виїхала")]
    await client.rate(srid, 4, "Дякую")
    await client.reopen(srid, "Знову тече")
    assert center.ratings == [{"service_request_id": srid, "api_key": "secret-key", "rating": "4", "comment": "Дякую",
                               "jurisdiction_id": "city.example"}]
    assert center.reopens[0]["reason"] == "Знову тече"
    center.extensions_offered = False
    with pytest.raises(Open311Error) as caught:
        await client.rate(srid, 5)
    assert caught.value.http_status == 404


def test_status_mapping() -> None:
    """Open311 + FixMyStreet statuses map onto ours; anything else is unknown."""
    assert map_status("open") is TicketStatus.open
    assert map_status("not_councils_responsibility") is TicketStatus.not_responsible
    assert map_status("reopen") is TicketStatus.reopened
    assert map_status("In progress") is TicketStatus.in_progress
    assert map_status("waiting_for_parts") is TicketStatus.unknown
    assert map_status(None) is TicketStatus.unknown


def test_the_specs_own_examples_parse() -> None:
    """Every example of the Open311 spec (swagger.json, copied with provenance) parses:
    numeric ids and codes, a keyword string, XML-shaped wrappers."""
    record = _parse_list(RequestRecord, EXAMPLES["GET /requests.{response_format}"], "service_requests", "request")[0]
    assert record.service_request_id == "638349" and record.service_code == "6"
    assert record.expected_datetime == datetime(2010, 4, 19, 14, 37, 38, tzinfo=UTC)
    assert record.zipcode == "94122" and record.address_id == "545483"
    one = _parse_list(RequestRecord, EXAMPLES["GET /request/{service_request_id}.{response_format}"], "request")[0]
    assert (one.status, one.status_notes) == ("closed", "Duplicate request.")
    answer = _parse_list(PostAnswer, EXAMPLES["POST /requests.{response_format}"], "service_requests")[0]
    assert answer.service_request_id == "293944" and answer.service_notice
    service = _parse_list(Service, EXAMPLES["GET /services.{response_format}"], "services", "service")[0]
    assert service.service_code == "3" and service.keywords == ["lorem", "ipsum", "dolor"] and service.metadata
    definition = ServiceDefinition.model_validate(
        EXAMPLES["GET /services/{service_code}.{response_format}"]["service_definition"])
    assert definition.attributes[0].code == "WHISHETN" and definition.attributes[0].values[0].key == "124"
    token = _parse_list(TokenAnswer, EXAMPLES["GET /tokens/{token_id}.{response_format}"], "service_requests", "request")[0]
    assert (token.service_request_id, token.token) == ("638344", "12345")


def test_a_bad_record_does_not_hide_the_others() -> None:
    """One record without an id is skipped; the rest parse."""
    records = _parse_list(RequestRecord, [{"status": "open"}, {"service_request_id": "7", "expected_datetime": ""}])
    assert [r.service_request_id for r in records] == ["7"] and records[0].expected_datetime is None


def test_outage_entry_parses() -> None:
    entry = OutageEntry.model_validate({
        "outage_id": 5, "kind": "planned", "utility": "cold_water", "settlement": "Хмельницький", "city_wide": False,
        "addresses": [{"street": "вул. Шевченка", "houses": "1-15"}], "starts_at": "2026-01-01T08:00:00+02:00",
        "ends_at": "2026-01-01T18:00:00+02:00", "description": "Ремонт", "status": "active",
        "updated_datetime": "2026-01-01T07:00:00Z"})
    assert entry.outage_id == "5" and entry.addresses[0].houses == "1-15"
