"""Our documented extensions: Idempotency-Key, rating, reopen, the updates feed with
overlapping windows, and the outage feed."""

from __future__ import annotations

from typing import Any

import pytest

from ccsim import validate

from .helpers import API_KEY, B, CC

X = B + "/x-chatbot/v1"


async def test_idempotency_key_repeat_returns_the_first_answer_and_creates_nothing(cc: CC) -> None:
    first = await cc.file(headers={"Idempotency-Key": "ticket-42"})
    again = await cc.file(headers={"Idempotency-Key": "ticket-42"}, description="інший текст")
    other = await cc.file(headers={"Idempotency-Key": "ticket-43"})
    assert first[0] == again[0] == other[0] == 200
    assert again[1] == first[1]
    assert other[1][0]["service_request_id"] != first[1][0]["service_request_id"]
    assert len(cc.sim.requests) == 2
    assert [p.replayed for p in cc.sim.posts] == [False, True, False]


async def test_idempotency_key_in_token_mode_returns_the_same_token(cc: CC) -> None:
    cc.sim.faults.answer_with = "token"
    first = await cc.file(headers={"Idempotency-Key": "t-1"})
    cc.sim.faults.answer_with = "id"  # the mode changed meanwhile: the first answer still wins
    again = await cc.file(headers={"Idempotency-Key": "t-1"})
    assert again[1] == first[1] and "token" in again[1][0]
    assert len(cc.sim.requests) == 1


async def test_a_refused_post_is_not_remembered_so_the_retry_is_filed(cc: CC) -> None:
    cc.sim.faults.refuse, cc.sim.faults.refuse_count = 400, 1
    assert (await cc.file(headers={"Idempotency-Key": "k"}))[0] == 400
    status, answer = await cc.file(headers={"Idempotency-Key": "k"})
    assert status == 200 and "service_request_id" in answer[0]


async def test_rating_is_stored_replaced_on_repeat_and_validates(cc: CC) -> None:
    number = await cc.file_ok()
    status, body = await cc.post(X + f"/requests/{number}/rating.json",
                                 {"api_key": API_KEY, "rating": "4", "comment": "Дякую"})
    assert status == 200 and body == [{"service_request_id": number, "rating": 4}]
    validate("rating", body)
    status, body = await cc.post(X + f"/requests/{number}/rating.json", {"api_key": API_KEY, "rating": "2"})
    assert status == 200
    _, ratings = await cc.control("GET", "/ratings")
    assert [(r["service_request_id"], r["rating"], r["comment"], r["times"]) for r in ratings] == [
        (number, 2, None, 2)]


@pytest.mark.parametrize(("form", "code"), [({"rating": "0"}, 400), ({"rating": "6"}, 400), ({"rating": "x"}, 400),
                                            ({"rating": "3.5"}, 400), ({}, 400),
                                            ({"rating": "5", "api_key": "bad"}, 403)])
async def test_bad_ratings_are_refused_and_store_nothing(cc: CC, form: dict[str, str], code: int) -> None:
    number = await cc.file_ok()
    status, body = await cc.post(X + f"/requests/{number}/rating.json", {"api_key": API_KEY} | form)
    assert status == code
    validate("error", body)
    assert cc.sim.ratings == {}


async def test_rating_and_reopen_of_an_unknown_request_are_404(cc: CC) -> None:
    for action in ("rating", "reopen"):
        status, body = await cc.post(X + f"/requests/nope/{action}.json", {"api_key": API_KEY, "rating": "5"})
        assert status == 404
        validate("error", body)


async def test_reopen_opens_a_closed_request_and_publishes_one_reopen_update(cc: CC) -> None:
    number = await cc.file_ok()
    cc.sim.set_status(number, "fixed", "Яму засипано")
    status, body = await cc.post(X + f"/requests/{number}/reopen.json",
                                 {"api_key": API_KEY, "reason": "Яма знову з'явилась"})
    assert status == 200 and body == [{"service_request_id": number, "status": "open"}]
    validate("reopen", body)
    await cc.post(X + f"/requests/{number}/reopen.json", {"api_key": API_KEY})  # a repeat adds nothing
    _, record = await cc.get(B + f"/requests/{number}.json")
    assert record[0]["status"] == "open"
    _, feed = await cc.get(B + "/servicerequestupdates.json")
    assert [(u["status"], u["description"]) for u in feed] == [("fixed", "Яму засипано"),
                                                               ("reopen", "Яма знову з'явилась")]
    assert (await cc.post(X + f"/requests/{number}/reopen.json", {"api_key": "bad"}))[0] == 403


async def test_updates_feed_windows_overlap_without_losing_or_inventing_updates(cc: CC) -> None:
    """Updates carry unique ids and instants; start/end are inclusive, so polling with an
    overlap returns the boundary update twice (same update_id) and never misses one."""
    a, b = await cc.file_ok(), await cc.file_ok()
    cc.clock.advance(60)
    u1 = cc.sim.set_status(a, "in_progress", "Бригада виїхала")
    cc.clock.advance(60)
    u2 = cc.sim.set_status(b, "action_scheduled")
    cc.clock.advance(60)
    u3 = cc.sim.set_status(a, "fixed", "Виконано")
    cc.sim.set_status(b, "something_new")  # a status nobody knows is passed through as is

    async def window(**params: str) -> list[str]:
        status, feed = await cc.get(B + "/servicerequestupdates.json", **params)
        assert status == 200, feed
        validate("updates", feed)
        return [u["update_id"] for u in feed]

    everything = await window()
    assert len(everything) == len(set(everything)) == 4
    t1, t2 = u1.record()["updated_datetime"], u2.record()["updated_datetime"]
    t3 = u3.record()["updated_datetime"]
    first = await window(start_date="2026-11-29T09:00:00+02:00", end_date=t2)
    second = await window(start_date=t2, end_date="2026-11-30T00:00:00+02:00")  # overlaps at t2
    assert first == [u1.update_id, u2.update_id]
    assert second[0] == u2.update_id and set(first) | set(second) == set(everything)
    assert await window(start_date=t1, end_date=t1) == [u1.update_id]
    assert await window(start_date=t3) == everything[2:]
    _, feed = await cc.get(B + "/servicerequestupdates.json")
    assert feed[3]["status"] == "something_new" and feed[2]["description"] == "Виконано"
    assert (await cc.get(B + "/servicerequestupdates.json", start_date="вчора"))[0] == 400


OUTAGE: dict[str, Any] = {
    "kind": "emergency", "utility": "cold_water", "addresses": [{"street": "вул. Проскурівська", "houses": "1-15"},
                                                                {"street": "вул. Соборна", "houses": ""}],
    "starts_at": "2026-11-29T09:00:00+02:00", "ends_at": "2026-11-29T18:00:00+02:00",
    "description": "Аварійний ремонт водогону", "contact_phone": "1580",
}


async def test_outage_feed_publishes_changes_after_updated_after(cc: CC) -> None:
    status, created = await cc.control("POST", "/outages", OUTAGE)
    assert status == 201 and created["status"] == "active" and created["settlement"] == "Хмельницький"
    validate("outages", [created])
    seen_at = created["updated_datetime"]
    cc.clock.advance(120)
    status, feed = await cc.get(X + "/outages.json")
    assert status == 200 and [o["outage_id"] for o in feed] == [created["outage_id"]]
    validate("outages", feed)
    assert (await cc.get(X + "/outages.json", updated_after=seen_at))[1] == []
    status, moved = await cc.control("PATCH", f"/outages/{created['outage_id']}",
                                     {"ends_at": "2026-11-29T21:00:00+02:00"})
    assert status == 200 and moved["ends_at"] == "2026-11-29T21:00:00+02:00"
    cc.clock.advance(120)
    await cc.control("PATCH", f"/outages/{created['outage_id']}", {"status": "resolved"})
    _, feed = await cc.get(X + "/outages.json", updated_after=seen_at)
    validate("outages", feed)
    assert [(o["outage_id"], o["status"]) for o in feed] == [(created["outage_id"], "resolved")]
    assert feed[0]["updated_datetime"] > seen_at


@pytest.mark.parametrize("bad", [{"kind": "sudden"}, {"utility": "water"}, {"status": "done"},
                                 {"addresses": [{"street": ""}]}, {"addresses": []},
                                 {"ends_at": "2026-11-28T00:00:00+02:00"}, {"starts_at": "завтра"},
                                 {"city_wide": "yes"}, {"extra": 1}])
async def test_bad_outages_are_400_and_publish_nothing(cc: CC, bad: dict[str, Any]) -> None:
    status, body = await cc.control("POST", "/outages", OUTAGE | bad)
    assert status == 400 and body["error"]
    assert (await cc.get(X + "/outages.json"))[1] == []


async def test_city_wide_outage_needs_no_addresses_and_patch_checks_too(cc: CC) -> None:
    status, created = await cc.control("POST", "/outages", {"utility": "heating", "city_wide": True})
    assert status == 201 and created["addresses"] == [] and created["kind"] == "planned"
    oid = created["outage_id"]
    assert (await cc.control("PATCH", f"/outages/{oid}", {"status": "gone"}))[0] == 400
    assert (await cc.control("PATCH", "/outages/none", {"status": "resolved"}))[0] == 404
    assert (await cc.control("POST", "/outages", {"outage_id": oid, "city_wide": True}))[0] == 409
    assert (await cc.control("GET", "/outages"))[1][0]["status"] == "active"
