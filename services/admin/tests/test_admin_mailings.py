"""Staff mailings to segments (S7) and greetings (C9) through the admin API: roles,
validation (422 naming each field, nothing stored or published), exactly the events
published on the in-memory bus, the audit log, figures kept per mailing (also the fix
for an outage's several mailings), cancel rules and the segment preview against a fake
notifier."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from admin_testkit import running_admin
from test_admin_outages import OUTAGE, eventually

from admin.mailings import KYIV, today_kyiv
from chatbot_common.bus import create_bus
from chatbot_common.events import MailingProgress, derived_id, make_event, utcnow

STREET_SEGMENT = {"settlement_ids": ["khmelnytskyi"],
                  "streets": [{"street": "вул. Проскурівська", "houses": "1-31 непарні"},
                              {"street": "kamianetska"}]}


def future(hours: float = 2) -> str:
    return (utcnow() + timedelta(hours=hours)).astimezone(KYIV).isoformat()


async def events_of(admin, prefix: str, count: int) -> list:
    """The recorder got exactly ``count`` events of ``prefix`` (waits, then checks no more came)."""
    async def probe() -> bool:
        return len(admin.of_type(prefix)) >= count

    if count:
        await eventually(probe, f"{count} {prefix} events")
    await asyncio.sleep(0.15)
    found = admin.of_type(prefix)
    assert len(found) == count, [(e.type, e.data) for e in found]
    return found


async def progress(admin, subject: str, subject_id: str, mailing_id: str, n: int, **figures: Any) -> None:
    bus = create_bus(admin.bus_url)
    await bus.publish(make_event(
        MailingProgress(mailing_id=mailing_id, subject=subject, subject_id=subject_id,
                        at=utcnow() - timedelta(minutes=10) + timedelta(seconds=n), **figures),
        source="/notifier", id=derived_id("test-progress", subject_id, mailing_id, n)))
    await bus.close()


# --------------------------------------------------------------------------- mailings


async def test_a_mailing_now_publishes_one_mailing_requested_with_the_resolved_segment(admin):
    """Streets by name or id become ids with expanded houses; the event carries the
    resolved Segment, no send_at (= now) and who requested it; the audit log records it
    without the text itself."""
    c = admin.client
    status, body = await c.post("/api/v1/mailings", {
        "text": "  Шановні мешканці! Завтра — суботник.  ", "link_label": "Деталі", "link_url": "https://example.org/a",
        "image_url": "https://example.org/i.jpg", "segment": {**STREET_SEGMENT, "notify_scopes": ["address"],
                                                              "channels": ["viber"], "has_open_request": False}})
    assert status == 201, body
    assert body["state"] == "sending" and body["send_at"] is None and body["text"] == "Шановні мешканці! Завтра — суботник."
    streets = body["segment"]["streets"]
    assert [s["street_id"] for s in streets] == ["proskurivska", "kamianetska"]
    assert streets[0]["houses"][:3] == ["1", "3", "5"] and len(streets[0]["houses"]) == 16 and streets[1]["houses"] == []
    [event] = await events_of(admin, "mailing.", 1)
    assert event.type == "mailing.requested" and event.id == derived_id(body["id"], "mailing.requested")
    data = event.payload()
    assert data.mailing_id == body["id"] and data.send_at is None and data.link_label == "Деталі"
    assert data.segment.streets[0].settlement_id == "khmelnytskyi" and data.segment.has_open_request is False
    assert data.requested_by == body["created_by"]
    _, records = await c.get(f"/api/v1/audit?entity=mailing&entity_id={body['id']}")
    assert [r["action"] for r in records] == ["mailing.requested"]
    assert "суботник" not in str(records[0]["after"]) and records[0]["after"]["text_length"] == len(body["text"])


async def test_validation_names_each_field_and_stores_and_publishes_nothing(admin):
    """Empty text, too long a text, a link without a label, a past send time, an unknown
    settlement and street: one 422 naming every field; nothing stored, nothing sent."""
    c = admin.client
    status, body = await c.post("/api/v1/mailings", {
        "text": "   ", "link_url": "https://example.org", "send_at": "2020-01-01T10:00:00+02:00",
        "segment": {"settlement_ids": ["atlantis"], "streets": [{"settlement_id": "khmelnytskyi",
                                                                 "street": "вул. Неіснуюча"}]}})
    assert status == 422
    paths = {f["path"] for f in body["error"]["fields"]}
    assert {"text", "link_label", "send_at", "segment.settlement_ids[0]"} <= paths, paths
    status, body = await c.post("/api/v1/mailings", {
        "text": "x" * 7001, "link_label": "Кнопка", "segment": {"settlement_ids": ["khmelnytskyi"],
                                                                "streets": [{"street": "вул. Неіснуюча"}]}})
    assert status == 422
    paths = {f["path"] for f in body["error"]["fields"]}
    assert paths == {"text", "link_url", "segment.streets[0].street"}, body
    status, body = await c.post("/api/v1/mailings", {"text": "Привіт", "link_label": "x" * 41,
                                                     "link_url": "https://example.org"})
    assert status == 422 and [f["path"] for f in body["error"]["fields"]] == ["link_label"]
    status, body = await c.post("/api/v1/mailings", {"text": "Привіт", "image_url": "ftp://x"})
    assert status == 422 and [f["path"] for f in body["error"]["fields"]] == ["image_url"]
    status, body = await c.post("/api/v1/mailings", {"text": "Привіт", "send_at": "2030-01-01T10:00:00"})
    assert status == 422 and [f["path"] for f in body["error"]["fields"]] == ["send_at"]  # no offset
    assert (await c.get("/api/v1/mailings"))[1] == []
    await events_of(admin, "mailing.", 0)


async def test_roles_viewer_reads_editor_sends_and_cancels(admin):
    """A viewer lists and reads but cannot send or cancel (403, nothing sent); an editor
    can; no token → 401."""
    viewer = await admin.client.as_role("viewer")
    editor = await admin.client.as_role("editor")
    status, _ = await viewer.post("/api/v1/mailings", {"text": "Привіт"})
    assert status == 403
    status, _ = await viewer.call("PUT", "/api/v1/greetings/birthday", {"enabled": True, "text": "Вітаємо!"})
    assert status == 403
    status, created = await editor.post("/api/v1/mailings", {"text": "Привіт", "send_at": future()})
    assert status == 201 and created["state"] == "scheduled"
    assert (await viewer.get(f"/api/v1/mailings/{created['id']}"))[0] == 200
    assert (await viewer.get("/api/v1/greetings"))[0] == 200
    assert (await viewer.post(f"/api/v1/mailings/{created['id']}/cancel"))[0] == 403
    assert (await admin.client.get("/api/v1/mailings", token="nope"))[0] == 401
    status, cancelled = await editor.post(f"/api/v1/mailings/{created['id']}/cancel")
    assert status == 200 and cancelled["state"] == "cancelled"
    await events_of(admin, "mailing.", 2)


async def test_scheduled_mailing_cancel_rules_and_states(admin):
    """Scheduled (Kyiv time with its offset) → listed as scheduled; cancel publishes one
    mailing.cancelled and is audited; cancelling again changes nothing; a sent mailing
    (the notifier reported done) cannot be cancelled (409)."""
    c = admin.client
    at = future(24)
    _, scheduled = await c.post("/api/v1/mailings", {"text": "Нагадування", "send_at": at})
    assert scheduled["state"] == "scheduled" and scheduled["send_at"].startswith(
        (utcnow() + timedelta(hours=24)).strftime("%Y-%m-%d")[:4])
    _, now = await c.post("/api/v1/mailings", {"text": "Зараз"})
    states = {m["id"]: m["state"] for m in (await c.get("/api/v1/mailings"))[1]}
    assert states == {scheduled["id"]: "scheduled", now["id"]: "sending"}
    assert [m["id"] for m in (await c.get("/api/v1/mailings?state=scheduled"))[1]] == [scheduled["id"]]
    assert (await c.get("/api/v1/mailings?state=bogus"))[0] == 422

    status, body = await c.post(f"/api/v1/mailings/{scheduled['id']}/cancel")
    assert status == 200 and body["state"] == "cancelled" and body["cancelled_at"]
    status, again = await c.post(f"/api/v1/mailings/{scheduled['id']}/cancel")
    assert status == 200 and again["cancelled_at"] == body["cancelled_at"]
    events = await events_of(admin, "mailing.", 3)
    assert [e.type for e in events].count("mailing.cancelled") == 1

    await progress(admin, "mailing", now["id"], "n1", 1, targeted=5, sent=5, delivered=5, done=True)
    await eventually(lambda: _state(c, now["id"], "sent"), "sent")
    status, body = await c.post(f"/api/v1/mailings/{now['id']}/cancel")
    assert status == 409 and body["error"]["code"] == "already_sent"
    assert (await c.post("/api/v1/mailings/nope/cancel"))[0] == 404
    await events_of(admin, "mailing.", 3)
    _, records = await c.get("/api/v1/audit?entity=mailing")
    assert sorted(r["action"] for r in records) == ["mailing.cancelled", "mailing.requested", "mailing.requested"]


async def _state(c, mailing_id: str, state: str) -> bool:
    _, body = await c.get(f"/api/v1/mailings/{mailing_id}")
    return body["state"] == state


async def test_idempotency_key_sends_once(admin):
    """A retried POST with the same Idempotency-Key returns the first mailing (200) and
    publishes nothing more."""
    c = admin.client
    s1, first = await c.post("/api/v1/mailings", {"text": "Раз"}, headers={"Idempotency-Key": "k-1"})
    s2, second = await c.post("/api/v1/mailings", {"text": "Раз"}, headers={"Idempotency-Key": "k-1"})
    assert (s1, s2) == (201, 200) and first["id"] == second["id"]
    await events_of(admin, "mailing.", 1)


async def test_figures_are_kept_per_mailing_id(admin):
    """A staff mailing's page shows its figures (latest report wins; an older one
    changes nothing) and an outage's figures are kept per mailing: a late report of its
    first mailing no longer overwrites its second (the known issue, fixed)."""
    c = admin.client
    _, m = await c.post("/api/v1/mailings", {"text": "Привіт"})
    await progress(admin, "mailing", m["id"], "mm", 2, targeted=10, sent=8)
    await progress(admin, "mailing", m["id"], "mm", 1, targeted=10, sent=3)  # older, arrives late
    await eventually(lambda: _figure(c, f"/api/v1/mailings/{m['id']}", "sent", 8), "figures")
    await asyncio.sleep(0.2)
    _, body = await c.get(f"/api/v1/mailings/{m['id']}")
    assert body["figures"]["sent"] == 8 and body["figures"]["mailing_id"] == "mm"

    _, outage = await c.post("/api/v1/outages", OUTAGE)
    oid = outage["id"]
    await progress(admin, "outage", oid, "first", 1, targeted=16, sent=16, done=True)
    await eventually(lambda: _figure(c, f"/api/v1/outages/{oid}/delivery", "sent", 16), "first mailing")
    await progress(admin, "outage", oid, "second", 5, targeted=20, sent=4)
    await eventually(lambda: _figure(c, f"/api/v1/outages/{oid}/delivery", "targeted", 20), "second mailing")
    await progress(admin, "outage", oid, "first", 9, targeted=16, sent=16, delivered=15, seen=9, done=True)
    await eventually(lambda: _mailings(c, oid, 15), "late report stored")
    _, latest = await c.get(f"/api/v1/outages/{oid}/delivery")
    assert latest["mailing_id"] == "second" and latest["targeted"] == 20 and latest["sent"] == 4
    _, per_mailing = await c.get(f"/api/v1/outages/{oid}/mailings")
    assert [(d["mailing_id"], d["sent"], d["delivered"]) for d in per_mailing] == [("second", 4, 0),
                                                                                    ("first", 16, 15)]
    # the same outage id as a staff mailing's subject id would not mix either
    _, body = await c.get(f"/api/v1/mailings/{m['id']}")
    assert body["figures"]["targeted"] == 10


async def _figure(c, path: str, key: str, value: int) -> bool:
    _, body = await c.get(path)
    return (body.get("figures") or body)[key] == value


async def _mailings(c, oid: str, delivered: int) -> bool:
    _, body = await c.get(f"/api/v1/outages/{oid}/mailings")
    return any(d["delivered"] == delivered for d in body)


# --------------------------------------------------------------------------- greetings


async def test_greetings_birthday_and_events_one_configured_per_change(admin):
    """Each change publishes ONE greeting.configured with the whole configuration and a
    growing revision; a change that changes nothing publishes nothing; an event is
    added, edited and cancelled (kept, marked cancelled); every change is audited."""
    c = admin.client
    _, empty = await c.get("/api/v1/greetings")
    assert empty["revision"] == 0 and empty["birthday_enabled"] is False and empty["events"] == []
    put = lambda path, body: c.call("PUT", path, body)  # noqa: E731
    status, g = await put("/api/v1/greetings/birthday", {"enabled": True, "text": "Вітаємо Вас з днем народження!",
                                                         "time": "09:30"})
    assert status == 200 and g["revision"] == 1 and g["birthday_time"] == "09:30"
    status, same = await put("/api/v1/greetings/birthday", {"enabled": True, "text": "Вітаємо Вас з днем народження!",
                                                            "time": "09:30"})
    assert same["revision"] == 1
    day = (today_kyiv() + timedelta(days=30)).isoformat()
    status, g = await put("/api/v1/greetings/events/city-day", {
        "date": day, "send_time": "11:00", "text": "З Днем міста!", "segment": {"settlement_ids": ["khmelnytskyi"]}})
    assert status == 200 and g["revision"] == 2 and g["events"][0]["event_id"] == "city-day"
    status, g = await put("/api/v1/greetings/events/city-day", {
        "date": day, "send_time": "12:00", "text": "З Днем міста, шановні мешканці!", "revision": 2})
    assert status == 200 and g["revision"] == 3 and g["events"][0]["send_time"] == "12:00"
    status, g = await c.post("/api/v1/greetings/events/city-day/cancel")
    assert status == 200 and g["revision"] == 4 and g["events"][0]["cancelled"] is True
    status, body = await put("/api/v1/greetings/birthday", {"enabled": False, "revision": 1})
    assert status == 409  # stale

    events = await events_of(admin, "greeting.", 3 + 1)
    assert [e.payload().revision for e in events] == [1, 2, 3, 4]
    last = events[-1].payload()
    assert last.birthday_enabled and last.birthday_text == "Вітаємо Вас з днем народження!"
    assert last.birthday_time == "09:30"
    assert [(e.event_id, e.date, e.send_time, e.cancelled) for e in last.events] == [("city-day", day, "12:00", True)]
    assert events[1].payload().events[0].segment.settlement_ids == ["khmelnytskyi"]
    _, records = await c.get("/api/v1/audit?entity=greetings")
    assert sorted(r["action"] for r in records) == ["greetings.birthday_changed", "greetings.event_cancelled",
                                                    "greetings.event_saved", "greetings.event_saved"]
    assert "Днем міста" not in str(records)  # texts are kept by their length


async def test_the_birthday_figures_are_the_notifiers_latest_day(admin):
    """The notifier reports each day's birthday greetings as ``birthday:<date>``: the
    greetings page shows the latest day's figures."""
    await progress(admin, "greeting", "birthday:2026-11-28", "m-b28", 1, targeted=3, sent=3, done=True)
    await progress(admin, "greeting", "birthday:2026-11-29", "m-b29", 2, targeted=5, sent=4)

    async def probe():
        _, g = await admin.client.get("/api/v1/greetings")
        return g["birthday_figures"]["targeted"] == 5 and g

    g = await eventually(probe, "the latest birthday figures")
    assert (g["birthday_figures"]["sent"], g["birthday_figures"]["mailing_id"]) == (4, "m-b29")


async def test_greetings_validation_names_fields_and_changes_nothing(admin):
    """Birthday on with no text, a bad time, an event in the past, an empty text, an
    unknown street in its segment: 422 naming each; the configuration stays as it was."""
    c = admin.client
    put = lambda path, body: c.call("PUT", path, body)  # noqa: E731
    status, body = await put("/api/v1/greetings/birthday", {"enabled": True, "text": " "})
    assert status == 422 and [f["path"] for f in body["error"]["fields"]] == ["text"]
    status, body = await put("/api/v1/greetings/birthday", {"enabled": True, "text": "Вітаємо", "time": "25:00"})
    assert status == 422 and [f["path"] for f in body["error"]["fields"]] == ["time"]
    status, body = await put("/api/v1/greetings/events/old", {"date": "2020-08-24", "text": ""})
    assert status == 422 and {f["path"] for f in body["error"]["fields"]} == {"date", "text"}
    status, body = await put("/api/v1/greetings/events/BAD ID", {"date": "2099-08-24", "text": "x"})
    assert status == 422 and [f["path"] for f in body["error"]["fields"]] == ["id"]
    status, body = await put("/api/v1/greetings/events/x", {
        "date": "2099-08-24", "text": "x", "segment": {"settlement_ids": ["khmelnytskyi"],
                                                      "streets": [{"street": "Неіснуюча"}]}})
    assert status == 422 and [f["path"] for f in body["error"]["fields"]] == ["segment.streets[0].street"]
    status, body = await put("/api/v1/greetings", {"birthday_enabled": True, "birthday_text": "",
                                                   "events": [{"event_id": "a", "date": "2099-01-01", "text": ""}]})
    assert status == 422 and {f["path"] for f in body["error"]["fields"]} == {"birthday_text", "events[0].text"}
    assert (await c.post("/api/v1/greetings/events/none/cancel"))[0] == 404
    assert (await c.get("/api/v1/greetings"))[1]["revision"] == 0
    await events_of(admin, "greeting.", 0)


async def test_replace_the_whole_configuration(admin):
    """PUT /greetings replaces everything at once: one event with the new revision."""
    c = admin.client
    status, g = await c.call("PUT", "/api/v1/greetings", {
        "birthday_enabled": True, "birthday_text": "Вітаємо!", "birthday_time": "10:15",
        "events": [{"event_id": "ny", "date": "2099-01-01", "send_time": "00:05", "text": "З Новим роком!"}]})
    assert status == 200 and g["revision"] == 1 and g["events"][0]["event_id"] == "ny"
    [event] = await events_of(admin, "greeting.", 1)
    assert event.payload().events[0].text == "З Новим роком!"


# --------------------------------------------------------------------------- the segment preview


class FakeNotifier:
    """The notifier's ``POST /api/segment/preview`` (built by another engineer): records
    the segments it is asked about."""

    def __init__(self) -> None:
        self.segments: list[dict[str, Any]] = []
        self.answer: Any = {"residents": 42, "messages": 42}
        self.status = 200
        self.url = ""
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()

        async def preview(request: web.Request) -> web.Response:
            self.segments.append(await request.json())
            return web.json_response(self.answer, status=self.status)

        app.router.add_post("/api/segment/preview", preview)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()


@pytest.fixture
async def segment_notifier() -> AsyncIterator[FakeNotifier]:
    fake = FakeNotifier()
    await fake.start()
    yield fake
    await fake.stop()


async def test_segment_preview_counts_from_the_notifier_or_says_unknown(unique, mongodb_url, segment_notifier):
    """The resolved Segment goes to the notifier; its counts come back with the cost
    (messages × ADMIN_MESSAGE_PRICE_UAH). A failing or malformed answer gives nulls
    (the panel says «невідомо») and sending stays allowed; a bad segment is 422."""
    async with running_admin(unique, mongodb_url, admin_notifier_url=segment_notifier.url,
                             admin_message_price_uah=0.5) as admin:
        c = admin.client
        status, body = await c.post("/api/v1/segments/preview", {"segment": STREET_SEGMENT})
        assert status == 200 and body["residents"] == 42 and body["cost_uah"] == 21.0
        sent = segment_notifier.segments[-1]
        assert sent["streets"][0]["street_id"] == "proskurivska" and sent["settlement_ids"] == ["khmelnytskyi"]
        segment_notifier.status = 503
        status, body = await c.post("/api/v1/segments/preview", {"segment": {}})
        assert status == 200 and body["residents"] is None and body["cost_uah"] is None
        segment_notifier.status, segment_notifier.answer = 200, {"residents": "many"}
        assert (await c.post("/api/v1/segments/preview", {}))[1]["residents"] is None
        status, body = await c.post("/api/v1/segments/preview", {"segment": {"settlement_ids": ["x"]}})
        assert status == 422 and body["error"]["fields"][0]["path"] == "segment.settlement_ids[0]"
        assert (await c.post("/api/v1/mailings", {"text": "Все одно надсилаємо"}))[0] == 201


async def test_openapi_documents_the_new_routes(admin):
    _, doc = await admin.client.get("/api/v1/openapi.json")
    for path in ("/api/v1/mailings", "/api/v1/mailings/{id}", "/api/v1/mailings/{id}/cancel",
                 "/api/v1/segments/preview", "/api/v1/greetings", "/api/v1/greetings/birthday",
                 "/api/v1/greetings/events/{id}", "/api/v1/greetings/events/{id}/cancel",
                 "/api/v1/outages/{id}/mailings"):
        assert path in doc["paths"], path
    assert "Segment" in doc["components"]["schemas"]


async def test_events_the_broker_refused_wait_in_the_outbox_and_the_relay_publishes_them_once(admin):
    """The broker refuses: the mailing and the greetings change are still stored with
    their audit records (one write each), their events wait in the documents' outboxes,
    and the relay publishes each once when the broker is back."""
    from chatbot_common.bus import memory_broker

    broker = memory_broker(admin.bus_url)
    broker.fail_publishes = lambda key: ConnectionError("down") if key.startswith(("mailing.", "greeting.")) else None
    status, m = await admin.client.post("/api/v1/mailings", {"text": "Привіт"})
    assert status == 201
    status, _ = await admin.client.call("PUT", "/api/v1/greetings/birthday", {"enabled": True, "text": "Вітаємо!"})
    assert status == 200
    assert len((await admin.runtime.store["mailings"].find_one({"_id": m["id"]}))["outbox"]) == 1
    assert len((await admin.runtime.store["greetings"].find_one({"_id": "config"}))["outbox"]) == 1
    _, records = await admin.client.get("/api/v1/audit")
    assert {"mailing.requested", "greetings.birthday_changed"} <= {r["action"] for r in records}
    await events_of(admin, "mailing.", 0)
    broker.fail_publishes = None
    [requested] = await events_of(admin, "mailing.", 1)
    [configured] = await events_of(admin, "greeting.", 1)
    assert requested.id == derived_id(m["id"], "mailing.requested")
    assert configured.id == derived_id("greetings", 1, "greeting.configured")

    async def drained() -> bool:
        a = await admin.runtime.store["mailings"].find_one({"_id": m["id"]})
        b = await admin.runtime.store["greetings"].find_one({"_id": "config"})
        return not a.get("outbox") and not b.get("outbox")

    await eventually(drained, "outboxes emptied")
