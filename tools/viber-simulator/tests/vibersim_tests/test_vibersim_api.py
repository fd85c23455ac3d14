"""The fake REST API refuses what Viber refuses, with Viber's status numbers."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from viberbot.api.messages import get_message

from .helpers import BOT, TOKEN, Sim, SimFactory

TOKEN_FLOOR = 2**53


def keyboard(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "keyboard", "Buttons": list(buttons)}


def text_message(**extra: Any) -> dict[str, Any]:
    return {"receiver": "resident-1", "type": "text", "text": "Привіт", "sender": BOT, **extra}


async def test_wrong_auth_token_is_refused_with_status_2(sim: Sim) -> None:
    answer = await sim.call("send_message", text_message(), token="not-the-token")
    assert answer["status"] == 2
    assert "message_token" not in answer


async def test_missing_auth_token_is_refused_with_status_2_on_every_method(sim: Sim) -> None:
    for method in ("send_message", "broadcast_message", "set_webhook", "get_account_info"):
        assert (await sim.call(method, {}, token=None))["status"] == 2


async def test_accepted_message_answers_0_with_integer_token_above_2_53_and_chat_hostname(sim: Sim) -> None:
    answer = await sim.send_text("resident-1")
    assert answer["status"] == 0 and answer["status_message"] == "ok"
    assert isinstance(answer["message_token"], int) and answer["message_token"] > TOKEN_FLOOR
    assert answer["chat_hostname"].startswith("SN-CHAT-")


async def test_message_tokens_are_unique(sim: Sim) -> None:
    tokens = {(await sim.send_text("resident-1"))["message_token"] for _ in range(20)}
    assert len(tokens) == 20


async def test_text_of_7000_chars_is_accepted_and_7001_refused_with_status_3(sim: Sim) -> None:
    assert (await sim.send_text("resident-1", "ї" * 7000))["status"] == 0
    assert (await sim.send_text("resident-1", "ї" * 7001))["status"] == 3


async def test_body_over_30_kb_is_refused_with_status_3(sim: Sim) -> None:
    body = text_message(tracking_data="x", padding="y" * (30 * 1024))
    assert (await sim.call("send_message", body))["status"] == 3


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", b"\xff\xfe"])
async def test_malformed_body_is_refused_with_status_3(sim: Sim, raw: bytes) -> None:
    assert (await sim.call("send_message", raw))["status"] == 3


@pytest.mark.parametrize("drop", ["receiver", "sender", "type", "text"])
async def test_missing_required_field_is_refused_with_status_4(sim: Sim, drop: str) -> None:
    body = text_message()
    del body[drop]
    assert (await sim.call("send_message", body))["status"] == 4


async def test_sender_name_is_required_and_at_most_28_chars(sim: Sim) -> None:
    assert (await sim.call("send_message", text_message(sender={"avatar": "x"})))["status"] == 4
    assert (await sim.call("send_message", text_message(sender={"name": "Я" * 28})))["status"] == 0
    assert (await sim.call("send_message", text_message(sender={"name": "Я" * 29})))["status"] == 3


BAD_KEYBOARDS = {
    "button without ActionBody": keyboard({"Text": "Вода"}),
    "Columns 7": keyboard({"ActionBody": "a", "Columns": 7}),
    "Columns 0": keyboard({"ActionBody": "a", "Columns": 0}),
    "Rows 3": keyboard({"ActionBody": "a", "Rows": 3}),
    "unknown ActionType": keyboard({"ActionBody": "a", "ActionType": "call"}),
    "share-phone without min_api_version": keyboard({"ActionBody": "p", "ActionType": "share-phone"}),
    "Type missing": {"Buttons": [{"ActionBody": "a"}]},
    "Type wrong": {"Type": "rich_media", "Buttons": [{"ActionBody": "a"}]},
    "Buttons empty": keyboard(),
    "13 full-width rows": keyboard(*[{"ActionBody": str(i)} for i in range(13)]),
    "7 double-height rows": keyboard(*[{"ActionBody": str(i), "Rows": 2} for i in range(7)]),
    "bad BgColor": keyboard({"ActionBody": "a", "BgColor": "purple"}),
}


@pytest.mark.parametrize("case", sorted(BAD_KEYBOARDS))
async def test_bad_keyboard_is_refused_with_status_3(sim: Sim, case: str) -> None:
    answer = await sim.call("send_message", text_message(keyboard=BAD_KEYBOARDS[case]))
    assert answer["status"] == 3, answer


async def test_location_picker_with_min_api_version_2_is_refused_with_status_3(sim: Sim) -> None:
    kb = keyboard({"ActionBody": "loc", "ActionType": "location-picker"})
    assert (await sim.call("send_message", text_message(keyboard=kb, min_api_version=2)))["status"] == 3


async def test_full_12_row_keyboard_with_share_phone_and_min_api_version_3_is_accepted(sim: Sim) -> None:
    buttons = [{"ActionBody": "phone", "ActionType": "share-phone", "Columns": 3},
               {"ActionBody": "loc", "ActionType": "location-picker", "Columns": 3},
               {"ActionBody": "https://city.example.ua", "ActionType": "open-url", "Columns": 6},
               *[{"ActionBody": f"b{i}", "Columns": 2, "Rows": 1, "BgColor": "#2db9b9"} for i in range(30)]]
    body = text_message(keyboard=keyboard(*buttons), min_api_version=3)
    answer = await sim.call("send_message", body)
    assert answer["status"] == 0, answer
    get_message(body)  # the official SDK accepts the message shape too


async def test_broadcast_to_301_receivers_is_refused_and_to_300_accepted(sim: Sim) -> None:
    base = {"type": "text", "text": "Відключення води", "sender": BOT}
    too_many = await sim.call("broadcast_message", base | {"broadcast_list": [f"u{i}" for i in range(301)]})
    assert too_many["status"] == 3
    ok = await sim.call("broadcast_message", base | {"broadcast_list": [f"u{i}" for i in range(300)]})
    assert ok["status"] == 0 and ok["message_token"] > TOKEN_FLOOR and ok["failed_list"] == []


async def test_broadcast_without_list_is_missing_data_status_4(sim: Sim) -> None:
    assert (await sim.call("broadcast_message", {"type": "text", "text": "x", "sender": BOT}))["status"] == 4


async def test_broadcast_lists_unsubscribed_receivers_in_failed_list(sim: Sim) -> None:
    await sim.client.unsubscribe("gone")
    answer = await sim.call("broadcast_message", {"type": "text", "text": "x", "sender": BOT,
                                                  "broadcast_list": ["here", "gone"]})
    assert answer["status"] == 0
    assert [f["receiver"] for f in answer["failed_list"]] == ["gone"]
    assert answer["failed_list"][0]["status"] == 6


async def test_unknown_receivers_are_accepted_by_default(sim: Sim) -> None:
    assert (await sim.send_text("never-seen"))["status"] == 0


async def test_reject_unknown_receivers_answers_6_until_the_user_contacted_the_bot(make_sim: SimFactory) -> None:
    sim = await make_sim(reject_unknown_receivers=True)
    assert (await sim.send_text("resident-1"))["status"] == 6
    await sim.client.open("resident-1")
    assert (await sim.send_text("resident-1"))["status"] == 0


async def test_unsubscribed_user_gets_status_6_until_they_write_again(sim: Sim) -> None:
    await sim.client.unsubscribe("resident-1")
    assert (await sim.send_text("resident-1"))["status"] == 6
    await sim.client.say("resident-1", "я повернувся")
    assert (await sim.send_text("resident-1"))["status"] == 0


async def test_get_account_info_reports_webhook_and_subscribers(sim: Sim) -> None:
    await sim.client.subscribe("resident-1")
    info = await sim.call("get_account_info", {})
    assert info["status"] == 0
    assert info["webhook"] == (await sim.client.state())["webhook_url"]
    assert info["subscribers_count"] == 1
    assert {"id", "name", "uri", "icon", "members", "event_types"} <= set(info)


async def test_get_user_details_is_limited_to_two_calls_per_user(sim: Sim) -> None:
    await sim.client.set_user("resident-1", name="Олена")
    first = await sim.call("get_user_details", {"id": "resident-1"})
    assert first["status"] == 0 and first["user"]["name"] == "Олена"
    assert (await sim.call("get_user_details", {"id": "resident-1"}))["status"] == 0
    assert (await sim.call("get_user_details", {"id": "resident-1"}))["status"] == 12
    assert (await sim.call("get_user_details", {}))["status"] == 4


async def test_get_online_answers_per_id_and_refuses_over_100_ids(sim: Sim) -> None:
    await sim.client.say("resident-1", "привіт")
    answer = await sim.call("get_online", {"ids": ["resident-1", "stranger"]})
    assert answer["status"] == 0
    assert [u["online_status"] for u in answer["users"]] == [0, 1]
    assert (await sim.call("get_online", {"ids": [str(i) for i in range(101)]}))["status"] == 3


async def test_unknown_method_answers_http_404(sim: Sim) -> None:
    async with sim.session.post(f"{sim.url}/pa/no_such_method", json={}) as resp:
        assert resp.status == 404


async def test_every_call_is_recorded_with_the_status_it_answered(sim: Sim) -> None:
    await sim.send_text("resident-1", "перший")
    await sim.call("send_message", text_message(), token="wrong")
    await sim.call("get_account_info", {})
    records = await sim.client.requests("send_message")
    assert [(r["status"], r["token"]) for r in records] == [(0, TOKEN), (2, "wrong")]
    assert records[0]["body"]["text"] == "перший"
    assert isinstance(records[0]["at"], float)
    assert len(await sim.client.requests()) == 3


async def test_recorded_body_keeps_big_integers_exact(sim: Sim) -> None:
    big = 2**53 + 1
    await sim.call("send_message", text_message(tracking_data=json.dumps({"ref": big})))
    async with sim.session.get(f"{sim.url}/_sim/requests") as resp:
        raw = await resp.text()
    assert str(big) in raw
    assert json.loads(json.loads(raw)[0]["body"]["tracking_data"])["ref"] == big


async def test_bad_data_does_not_change_the_chat(sim: Sim) -> None:
    bad = copy.deepcopy(text_message(keyboard=keyboard({"Columns": 2})))
    await sim.call("send_message", bad)
    assert await sim.client.chat("resident-1") == []
