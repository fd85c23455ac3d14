"""End-to-end fixtures: the bot's processes on real RabbitMQ with the fake Viber API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import uuid

from tests.support import add_vhost, delete_queues, delete_vhost, vhost_url
from tests.e2e.harness import CitySystem, STATE_QUEUES, BotSystem
from vibersim.client import SimClient

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
def rabbit_url(rabbit_url: str):  # noqa: F811 - overrides the root fixture on purpose
    """Every end-to-end test on a fresh virtual host of its own (deleted afterwards): the
    services declare the whole topology there, and a killed run leaves nothing behind."""
    name = f"e2e-{uuid.uuid4().hex[:10]}"
    add_vhost(name)
    try:
        yield vhost_url(rabbit_url, name)
    finally:
        delete_vhost(name)


async def clean_broker(url: str) -> None:
    """Fixed queue names are shared by every run on this broker: start from empty."""
    await delete_queues(url, [*STATE_QUEUES, *(f"{q}.dead" for q in STATE_QUEUES)])


@pytest.fixture
def system_env() -> dict[str, str]:
    """Override per test (e.g. a low delivery limit)."""
    return {}


@pytest.fixture
async def system(rabbit_url: str, mongodb_url: str, system_env: dict[str, str]) -> AsyncIterator[BotSystem]:
    await clean_broker(rabbit_url)
    bot = BotSystem(amqp_url=rabbit_url, mongodb_url=mongodb_url, extra_env=system_env)
    try:
        bot.start()
        yield bot
    finally:
        codes = bot.stop()
    # Every service shuts down cleanly on SIGTERM (architecture: graceful shutdown).
    assert codes == {"gateway": 0, "dialog": 0, "vibersim": 0}, codes


@pytest.fixture
async def sim(system: BotSystem) -> AsyncIterator[SimClient]:
    async with SimClient(system.sim.url) as client:
        yield client
        # Whatever the test did: every message the fake Viber accepted from the bot is
        # one the official Viber SDK parses.
        for method in ("send_message", "broadcast_message"):
            for record in await client.requests(method):
                if record["status"] == 0:
                    assert_official_sdk_parses(record["body"])


def assert_official_sdk_parses(body: dict) -> None:
    from viberbot.api.messages import get_message

    message = {k: v for k, v in body.items() if k not in ("receiver", "broadcast_list")}
    parsed = get_message(message)
    assert parsed.text == message["text"]
    if "keyboard" in message:
        assert parsed.keyboard == message["keyboard"]


@pytest.fixture
async def city(rabbit_url: str, mongodb_url: str, system_env: dict[str, str]) -> AsyncIterator[CitySystem]:
    """Every service of the bot plus both simulators (Viber, the Contact Center)."""
    bot = CitySystem(amqp_url=rabbit_url, mongodb_url=mongodb_url, extra_env=system_env)
    try:
        bot.start()
        yield bot
    finally:
        codes = bot.stop()
    assert set(codes.values()) == {0}, codes  # every process stops cleanly on SIGTERM


@pytest.fixture
async def city_sim(city: CitySystem) -> AsyncIterator[SimClient]:
    async with SimClient(city.sim.url) as client:
        yield client
        for method in ("send_message", "broadcast_message"):
            for record in await client.requests(method):
                if record["status"] == 0:
                    assert_official_sdk_parses(record["body"])
