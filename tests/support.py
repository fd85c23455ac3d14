"""Helpers shared by test trees (imported as ``tests.support``; pytest's ``pythonpath``
puts the repository root on ``sys.path``)."""

from __future__ import annotations

import os

AMQP_TEST_URL = os.environ.get("AMQP_TEST_URL", "amqp://guest:guest@127.0.0.1:5672/")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


async def delete_queues(url: str, names: list[str]) -> None:
    import aio_pika

    conn = await aio_pika.connect(url)
    async with conn:
        channel = await conn.channel()
        for name in names:
            await channel.queue_delete(name)


def _rabbitmqctl() -> str:
    import shutil

    found = shutil.which("rabbitmqctl") or ("/usr/sbin/rabbitmqctl" if os.path.exists("/usr/sbin/rabbitmqctl") else None)
    if found is None:
        raise RuntimeError("rabbitmqctl not found: fault tests need the broker's own tools")
    return found


def rabbitmqctl(*args: str, timeout: float = 60.0) -> str:
    """Run ``rabbitmqctl`` (the local broker's tools) and return its output."""
    import subprocess

    done = subprocess.run([_rabbitmqctl(), *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr.strip()[:500]}")
    return done.stdout


def vhost_url(base_url: str, vhost: str) -> str:
    """``base_url`` with its virtual host replaced by ``vhost``."""
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), parts.query, parts.fragment))


def add_vhost(name: str) -> None:
    """A fresh virtual host for one test or module, so fault tests never disturb others."""
    from urllib.parse import urlsplit

    user = urlsplit(AMQP_TEST_URL).username or "guest"
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")


def delete_vhost(name: str) -> None:
    try:
        rabbitmqctl("delete_vhost", name)
    except Exception:  # noqa: BLE001 - best effort clean-up
        pass
