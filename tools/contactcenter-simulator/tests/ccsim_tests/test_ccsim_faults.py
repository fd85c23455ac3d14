"""Fault modes, set from Python and over the control API: down, slow, tokens, refusals."""

from __future__ import annotations

import asyncio

import pytest

from ccsim import validate

from .helpers import B, CC


async def test_down_answers_503_on_every_open311_path_while_control_and_page_keep_working(cc: CC) -> None:
    number = await cc.file_ok()
    status, faults = await cc.control("POST", "/faults", {"down": True})
    assert status == 200 and faults["down"] is True
    for path in ("/services.json", "/requests.json", f"/requests/{number}.json", "/servicerequestupdates.json",
                 "/discovery.json", "/x-chatbot/v1/outages.json"):
        status, body = await cc.get(B + path)
        assert status == 503, path
        validate("error", body)
    status, _ = await cc.file()
    assert status == 503
    assert len(cc.sim.requests) == 1  # nothing filed while down
    assert (await cc.control("GET", "/requests"))[0] == 200
    async with cc.session.get(cc.url + "/") as resp:
        assert resp.status == 200
    cc.sim.faults.down = False  # from Python as well
    assert (await cc.file())[0] == 200


async def test_slow_holds_open311_answers_until_lifted_while_the_control_api_answers(cc: CC) -> None:
    """With slow_seconds set, a call stays unanswered while the control API answers at once;
    lowering the delay releases the waiting call, which then answers normally."""
    cc.sim.faults.slow_seconds = 600
    slow = asyncio.create_task(cc.get(B + "/services.json"))
    status, faults = await cc.control("GET", "/faults")
    assert status == 200 and faults["slow_seconds"] == 600
    await asyncio.sleep(0.2)
    assert not slow.done()
    await cc.control("POST", "/faults", {"slow_seconds": 0})
    status, services = await asyncio.wait_for(slow, timeout=10)
    assert status == 200 and services


async def test_slow_with_down_switched_on_meanwhile_answers_503(cc: CC) -> None:
    cc.sim.faults.slow_seconds = 600
    slow = asyncio.create_task(cc.file())
    await asyncio.sleep(0.1)
    cc.sim.faults.down = True
    cc.sim.faults.slow_seconds = 0
    status, _ = await asyncio.wait_for(slow, timeout=10)
    assert status == 503 and cc.sim.requests == {}


async def test_token_mode_resolves_after_the_delay(cc: CC) -> None:
    """answer_with=token → [{token, service_notice}]; tokens/{t} has no number until the delay
    passes, then the number, and the request becomes visible in requests.json."""
    cc.sim.faults.answer_with = "token"
    cc.sim.faults.token_delay_seconds = 30
    status, answer = await cc.file()
    assert status == 200
    validate("request_response", answer)
    assert set(answer[0]) == {"token", "service_notice"}
    token = answer[0]["token"]
    status, pending = await cc.get(B + f"/tokens/{token}.json")
    assert status == 200 and pending == [{"token": token}]
    validate("tokens", pending)
    assert (await cc.get(B + "/requests.json"))[1] == []
    cc.clock.advance(30)
    status, resolved = await cc.get(B + f"/tokens/{token}.json")
    validate("tokens", resolved)
    number = resolved[0]["service_request_id"]
    assert resolved == [{"token": token, "service_request_id": number}]
    assert [r["service_request_id"] for r in (await cc.get(B + "/requests.json"))[1]] == [number]


async def test_token_mode_manual_only_resolves_when_the_operator_assigns(cc: CC) -> None:
    await cc.control("POST", "/faults", {"answer_with": "token", "token_delay_seconds": None})
    _, answer = await cc.file()
    token = answer[0]["token"]
    cc.clock.advance(86400)
    assert (await cc.get(B + f"/tokens/{token}.json"))[1] == [{"token": token}]
    status, assigned = await cc.control("POST", f"/tokens/{token}/assign", {"service_request_id": "КЦ-777"})
    assert status == 200 and assigned == {"token": token, "service_request_id": "КЦ-777"}
    assert (await cc.get(B + f"/tokens/{token}.json"))[1] == [{"token": token, "service_request_id": "КЦ-777"}]
    # assigning again is idempotent; another number is a conflict; unknown token 404
    assert (await cc.control("POST", f"/tokens/{token}/assign"))[0] == 200
    assert (await cc.control("POST", f"/tokens/{token}/assign", {"service_request_id": "other"}))[0] == 409
    assert (await cc.control("POST", "/tokens/nope/assign"))[0] == 404


@pytest.mark.parametrize("code", [400, 403, 404])
async def test_refuse_for_the_next_n_posts_then_accept(cc: CC, code: int) -> None:
    status, faults = await cc.control("POST", "/faults", {"refuse": code, "refuse_count": 2})
    assert status == 200
    for _ in range(2):
        status, body = await cc.file()
        assert status == code
        validate("error", body)
        assert body[0]["code"] == code
    assert cc.sim.requests == {}
    assert (await cc.file())[0] == 200
    assert cc.sim.faults.refuse is None and len(cc.sim.requests) == 1


async def test_refuse_without_count_lasts_until_cleared(cc: CC) -> None:
    cc.sim.faults.refuse = 400
    for _ in range(3):
        assert (await cc.file())[0] == 400
    cc.sim.faults.refuse = None
    assert (await cc.file())[0] == 200


@pytest.mark.parametrize("change", [{"down": "yes"}, {"slow_seconds": -1}, {"answer_with": "sms"},
                                    {"refuse": 500}, {"refuse_count": 0}, {"token_delay_seconds": "soon"},
                                    {"unknown": 1}, {"refuse": True}])
async def test_bad_fault_settings_are_400_and_change_nothing(cc: CC, change: dict) -> None:
    before = cc.sim.faults.to_dict()
    status, body = await cc.control("POST", "/faults", change)
    assert status == 400 and body["error"]
    assert cc.sim.faults.to_dict() == before
