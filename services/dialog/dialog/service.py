"""Wiring of the dialog service."""

from __future__ import annotations

import asyncio
from pathlib import Path

from chatbot_common.bus import Bus
from chatbot_common.outbox import Outbox
from chatbot_common.runner import ServiceRuntime
from chatbot_common.store import Inbox, Store
from chatbot_common.topology import queue

from .conversation.context import build_context
from .handlers import InboundHandler
from .repository import ResidentRepository
from .settings import DialogSettings

INBOUND_QUEUE = "dialog.inbound"
#: The relay scans at start, soon after a publish failed, and at least this often.
RELAY_SAFETY_SCAN = 30.0


def build(settings: DialogSettings, *, bus: Bus | None = None, store: Store | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime("dialog", settings, port=settings.dialog_port, bus=bus, store=store)
    grace = settings.outbox_relay_seconds  # an output waits this long before the relay takes it
    outbox = Outbox(runtime.bus, runtime.store, "residents", grace=grace)
    repository = ResidentRepository(runtime.store, outbox)
    inbox = Inbox(runtime.store, "inbox", ttl=settings.inbox_ttl)
    context = build_context(repository, data_dir=Path(settings.dialog_data_dir) if settings.dialog_data_dir else None)
    handler = InboundHandler(repository=repository, inbox=inbox, context=context)

    async def prepare() -> None:
        await repository.setup()
        await inbox.setup()

    async def relay() -> None:
        # The outbox relay: what the handling path could not publish or finish. It scans
        # at start (a crashed predecessor's leftovers), after a publish failed here (the
        # output is then older than ``grace``), and every RELAY_SAFETY_SCAN seconds (a
        # replica that died): a scan per second would cost more than the messages.
        while True:
            left = await repository.relay_once(grace)
            if outbox.failed.is_set() or left:
                outbox.failed.clear()
                await asyncio.sleep(grace)
                continue
            try:
                await asyncio.wait_for(outbox.failed.wait(), RELAY_SAFETY_SCAN)
                await asyncio.sleep(grace)
            except TimeoutError:
                pass

    runtime.on_prepare.append(prepare)
    spec = queue(INBOUND_QUEUE)
    runtime.subscribe(spec.name, list(spec.keys), handler, single_active=spec.single_active)
    runtime.singleton("outbox-relay", relay)
    return runtime
