"""Outages through the admin API: validation against the shared directory (422 naming
the field), the lifecycle and exactly the events it publishes, the audit record of
each change, delivery figures from the notifier, outages imported from the contact
center, and the OpenAPI document covering every route."""

from __future__ import annotations

import asyncio
from typing import Any

from admin_testkit import Client

from admin.service import API, OUTAGE_REPOSITORY
from chatbot_common.bus import create_bus
from chatbot_common.events import (
    MailingProgress,
    OutageAddress,
    OutagePublished,
    derived_id,
    make_event,
    utcnow,
)

OUTAGE: dict[str, Any] = {
    "kind": "planned",
    "utility": "cold_water",
    "settlement_id": "khmelnytskyi",
    "addresses": [
        {"street": "вул. Проскурівська", "houses": "1-31 непарні"},
        {"street": "kamianetska", "houses": "12а, 14/2, 16 корп. 2"},
        {"street": "Зарічанська", "houses": ""},
    ],
    "starts_at": "2026-12-01T09:00:00+02:00",
    "ends_at": "2026-12-01T17:00:00+02:00",
    "description": "Ремонт водогону",
    "contact_phone": "(0382) 65-75-65",
}


async def eventually(probe, what: str, timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.02)


async def settle(admin, count: int) -> list:
    """The recorder got ``count`` outage events (and, a moment later, no more)."""
    async def probe() -> bool:
        return len(admin.events) >= count

    await eventually(probe, f"{count} outage events")
    await asyncio.sleep(0.1)
    assert len(admin.events) == count, [e.type for e in admin.events]
    return admin.events


async def create(client: Client, **overrides: Any) -> dict[str, Any]:
    status, body = await client.post("/api/v1/outages", {**OUTAGE, **overrides})
    assert status == 201, body
    return body


async def test_lifecycle_publishes_exactly_the_expected_events(admin):
    """create → outage.published (rev 1); end moved → outage.updated (rev 2, changed
    [ends_at]); a PATCH that changes nothing → no event; resolve → outage.resolved
    (rev 3); any further change → 409 and no event. Each event is the whole outage."""
    outage = await create(admin.client)
    oid = outage["id"]
    assert outage["revision"] == 1 and outage["state"] == "active" and outage["read_only"] is False
    assert outage["contact_phone"] == "+380382657565"
    streets = {a["street_id"]: a for a in outage["addresses"]}
    assert streets["proskurivska"]["houses"] == [str(n) for n in range(1, 32, 2)]
    assert streets["proskurivska"]["street_name"] == "вул. Проскурівська"
    assert streets["kamianetska"]["houses"] == ["12а", "14/2", "16 корп. 2"]
    assert streets["zarichanska"]["houses"] == []
    [published] = await settle(admin, 1)
    assert published.type == "outage.published" and published.id == derived_id(oid, 1, "outage.published")
    data = published.payload()
    assert data.outage_id == oid and data.revision == 1 and data.source == "admin"
    assert "khmelnytskyi|proskurivska|31" in data.keys() and "khmelnytskyi|zarichanska|*" in data.keys()
    assert "khmelnytskyi|proskurivska|2" not in data.keys()

    status, moved = await admin.client.patch(f"/api/v1/outages/{oid}", {"ends_at": "2026-12-01T20:00:00+02:00"})
    assert status == 200 and moved["revision"] == 2
    status, same = await admin.client.patch(f"/api/v1/outages/{oid}", {"ends_at": "2026-12-01T18:00:00Z"})
    assert status == 200 and same["revision"] == 2  # the same instant: nothing changed
    events = await settle(admin, 2)
    updated = events[1].payload()
    assert events[1].type == "outage.updated" and updated.revision == 2 and updated.changed == ["ends_at"]
    assert updated.ends_at.isoformat() == "2026-12-01T18:00:00+00:00"

    status, resolved = await admin.client.post(f"/api/v1/outages/{oid}/resolve")
    assert status == 200 and resolved["state"] == "resolved" and resolved["revision"] == 3
    events = await settle(admin, 3)
    assert events[2].type == "outage.resolved" and events[2].payload().changed == ["state"]

    for method, path, body in (("PATCH", f"/api/v1/outages/{oid}", {"description": "ще"}),
                               ("POST", f"/api/v1/outages/{oid}/cancel", None),
                               ("POST", f"/api/v1/outages/{oid}/resolve", None)):
        status, err = await admin.client.call(method, path, body)
        assert status == 409 and err["error"]["code"] == "closed"
    await settle(admin, 3)
    status, got = await admin.client.get(f"/api/v1/outages/{oid}")
    assert status == 200 and got["revision"] == 3 and got["read_only"] is True
    doc = await admin.runtime.store["outages"].find_one({"_id": oid})
    assert not doc.get("outbox") and not doc.get("pending_audit")  # all flushed and copied


async def test_cancel_publishes_outage_cancelled(admin):
    outage = await create(admin.client, kind="emergency", city_wide=True, addresses=[])
    status, cancelled = await admin.client.post(f"/api/v1/outages/{outage['id']}/cancel")
    assert status == 200 and cancelled["state"] == "cancelled"
    events = await settle(admin, 2)
    assert [e.type for e in events] == ["outage.published", "outage.cancelled"]
    assert events[0].payload().city_wide is True and events[0].payload().keys() == set()


async def test_each_change_is_in_the_audit_log(admin):
    """published / updated / resolved: one record each with who, when, and the changed
    fields before and after."""
    editor = await admin.client.as_role("editor")
    outage = await create(editor)
    oid = outage["id"]
    await editor.patch(f"/api/v1/outages/{oid}", {"description": "Аварія на мережі", "revision": 1})
    await editor.post(f"/api/v1/outages/{oid}/resolve")
    status, log = await admin.client.get(f"/api/v1/audit?entity=outage&entity_id={oid}")
    assert status == 200
    assert [r["action"] for r in reversed(log)] == ["outage.published", "outage.updated", "outage.resolved"]
    assert {r["actor_email"] for r in log} == {"editor@example.org"}
    update = next(r for r in log if r["action"] == "outage.updated")
    assert update["before"] == {"description": "Ремонт водогону"}
    assert update["after"] == {"description": "Аварія на мережі"}
    created = next(r for r in log if r["action"] == "outage.published")
    assert "вул. Проскурівська: 1, 3, 5 … 31 — 16 будинків" in created["after"]["addresses"]


async def test_bad_outages_are_422_naming_the_field_and_publish_nothing(admin):
    """Unknown, ambiguous and misspelt streets, bad house specs, an end before the start,
    a bad phone, neither addresses nor city_wide: 422 whose fields name each path; no
    outage is stored and no event leaves."""
    cases = [
        ({"addresses": [{"street": "Проскурівська", "houses": "1-5"}, {"street": "Неіснуюча вулиця", "houses": ""}]},
         {"addresses[1].street"}),
        ({"addresses": [{"street": "Шевченка", "houses": ""}]}, {"addresses[0].street"}),
        ({"addresses": [{"street": "Проскуровська", "houses": ""}]}, {"addresses[0].street"}),
        ({"addresses": [{"street": "Проскурівська", "houses": "15-1"}]}, {"addresses[0].houses"}),
        ({"addresses": [{"street": "Проскурівська", "houses": "2-20 непарні"}]}, {"addresses[0].houses"}),
        ({"ends_at": "2026-12-01T08:00:00+02:00"}, {"ends_at"}),
        ({"starts_at": "2026-12-01T09:00:00"}, {"starts_at"}),  # no offset
        ({"contact_phone": "дзвоніть"}, {"contact_phone"}),
        ({"addresses": []}, {"addresses"}),
        ({"city_wide": True}, {"addresses"}),
        ({"settlement_id": "atlantis"}, {"settlement_id"}),
        ({"utility": "internet", "kind": "maybe"}, {"utility", "kind"}),
        ({"addresses": [{"street": "Проскурівська"}, {"street": "proskurivska", "houses": "2"}]},
         {"addresses[1].street"}),
    ]
    for overrides, paths in cases:
        status, body = await admin.client.post("/api/v1/outages", {**OUTAGE, **overrides})
        assert status == 422, (overrides, body)
        assert {f["path"] for f in body["error"]["fields"]} == paths, (overrides, body)
        assert all(f["message"] for f in body["error"]["fields"])
    status, body = await admin.client.post("/api/v1/outages", {**OUTAGE, "addresses": [
        {"street": "Проскурівська", "houses": "2-20 непарні"}]})
    assert "«2-20 непарні»" in body["error"]["fields"][0]["message"]
    status, body = await admin.client.post("/api/v1/outages", {**OUTAGE, "addresses": [
        {"street": "Шевченка", "houses": ""}]})
    assert "shevchenka" in body["error"]["fields"][0]["message"]  # the candidates are named
    status, body = await admin.client.call("POST", "/api/v1/outages", data=b"{not json",
                                           headers={"Content-Type": "application/json"})
    assert status == 400
    assert await admin.runtime.store["outages"].count_documents({}) == 0
    await asyncio.sleep(0.2)
    assert admin.events == []


async def test_a_bad_patch_changes_nothing(admin):
    """A PATCH with an invalid value, a stale revision or an unchangeable field is
    refused (422/409) and the outage keeps its revision; no event."""
    outage = await create(admin.client)
    oid = outage["id"]
    for patch, status_code, path in (
        ({"ends_at": "2026-11-30T00:00:00+02:00"}, 422, "ends_at"),
        ({"addresses": [{"street": "Проскурівська", "houses": "абв"}]}, 422, "addresses[0].houses"),
        ({"utility": "gas"}, 422, "utility"),
        ({"revision": 7, "description": "x"}, 409, None),
    ):
        status, body = await admin.client.patch(f"/api/v1/outages/{oid}", patch)
        assert status == status_code, (patch, body)
        if path:
            assert [f["path"] for f in body["error"]["fields"]] == [path]
    assert (await admin.client.get(f"/api/v1/outages/{oid}"))[1]["revision"] == 1
    await settle(admin, 1)
    status, _ = await admin.client.patch("/api/v1/outages/nope", {"description": "x"})
    assert status == 404


async def test_list_filters(admin):
    """active / settlement / utility filters; past outages with active=false."""
    a = await create(admin.client)
    b = await create(admin.client, utility="heating", settlement_id="oleshyn", city_wide=True, addresses=[])
    await admin.client.post(f"/api/v1/outages/{b['id']}/cancel")

    async def ids(query: str) -> set[str]:
        status, body = await admin.client.get(f"/api/v1/outages{query}")
        assert status == 200, body
        return {o["id"] for o in body}

    assert await ids("") == {a["id"], b["id"]}
    assert await ids("?active=true") == {a["id"]}
    assert await ids("?active=false") == {b["id"]}
    assert await ids("?settlement=oleshyn") == {b["id"]}
    assert await ids("?utility=cold_water") == {a["id"]}
    assert (await admin.client.get("/api/v1/outages?active=maybe"))[0] == 422
    # an unknown utility or source is a mistake to report, not an empty list
    for query, field in (("utility=water", "query.utility"), ("source=viber", "query.source")):
        status, body = await admin.client.get(f"/api/v1/outages?{query}")
        assert status == 422 and [f["path"] for f in body["error"]["fields"]] == [field], body
    assert await ids("?source=admin") == {a["id"], b["id"]}


async def test_the_audit_filter_takes_every_entity_the_log_records(admin):
    """The entities the audit page offers (surveys too) are accepted; others are 422."""
    for entity in ("outage", "staff", "survey", "greetings", "faq_question"):
        status, body = await admin.client.get(f"/api/v1/audit?entity={entity}")
        assert status == 200, (entity, body)
    status, body = await admin.client.get("/api/v1/audit?entity=outages")
    assert status == 422 and [f["path"] for f in body["error"]["fields"]] == ["query.entity"], body
    _, spec = await admin.client.get("/api/v1/openapi.json")
    params = {p["name"]: p for p in spec["paths"]["/api/v1/audit"]["get"]["parameters"]}
    assert "survey" in params["entity"]["schema"]["enum"]


async def test_delivery_figures_follow_mailing_progress(admin):
    """Before any progress: zeros and done false; then the latest mailing.progress per
    outage (by ``at``), a repeated or older report changing nothing; other subjects ignored."""
    outage = await create(admin.client)
    oid = outage["id"]
    status, figures = await admin.client.get(f"/api/v1/outages/{oid}/delivery")
    assert status == 200
    assert figures == {"targeted": 0, "sent": 0, "delivered": 0, "seen": 0, "failed": 0, "unreachable": 0,
                       "done": False, "mailing_id": None, "at": None}
    bus = create_bus(admin.bus_url)
    t0 = utcnow()
    from datetime import timedelta

    def progress(n: int, **fields: Any) -> Any:
        data = MailingProgress(mailing_id=f"m-{oid}", subject="outage", subject_id=oid, at=t0 + timedelta(seconds=n),
                               **fields)
        return make_event(data, source="/notifier", id=derived_id("progress", oid, n))

    await bus.publish(progress(1, targeted=100, sent=50))
    await bus.publish(progress(3, targeted=100, sent=100, delivered=90, seen=40, failed=3, unreachable=7, done=True))
    await bus.publish(progress(2, targeted=100, sent=80))  # late, older: ignored
    await bus.publish(progress(3, targeted=100, sent=100, delivered=90, seen=40, failed=3, unreachable=7, done=True))
    other = MailingProgress(mailing_id="m2", subject="mailing", subject_id=oid, targeted=5, at=t0 + timedelta(seconds=9))
    await bus.publish(make_event(other, source="/notifier"))
    expected = {"targeted": 100, "sent": 100, "delivered": 90, "seen": 40, "failed": 3, "unreachable": 7,
                "done": True}

    async def figures() -> dict[str, Any]:
        body = (await admin.client.get(f"/api/v1/outages/{oid}/delivery"))[1]
        assert body.pop("mailing_id") in (None, f"m-{oid}")  # a staff mailing's figures never show here
        body.pop("at")
        return body

    async def probe() -> bool:
        return await figures() == expected

    await eventually(probe, "the latest figures")
    await asyncio.sleep(0.2)
    assert await figures() == expected
    assert (await admin.client.get("/api/v1/outages/unknown/delivery"))[0] == 404
    await bus.close()


async def test_outages_from_the_contact_center_are_listed_read_only(admin):
    """outage.* with source contactcenter: stored (newest revision wins), listed,
    refused for change (409); admin's own events do not create duplicates."""
    bus = create_bus(admin.bus_url)

    def snapshot(revision: int, description: str) -> Any:
        data = OutagePublished(outage_id="cc-77", revision=revision, source="contactcenter", external_id="77",
                               kind="emergency", utility="electricity", settlement_id="khmelnytskyi",
                               addresses=[OutageAddress(street_id="svobody", street_name="вул. Свободи",
                                                        spec="1-3", houses=["1", "2", "3"])],
                               starts_at=utcnow(), ends_at=utcnow().replace(year=2030), description=description,
                               at=utcnow())
        return make_event(data, source="/contactcenter-sync", id=derived_id("cc-77", revision))

    await bus.publish(snapshot(2, "нове"))
    await bus.publish(snapshot(1, "старе"))  # out of order: older revision ignored

    async def probe() -> Any:
        status, body = await admin.client.get("/api/v1/outages/cc-77")
        return body if status == 200 else None

    got = await eventually(probe, "the imported outage")
    await asyncio.sleep(0.2)
    got = (await admin.client.get("/api/v1/outages/cc-77"))[1]
    assert got["source"] == "contactcenter" and got["revision"] == 2 and got["description"] == "нове"
    assert got["read_only"] is True
    status, body = await admin.client.patch("/api/v1/outages/cc-77", {"description": "x"})
    assert status == 409 and body["error"]["code"] == "read_only"
    await create(admin.client)
    await asyncio.sleep(0.3)
    status, listed = await admin.client.get("/api/v1/outages")
    assert sorted(o["source"] for o in listed) == ["admin", "contactcenter"]
    await bus.close()


async def test_unpublished_events_wait_in_the_outbox_for_the_relay(admin):
    """The broker refuses the publish: the API still answers 201 (the outage and its
    event are stored in one write) and the relay publishes the event once it recovers."""
    from chatbot_common.bus import memory_broker

    broker = memory_broker(admin.bus_url)
    broker.fail_publishes = lambda key: ConnectionError("broker down") if key.startswith("outage.") else None
    outage = await create(admin.client)
    doc = await admin.runtime.store["outages"].find_one({"_id": outage["id"]})
    assert len(doc["outbox"]) == 1
    broker.fail_publishes = None
    [event] = await settle(admin, 1)
    assert event.payload().outage_id == outage["id"]

    async def flushed() -> bool:
        doc = await admin.runtime.store["outages"].find_one({"_id": outage["id"]})
        return not doc.get("outbox")

    await eventually(flushed, "the outbox emptied")


async def test_house_spec_preview_and_directory_for_the_panel(admin):
    status, body = await admin.client.post("/api/v1/house-spec/preview", {"spec": "1-31 непарні",
                                                                           "street": "Проскурівська"})
    assert status == 200 and body["count"] == 16
    assert body["summary"] == "Проскурівська: 1, 3, 5 … 31 — 16 будинків"
    status, body = await admin.client.post("/api/v1/house-spec/preview", {"spec": "15-1"})
    assert status == 422 and body["error"]["fields"][0]["path"] == "spec"
    status, streets = await admin.client.get("/api/v1/directory/streets?settlement=khmelnytskyi&q=Проскурівська")
    assert status == 200 and [s["id"] for s in streets] == ["proskurivska"]
    status, settlements = await admin.client.get("/api/v1/directory/settlements")
    assert status == 200 and settlements[0]["id"] == "khmelnytskyi"


async def test_openapi_describes_every_route_and_only_them(admin):
    """Every (method, path) the app serves under /api/v1 is in the document and every
    operation in the document is served; every $ref resolves; protected operations
    declare bearer security; request/response schemas come from the models."""
    status, doc = await admin.client.get("/api/v1/openapi.json", token="")
    assert status == 200 and doc["openapi"].startswith("3.1")
    served = {(r.method, r.resource.canonical) for r in admin.runtime.app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/api/") and r.method != "HEAD"}
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    assert served == documented
    assert len(served) == len(admin.runtime.app[API].routes)
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    schemas = doc["components"]["schemas"]
    assert refs and all(ref.removeprefix("#/components/schemas/") in schemas for ref in refs)
    create_op = doc["paths"]["/api/v1/outages"]["post"]
    assert create_op["security"] == [{"bearerAuth": []}] and "201" in create_op["responses"]
    assert {"401", "403", "422"} <= set(create_op["responses"])
    body_schema = schemas[create_op["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]]
    assert set(body_schema["properties"]) == {"kind", "utility", "settlement_id", "city_wide", "addresses",
                                              "starts_at", "ends_at", "description", "contact_phone"}
    assert doc["paths"]["/api/v1/auth/token"]["post"]["security"] == []
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    delivery = doc["paths"]["/api/v1/outages/{id}/delivery"]["get"]["responses"]["200"]
    ref = delivery["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert set(schemas[ref]["properties"]) == {"targeted", "sent", "delivered", "seen", "failed", "unreachable",
                                               "done", "mailing_id", "at"}
    assert admin.runtime.app[OUTAGE_REPOSITORY] is not None


async def test_a_retried_create_with_the_same_idempotency_key_publishes_once(admin):
    """A POST retried after a lost answer (same Idempotency-Key) returns the outage the
    first one created (200) — residents are not told twice; another key is a new outage."""
    status, first = await admin.client.post("/api/v1/outages", OUTAGE, headers={"Idempotency-Key": "form-1"})
    assert status == 201
    status, again = await admin.client.post("/api/v1/outages", OUTAGE, headers={"Idempotency-Key": "form-1"})
    assert status == 200 and again["id"] == first["id"] and again["revision"] == 1
    status, other = await admin.client.post("/api/v1/outages", OUTAGE, headers={"Idempotency-Key": "form-2"})
    assert status == 201 and other["id"] != first["id"]
    events = await settle(admin, 2)
    assert sorted(e.payload().outage_id for e in events) == sorted([first["id"], other["id"]])


async def test_an_audit_record_left_on_the_outage_by_a_crash_is_copied_by_the_relay(admin, monkeypatch):
    """The change and its audit record are one write: when the process stops before
    copying the record into the log, it stays on the outage document and the relay
    copies it — exactly once, under its deterministic id."""
    from admin.audit import AuditLog

    real = AuditLog.settle

    async def crash_before_copying(self, *args, **kwargs):
        return None

    monkeypatch.setattr(AuditLog, "settle", crash_before_copying)
    outage = await create(admin.client)
    doc = await admin.runtime.store["outages"].find_one({"_id": outage["id"]})
    assert len(doc["pending_audit"]) == 1
    assert await admin.runtime.store["audit"].count_documents({"entity": "outage"}) == 0
    monkeypatch.setattr(AuditLog, "settle", real)
    admin.runtime.app[OUTAGE_REPOSITORY].outbox.failed.set()  # wake the relay now rather than in 30 s

    async def copied() -> bool:
        doc = await admin.runtime.store["outages"].find_one({"_id": outage["id"]})
        return not doc.get("pending_audit")

    await eventually(copied, "the relay copied the audit record")
    records = [r async for r in admin.runtime.store["audit"].find({"entity": "outage"})]
    assert [(r["action"], r["entity_id"]) for r in records] == [("outage.published", outage["id"])]
