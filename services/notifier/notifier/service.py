"""Wiring of the notifier service: every message the bot starts itself (C1, C6, C9).

Consumes (``chatbot_common.topology``):

- ``notifier.residents`` (single active) → the audience projection (``audience``);
- ``notifier.outages`` (single active) → outage mailings (``outages``, ``mailings``);
- ``notifier.tickets`` → request notices (``tickets``);
- ``notifier.delivery`` → delivery figures per mailing (``mailings.Figures``).

Background: the mailings' outbox relay and the planned-works reminder run under leases
(one replica each); every replica publishes ``mailing.progress`` for the figures it
changed, at most every ``NOTIFIER_PROGRESS_SECONDS``. At start, an empty audience
projection asks the dialog for every resident (``audience.resync_requested``); the same
request is ``python -m notifier resync``. See docs/notifier.md.
"""

from __future__ import annotations

import structlog

from chatbot_common.bus import Bus, PublishError
from aiohttp import web
from pydantic import ValidationError

from chatbot_common.events import AudienceResyncRequested, CloudEvent, OutagePublished, make_event, utcnow
from chatbot_common.runner import ServiceRuntime
from chatbot_common.store import Inbox, Store
from chatbot_common.topology import queue

from .audience import Audience
from .mailings import SOURCE, Figures, Mailer
from .outages import Outages
from .settings import NotifierSettings
from .tickets import TicketNotices

log = structlog.get_logger("notifier")
#: The relay scans at start, soon after a publish failed, and at least this often.
RELAY_SAFETY_SCAN = 30.0
#: fields of an admin draft that are not part of the outage snapshot
PREVIEW_IGNORED = frozenset({"outage_id", "revision", "at", "id", "state", "changed"})


def resync_request(resident_ids: list[str] | None = None) -> CloudEvent:
    return make_event(AudienceResyncRequested(requested_by="notifier", resident_ids=resident_ids or []),
                      source=SOURCE)


class Notifier:
    """The notifier's parts, reachable from tests and the benchmark."""

    def __init__(self, runtime: ServiceRuntime, settings: NotifierSettings) -> None:
        self.runtime = runtime
        store = runtime.store
        self.audience = Audience(store)
        self.mailer = Mailer(runtime.bus, store, chunk_batches=settings.notifier_chunk_batches,
                             concurrency=settings.notifier_publish_concurrency, grace=settings.outbox_relay_seconds)
        self.figures = Figures(runtime.bus, store, self.mailer)
        self.outages = Outages(store, self.audience, self.mailer,
                               reminder_hours=settings.notifier_planned_reminder_hours)
        self.tickets = TicketNotices(runtime.bus, self.audience, Inbox(store, "ticket_inbox", ttl=settings.inbox_ttl))

    async def prepare(self) -> None:
        await self.audience.setup()
        await self.mailer.setup()
        await self.figures.setup()
        await self.outages.setup()
        await self.tickets.inbox.setup()
        await self.audience.load()

    async def request_resync_if_empty(self) -> bool:
        if not await self.audience.is_empty():
            return False
        try:
            await self.runtime.bus.publish(resync_request())
        except PublishError as exc:
            log.warning("audience.resync_not_requested", error=str(exc)[:200])
            return False
        log.info("audience.resync_requested")
        return True

    async def on_resident(self, event: CloudEvent) -> None:
        await self.audience.apply(event.payload(), event.time)

    async def preview(self, request: web.Request) -> web.Response:
        """``POST /api/audience/preview``: how many residents an outage draft would
        reach and how many (paid) messages that is — the admin panel's contract
        (docs/admin.md). Body: the outage fields (``OutageSnapshot`` without id,
        revision and time); a bad body → 422 naming the field."""
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("a JSON object is expected")
            draft = OutagePublished.model_validate(
                {**{k: v for k, v in body.items() if k not in PREVIEW_IGNORED},
                 "outage_id": "preview", "revision": 1, "at": utcnow().isoformat()})
        except ValidationError as exc:
            errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
            return web.json_response({"error": "invalid outage draft", "errors": errors}, status=422)
        except ValueError as exc:
            return web.json_response({"error": str(exc)[:200]}, status=422)
        await self.audience.refresh()
        rids = self.audience.index.match(draft)
        recipients = self.audience.index.recipients(rids)
        messages = len({receiver for _, receiver in recipients if receiver is not None})
        return web.json_response({"residents": len(rids), "messages": messages})


def build(settings: NotifierSettings, *, bus: Bus | None = None, store: Store | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime("notifier", settings, port=settings.notifier_port, bus=bus, store=store)
    notifier = Notifier(runtime, settings)
    runtime.notifier = notifier  # type: ignore[attr-defined]  # tests and the benchmark reach the parts here

    for name, handler in (
        ("notifier.residents", notifier.on_resident),
        ("notifier.outages", notifier.outages.handle),
        ("notifier.tickets", notifier.tickets.handle),
        ("notifier.delivery", notifier.figures.handle),
    ):
        spec = queue(name)
        runtime.subscribe(spec.name, list(spec.keys), handler, single_active=spec.single_active)

    runtime.app.router.add_post("/api/audience/preview", notifier.preview)
    runtime.on_prepare.append(notifier.prepare)
    runtime.on_started.append(notifier.request_resync_if_empty)
    runtime.singleton("mailings-relay", lambda: notifier.mailer.relay(RELAY_SAFETY_SCAN))
    runtime.singleton("planned-reminders", lambda: notifier.outages.reminders(settings.notifier_scheduler_seconds))
    runtime.background("mailing-progress", lambda: notifier.figures.reporter(settings.notifier_progress_seconds))
    return runtime
