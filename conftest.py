"""Fixtures shared by every test tree.

RabbitMQ: tests marked ``rabbitmq`` use the broker at ``AMQP_TEST_URL`` (default the
local one). When it is unreachable they are skipped — unless ``REQUIRE_RABBITMQ=1``
(CI), where they fail, so broker tests can never silently pass by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.support import AMQP_TEST_URL, add_vhost, delete_vhost, vhost_url


def _rabbit_reachable() -> bool:
    """A plain TCP probe (fixtures may run inside an event loop, so no asyncio here)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(AMQP_TEST_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), timeout=3):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def rabbit_url() -> str:
    if not _rabbit_reachable():
        if os.environ.get("REQUIRE_RABBITMQ") == "1":
            pytest.fail(f"RabbitMQ required (REQUIRE_RABBITMQ=1) but not reachable at {AMQP_TEST_URL}")
        pytest.skip("RabbitMQ not reachable; set AMQP_TEST_URL or start rabbitmq-server")
    return AMQP_TEST_URL


@pytest.fixture
def vhost_amqp_url(rabbit_url: str) -> Iterator[str]:
    """An AMQP URL on a fresh virtual host of its own, deleted afterwards: each fault test
    gets a broker state nobody else sees (queues, exchanges, leftovers of killed runs)."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    add_vhost(name)
    try:
        yield vhost_url(rabbit_url, name)
    finally:
        delete_vhost(name)


@pytest.fixture
def unique() -> str:
    """A short unique suffix for queue names so tests never share broker state."""
    return uuid.uuid4().hex[:8]


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's headless Chromium; skipped when absent unless REQUIRE_BROWSER=1 (CI)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but no Chromium at {CHROMIUM} (apt-get install chromium)")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    return CHROMIUM


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # noqa: BLE001 - no engine, no socket, no permission: no Docker
        return False


@pytest.fixture(scope="session")
def mongodb_url() -> Iterator[str]:
    """A real MongoDB when ``MONGODB_URL`` is set or Docker can start one
    (testcontainers); otherwise the in-memory store. The same tests run on all three."""
    configured = os.environ.get("MONGODB_URL")
    if configured:
        yield configured
        return
    if _docker_available():
        from testcontainers.mongodb import MongoDbContainer

        with MongoDbContainer("mongo:7") as mongo:
            yield mongo.get_connection_url()
        return
    yield "memory://"
