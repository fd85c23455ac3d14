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


def add_vhost(name: str, amqp_url: str = AMQP_TEST_URL) -> str:
    """A fresh virtual host for one test, module or benchmark, so fault tests never
    disturb others; returns ``amqp_url`` pointed at it."""
    from urllib.parse import unquote, urlsplit

    user = unquote(urlsplit(amqp_url).username or "guest")
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
    return vhost_url(amqp_url, name)


def delete_vhost(name: str, *, warn: bool = False) -> None:
    """Best effort; ``warn`` says on stderr when it failed (a benchmark's left-over vhost)."""
    try:
        rabbitmqctl("delete_vhost", name)
    except Exception as exc:  # noqa: BLE001 - clean-up must not hide the outcome of what ran
        if warn:
            import sys

            print(f"warning: could not delete RabbitMQ vhost {name!r}: {exc}", file=sys.stderr)
