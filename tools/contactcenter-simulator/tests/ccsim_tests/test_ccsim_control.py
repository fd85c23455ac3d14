"""The JSON control API for tests that run the simulator as a separate process."""

from __future__ import annotations

from ccsim import validate

from .helpers import API_KEY, B, CC


async def test_control_requests_show_everything_received(cc: CC) -> None:
    number = await cc.file_ok("water-none", **{"attribute[scope]": "building", "email": "o@example.org"})
    status, items = await cc.control("GET", "/requests")
    assert status == 200
    [item] = items
    assert item["service_request_id"] == number and item["status"] == "open" and item["detail_status"] == "open"
    assert item["fields"]["first_name"] == "Олена" and item["fields"]["phone"] == "+380671112233"
    assert item["fields"]["email"] == "o@example.org" and item["attributes"] == {"scope": "building"}
    assert ["api_key", API_KEY] in item["form"]
    assert "Content-Type" in item["headers"]
    assert item["expected_datetime"] is not None
    status, posts = await cc.control("GET", "/posts")
    assert status == 200 and posts[0]["answer_status"] == 200 and posts[0]["request_key"] == item["key"]
    assert (await cc.control("GET", f"/requests/{number}"))[1]["key"] == item["key"]
    assert (await cc.control("GET", "/requests/nope"))[0] == 404


async def test_status_moves_add_updates_and_closing_statuses_close(cc: CC) -> None:
    number = await cc.file_ok()
    status, body = await cc.control("POST", f"/requests/{number}/status", {"status": "in_progress",
                                                                           "notes": "Бригада виїхала"})
    assert status == 200 and body["update"]["status"] == "in_progress"
    assert body["request"]["status"] == "open" and body["request"]["status_notes"] == "Бригада виїхала"
    status, body = await cc.control("POST", f"/requests/{number}/status",
                                    {"status": "fixed", "notes": "Яму засипано", "external_status_code": "F1"})
    assert status == 200 and body["request"]["status"] == "closed"
    _, record = await cc.get(B + f"/requests/{number}.json")
    validate("requests", record)
    assert record[0]["status"] == "closed" and record[0]["status_notes"] == "Яму засипано"
    _, feed = await cc.get(B + "/servicerequestupdates.json")
    assert [(u["status"], u["external_status_code"]) for u in feed] == [("in_progress", None), ("fixed", "F1")]
    assert len({u["update_id"] for u in feed}) == 2


async def test_bad_status_calls_are_refused_and_change_nothing(cc: CC) -> None:
    number = await cc.file_ok()
    for body, code in (({"status": "In Progress!"}, 400), ({}, 400), ({"status": "fixed", "notes": 5}, 400),
                       ({"status": "x" * 100}, 400)):
        assert (await cc.control("POST", f"/requests/{number}/status", body))[0] == code
    assert (await cc.control("POST", "/requests/none/status", {"status": "fixed"}))[0] == 404
    async with cc.session.post(cc.url + f"/control/requests/{number}/status", data=b"{not json") as resp:
        assert resp.status == 400
    assert cc.sim.updates == [] and cc.sim.by_id[number].status == "open"


async def test_status_of_a_token_without_a_number_is_409(cc: CC) -> None:
    cc.sim.faults.answer_with, cc.sim.faults.token_delay_seconds = "token", None
    _, answer = await cc.file()
    token = answer[0]["token"]
    status, body = await cc.control("POST", f"/requests/{token}/status", {"status": "in_progress"})
    assert status == 409 and "номер" in body["error"]


async def test_deadline_set_moved_cleared_and_bad_values_refused(cc: CC) -> None:
    number = await cc.file_ok("improvement-other", **{})  # a service without SLA: no deadline at first
    _, record = await cc.get(B + f"/requests/{number}.json")
    assert record[0]["expected_datetime"] is None
    cc.clock.advance(10)
    status, view = await cc.control("POST", f"/requests/{number}/deadline",
                                    {"expected_datetime": "2026-12-01T18:00:00+02:00"})
    assert status == 200 and view["expected_datetime"] == "2026-12-01T18:00:00+02:00"
    _, record = await cc.get(B + f"/requests/{number}.json")
    assert record[0]["expected_datetime"] == "2026-12-01T18:00:00+02:00"
    assert record[0]["updated_datetime"] > record[0]["requested_datetime"]
    await cc.control("POST", f"/requests/{number}/deadline", {"expected_datetime": "2026-12-03T16:00:00Z"})
    assert (await cc.get(B + f"/requests/{number}.json"))[1][0]["expected_datetime"] == "2026-12-03T18:00:00+02:00"
    for bad in ({"expected_datetime": "завтра"}, {}, {"expected_datetime": 5}):
        assert (await cc.control("POST", f"/requests/{number}/deadline", bad))[0] == 400
    assert (await cc.get(B + f"/requests/{number}.json"))[1][0]["expected_datetime"] == "2026-12-03T18:00:00+02:00"
    await cc.control("POST", f"/requests/{number}/deadline", {"expected_datetime": None})
    assert (await cc.get(B + f"/requests/{number}.json"))[1][0]["expected_datetime"] is None


async def test_reset_forgets_everything_and_restores_default_faults(cc: CC) -> None:
    number = await cc.file_ok()
    cc.sim.set_status(number, "fixed")
    await cc.control("POST", "/outages", {"city_wide": True})
    await cc.control("POST", "/faults", {"answer_with": "token"})
    assert (await cc.control("POST", "/reset"))[0] == 200
    assert (await cc.control("GET", "/requests"))[1] == []
    assert (await cc.control("GET", "/outages"))[1] == []
    assert (await cc.control("GET", "/faults"))[1]["answer_with"] == "id"
    assert (await cc.get(B + "/servicerequestupdates.json"))[1] == []
    assert len(cc.sim.services) >= 25
