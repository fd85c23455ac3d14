"""Leases: a singleton job (a poller, a scheduler) runs on exactly one replica.

A lease is one document in the service's own database, ``leases/<name>``:
``{"holder": <replica id>, "expires_at": <time>}``. A replica takes it when it is free
or expired, with one conditional write (the unique ``_id`` makes two takers collide, and
only one wins); the holder renews it every ``ttl / 3``. A holder that dies stops
renewing, and another replica takes over within ``ttl`` (plus one renewal period).

A holder that fails to renew in time (the database unreachable, the event loop stalled)
stops its job *before* the lease could have expired, so two replicas never run the job
at once as long as clocks agree within ``ttl / 3``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from .events import utcnow
from .store import Store

log = structlog.get_logger("chatbot.lease")


def replica_id() -> str:
    """Who holds a lease: host, process and a random part (a restarted process is a new
    holder, so it never mistakes its predecessor's lease for its own)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Lease:
    def __init__(self, store: Store, name: str, *, ttl: float = 15.0, holder: str | None = None,
                 collection: str = "leases") -> None:
        self.leases = store[collection]
        self.name = name
        self.ttl = ttl
        self.holder = holder or replica_id()

    async def try_acquire(self) -> bool:
        """Take or renew the lease; ``True`` when this replica holds it now."""
        now = utcnow()
        try:
            doc = await self.leases.find_one_and_update(
                {"_id": self.name, "$or": [{"holder": self.holder}, {"expires_at": {"$lt": now}}]},
                {"$set": {"holder": self.holder, "expires_at": now + timedelta(seconds=self.ttl), "renewed_at": now}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False  # held by another replica, not expired (the upsert collided)
        return bool(doc and doc.get("holder") == self.holder)

    async def release(self) -> None:
        await self.leases.delete_one({"_id": self.name, "holder": self.holder})

    async def holder_now(self) -> str | None:
        doc = await self.leases.find_one({"_id": self.name})
        return doc.get("holder") if doc and doc["expires_at"] > utcnow() else None

    async def run(self, job: Callable[[], Awaitable[None]]) -> None:
        """Forever: wait for the lease, run ``job`` while holding it, stop the job the
        moment a renewal fails. Cancel to stop (the lease is released)."""
        period = self.ttl / 3
        try:
            while True:
                if not await self._acquire_quietly():
                    await asyncio.sleep(period)
                    continue
                log.info("lease.acquired", lease=self.name)
                task = asyncio.create_task(job(), name=f"lease:{self.name}")
                try:
                    while not task.done():
                        done, _ = await asyncio.wait({task}, timeout=period)
                        if done:
                            break
                        if not await self._acquire_quietly():
                            log.warning("lease.lost", lease=self.name)
                            break
                finally:
                    if not task.done():
                        task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                if task.done() and not task.cancelled() and task.exception() is not None:
                    log.warning("lease.job_failed", lease=self.name, error=repr(task.exception())[:200])
                    await asyncio.sleep(period)
        finally:
            try:
                async with asyncio.timeout(3.0):
                    await self.release()
            except Exception:  # noqa: BLE001 - it expires on its own
                pass

    async def _acquire_quietly(self) -> bool:
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that lands as the awaited call completes, and the stop hangs.
            async with asyncio.timeout(self.ttl / 3):
                return await self.try_acquire()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the database may be gone for a while
            log.warning("lease.renew_failed", lease=self.name, error=repr(exc)[:200])
            return False
