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
