"""The operator page over plain HTTP (no JavaScript): forms POST, redirect, and change the
state; bad input re-renders with an error and changes nothing; everything is escaped."""

from __future__ import annotations

from typing import Any

from .helpers import B, CC

INJECTION = '<script>alert("x")</script><img src=x onerror=alert(1)>'


async def page(cc: CC, path: str) -> tuple[int, str]:
    async with cc.session.get(cc.url + path) as resp:
        assert resp.content_type == "text/html"
        return resp.status, await resp.text()


async def submit(cc: CC, path: str, form: dict[str, Any]) -> tuple[int, str, str | None]:
    """POST a form without following the redirect: (status, body, Location)."""
    async with cc.session.post(cc.url + path, data=form, allow_redirects=False) as resp:
        return resp.status, await resp.text(), resp.headers.get("Location")


async def test_list_shows_requests_newest_first_with_pending_tokens(cc: CC) -> None:
    status, html = await page(cc, "/")
    assert status == 200 and 'id="no-requests"' in html and 'http-equiv="refresh"' in html
    first = await cc.file_ok(description="Перше")
    cc.sim.faults.answer_with, cc.sim.faults.token_delay_seconds = "token", None
    await cc.file("light-off", description="Друге", **{"attribute[lamps]": "3"})
    _, html = await page(cc, "/")
    assert html.index("очікує номера") < html.index(first)  # newest (the token) first
    assert "Не працює вуличне освітлення" in html and "Перше" in html and "Відкрито" in html


async def test_request_page_shows_what_the_resident_sent(cc: CC) -> None:
    await cc.file("water-none", **{"attribute[scope]": "building", "attribute[entrance]": "3"})
    [r] = cc.sim.requests.values()
    status, html = await page(cc, f"/requests/{r.key}")
    assert status == 200
    for text in ("Олена Коваль", "+380671112233", "вул. Проскурівська, 1", "У всьому будинку",
                 "Відсутнє холодне водопостачання", 'id="status-form"', 'id="close-form"', 'id="deadline-form"'):
        assert text in html, text
    assert "test-key" not in html  # the api_key is masked
    assert (await page(cc, "/requests/nope"))[0] == 404


async def test_operator_assigns_a_number_then_moves_status_deadline_and_closes(cc: CC) -> None:
    cc.sim.faults.answer_with, cc.sim.faults.token_delay_seconds = "token", None
    _, answer = await cc.file()
    token = answer[0]["token"]
    [r] = cc.sim.requests.values()
    _, html = await page(cc, f"/requests/{r.key}")
    assert 'id="assign-form"' in html and 'id="status-form"' not in html

    status, _, location = await submit(cc, f"/requests/{r.key}/assign", {"service_request_id": ""})
    assert status == 303 and location == f"/requests/{r.key}"
    number = (await cc.get(B + f"/tokens/{token}.json"))[1][0]["service_request_id"]

    assert (await submit(cc, f"/requests/{r.key}/status", {"status": "in_progress", "notes": "Виїхали"}))[0] == 303
    assert (await submit(cc, f"/requests/{r.key}/deadline", {"date": "2026-12-02", "time": "17:30"}))[0] == 303
    assert (await submit(cc, f"/requests/{r.key}/close", {"status": "fixed", "notes": "Засипали яму"}))[0] == 303
    _, record = await cc.get(B + f"/requests/{number}.json")
    assert record[0]["status"] == "closed" and record[0]["status_notes"] == "Засипали яму"
    assert record[0]["expected_datetime"] == "2026-12-02T17:30:00+02:00"
    _, feed = await cc.get(B + "/servicerequestupdates.json")
    assert [(u["status"], u["description"]) for u in feed] == [("in_progress", "Виїхали"), ("fixed", "Засипали яму")]
    _, html = await page(cc, f"/requests/{r.key}")
    assert "02.12.2026 17:30" in html and "Засипали яму" in html and 'data-testid="history-row"' in html
    assert (await submit(cc, f"/requests/{r.key}/deadline", {"clear": "1"}))[0] == 303
    assert cc.sim.by_id[number].expected_at is None


async def test_bad_forms_show_an_error_and_change_nothing(cc: CC) -> None:
    number = await cc.file_ok()
    r = cc.sim.by_id[number]
    before = r.expected_at
    for path, form in ((f"/requests/{r.key}/status", {"status": "fixed"}),          # closing needs the close form
                       (f"/requests/{r.key}/status", {"status": "<b>"}),
                       (f"/requests/{r.key}/close", {"status": "fixed", "notes": "  "}),
                       (f"/requests/{r.key}/deadline", {"date": "02.12.2026", "time": "25:00"}),
                       (f"/requests/{r.key}/assign", {})):
        status, html, _ = await submit(cc, path, form)
        assert status == 400 and 'id="error"' in html, path
    assert cc.sim.updates == [] and r.expected_at == before and r.status == "open"


async def test_rating_is_visible_to_the_operator(cc: CC) -> None:
    number = await cc.file_ok()
    cc.sim.set_status(number, "fixed", "Готово")
    await cc.post(B + f"/x-chatbot/v1/requests/{number}/rating.json", {"api_key": "test-key", "rating": "5",
                                                                       "comment": "Швидко"})
    _, html = await page(cc, f"/requests/{cc.sim.by_id[number].key}")
    assert 'data-rating="5"' in html and "Оцінка: 5 з 5 — Швидко" in html


async def test_html_injection_through_any_field_is_escaped(cc: CC) -> None:
    """A description, name, address, attribute or header with markup is shown as text, never as HTML."""
    await cc.file("transport-schedule", description=INJECTION, first_name=INJECTION, address_string=INJECTION,
                  headers={"X-Evil": INJECTION},
                  **{"attribute[route]": INJECTION, "attribute[when]": "2026-11-28T08:00:00+02:00",
                     f"attribute[{INJECTION}]": INJECTION})
    [r] = cc.sim.requests.values()
    await cc.control("POST", "/outages", {"city_wide": True, "description": INJECTION})
    for path in ("/", f"/requests/{r.key}", "/outages"):
        _, html = await page(cc, path)
        assert "<script>" not in html and "<img" not in html, path
        assert "&lt;script&gt;" in html, path


async def test_faults_panel_sets_and_clears_faults(cc: CC) -> None:
    status, html = await page(cc, "/faults")
    assert status == 200 and 'id="fault-down"' in html
    form = {"down": "1", "slow_seconds": "0", "answer_with": "token", "token_delay_seconds": "",
            "refuse": "403", "refuse_count": "2"}
    status, _, location = await submit(cc, "/faults", form)
    assert status == 303 and location == "/faults"
    assert cc.sim.faults.to_dict() == {"down": True, "slow_seconds": 0.0, "answer_with": "token",
                                       "token_delay_seconds": None, "refuse": 403, "refuse_count": 2}
    _, html = await page(cc, "/")
    assert 'id="faults-summary"' in html
    await submit(cc, "/faults", {"slow_seconds": "0", "answer_with": "id", "token_delay_seconds": "2", "refuse": ""})
    assert cc.sim.faults.to_dict() == {"down": False, "slow_seconds": 0.0, "answer_with": "id",
                                       "token_delay_seconds": 2.0, "refuse": None, "refuse_count": None}
    status, html, _ = await submit(cc, "/faults", {"slow_seconds": "-5", "answer_with": "id"})
    assert status == 400 and 'id="error"' in html and cc.sim.faults.slow_seconds == 0


async def test_outages_panel_creates_moves_and_resolves(cc: CC) -> None:
    form = {"kind": "planned", "utility": "hot_water", "settlement": "Хмельницький",
            "addresses": "вул. Проскурівська | 2-20 парні\nвул. Зарічанська", "starts_date": "2026-12-01",
            "starts_time": "09:00", "ends_date": "2026-12-01", "ends_time": "17:00",
            "description": "Ремонт теплотраси", "contact_phone": "1580"}
    status, _, location = await submit(cc, "/outages", form)
    assert status == 303 and location == "/outages"
    _, feed = await cc.get(B + "/x-chatbot/v1/outages.json")
    [o] = feed
    assert o["addresses"] == [{"street": "вул. Проскурівська", "houses": "2-20 парні"},
                              {"street": "вул. Зарічанська", "houses": ""}]
    assert (o["starts_at"], o["ends_at"]) == ("2026-12-01T09:00:00+02:00", "2026-12-01T17:00:00+02:00")
    _, html = await page(cc, "/outages")
    assert f'id="resolve-{o["outage_id"]}"' in html
    assert (await submit(cc, f"/outages/{o['outage_id']}/ends", {"date": "2026-12-01", "time": "20:00"}))[0] == 303
    assert (await submit(cc, f"/outages/{o['outage_id']}/status", {"status": "resolved"}))[0] == 303
    _, feed = await cc.get(B + "/x-chatbot/v1/outages.json")
    assert (feed[0]["status"], feed[0]["ends_at"]) == ("resolved", "2026-12-01T20:00:00+02:00")
    status, html, _ = await submit(cc, "/outages", form | {"addresses": "", "city_wide": ""})
    assert status == 400 and 'id="error"' in html
    assert len((await cc.get(B + "/x-chatbot/v1/outages.json"))[1]) == 1
