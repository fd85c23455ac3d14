"""Every service serves health, readiness and metrics, and stops cleanly."""

from __future__ import annotations

import aiohttp

from chatbot_common.bus import create_bus
from chatbot_common.events import CloudEvent, InboundUnsubscribed, make_event, utcnow
from chatbot_common.runner import ServiceRuntime
from chatbot_common.settings import Settings
from chatbot_common.store import open_store


async def test_runtime_reports_health_readiness_and_metrics_then_stops(unique):
    handled: list[str] = []

    async def handle(event: CloudEvent) -> None:
        handled.append(event.id)

    runtime = ServiceRuntime("probe", Settings(), port=0, bus=create_bus(f"memory://run-{unique}"),
                             store=open_store("memory://", "probe", memory_namespace=unique))
    runtime.subscribe(f"probe-{unique}.events", ["inbound.#"], handle)
    await runtime.start(host="127.0.0.1")
    base = f"http://127.0.0.1:{runtime.bound_port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/healthz") as resp:
            assert resp.status == 200 and (await resp.json())["service"] == "probe"
        async with http.get(base + "/readyz") as resp:
            assert resp.status == 200
            assert await resp.json() == {"status": "ready", "started": True, "broker": True, "database": True}
        event = make_event(InboundUnsubscribed(channel="viber", channel_user_id="u", channel_message_id="1",
                                               sent_at=utcnow()), source="test")
        await runtime.bus.publish(event)
        for _ in range(100):
            if handled:
                break
            import asyncio

            await asyncio.sleep(0.02)
        async with http.get(base + "/metrics") as resp:
            text = await resp.text()
        assert f'chatbot_messages_handled_total{{queue="probe-{unique}.events"}} 1.0' in text
        assert "chatbot_handler_seconds_bucket" in text
        # failures not seen yet are reported as 0, so an alert's increase() sees the first one
        assert f'chatbot_messages_failed_total{{queue="probe-{unique}.events"}} 0.0' in text
        for reason in ("invalid", "permanent", "delivery_limit"):
            assert f'chatbot_messages_dead_lettered_total{{queue="probe-{unique}.events",reason="{reason}"}} 0.0' in text
        await runtime.stop()
        try:
            async with http.get(base + "/healthz"):
                raise AssertionError("still serving after stop")
        except aiohttp.ClientConnectionError:
            pass


async def test_readiness_is_503_when_the_broker_is_gone(unique):
    class DownBus(type(create_bus("memory://"))):  # type: ignore[misc]
        async def ping(self) -> bool:
            return False

    runtime = ServiceRuntime("probe", Settings(), port=0, bus=DownBus(),
                             store=open_store("memory://", "probe", memory_namespace=unique))
    await runtime.start(host="127.0.0.1")
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{runtime.bound_port}/readyz") as resp:
                assert resp.status == 503
                assert (await resp.json())["broker"] is False
    finally:
        await runtime.stop()
