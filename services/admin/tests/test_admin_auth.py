"""Staff accounts, tokens, roles and the audit log of the admin API."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp
import pytest
from admin_testkit import ADMIN_EMAIL, ADMIN_PASSWORD, Client, settings

from admin.service import STAFF_REPOSITORY, build
from chatbot_common.bus import create_bus
from chatbot_common.store import open_store

PROTECTED = [
    ("GET", "/api/v1/outages"),
    ("POST", "/api/v1/outages"),
    ("GET", "/api/v1/outages/x"),
    ("PATCH", "/api/v1/outages/x"),
    ("POST", "/api/v1/outages/x/resolve"),
    ("POST", "/api/v1/outages/x/cancel"),
    ("GET", "/api/v1/outages/x/delivery"),
    ("GET", "/api/v1/staff"),
    ("POST", "/api/v1/staff"),
    ("PATCH", "/api/v1/staff/x"),
    ("POST", "/api/v1/staff/x/password"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/me"),
]


async def test_token_is_issued_for_the_right_password_only(admin):
    """POST /auth/token answers {access_token, token_type: bearer, expires_in}; a wrong
    password or unknown address is 401 with a JSON error and no token."""
    status, body = await admin.client.post("/api/v1/auth/token", {"email": ADMIN_EMAIL.upper(),
                                                                  "password": ADMIN_PASSWORD}, token="")
    assert status == 200
    assert body["token_type"] == "bearer" and body["expires_in"] == 8 * 3600 and len(body["access_token"]) >= 40
    for email, password in ((ADMIN_EMAIL, "wrong password"), ("nobody@example.org", ADMIN_PASSWORD)):
        status, body = await admin.client.post("/api/v1/auth/token", {"email": email, "password": password}, token="")
        assert status == 401
        assert body["error"]["code"] == "invalid_credentials" and "access_token" not in body
    status, me = await admin.client.get("/api/v1/me")
    assert status == 200 and me["email"] == ADMIN_EMAIL and me["role"] == "admin"
    assert "password_hash" not in me


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_every_call_without_a_valid_token_is_401(admin, method, path):
    """No token, a made-up token, or another scheme: 401 with a JSON error and
    WWW-Authenticate, whatever the route (nothing is read or changed)."""
    for headers in ({}, {"Authorization": "Bearer made-up"}, {"Authorization": "Basic eDp5"}):
        status, body = await admin.client.call(method, path, token="", headers=headers)
        assert status == 401, (method, path, headers)
        assert body["error"]["code"] in ("unauthorized", "invalid_token")
    assert admin.events == []


async def test_an_expired_token_is_401(admin):
    """A token past its expiry is refused even before the TTL index removed it."""
    tokens = admin.runtime.store["tokens"]
    await tokens.update_many({}, {"$set": {"expires_at": datetime(2000, 1, 1, tzinfo=UTC)}})
    status, body = await admin.client.get("/api/v1/me")
    assert status == 401 and body["error"]["code"] == "invalid_token"


async def test_roles_are_enforced(admin):
    """viewer reads outages but cannot publish (403); editor publishes but cannot manage
    accounts or read the audit log (403); nothing is changed by a refused call."""
    viewer = await admin.client.as_role("viewer")
    editor = await admin.client.as_role("editor")
    operator = await admin.client.as_role("operator")
    outage = {"kind": "planned", "utility": "cold_water", "settlement_id": "khmelnytskyi", "city_wide": True,
              "starts_at": "2026-12-01T09:00:00+02:00", "ends_at": "2026-12-01T17:00:00+02:00"}
    assert (await viewer.get("/api/v1/outages"))[0] == 200
    for client in (viewer, operator):
        status, body = await client.post("/api/v1/outages", outage)
        assert status == 403 and body["error"]["code"] == "forbidden"
    assert admin.events == []
    for path in ("/api/v1/staff", "/api/v1/audit"):
        assert (await editor.get(path))[0] == 403
    status, _ = await editor.post("/api/v1/staff", {"email": "x@example.org", "password": "long enough pw",
                                                     "role": "admin"})
    assert status == 403
    status, created = await editor.post("/api/v1/outages", outage)
    assert status == 201 and created["revision"] == 1


async def test_staff_management_and_its_audit_log(admin):
    """An admin creates, re-roles, deactivates and resets accounts; each change is one
    audit record (who, when, what, before/after) and none holds password material."""
    status, created = await admin.client.post("/api/v1/staff", {"email": "Olena@Example.org",
                                                                "password": "first password", "role": "viewer",
                                                                "name": "Олена"})
    assert status == 201 and created["email"] == "olena@example.org" and created["active"] is True
    sid = created["id"]
    status, dup = await admin.client.post("/api/v1/staff", {"email": "olena@example.org",
                                                            "password": "other password", "role": "viewer"})
    assert status == 409
    olena = Client(admin.client.session, admin.client.base, await admin.client.login("olena@example.org",
                                                                                      "first password"))
    status, changed = await admin.client.patch(f"/api/v1/staff/{sid}", {"role": "editor"})
    assert status == 200 and changed["role"] == "editor"
    assert (await olena.get("/api/v1/me"))[1]["role"] == "editor"  # at once, same token
    status, _ = await admin.client.post(f"/api/v1/staff/{sid}/password", {"password": "second password"})
    assert status == 200
    assert (await olena.get("/api/v1/me"))[0] == 401  # the reset ended her sessions
    olena.token = await admin.client.login("olena@example.org", "second password")
    status, _ = await admin.client.patch(f"/api/v1/staff/{sid}", {"active": False})
    assert status == 200
    assert (await olena.get("/api/v1/me"))[0] == 401
    status, _ = await olena.post("/api/v1/auth/token", {"email": "olena@example.org", "password": "second password"},
                                 token="")
    assert status == 401  # a deactivated account cannot log in

    status, log = await admin.client.get(f"/api/v1/audit?entity=staff&entity_id={sid}")
    assert status == 200
    actions = [r["action"] for r in reversed(log)]
    assert actions == ["staff.created", "staff.role_changed", "staff.password_reset", "staff.deactivated"]
    me = (await admin.client.get("/api/v1/me"))[1]
    assert all(r["actor_id"] == me["id"] and r["actor_email"] == ADMIN_EMAIL for r in log)
    role_change = next(r for r in log if r["action"] == "staff.role_changed")
    assert role_change["before"] == {"role": "viewer"} and role_change["after"] == {"role": "editor"}
    text = str(log) + str([d async for d in admin.runtime.store["audit"].find({})])
    for secret in ("first password", "second password", "argon2", "password_hash"):
        assert secret not in text


async def test_the_last_admin_cannot_be_demoted_or_deactivated(admin):
    """409 instead of a service nobody can administer; the account stays as it was."""
    me = (await admin.client.get("/api/v1/me"))[1]
    for patch in ({"role": "editor"}, {"active": False}):
        status, body = await admin.client.patch(f"/api/v1/staff/{me['id']}", patch)
        assert status == 409 and body["error"]["code"] == "last_admin"
    assert (await admin.client.get("/api/v1/me"))[1]["role"] == "admin"


async def test_two_admins_taking_each_other_away_at_once_leave_an_admin(admin, monkeypatch):
    """Two admins, each demoting or deactivating the other at the same moment: both
    requests counted two admins before writing (forced here), yet afterwards at least
    one admin is active; a request that would have left none is undone, audited, 409."""
    me = (await admin.client.get("/api/v1/me"))[1]
    second = await admin.client.as_role("admin", "second-admin@example.org")
    second_id = (await second.get("/api/v1/me"))[1]["id"]
    staff = admin.runtime.app[STAFF_REPOSITORY]
    count = staff.active_admins
    arrived, together = 0, asyncio.Event()

    async def counted_together() -> int:
        nonlocal arrived
        n = await count()
        arrived += 1
        if arrived == 2:
            together.set()
        if arrived <= 2:  # the two checks before the writes see two admins each
            await together.wait()
        return n

    monkeypatch.setattr(staff, "active_admins", counted_together)
    (s1, b1), (s2, b2) = await asyncio.gather(
        admin.client.patch(f"/api/v1/staff/{second_id}", {"role": "editor"}),
        second.patch(f"/api/v1/staff/{me['id']}", {"active": False}))
    assert await count() >= 1
    assert (s1, s2) != (200, 200)
    refused = [b for s, b in ((s1, b1), (s2, b2)) if s != 200]
    assert all(b["error"]["code"] == "last_admin" for b in refused) and refused
    undone = [r async for r in admin.runtime.store["audit"].find({"action": "staff.change_undone"})]
    assert len(undone) == len(refused)


async def test_bad_staff_input_is_422_naming_the_field(admin):
    """Short password, bad e-mail, unknown role, unknown field: 422 with the field paths;
    no account is created."""
    status, body = await admin.client.post("/api/v1/staff", {"email": "not-an-email", "password": "short",
                                                             "role": "boss", "extra": 1})
    assert status == 422
    paths = {f["path"] for f in body["error"]["fields"]}
    assert paths == {"email", "password", "role", "extra"}
    assert len((await admin.client.get("/api/v1/staff"))[1]) == 1


async def test_repeated_wrong_passwords_lock_the_address_for_the_window(admin):
    """After 5 failures the address gets 429 with Retry-After — even with the right
    password — while another address still logs in."""
    for _ in range(5):
        status, _ = await admin.client.post("/api/v1/auth/token", {"email": ADMIN_EMAIL, "password": "guess"}, token="")
        assert status == 401
    async with admin.client.session.post(admin.client.base + "/api/v1/auth/token",
                                         json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}) as resp:
        assert resp.status == 429
        assert int(resp.headers["Retry-After"]) > 0
    await admin.client.as_role("viewer")  # another address is not affected


async def test_bootstrap_creates_one_admin_and_is_idempotent_across_restarts(unique):
    """The first start creates the admin from ADMIN_BOOTSTRAP_*; later starts (even with
    another password in the environment) change nothing: one account, one audit record,
    the first password still valid."""
    bus_url = f"memory://admin-boot-{unique}"
    for password in ("first-boot-password", "second-boot-password", "first-boot-password"):
        store = open_store("memory://", f"admin_boot_{unique}", memory_namespace=f"boot-{unique}")
        runtime = build(settings(admin_bootstrap_password=password), bus=create_bus(bus_url), store=store)
        await runtime.start(host="127.0.0.1")
        try:
            accounts = [d async for d in runtime.store["staff"].find({})]
            assert [(a["email"], a["role"]) for a in accounts] == [(ADMIN_EMAIL, "admin")]
            records = [d async for d in runtime.store["audit"].find({"entity": "staff"})]
            assert [r["action"] for r in records] == ["staff.created"]
            async with aiohttp.ClientSession() as session:
                client = Client(session, f"http://127.0.0.1:{runtime.bound_port}")
                await client.login(ADMIN_EMAIL, "first-boot-password")
                status, _ = await client.post("/api/v1/auth/token", {"email": ADMIN_EMAIL,
                                                                     "password": "second-boot-password"})
                assert status == 401
        finally:
            await runtime.stop()
