"""The staff's web panel (issue 9) over HTTP, as a browser without JavaScript would use
it: sessions, CSRF, roles on every page and action, the outage forms with their
validation and audience preview, the progress fragment, staff accounts and the audit log.
Each refusal is checked to have changed nothing."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from admin_testkit import ADMIN_EMAIL, ADMIN_PASSWORD, Admin, PanelClient
from aiohttp import web
from admin_testkit import running_admin

from chatbot_common.bus import create_bus
from chatbot_common.events import MailingProgress, derived_id, make_event, utcnow

FORM = {
    "action": "preview", "kind": "planned", "utility": "cold_water", "settlement_id": "khmelnytskyi",
    "addresses[0].street": "Проскурівська", "addresses[0].houses": "1-31 непарні",
    "addresses[1].street": "", "addresses[1].houses": "", "addresses[2].street": "", "addresses[2].houses": "",
    "starts_at": "2030-06-01T09:00", "ends_at": "2030-06-01T18:00", "description": "Ремонт водогону",
    "contact_phone": "0382 65-11-22", "idem": "form-1",
}


class FakeNotifier:
    """The notifier's documented ``POST /api/audience/preview`` (added by another
    engineer per the contract in docs/admin.md): records the drafts it receives."""

    def __init__(self) -> None:
        self.drafts: list[dict[str, Any]] = []
        self.status = 200
        self.answer: dict[str, Any] = {"residents": 1234, "messages": 1300}
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()

        async def preview(request: web.Request) -> web.Response:
            self.drafts.append(await request.json())
            if self.status != 200:
                return web.json_response({"error": "down"}, status=self.status)
            return web.json_response(self.answer)

        app.router.add_post("/api/audience/preview", preview)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()


@pytest.fixture
async def notifier() -> AsyncIterator[FakeNotifier]:
    fake = FakeNotifier()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def panel_admin(unique: str, mongodb_url: str, notifier: FakeNotifier) -> AsyncIterator[Admin]:
    async with running_admin(unique, mongodb_url, admin_notifier_url=notifier.url,
                             admin_message_price_uah=0.5) as started:
        yield started


def base(admin: Admin) -> str:
    return f"http://127.0.0.1:{admin.runtime.bound_port}"


@pytest.fixture
async def browser(panel_admin: Admin) -> AsyncIterator[PanelClient]:
    client = PanelClient(base(panel_admin))
    status, _, headers = await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert status == 303 and headers["Location"] == "/panel/outages"
    yield client
    await client.close()


async def as_role(admin: Admin, role: str) -> PanelClient:
    await admin.client.as_role(role)
    client = PanelClient(base(admin))
    status, _, _ = await client.login(f"{role}@example.org", "password-" + role)
    assert status == 303
    return client


async def outage_count(admin: Admin) -> int:
    status, body = await admin.client.get("/api/v1/outages")
    assert status == 200
    return len(body)


# --------------------------------------------------------------------------- sessions


async def test_login_sets_a_safe_session_cookie_and_a_wrong_password_is_told_next_to_the_form(panel_admin):
    """A right password gives an HttpOnly, SameSite=Lax session cookie and the outages
    page; a wrong one answers 401 with the message on the login form and no session."""
    client = PanelClient(base(panel_admin))
    try:
        status, text, _ = await client.login(ADMIN_EMAIL, "wrong password!")
        assert status == 401 and "Невірна адреса або пароль" in text and 'id="login-error"' in text
        assert "admin_session" not in {c.key for c in client.session.cookie_jar}
        status, _, headers = await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        assert status == 303
        cookie = headers.getall("Set-Cookie")
        session_cookie = next(c for c in cookie if c.startswith("admin_session="))
        assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie and "Secure" not in session_cookie
        status, text, _ = await client.get("/panel/outages")
        assert status == 200 and "<h1>Відключення</h1>" in text and ADMIN_EMAIL in text
        assert 'lang="uk"' in text and "/panel/static/vendor/htmx.min.js" in text and "cdn" not in text.lower()
    finally:
        await client.close()


async def test_the_cookie_is_secure_when_configured(unique, mongodb_url):
    """ADMIN_COOKIE_SECURE=true marks the login-form and session cookies Secure (the
    client is told to send them over HTTPS only, so here they are sent by hand)."""
    async with running_admin(unique, mongodb_url, admin_cookie_secure=True) as admin:
        client = PanelClient(base(admin))
        try:
            status, text, headers = await client.get("/panel/login")
            login_cookie = next(c for c in headers.getall("Set-Cookie") if c.startswith("admin_login_csrf="))
            assert "Secure" in login_cookie
            token = re.search(r'name="csrf" value="([^"]+)"', text).group(1)  # type: ignore[union-attr]
            status, _, headers = await client.post(
                "/panel/login", {"csrf": token, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, csrf=False,
                headers={"Cookie": f"admin_login_csrf={token}"})
            assert status == 303
            session_cookie = next(c for c in headers.getall("Set-Cookie") if c.startswith("admin_session="))
            assert "Secure" in session_cookie and "HttpOnly" in session_cookie
        finally:
            await client.close()


async def test_a_logged_out_visitor_can_do_nothing(panel_admin):
    """Without a session every page redirects to the login (GET keeps where it was
    going), every action is refused the same way and changes nothing; htmx fragments get
    401 with HX-Redirect."""
    client = PanelClient(base(panel_admin))
    try:
        for path in ("/panel/", "/panel/outages", "/panel/outages/new", "/panel/staff", "/panel/audit",
                     "/panel/outages/x/edit", "/panel/fragments/streets?q=a"):
            status, _, headers = await client.get(path)
            assert status == 303 and headers["Location"].startswith("/panel/login"), path
        status, _, headers = await client.get("/panel/outages/x/progress", headers={"HX-Request": "true"})
        assert status == 401 and headers["HX-Redirect"].startswith("/panel/login")
        for path, form in (("/panel/outages/new", {**FORM, "action": "publish"}),
                           ("/panel/staff", {"email": "x@example.org", "password": "0123456789ab", "role": "admin"})):
            status, _, headers = await client.post(path, {**form, "csrf": "guess"}, csrf=False)
            assert status == 303 and headers["Location"] == "/panel/login"
        assert await outage_count(panel_admin) == 0
        status, staff = await panel_admin.client.get("/api/v1/staff")
        assert [s["email"] for s in staff] == [ADMIN_EMAIL]
    finally:
        await client.close()


async def test_logout_ends_the_session_for_good(browser, panel_admin):
    """After «Вийти» the old cookie opens nothing (the session is deleted in the store)."""
    cookie = next(c.value for c in browser.session.cookie_jar if c.key == "admin_session")
    status, _, headers = await browser.post("/panel/logout", {})
    assert status == 303 and headers["Location"] == "/panel/login"
    replay = PanelClient(base(panel_admin))
    try:
        replay.session.cookie_jar.update_cookies({"admin_session": cookie})
        status, _, headers = await replay.get("/panel/outages")
        assert status == 303 and headers["Location"].startswith("/panel/login")
    finally:
        await replay.close()


async def test_an_expired_session_is_refused(browser, panel_admin):
    """A session past its expiry (ADMIN_SESSION_TTL_SECONDS from the login) no longer
    opens pages, even before the TTL index removes it."""
    status, _, _ = await browser.get("/panel/outages")
    assert status == 200
    sessions = panel_admin.runtime.store["sessions"]
    result = await sessions.update_many({}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}})
    assert result.modified_count >= 1
    status, _, headers = await browser.get("/panel/outages")
    assert status == 303 and headers["Location"].startswith("/panel/login")


async def test_a_password_reset_or_deactivation_ends_the_panel_sessions(browser, panel_admin):
    """The admin resets an editor's password: the editor's open panel session ends at
    once; so does a deactivated account's."""
    editor = await as_role(panel_admin, "editor")
    viewer = await as_role(panel_admin, "viewer")
    try:
        assert (await editor.get("/panel/outages"))[0] == 200
        assert (await viewer.get("/panel/outages"))[0] == 200
        _, staff = await panel_admin.client.get("/api/v1/staff")
        ids = {s["email"]: s["id"] for s in staff}
        status, _, _ = await browser.post(f"/panel/staff/{ids['editor@example.org']}",
                                          {"action": "password", "password": "a-new-password-1"})
        assert status == 303
        status, _, _ = await browser.post(f"/panel/staff/{ids['viewer@example.org']}", {"action": "deactivated"})
        assert status == 303
        assert (await editor.get("/panel/outages"))[0] == 303
        assert (await viewer.get("/panel/outages"))[0] == 303
    finally:
        await editor.close()
        await viewer.close()


# --------------------------------------------------------------------------- CSRF and roles


async def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(browser, panel_admin):
    """A valid session is not enough: a POST without the session's CSRF token (or with a
    wrong one) gets 403 and publishes nothing; the same form with it works."""
    form = {**FORM, "action": "publish"}
    status, text, _ = await browser.post("/panel/outages/new", form, csrf=False)
    assert status == 403 and "CSRF" in text
    status, _, _ = await browser.post("/panel/outages/new", {**form, "csrf": "not-the-token"}, csrf=False)
    assert status == 403
    status, _, _ = await browser.post("/panel/logout", {}, csrf=False)
    assert status == 403
    assert await outage_count(panel_admin) == 0 and panel_admin.of_type("outage.") == []
    status, _, headers = await browser.post("/panel/outages/new", form)
    assert status == 303 and await outage_count(panel_admin) == 1


async def test_the_login_form_needs_its_csrf_cookie(panel_admin):
    """Login CSRF: a login posted without the token of the login page is refused."""
    client = PanelClient(base(panel_admin))
    try:
        status, text, _ = await client.post("/panel/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                                            csrf=False)
        assert status == 403 and "admin_session" not in {c.key for c in client.session.cookie_jar}
    finally:
        await client.close()


async def test_an_editor_cannot_manage_accounts(panel_admin):
    """An editor gets 403 on the staff and audit pages and on every account action, with
    a valid CSRF token; no account changes."""
    editor = await as_role(panel_admin, "editor")
    try:
        for path in ("/panel/staff", "/panel/audit"):
            status, text, _ = await editor.get(path)
            assert status == 403 and "Недостатньо прав" in text
        status, _, _ = await editor.post("/panel/staff", {"email": "new@example.org", "password": "0123456789ab",
                                                          "role": "admin"})
        assert status == 403
        _, staff = await panel_admin.client.get("/api/v1/staff")
        admin_id = next(s["id"] for s in staff if s["email"] == ADMIN_EMAIL)
        for form in ({"action": "role", "role": "viewer"}, {"action": "deactivated"},
                     {"action": "password", "password": "0123456789ab"}):
            status, _, _ = await editor.post(f"/panel/staff/{admin_id}", form)
            assert status == 403
        _, after = await panel_admin.client.get("/api/v1/staff")
        assert after == staff
        status, text, _ = await editor.get("/panel/outages")
        assert status == 200 and "/panel/staff" not in text  # not even in the menu
    finally:
        await editor.close()


async def test_a_viewer_reads_but_cannot_publish(browser, panel_admin):
    """A viewer sees the outages and an outage's page but gets 403 on the form, on
    publishing, editing, resolving and cancelling; nothing changes."""
    status, _, headers = await browser.post("/panel/outages/new", {**FORM, "action": "publish"})
    oid = headers["Location"].split("/")[3].split("?")[0]
    viewer = await as_role(panel_admin, "viewer")
    try:
        assert (await viewer.get("/panel/outages"))[0] == 200
        status, text, _ = await viewer.get(f"/panel/outages/{oid}")
        assert status == 200 and "Змінити" not in text
        assert (await viewer.get("/panel/outages/new"))[0] == 403
        status, _, _ = await viewer.post("/panel/outages/new", {**FORM, "action": "publish", "idem": "other"})
        assert status == 403
        for action in ("edit", "resolve", "cancel"):
            assert (await viewer.post(f"/panel/outages/{oid}/{action}", {**FORM, "action": "save"}))[0] == 403
        assert await outage_count(panel_admin) == 1
        _, outage = await panel_admin.client.get(f"/api/v1/outages/{oid}")
        assert outage["revision"] == 1 and outage["state"] == "active"
    finally:
        await viewer.close()


# --------------------------------------------------------------------------- outages


async def test_preview_shows_the_audience_and_cost_then_publish_creates_one_outage(browser, panel_admin, notifier):
    """«Переглянути»: the notifier gets the draft with streets resolved to ids and houses
    expanded; the page shows residents, messages and messages × price; «Опублікувати»
    creates the outage (outage.published), and a double submit does not publish twice."""
    status, text, _ = await browser.post("/panel/outages/new", FORM)
    assert status == 200, text
    [draft] = notifier.drafts
    assert draft["settlement_id"] == "khmelnytskyi" and draft["utility"] == "cold_water"
    [address] = draft["addresses"]
    assert address["street_id"] and address["houses"][:3] == ["1", "3", "5"] and len(address["houses"]) == 16
    assert draft["starts_at"].startswith("2030-06-01T06:00:00")  # 09:00 in Kyiv (EEST) in UTC
    assert 'id="audience-residents">1234<' in text and 'id="audience-messages">1300<' in text
    assert "650.00 грн" in text  # 1300 × 0.50
    assert "Проскурівська: 1, 3, 5 … 31 — 16 будинків" in text
    assert await outage_count(panel_admin) == 0  # a preview publishes nothing
    idem = re.search(r'name="idem" value="([^"]+)"', text).group(1)  # type: ignore[union-attr]
    publish = {**FORM, "action": "publish", "idem": idem}
    status, _, headers = await browser.post("/panel/outages/new", publish)
    assert status == 303 and "?ok=published" in headers["Location"]
    status, _, again = await browser.post("/panel/outages/new", publish)  # the button pressed twice
    assert status == 303 and again["Location"] == headers["Location"]
    assert await outage_count(panel_admin) == 1
    status, text, _ = await browser.get(headers["Location"])
    assert status == 200 and "Відключення опубліковано" in text and 'hx-trigger="every 2s"' in text


@pytest.mark.parametrize("failure", ["unset", "500", "garbage"])
async def test_an_unknown_audience_says_so_and_publishing_stays_allowed(unique, mongodb_url, notifier, failure):
    """No ADMIN_NOTIFIER_URL, a failing notifier or a nonsense answer: the preview says
    «невідомо» and the publish button is there and works."""
    overrides: dict[str, Any] = {} if failure == "unset" else {"admin_notifier_url": notifier.url}
    notifier.status = 500 if failure == "500" else 200
    notifier.answer = {"residents": "many"} if failure == "garbage" else notifier.answer
    async with running_admin(unique, mongodb_url, **overrides) as admin:
        client = PanelClient(base(admin))
        try:
            await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
            status, text, _ = await client.post("/panel/outages/new", FORM)
            assert status == 200 and 'id="audience-unknown"' in text and "невідомо" in text
            assert 'value="publish"' in text
            status, _, _ = await client.post("/panel/outages/new", {**FORM, "action": "publish"})
            assert status == 303 and await outage_count(admin) == 1
        finally:
            await client.close()


async def test_validation_errors_are_shown_next_to_their_fields_and_the_input_is_kept(browser, panel_admin):
    """An unknown street, a bad house spec and an end before the start: 422, each message
    right after its field, linked by aria-describedby, what was typed kept; nothing is
    published."""
    form = {**FORM, "addresses[0].street": "Неіснуюча вулиця", "addresses[1].street": "Проскурівська",
            "addresses[1].houses": "31-1", "ends_at": "2030-06-01T08:00"}
    for action in ("preview", "publish"):
        status, text, _ = await browser.post("/panel/outages/new", {**form, "action": action})
        assert status == 422, action
        for path in ("addresses-0-street", "addresses-1-houses", "ends-at"):
            assert f'id="f-{path}-error"' in text, (action, path)
            assert re.search(rf'aria-describedby="[^"]*f-{path}-error', text), (action, path)
        assert 'value="Неіснуюча вулиця"' in text and 'value="31-1"' in text
        assert 'role="alert"' in text
    assert await outage_count(panel_admin) == 0


async def test_without_javascript_a_row_can_be_added(browser):
    """The empty form has three street rows, each with a label and a datalist of the
    settlement's streets; «Додати вулицю» re-renders it with one more, keeping the input."""
    status, text, _ = await browser.get("/panel/outages/new")
    assert status == 200 and 'name="addresses[2].street"' in text and 'name="addresses[3].street"' not in text
    assert '<label for="f-addresses-0-street">' in text and 'list="streets-0"' in text
    assert text.count('<option value="вул. Проскурівська">') >= 3
    status, text, _ = await browser.post("/panel/outages/new", {**FORM, "action": "add_row", "rows": "3"})
    assert status == 200 and 'name="addresses[3].street"' in text and 'value="1-31 непарні"' in text


async def test_street_picker_and_house_preview_fragments(browser):
    """The htmx fragments: streets matching a part of a name (a datalist), and what a
    house spec covers, or the parser's message for a bad one."""
    status, text, _ = await browser.get("/panel/fragments/streets?list=streets-0&settlement_id=khmelnytskyi"
                                        "&addresses%5B0%5D.street=Проскур")
    assert status == 200 and text.startswith('<datalist id="streets-0">') and "Проскурівська" in text
    status, text, _ = await browser.get("/panel/fragments/house-preview?row=0&addresses%5B0%5D.street=Проскурівська"
                                        "&addresses%5B0%5D.houses=1-31%20непарні")
    assert status == 200 and "Проскурівська: 1, 3, 5 … 31 — 16 будинків" in text
    status, text, _ = await browser.get("/panel/fragments/house-preview?row=0&addresses%5B0%5D.houses=31-1")
    assert status == 200 and "error" in text


async def test_edit_resolve_and_the_progress_fragment(browser, panel_admin):
    """Edit moves the end (outage.updated); the progress fragment shows the figures of
    mailing.progress and stops polling when done; resolve asks first, then
    outage.resolved; a resolved outage cannot be edited."""
    _, _, headers = await browser.post("/panel/outages/new", {**FORM, "action": "publish"})
    oid = headers["Location"].split("/")[3].split("?")[0]
    status, text, _ = await browser.get(f"/panel/outages/{oid}/edit")
    assert status == 200 and 'value="2030-06-01T18:00"' in text and 'value="Проскурівська"' not in text
    form = {k: v for k, v in FORM.items() if k not in ("utility", "idem")}
    form.update({"action": "save", "ends_at": "2030-06-01T20:00", "revision": "1",
                 "addresses[0].street": "вул. Проскурівська"})
    status, _, headers = await browser.post(f"/panel/outages/{oid}/edit", form)
    assert status == 303 and "ok=updated" in headers["Location"]
    _, outage = await panel_admin.client.get(f"/api/v1/outages/{oid}")
    assert outage["revision"] == 2 and outage["ends_at"].startswith("2030-06-01T17:00")

    status, text, _ = await browser.get(f"/panel/outages/{oid}/progress")
    assert 'hx-trigger="every 2s"' in text and 'id="p-targeted">0<' in text
    bus = create_bus(panel_admin.bus_url)
    t0 = utcnow()
    for n, fields in enumerate(({"targeted": 10, "sent": 4}, {"targeted": 10, "sent": 10, "delivered": 9,
                                                              "seen": 5, "failed": 1, "done": True})):
        await bus.publish(make_event(MailingProgress(mailing_id="m", subject="outage", subject_id=oid,
                                                     at=t0 + timedelta(seconds=n), **fields),
                                     source="/notifier", id=derived_id("progress", oid, n)))
    for _ in range(100):
        status, text, _ = await browser.get(f"/panel/outages/{oid}/progress")
        if 'data-done="true"' in text:
            break
        await asyncio.sleep(0.05)
    await bus.close()
    assert 'data-done="true"' in text and "hx-trigger" not in text
    assert 'id="p-delivered">9<' in text and 'id="p-failed">1<' in text

    status, text, _ = await browser.get(f"/panel/outages/{oid}/resolve")
    assert status == 200 and "Так, постачання відновлено" in text
    status, _, headers = await browser.post(f"/panel/outages/{oid}/resolve", {})
    assert status == 303
    _, outage = await panel_admin.client.get(f"/api/v1/outages/{oid}")
    assert outage["state"] == "resolved"
    for _ in range(100):
        if "outage.resolved" in [e.type for e in panel_admin.of_type("outage.")]:
            break
        await asyncio.sleep(0.05)
    assert [e.type for e in panel_admin.of_type("outage.")] == ["outage.published", "outage.updated",
                                                                 "outage.resolved"]
    status, _, _ = await browser.get(f"/panel/outages/{oid}/edit")
    assert status == 409
    status, text, _ = await browser.get("/panel/outages")
    assert "Минулі" in text and oid in text


# --------------------------------------------------------------------------- staff and audit


async def test_staff_page_creates_changes_and_refuses_bad_input(browser, panel_admin):
    """Create an account (a bad e-mail and a short password: 422 next to the fields,
    input kept), change its role, deactivate it; the last admin cannot be demoted (409
    shown in its row)."""
    status, text, _ = await browser.post("/panel/staff", {"email": "not-an-email", "name": "Оля", "role": "editor",
                                                          "password": "short"})
    assert status == 422 and 'id="f-new-email-error"' in text and 'id="f-new-password-error"' in text
    assert 'value="Оля"' in text
    status, _, headers = await browser.post("/panel/staff", {"email": "olia@example.org", "name": "Оля",
                                                             "role": "editor", "password": "0123456789ab"})
    assert status == 303 and headers["Location"] == "/panel/staff?ok=created"
    _, staff = await panel_admin.client.get("/api/v1/staff")
    ids = {s["email"]: s["id"] for s in staff}
    status, _, _ = await browser.post(f"/panel/staff/{ids['olia@example.org']}", {"action": "role", "role": "viewer"})
    assert status == 303
    status, text, _ = await browser.post(f"/panel/staff/{ids[ADMIN_EMAIL]}", {"action": "role", "role": "viewer"})
    assert status == 409 and f'id="row-error-{ids[ADMIN_EMAIL]}"' in text
    _, account = await panel_admin.client.get(f"/api/v1/staff/{ids['olia@example.org']}")
    assert account["role"] == "viewer"


async def test_audit_page_lists_changes_with_filters_and_paging(browser, panel_admin):
    """Every change made in the panel is in the audit log page with who did it; the
    entity filter narrows it; more than a page gives an «older» link that continues."""
    for n in range(52):
        status, _, _ = await browser.post("/panel/staff", {"email": f"u{n}@example.org", "role": "viewer",
                                                           "password": "0123456789ab"})
        assert status == 303
    await browser.post("/panel/outages/new", {**FORM, "action": "publish"})
    status, text, _ = await browser.get("/panel/audit")
    assert status == 200 and "outage.published" in text and text.count("staff.created") == 49
    assert ADMIN_EMAIL in text
    status, text, _ = await browser.get("/panel/audit?entity=outage")
    assert "outage.published" in text and "staff.created" not in text
    status, text, _ = await browser.get("/panel/audit?entity=staff")
    older = re.search(r'id="next-page" href="([^"]+)"', text).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    status, text, _ = await browser.get(older)
    # 53 staff records (bootstrap admin + 52): 50 on the first page, 3 on the second
    assert status == 200 and text.count("staff.created") == 3 and 'id="next-page"' not in text
