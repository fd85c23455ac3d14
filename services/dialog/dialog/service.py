"""Wiring of the dialog service."""

from __future__ import annotations

from pathlib import Path

from chatbot_common.bus import Bus
from chatbot_common.runner import ServiceRuntime
from chatbot_common.settings import Settings
from chatbot_common.store import Inbox, Store

from .conversation.context import build_context
from .handlers import InboundHandler
from .repository import ResidentRepository

INBOUND_QUEUE = "dialog.inbound"


def build(settings: Settings, *, bus: Bus | None = None, store: Store | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime("dialog", settings, port=settings.dialog_port, bus=bus, store=store)
    repository = ResidentRepository(runtime.store)
    inbox = Inbox(runtime.store, "inbox", ttl=settings.inbox_ttl)
    context = build_context(repository, data_dir=Path(settings.dialog_data_dir) if settings.dialog_data_dir else None)
    handler = InboundHandler(bus=runtime.bus, repository=repository, inbox=inbox, context=context)

    async def prepare() -> None:
        await repository.setup()
        await inbox.setup()

    runtime.on_prepare.append(prepare)
    runtime.subscribe(INBOUND_QUEUE, ["inbound.message", "inbound.conversation_started", "inbound.subscribed",
                                      "inbound.unsubscribed"], handler, single_active=True)
    return runtime
