"""Document store: MongoDB via PyMongo's async client, or in-memory (mongomock).

``MONGODB_URL=mongodb://…`` → ``pymongo.AsyncMongoClient``; ``memory://`` → an in-process
mongomock database with the same API shape (testing.md). Each service opens only its
own database (architecture: a service reads and writes only its own data).

The few calls whose shape differs between the two (``aggregate``, sessions) stay behind
this module. Callers use ``find_one``, ``find``, ``insert_one``, ``update_one``,
``replace_one``, ``delete_one``/``delete_many`` and ``create_index``, which behave alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from pymongo.errors import DuplicateKeyError

from .events import utcnow

log = structlog.get_logger("chatbot.store")

_memory_clients: dict[str, Any] = {}


@dataclass
class Store:
    """A handle on one service's database."""

    client: Any
    db: Any
    in_memory: bool

    def __getitem__(self, collection: str) -> Any:
        return self.db[collection]

    async def ping(self) -> bool:
        if self.in_memory:
            return True
        try:
            await self.client.admin.command("ping")
            return True
        except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
            log.warning("store.ping_failed", error=repr(exc)[:200])
            return False

    async def aggregate(self, collection: str, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """PyMongo's async ``aggregate`` must be awaited for the cursor; mongomock's not."""
        result = self.db[collection].aggregate(pipeline)
        if hasattr(result, "__await__"):
            result = await result
        return [doc async for doc in result]

    async def close(self) -> None:
        if not self.in_memory:
            await self.client.close()


def open_store(url: str, database: str, *, memory_namespace: str = "default") -> Store:
    """Open ``database`` at ``url``. In-memory databases live as long as the process;
    ``memory_namespace`` keeps separate in-process "servers" apart (tests)."""
    if url.startswith("memory://"):
        from mongomock_motor import AsyncMongoMockClient

        from . import memory_store

        memory_store.apply()
        client = _memory_clients.get(memory_namespace)
        if client is None:
            client = _memory_clients[memory_namespace] = AsyncMongoMockClient(tz_aware=True)
        return Store(client=client, db=client[database], in_memory=True)
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from pymongo import AsyncMongoClient

        client = AsyncMongoClient(url, tz_aware=True, serverSelectionTimeoutMS=5000)
        return Store(client=client, db=client[database], in_memory=False)
    raise ValueError("MONGODB_URL must be memory:// or mongodb://…")


class Inbox:
    """Remembers handled event ids so a redelivered event is skipped (at-least-once →
    effectively once). Unique ``_id`` + TTL index on ``handled_at``; services pass
    ``ttl=settings.inbox_ttl`` (``INBOX_TTL_DAYS``)."""

    def __init__(self, store: Store, collection: str = "inbox", ttl: timedelta = timedelta(days=7)) -> None:
        self.collection = store[collection]
        self.ttl = ttl

    async def setup(self) -> None:
        await self.collection.create_index("handled_at", expireAfterSeconds=int(self.ttl.total_seconds()))

    async def seen(self, event_id: str) -> bool:
        return await self.collection.find_one({"_id": event_id}, {"_id": 1}) is not None

    async def remember(self, event_id: str) -> None:
        try:
            await self.collection.insert_one({"_id": event_id, "handled_at": utcnow()})
        except DuplicateKeyError:
            pass
