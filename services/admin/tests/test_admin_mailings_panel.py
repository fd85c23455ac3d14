"""The panel's «Розсилки» and «Привітання» over HTTP, as a browser without JavaScript
uses them: CSRF and roles on every action (a refusal changes nothing), errors next to
their fields with what was typed kept, the recipient count from a (fake) notifier,
sending and scheduling, the progress fragments, cancelling after a confirmation, the
birthday greeting and staff-defined days."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from admin_testkit import ADMIN_EMAIL, ADMIN_PASSWORD, Admin, PanelClient
from admin_testkit import running_admin
from test_admin_mailings import FakeNotifier, events_of, progress
from test_admin_outages import eventually

from admin.mailings import KYIV, today_kyiv
from chatbot_common.events import utcnow

COMPOSE = [
    ("action", "send"), ("idem", "form-1"), ("text", "Шановні мешканці! Запрошуємо Вас на суботник."),
    ("image_url", ""), ("link_label", "Деталі"), ("link_url", "https://example.org/subotnyk"),
    ("settlement_id", "khmelnytskyi"), ("rows", "3"),
    ("streets[0].street", "вул. Проскурівська"), ("streets[0].houses", "1-31 непарні"),
    ("streets[1].street", ""), ("streets[1].houses", ""), ("streets[2].street", ""), ("streets[2].houses", ""),
    ("notify_scopes", "address"), ("notify_scopes", "city"), ("channels", "viber"),
    ("registered_after", "2024-01-01"), ("registered_before", ""), ("has_open_request", "no"),
    ("when", "now"), ("send_at", ""),
]


@pytest.fixture
async def notifier() -> AsyncIterator[FakeNotifier]:
    fake = FakeNotifier()
    fake.answer = {"residents": 16, "messages": 16}
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def panel_admin(unique: str, mongodb_url: str, notifier: FakeNotifier) -> AsyncIterator[Admin]:
    async with running_admin(unique, mongodb_url, admin_notifier_url=notifier.url,
                             admin_message_price_uah=0.5) as started:
        yield started


async def login(admin: Admin, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> PanelClient:
    client = PanelClient(f"http://127.0.0.1:{admin.runtime.bound_port}")
    status, _, _ = await client.login(email, password)
    assert status == 303
    return client


@pytest.fixture
async def browser(panel_admin: Admin) -> AsyncIterator[PanelClient]:
    client = await login(panel_admin)
    yield client
    await client.close()


async def as_role(admin: Admin, role: str) -> PanelClient:
    await admin.client.as_role(role)
    return await login(admin, f"{role}@example.org", "password-" + role)


async def mailings(admin: Admin) -> list[dict]:
    return (await admin.client.get("/api/v1/mailings"))[1]


def with_(form: list[tuple[str, str]], **changes: str) -> list[tuple[str, str]]:
    return [(k, changes.get(k, v)) for k, v in form]


async def test_compose_count_and_send_now(browser, panel_admin, notifier):
    """«Порахувати отримувачів» shows the notifier's count and the cost (16 × 0.50) for
    the resolved segment; «Надіслати» sends one mailing.requested and opens its page;
    the same form posted again (double click) sends nothing more."""
    status, text, _ = await browser.get("/panel/mailings/new")
    assert status == 200 and 'name="text"' in text and "без сповіщень" in text
    status, text, _ = await browser.post("/panel/mailings/new", with_(COMPOSE, action="preview"))
    assert status == 200 and 'id="audience-residents">16<' in text and "8.00 грн" in text
    segment = notifier.segments[-1]
    assert segment["streets"][0]["street_id"] == "proskurivska" and len(segment["streets"][0]["houses"]) == 16
    assert segment["notify_scopes"] == ["address", "city"] and segment["has_open_request"] is False
    assert segment["registered_after"].startswith("2024-01-01T00:00:00")  # Kyiv midnight with its offset
    assert await mailings(panel_admin) == []  # a preview sends nothing

    status, _, headers = await browser.post("/panel/mailings/new", COMPOSE)
    assert status == 303 and "ok=sent" in headers["Location"]
    status, text, _ = await browser.get(headers["Location"])
    assert status == 200 and "Розсилку запущено" in text and 'id="state">надсилається<' in text
    assert "вул. Проскурівська: 1, 3, 5 … 31 — 16 будинків" in text and 'hx-trigger="every 2s"' in text
    status, _, again = await browser.post("/panel/mailings/new", COMPOSE)
    assert status == 303 and again["Location"] == headers["Location"]
    [event] = await events_of(panel_admin, "mailing.", 1)
    assert event.payload().link_label == "Деталі" and event.payload().send_at is None


async def test_the_count_fragment_and_an_unknown_count(browser, panel_admin, notifier):
    """The htmx fragment answers the count; when the notifier fails it says «невідомо»
    and sending stays allowed; a bad segment is said in the fragment."""
    status, text, _ = await browser.post("/panel/fragments/segment-count", COMPOSE,
                                         headers={"HX-Request": "true"})
    assert status == 200 and 'id="audience-messages">16<' in text
    notifier.status = 500
    status, text, _ = await browser.post("/panel/fragments/segment-count", COMPOSE)
    assert status == 200 and 'id="audience-unknown"' in text and "невідомо" in text
    status, _, headers = await browser.post("/panel/mailings/new", COMPOSE)
    assert status == 303
    status, text, _ = await browser.post("/panel/fragments/segment-count",
                                         with_(COMPOSE, **{"streets[0].street": "Неіснуюча"}))
    assert 'id="audience-error"' in text and "Неіснуюча" in text


async def test_errors_are_shown_next_to_their_fields_and_nothing_is_sent(browser, panel_admin):
    """Empty text, a link without its label, an unknown street, a past time: 422, each
    message next to its field (aria-invalid, aria-describedby), what was typed kept."""
    form = with_(COMPOSE, text="  ", link_label="", **{"streets[0].street": "вул. Неіснуюча"}, when="later",
                 send_at="2020-01-01T10:00")
    status, text, _ = await browser.post("/panel/mailings/new", form)
    assert status == 422 and 'role="alert"' in text
    for fid in ("f-text", "f-link-label", "f-segment-streets-0-street", "f-send-at"):
        assert f'id="{fid}-error"' in text, fid
        assert re.search(rf'id="{fid}"[^>]*aria-invalid="true"', text, re.S), fid
    assert 'value="вул. Неіснуюча"' in text and 'value="https://example.org/subotnyk"' in text
    status, text, _ = await browser.post("/panel/mailings/new", with_(COMPOSE, when="later", send_at=""))
    assert status == 422 and 'id="f-send-at-error"' in text
    assert await mailings(panel_admin) == []
    await events_of(panel_admin, "mailing.", 0)


async def test_csrf_and_roles(browser, panel_admin):
    """Without the CSRF token a mailing, a cancel and a greeting are refused (403) and
    nothing changes; a viewer reads the pages but cannot send or configure; logged out
    redirects to the login."""
    status, _, _ = await browser.post("/panel/mailings/new", COMPOSE, csrf=False)
    assert status == 403
    status, _, _ = await browser.post("/panel/greetings/birthday", {"enabled": "on", "text": "Вітаємо!",
                                                                    "time": "10:00"}, csrf=False)
    assert status == 403
    viewer = await as_role(panel_admin, "viewer")
    try:
        for path in ("/panel/mailings", "/panel/greetings"):
            status, text, _ = await viewer.get(path)
            assert status == 200, path
        assert "Нова розсилка" not in text and "Нова подія" not in text
        status, _, _ = await viewer.get("/panel/mailings/new")
        assert status == 403
        status, _, _ = await viewer.post("/panel/mailings/new", COMPOSE)
        assert status == 403
        status, _, _ = await viewer.post("/panel/greetings/birthday", {"enabled": "on", "text": "Вітаємо!",
                                                                       "time": "10:00"})
        assert status == 403
    finally:
        await viewer.close()
    anonymous = PanelClient(f"http://127.0.0.1:{panel_admin.runtime.bound_port}")
    try:
        status, _, headers = await anonymous.get("/panel/mailings")
        assert status == 303 and headers["Location"].startswith("/panel/login")
        status, _, headers = await anonymous.post("/panel/mailings/new", COMPOSE)
        assert status == 303
    finally:
        await anonymous.close()
    assert await mailings(panel_admin) == []
    assert (await panel_admin.client.get("/api/v1/greetings"))[1]["revision"] == 0
    await events_of(panel_admin, "mailing.", 0)
    await events_of(panel_admin, "greeting.", 0)


async def test_schedule_list_and_cancel_after_confirming(browser, panel_admin):
    """A scheduled mailing (Kyiv wall time) is listed under «Заплановані»; cancelling
    asks first, then publishes mailing.cancelled and lists it under «Скасовані»; a sent
    one offers no cancel and a direct POST is refused (409)."""
    at = (utcnow() + timedelta(days=2)).astimezone(KYIV).replace(second=0, microsecond=0)
    status, _, headers = await browser.post("/panel/mailings/new",
                                            with_(COMPOSE, when="later", send_at=at.strftime("%Y-%m-%dT%H:%M")))
    assert status == 303 and "ok=scheduled" in headers["Location"]
    mid = headers["Location"].split("/panel/mailings/")[1].split("?")[0]
    [m] = await mailings(panel_admin)
    assert m["state"] == "scheduled" and datetime.fromisoformat(m["send_at"]) == at  # the Kyiv wall time kept
    status, text, _ = await browser.get("/panel/mailings")
    assert 'aria-label="Заплановані"' in text and f'id="mailing-{mid}"' in text
    status, text, _ = await browser.get(f"/panel/mailings/{mid}/cancel")
    assert status == 200 and "Так, скасувати розсилку" in text
    status, _, headers = await browser.post(f"/panel/mailings/{mid}/cancel", {})
    assert status == 303 and "ok=cancelled" in headers["Location"]
    status, text, _ = await browser.get("/panel/mailings")
    assert 'aria-label="Скасовані"' in text
    await events_of(panel_admin, "mailing.", 2)

    status, _, headers = await browser.post("/panel/mailings/new", with_(COMPOSE, idem="form-2"))
    sent_id = headers["Location"].split("/panel/mailings/")[1].split("?")[0]
    await progress(panel_admin, "mailing", sent_id, "x", 1, targeted=16, sent=16, delivered=16, done=True)

    async def done() -> bool:
        return 'data-done="true"' in (await browser.get(f"/panel/mailings/{sent_id}/progress"))[1]

    await eventually(done, "the fragment shows done")
    status, text, _ = await browser.get(f"/panel/mailings/{sent_id}/progress")
    assert 'id="p-delivered">16<' in text and "hx-trigger" not in text  # stops polling once done
    status, text, _ = await browser.get(f"/panel/mailings/{sent_id}")
    assert "Скасувати розсилку" not in text and 'id="state">надіслано<' in text
    status, _, _ = await browser.post(f"/panel/mailings/{sent_id}/cancel", {})
    assert status == 409
    status, text, _ = await browser.get(f"/panel/mailings/{sent_id}/bar")
    assert "16 із 16" in text and "hx-trigger" not in text


async def test_birthday_greeting_and_events(browser, panel_admin):
    """The birthday greeting is saved (one greeting.configured); an empty text with it
    on is refused next to the field; a day is added, edited (its segment re-shown by
    street name) and cancelled after confirming — one greeting.configured each."""
    status, text, _ = await browser.get("/panel/greetings")
    assert status == 200 and "29 лютого" in text
    status, text, _ = await browser.post("/panel/greetings/birthday", {"enabled": "on", "text": " ", "time": "09:30",
                                                                       "revision": "0"})
    assert status == 422 and 'id="f-text-error"' in text
    status, _, headers = await browser.post("/panel/greetings/birthday", {
        "enabled": "on", "text": "Вітаємо Вас із днем народження!", "time": "09:30", "revision": "0"})
    assert status == 303 and "ok=birthday" in headers["Location"]
    status, text, _ = await browser.get(headers["Location"])
    assert "Вітаємо Вас із днем народження!" in text and 'value="09:30"' in text

    status, text, _ = await browser.get("/panel/greetings/events/new")
    event_id = re.search(r'action="/panel/greetings/events/([^"]+)"', text).group(1)  # type: ignore[union-attr]
    day = (today_kyiv() + timedelta(days=20)).isoformat()
    form = [("date", day), ("send_time", "11:00"), ("text", "З Днем міста!"), ("revision", "1"),
            ("settlement_id", "khmelnytskyi"), ("rows", "3"), ("streets[0].street", "Проскурівська"),
            ("streets[0].houses", ""), ("has_open_request", ""), ("registered_after", ""),
            ("registered_before", "")]
    status, text, _ = await browser.post(f"/panel/greetings/events/{event_id}",
                                         with_(form, date="2020-01-01"))
    assert status == 422 and 'id="f-date-error"' in text
    status, _, headers = await browser.post(f"/panel/greetings/events/{event_id}", form)
    assert status == 303 and "ok=event" in headers["Location"]
    status, text, _ = await browser.get(f"/panel/greetings/events/{event_id}")
    assert 'value="вул. Проскурівська"' in text and 'value="' + day + '"' in text
    status, _, _ = await browser.post(f"/panel/greetings/events/{event_id}",
                                      with_(form, text="З Днем міста, шановні мешканці!", revision="2"))
    assert status == 303
    status, text, _ = await browser.get(f"/panel/greetings/events/{event_id}/cancel")
    assert "Так, скасувати подію" in text
    status, _, headers = await browser.post(f"/panel/greetings/events/{event_id}/cancel", {"revision": "3"})
    assert status == 303
    status, text, _ = await browser.get("/panel/greetings")
    assert f'id="event-{event_id}"' in text and "скасовано" in text
    events = await events_of(panel_admin, "greeting.", 4)
    last = events[-1].payload()
    assert last.revision == 4 and last.birthday_enabled and last.events[0].cancelled
    assert last.events[0].segment.streets[0].street_id == "proskurivska"


async def test_the_audit_page_lists_mailings_and_greetings(browser, panel_admin):
    """«Журнал змін» offers mailings and greetings as filters and links the mailing."""
    status, _, headers = await browser.post("/panel/mailings/new", COMPOSE)
    mid = headers["Location"].split("/panel/mailings/")[1].split("?")[0]
    status, text, _ = await browser.get("/panel/audit?entity=mailing")
    assert status == 200 and 'value="mailing" selected' in text
    assert f'href="/panel/mailings/{mid}"' in text and "mailing.requested" in text
    status, text, _ = await browser.get("/panel/audit?entity=greetings")
    assert status == 200 and 'value="greetings" selected' in text


async def test_an_outage_page_lists_each_of_its_mailings(browser, panel_admin):
    """With two mailings of one outage reported, the page's bars show the latest and a
    table lists both (the late report of the first does not overwrite the second)."""
    from test_admin_outages import OUTAGE

    _, outage = await panel_admin.client.post("/api/v1/outages", OUTAGE)
    oid = outage["id"]
    await progress(panel_admin, "outage", oid, "first", 1, targeted=16, sent=16, done=True)
    await progress(panel_admin, "outage", oid, "second", 5, targeted=20, sent=4)
    await progress(panel_admin, "outage", oid, "first", 9, targeted=16, sent=16, delivered=15, done=True)

    async def both() -> bool:
        text = (await browser.get(f"/panel/outages/{oid}"))[1]
        return "Усі розсилки цього відключення" in text and "<td>15</td>" in text

    await eventually(both, "both mailings listed")
    status, text, _ = await browser.get(f"/panel/outages/{oid}")
    assert 'id="p-targeted">20<' in text and 'id="p-sent">4<' in text
