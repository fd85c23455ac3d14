"""Injected faults: consumed one per API call, in order, optionally per method."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from .helpers import BOT, Sim, StubWebhook, eventually


async def test_injected_faults_are_consumed_in_order_one_per_call(sim: Sim) -> None:
    await sim.client.faults([{"status": 12}, {"status": 6}, {"status": 5, "status_message": "gone"}])
    answers = [await sim.send_text("resident-1") for _ in range(4)]
    assert [a["status"] for a in answers] == [12, 6, 5, 0]
    assert answers[2]["status_message"] == "gone"
    records = await sim.client.requests("send_message")
    assert [r["status"] for r in records] == [12, 6, 5, 0]
    assert records[0]["fault"] == {"status": 12}


async def test_fault_with_method_filter_waits_for_that_method(sim: Sim) -> None:
    await sim.client.faults([{"method": "broadcast_message", "status": 12}, {"status": 3}])
    assert (await sim.send_text("resident-1"))["status"] == 3  # skips the broadcast-only fault
    body = {"type": "text", "text": "x", "sender": BOT, "broadcast_list": ["a"]}
    assert (await sim.call("broadcast_message", body))["status"] == 12
    assert (await sim.call("broadcast_message", body))["status"] == 0


async def test_http_fault_answers_that_http_status_and_is_recorded(sim: Sim) -> None:
    await sim.client.faults([{"http": 503}])
    async with sim.session.post(f"{sim.url}/pa/send_message", json={}) as resp:
        assert resp.status == 503
    [record] = await sim.client.requests()
    assert record["http"] == 503 and record["status"] is None


async def test_delay_fault_delays_then_answers_normally(sim: Sim) -> None:
    await sim.client.faults([{"delay": 0.3}])
    started = time.monotonic()
    answer = await sim.send_text("resident-1")
    assert time.monotonic() - started >= 0.3
    assert answer["status"] == 0


async def test_disconnect_fault_drops_the_connection(sim: Sim) -> None:
    await sim.client.faults([{"disconnect": True}])
    with pytest.raises(aiohttp.ClientConnectionError):
        await sim.send_text("resident-1")
    assert (await sim.send_text("resident-1"))["status"] == 0


async def test_failed_fault_accepts_the_message_then_posts_failed_callback(sim: Sim, webhook: StubWebhook) -> None:
    await sim.client.faults([{"failed": "keyboard is not supported"}])
    answer = await sim.send_text("resident-1")
    assert answer["status"] == 0
    [failed] = await eventually(lambda: webhook.events("failed"))
    assert failed.body["message_token"] == answer["message_token"]
    assert failed.body["desc"] == "keyboard is not supported"
    assert webhook.events("delivered") == []


async def test_malformed_fault_is_refused_with_http_400(sim: Sim) -> None:
    async with sim.session.post(f"{sim.url}/_sim/faults", json=[{"explode": True}]) as resp:
        assert resp.status == 400


async def test_reset_clears_records_and_pending_faults(sim: Sim) -> None:
    await sim.client.faults([{"status": 12}, {"status": 12}])
    await sim.send_text("resident-1")
    await sim.client.reset()
    assert await sim.client.requests() == []
    assert (await sim.send_text("resident-1"))["status"] == 0


async def test_concurrent_calls_each_consume_one_fault(sim: Sim) -> None:
    await sim.client.faults([{"status": 12}] * 5)
    answers = await asyncio.gather(*(sim.send_text(f"u{i}") for i in range(10)))
    assert sorted(a["status"] for a in answers) == [0] * 5 + [12] * 5
