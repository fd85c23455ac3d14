"""Useful information and links (C11, C7): the API under /api/v1/info and its panel
page. Each change publishes one ``info.changed`` with the whole content and a growing
revision (the dialog keeps the highest); bad input is refused naming the field and
changes nothing (no event, same revision)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from admin_testkit import ADMIN_EMAIL, ADMIN_PASSWORD, Admin, PanelClient, Recorder, recording

from chatbot_common.directory import load_city
from chatbot_common.events import InfoChanged, derived_id


@pytest.fixture
async def recorder(admin: Admin) -> AsyncIterator[Recorder]:
    async with recording(admin.bus_url, ["info.changed"]) as rec:
        yield rec


SECTION = {"title": "Пункти незламності", "text": "Адреси пунктів незламності: …"}


async def test_the_content_starts_as_the_packaged_files(admin):
    """Before any change: revision 0 and exactly the city's useful_info.toml/links.toml."""
    status, body = await admin.client.get("/api/v1/info")
    assert status == 200 and body["revision"] == 0
    city = load_city()
    assert [s["id"] for s in body["sections"]] == [s.id for s in _depth_first(city.info.sections)]
    assert [(link["id"], link["url"]) for link in body["links"]] == [(link.id, link.url) for link in city.links]


def _depth_first(sections: Any) -> list[Any]:
    out = []
    for s in sections:
        out.append(s)
        out.extend(_depth_first(s.children))
    return out


async def test_each_change_publishes_the_whole_content_once_with_a_growing_revision(admin, recorder):
    """Create a section, change it, repeat the same change (nothing happens), add a
    link, delete it: one info.changed per real change, ids derived from the revision,
    the whole content in each; and an audit record for each."""
    status, body = await admin.client.call("PUT", "/api/v1/info/sections/resilience", SECTION)
    assert status == 200 and body["revision"] == 1 and body["sections"][-1]["id"] == "resilience"
    status, body = await admin.client.call("PUT", "/api/v1/info/sections/resilience",
                                           {**SECTION, "text": "Нові адреси", "revision": 1})
    assert status == 200 and body["revision"] == 2
    status, body = await admin.client.call("PUT", "/api/v1/info/sections/resilience", {**SECTION, "text": "Нові адреси"})
    assert status == 200 and body["revision"] == 2  # the same content: no new revision
    status, body = await admin.client.call("PUT", "/api/v1/info/links/telegram",
                                           {"label": "Telegram міста", "url": "https://t.me/khm"})
    assert status == 200 and body["revision"] == 3 and body["links"][-1]["id"] == "telegram"
    status, body = await admin.client.call("DELETE", "/api/v1/info/links/telegram")
    assert status == 200 and body["revision"] == 4 and "telegram" not in [link["id"] for link in body["links"]]
    events = await recorder.count(4)
    assert [e.id for e in events] == [derived_id("info", n, "info.changed") for n in (1, 2, 3, 4)]
    second = events[1].payload()
    assert isinstance(second, InfoChanged) and second.revision == 2
    assert next(s for s in second.sections if s.id == "resilience").text == "Нові адреси"
    assert len(second.sections) == len(load_city().info.all()) + 1
    status, log = await admin.client.get("/api/v1/audit?entity=info")
    assert [r["action"] for r in reversed(log)] == ["info.section_created", "info.section_changed",
                                                    "info.link_created", "info.link_deleted"]
    assert all(r["actor_email"] == ADMIN_EMAIL for r in log)


async def test_subsections_move_and_keep_parents_first(admin, recorder):
    """A subsection goes under its parent; moving it down and up reorders its siblings;
    a section cannot go under itself or its own subsection."""
    for sid, parent in (("a", None), ("a1", "a"), ("a2", "a")):
        status, body = await admin.client.call("PUT", f"/api/v1/info/sections/{sid}",
                                               {"title": sid, "text": "t", "parent_id": parent})
        assert status == 200, body
    ids = [s["id"] for s in body["sections"]]
    assert ids[-3:] == ["a", "a1", "a2"]
    status, body = await admin.client.post("/api/v1/info/sections/a1/move", {"direction": "down"})
    assert [s["id"] for s in body["sections"]][-3:] == ["a", "a2", "a1"]
    status, body = await admin.client.post("/api/v1/info/sections/a1/move", {"direction": "down"})
    assert status == 200 and body["revision"] == 4  # already last: nothing changes
    status, body = await admin.client.call("PUT", "/api/v1/info/sections/a", {"title": "a", "text": "t",
                                                                             "parent_id": "a1"})
    assert status == 422 and body["error"]["fields"][0]["path"] == "parent_id"
    await recorder.count(4)


@pytest.mark.parametrize(("method", "path", "body", "status", "field"), [
    ("PUT", "/api/v1/info/sections/Bad Id", SECTION, 422, "id"),
    ("PUT", "/api/v1/info/sections/x", {"title": "   ", "text": "t"}, 422, "title"),
    ("PUT", "/api/v1/info/sections/x", {"title": "x" * 61, "text": "t"}, 422, "title"),
    ("PUT", "/api/v1/info/sections/x", {"title": "x", "text": "т" * 6501}, 422, "text"),
    ("PUT", "/api/v1/info/sections/x", {"title": "x", "text": ""}, 422, "text"),
    ("PUT", "/api/v1/info/sections/x", {"title": "x", "text": "t", "parent_id": "nope"}, 422, "parent_id"),
    ("PUT", "/api/v1/info/sections/x", {"title": "x", "text": "t", "extra": 1}, 422, "extra"),
    ("PUT", "/api/v1/info/sections/x", {"title": "x", "text": "t", "revision": 7}, 409, None),
    ("PUT", "/api/v1/info/links/x", {"label": "Сайт", "url": "javascript:alert(1)"}, 422, "url"),
    ("PUT", "/api/v1/info/links/x", {"label": "Сайт", "url": "https://a b"}, 422, "url"),
    ("DELETE", "/api/v1/info/sections/utilities", None, 409, None),  # has subsections
    ("DELETE", "/api/v1/info/sections/nope", None, 404, None),
    ("DELETE", "/api/v1/info/links/nope", None, 404, None),
    ("POST", "/api/v1/info/sections/gas/move", {"direction": "sideways"}, 422, "direction"),
])
async def test_bad_changes_are_refused_and_change_nothing(admin, recorder, method, path, body, status, field):
    got, answer = await admin.client.call(method, path, body)
    assert got == status, answer
    if field:
        assert field in [f["path"] for f in answer["error"]["fields"]]
    _, content = await admin.client.get("/api/v1/info")
    assert content["revision"] == 0
    await recorder.count(0)


async def test_roles_viewer_reads_editor_changes(admin, recorder):
    """A viewer reads the content but cannot change it (403); an editor can."""
    viewer = await admin.client.as_role("viewer")
    assert (await viewer.get("/api/v1/info"))[0] == 200
    assert (await viewer.call("PUT", "/api/v1/info/sections/x", SECTION))[0] == 403
    assert (await viewer.call("DELETE", "/api/v1/info/links/website"))[0] == 403
    editor = await admin.client.as_role("editor")
    assert (await editor.call("PUT", "/api/v1/info/sections/x", SECTION))[0] == 200
    await recorder.count(1)


# --------------------------------------------------------------------------- the page


@pytest.fixture
async def browser(admin: Admin) -> AsyncIterator[PanelClient]:
    client = PanelClient(f"http://127.0.0.1:{admin.runtime.bound_port}")
    status, _, _ = await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert status == 303
    yield client
    await client.close()


async def test_the_info_page_edits_sections_and_links(browser, admin, recorder):
    """The page lists the sections; a new section form with an empty title answers 422
    next to the field keeping the text; a valid one publishes; a link with a bad address
    is refused next to its field; a section is deleted after confirming; a form without
    the CSRF token changes nothing."""
    status, text, _ = await browser.get("/panel/info")
    assert status == 200 and "Корисна інформація" in text and 'id="section-shelters"' in text
    status, text, _ = await browser.post("/panel/info/sections/new", {"id": "resilience", "title": "",
                                                                      "text": "Адреси …", "parent_id": ""})
    assert status == 422 and 'id="f-info-title-error"' in text and "Адреси …" in text
    assert 'aria-describedby="f-info-title-error"' in text
    status, _, headers = await browser.post("/panel/info/sections/new", {"id": "resilience", "title": "Незламність",
                                                                         "text": "Адреси …", "parent_id": "",
                                                                         "revision": "0"})
    assert status == 303 and headers["Location"] == "/panel/info?ok=info_saved"
    status, text, _ = await browser.get("/panel/info/sections/resilience")
    assert status == 200 and 'value="Незламність"' in text
    status, text, _ = await browser.post("/panel/info/links/website", {"label": "Сайт", "url": "ftp://x",
                                                                       "action": "save"})
    assert status == 422 and 'id="link-website-url-error"' in text
    status, _, _ = await browser.post("/panel/info/sections/resilience/delete", {}, csrf=False)
    assert status == 403
    status, text, _ = await browser.get("/panel/info/sections/resilience/delete")
    assert status == 200 and "Так, видалити" in text
    status, _, headers = await browser.post("/panel/info/sections/resilience/delete", {"revision": "1"})
    assert status == 303 and headers["Location"] == "/panel/info?ok=info_deleted"
    events = await recorder.count(2)
    assert [e.payload().revision for e in events] == [1, 2]


async def test_a_viewer_reads_the_info_page_but_cannot_edit(admin, recorder):
    await admin.client.as_role("viewer")
    client = PanelClient(f"http://127.0.0.1:{admin.runtime.bound_port}")
    try:
        await client.login("viewer@example.org", "password-viewer")
        status, text, _ = await client.get("/panel/info")
        assert status == 200 and "Новий розділ" not in text and "https://khm.gov.ua" in text
        assert (await client.get("/panel/info/sections/new"))[0] == 403
        assert (await client.post("/panel/info/sections/new", {"id": "x", **SECTION}))[0] == 403
        await recorder.count(0)
    finally:
        await client.close()
