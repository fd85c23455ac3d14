"""Wiring of the contactcenter-sync service: the bridge to the city's Contact Center
over Open311 GeoReport v2 (S9). docs/contactcenter.md describes it for an integrator.

- consumes ``contactcenter.tickets`` (ticket.submitted → stored; ticket.rated → stored
  and forwarded);
- one singleton job under the lease ``contactcenter-sync:contactcenter`` runs the
  submitter, the status poller, the service-list refresher and the outage import;
- outbox relays for the ``tickets``, ``services`` and ``outages`` collections;
- ``GET /services`` on the service's HTTP port: the latest service list (JSON);
- the operator chat bridge (:mod:`.chat`, docs/operator-chat.md): ``contactcenter.chat``,
  ``POST /chat/webhook``, its jobs under the lease ``contactcenter-sync:chat``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import structlog
from aiohttp import web

from chatbot_common.bus import Bus
from chatbot_common.events import utcnow
from chatbot_common.outbox import Outbox
from chatbot_common.runner import ServiceRuntime
from chatbot_common.store import Store
from chatbot_common.topology import queue

from . import chat
from .open311 import Open311Client
from .outages import OutageImport
from .settings import ContactCenterSyncSettings
from .sync import CONFIGURED, Clock, TicketSync

TICKETS_QUEUE = "contactcenter.tickets"
#: the service's TicketSync on ``runtime.app`` (tests and tools reach it through this key)
SYNC_KEY = web.AppKey("sync", TicketSync)
RELAY_SAFETY_SCAN = 30.0
log = structlog.get_logger("contactcenter.service")


def make_client(settings: ContactCenterSyncSettings) -> Open311Client | None:
    if not settings.contactcenter_configured:
        return None
    return Open311Client(
        settings.contactcenter_url.strip(),
        api_key=settings.contactcenter_api_key.get_secret_value(),
        jurisdiction_id=settings.contactcenter_jurisdiction_id or None,
        timeout=settings.contactcenter_timeout_seconds,
        ids_per_request=settings.contactcenter_ids_per_request,
    )


def build(settings: ContactCenterSyncSettings, *, bus: Bus | None = None, store: Store | None = None,
          clock: Clock | None = None, client: Open311Client | None = None) -> ServiceRuntime:
    """The service. ``clock`` (tests) judges deadlines; ``client`` replaces the one
    built from the settings."""
    runtime = ServiceRuntime("contactcenter-sync", settings, port=settings.contactcenter_sync_port, bus=bus, store=store)
    grace = settings.outbox_relay_seconds
    outboxes = {name: Outbox(runtime.bus, runtime.store, name, grace=grace) for name in ("tickets", "services", "outages")}
    client = client or make_client(settings)
    sync = TicketSync(settings, runtime.store, outboxes["tickets"], outboxes["services"], client, clock=clock or utcnow)
    outages = OutageImport(settings, runtime.store, outboxes["outages"], client)
    runtime.app[SYNC_KEY] = sync
    CONFIGURED.set(1 if client is not None else 0)

    async def prepare() -> None:
        await sync.setup()
        await outages.setup()

    async def contactcenter() -> None:
        if client is None:
            log.warning("contactcenter.not_configured",
                        detail="CONTACTCENTER_URL is empty: requests are stored and wait until it is set")
            await asyncio.Event().wait()
        jobs = [sync.submitter(), sync.poller(), sync.services_loop()]
        if settings.contactcenter_outages:
            jobs.append(outages.loop())
        await asyncio.gather(*jobs)

    async def close_client() -> None:
        if client is not None:
            await client.close()

    async def services_endpoint(_request: web.Request) -> web.Response:
        doc = await sync.stored_services()
        if doc is None:
            return web.json_response({"services": [], "fetched_at": None, "hash": None,
                                      "status": "not fetched yet"}, status=503)
        return web.json_response({"services": doc["services"], "fetched_at": _iso(doc.get("fetched_at")),
                                  "checked_at": _iso(doc.get("checked_at")), "hash": doc.get("hash")})

    runtime.on_prepare.append(prepare)
    runtime.on_stopping.append(close_client)
    runtime.app.router.add_get("/services", services_endpoint)
    spec = queue(TICKETS_QUEUE)
    runtime.subscribe(spec.name, list(spec.keys), sync.handle, single_active=spec.single_active)
    runtime.singleton("contactcenter", contactcenter)
    for name, outbox in outboxes.items():
        runtime.singleton(f"outbox-relay-{name}", _relay(outbox))
    chat.mount(runtime, settings, clock=clock, relay_safety_scan=RELAY_SAFETY_SCAN)
    return runtime


def _relay(outbox: Outbox) -> Any:
    async def relay() -> None:
        await outbox.relay(RELAY_SAFETY_SCAN)
    return relay


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
