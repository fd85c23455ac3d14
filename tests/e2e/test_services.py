"""Every service starts as its own process on real RabbitMQ, reports ready, exposes
metrics and exits cleanly on SIGTERM (T3); the gateway registers its webhook."""

from __future__ import annotations

import urllib.request

import pytest

from tests.e2e.conftest import clean_broker
from tests.e2e.harness import TOKEN, BotSystem, ServiceProcess, free_port
from vibersim.client import SimClient

pytestmark = pytest.mark.rabbitmq


@pytest.mark.parametrize(
    ("module", "port_var"),
    [("contactcenter_sync", "CONTACTCENTER_SYNC_PORT"), ("notifier", "NOTIFIER_PORT"), ("dialog", "DIALOG_PORT")],
)
async def test_service_process_becomes_ready_serves_metrics_and_stops_cleanly(rabbit_url, module, port_var):
    await clean_broker(rabbit_url)
    port = free_port()
    service = ServiceProcess(module, module, port, {"AMQP_URL": rabbit_url, "MONGODB_URL": "memory://",
                                                    port_var: str(port), "VIBER_AUTH_TOKEN": TOKEN})
    service.start()
    try:
        with urllib.request.urlopen(service.url + "/metrics", timeout=5) as resp:
            assert resp.status == 200
            assert b"chatbot_events_published_total" in resp.read()
    finally:
        code = service.stop()
    assert code == 0, service.logs()[-2000:]
    assert '"event": "service.stopped"' in service.logs()


async def test_gateway_registers_its_webhook_with_viber_at_start(system: BotSystem, sim: SimClient):
    state = await sim.state()
    assert state["webhook_url"] == system.webhook_url
    [call] = await sim.requests("set_webhook")
    assert call["status"] == 0 and call["token"] == TOKEN
