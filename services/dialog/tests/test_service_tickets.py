"""The dialog service's side of requests and outages (issues 7 and 8), through its
handlers on the in-memory bus and the store under test: ``ticket.submitted`` /
``ticket.rated`` leave through the resident's outbox, ``dialog.events`` builds the
projections (idempotently), a refused request is told once, and a resync republishes
every resident with deterministic ids."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from chatbot_common.events import (
    AudienceResyncRequested,
    CloudEvent,
    ContactCenterServices,
    ServiceInfo,
    OutageAddress,
    OutageKind,
    OutagePublished,
    OutageUpdated,
    TicketRegistered,
    TicketRejected,
    TicketStatus,
    TicketStatusChanged,
    Utility,
    derived_id,
)
from chatbot_common.texts import catalog
from dialog.conversation.tickets import service_token
from dialog.projections import Projections
from test_service import RECORDED, Dialog, eventually, register, running_dialog

t = catalog()
AT = datetime(2026, 3, 2, 8, tzinfo=UTC)


@pytest.fixture
async def dialog(unique: str, mongodb_url: str) -> AsyncIterator[Dialog]:
    async with running_dialog(unique, mongodb_url, [*RECORDED, "ticket.submitted", "ticket.rated"]) as d:
        yield d


SIMPLE = ServiceInfo(service_code="light.street", service_name="Не світить ліхтар", group="Освітлення")
OTHER = ServiceInfo(service_code="road.pothole", service_name="Яма на дорозі", group="Дороги")


def services_event() -> ContactCenterServices:
    return ContactCenterServices(services=[OTHER, SIMPLE], fetched_at=AT)


async def file_request(d: Dialog, user: str) -> CloudEvent:
    await d.event(services_event(), f"services-{user}")
    projections = Projections(d.store)
    await eventually(projections.services, "the service list stored")
    for text in ("menu:new_ticket", "tcat:g:1", f"tcat:s:{service_token(SIMPLE.service_code)}", "temerg:no", "Не світить ліхтар біля під'їзду"):
        await d.say(user, text)
    resident = await eventually(lambda: d.store["residents"].find_one({"resident.ticket_draft": {"$ne": None}}),
                                "a draft")
    address_id = resident["resident"]["addresses"][0]["id"]
    for text in (f"tloc:a:{address_id}", "tphoto:skip"):
        await d.say(user, text)
    reply = await d.say(user, "tsum:send")
    assert reply.data["text"].startswith(t("tickets.sent"))
    return (await eventually(lambda: _async(d.of_type("ticket.submitted")), "ticket.submitted"))[-1]


async def _async(value):
    return value


async def test_a_request_goes_out_through_the_outbox_and_the_projection_follows_it(dialog: Dialog):
    """The resident files a request: ticket.submitted is published (id from the input);
    the dialog's own projection learns it from dialog.events, then the number and the
    deadline; «Мої звернення» shows them. Replaying every event changes nothing."""
    await register(dialog, "u1")
    submitted = await file_request(dialog, "u1")
    data = submitted.data
    assert data["contact"]["phone"] == "+380671234567" and data["location"]["key"] == "khmelnytskyi|proskurivska|12а"
    projections = Projections(dialog.store)
    ticket_id = data["ticket_id"]
    await eventually(lambda: projections.ticket(ticket_id), "the dialog's projection of its own ticket.submitted")
    registered = TicketRegistered(ticket_id=ticket_id, resident_id=data["resident_id"], service_name="Не світить ліхтар",
                                  service_request_id="4242", expected_at=AT + timedelta(days=3), at=AT)
    await dialog.event(registered, "reg-1")

    async def numbered():
        view = await projections.ticket(ticket_id)
        return view if view and view.number == "4242" else None

    view = await eventually(numbered, "the number")
    before = (await dialog.store["tickets"].find_one({"_id": ticket_id}))["version"]
    await dialog.event(registered, "reg-1")  # redelivered
    await projections.apply("reg-1", registered.model_copy())  # and replayed past the inbox
    await projections.apply(submitted.id, submitted.payload())
    after = await dialog.store["tickets"].find_one({"_id": ticket_id})
    assert after["version"] == before and len(view.history) == 2
    reply = await dialog.say("u1", "menu:tickets")
    assert "№ 4242" in reply.data["text"] and "05.03.2026" in reply.data["text"]


async def test_a_refused_request_is_told_once_with_edit_and_resend(dialog: Dialog):
    await register(dialog, "u2")
    submitted = await file_request(dialog, "u2")
    rejected = TicketRejected(ticket_id=submitted.data["ticket_id"], resident_id=submitted.data["resident_id"],
                              service_name="Не світить ліхтар", http_status=400, reason="Адресу не знайдено", at=AT)
    before = len(dialog.replies())
    await dialog.event(rejected, "rej-1")
    await dialog.event(rejected, "rej-1")
    notice = (await eventually(lambda: _async(dialog.replies()[before:]), "the notice"))[0]
    assert "«Адресу не знайдено»" in notice.data["text"]
    codes = [b["code"] for b in notice.data["buttons"]]
    assert f"tdraft:resend:{submitted.data['ticket_id']}" in codes
    reply = await dialog.say("u2", f"tdraft:resend:{submitted.data['ticket_id']}")
    assert reply.data["text"].startswith(t("tickets.sent"))
    sent = await eventually(lambda: _async(dialog.of_type("ticket.submitted")[1:]), "the resend")
    assert sent[0].data["ticket_id"] != submitted.data["ticket_id"]
    texts = [r.data["text"] for r in dialog.replies()]
    assert sum("«Адресу не знайдено»" in x for x in texts) == 1


async def test_rating_goes_out_as_ticket_rated_with_reopen(dialog: Dialog):
    await register(dialog, "u3")
    submitted = await file_request(dialog, "u3")
    ticket_id, resident_id = submitted.data["ticket_id"], submitted.data["resident_id"]
    await dialog.event(TicketStatusChanged(ticket_id=ticket_id, resident_id=resident_id, service_name="Не світить ліхтар",
                                           service_request_id="1", update_id="u1", status=TicketStatus.fixed,
                                           raw_status="closed", at=AT), "st-1")
    projections = Projections(dialog.store)

    async def fixed():
        view = await projections.ticket(ticket_id)
        return view if view and view.status == TicketStatus.fixed else None

    await eventually(fixed, "the final status")
    await dialog.say("u3", f"ticket:rate:{ticket_id}:2")
    await dialog.say("u3", "trate:skip")
    await dialog.say("u3", "trate:reopen")
    rated = await eventually(lambda: _async(dialog.of_type("ticket.rated")), "ticket.rated")
    assert rated[0].data["rating"] == 2 and rated[0].data["reopen"] is True


async def test_outages_keep_the_highest_revision_and_show_on_the_screen(dialog: Dialog):
    await register(dialog, "u4")
    base = dict(outage_id="o1", kind=OutageKind.emergency, utility=Utility.cold_water, settlement_id="khmelnytskyi",
                addresses=[OutageAddress(street_id="proskurivska", street_name="вул. Проскурівська")],
                starts_at=AT, ends_at=AT + timedelta(hours=5), at=AT)
    await dialog.event(OutageUpdated(**base, revision=2, description="Ремонт магістралі"), "o1-2")
    await dialog.event(OutagePublished(**base, revision=1), "o1-1")
    projections = Projections(dialog.store)

    async def stored():
        found = await projections.outages(["khmelnytskyi"])
        return found if found and found[0].revision == 2 and await dialog.store["events_inbox"].find_one(
            {"_id": "o1-1"}) else None

    await eventually(stored, "both outage events handled")
    reply = await dialog.say("u4", "menu:outages")
    assert "Ремонт магістралі" in reply.data["text"] and t("utility.cold_water") in reply.data["text"]


async def test_resync_republishes_every_registered_resident_with_derived_ids(dialog: Dialog):
    await register(dialog, "u5")
    await register(dialog, "u6")
    await dialog.say("u7", "start")  # not registered: not in any audience
    before = len(dialog.of_type("resident.updated"))
    request = await dialog.event(AudienceResyncRequested(requested_by="notifier"), "resync-1")
    updates = await eventually(
        lambda: _async(dialog.of_type("resident.updated")[before:] if len(dialog.of_type("resident.updated")) >= before + 2
                       else None), "two resident.updated")
    ids = {u.data["resident_id"]: u.id for u in updates}
    assert len(ids) == 2
    assert all(event_id == derived_id(request.id, "resync", rid) for rid, event_id in ids.items())


async def test_deleting_data_erases_the_residents_requests_from_the_projection(dialog: Dialog):
    """C10: the projection holds the places of the resident's requests; «Видалити мої
    дані» erases them with the resident."""
    await register(dialog, "u8")
    submitted = await file_request(dialog, "u8")
    tickets = dialog.store["tickets"]
    await eventually(lambda: tickets.find_one({"_id": submitted.data["ticket_id"]}), "the projected ticket")
    for code in ("menu:profile", "profile:delete", "profile:delete:yes"):
        await dialog.say("u8", code)

    async def erased() -> bool:
        return await tickets.find_one({"resident_id": submitted.data["resident_id"]}) is None

    await eventually(erased, "the resident's requests erased")
