"""Wiring of the dialog service."""

from __future__ import annotations

from pathlib import Path

from chatbot_common.bus import Bus
from chatbot_common.outbox import Outbox
from chatbot_common.runner import ServiceRuntime
from chatbot_common.store import Inbox, Store
from chatbot_common.topology import queue

from .chat_handler import ChatEventsHandler, idle_job
from .conversation.context import build_context
from .events_handler import EventsHandler, SurveysHandler
from .faq.answerer import FaqAnswerer
from .faq.kb import load_seed
from .faq.store import FaqStore
from .handlers import InboundHandler
from .projections import Projections
from .repository import ResidentRepository
from .settings import DialogSettings

INBOUND_QUEUE = "dialog.inbound"
EVENTS_QUEUE = "dialog.events"
CHAT_QUEUE = "dialog.chat"
SURVEYS_QUEUE = "dialog.surveys"
#: The relay scans at start, soon after a publish failed, and at least this often.
RELAY_SAFETY_SCAN = 30.0


def build(settings: DialogSettings, *, bus: Bus | None = None, store: Store | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime("dialog", settings, port=settings.dialog_port, bus=bus, store=store)
    grace = settings.outbox_relay_seconds  # an output waits this long before the relay takes it
    outbox = Outbox(runtime.bus, runtime.store, "residents", grace=grace)
    repository = ResidentRepository(runtime.store, outbox)
    inbox = Inbox(runtime.store, "inbox", ttl=settings.inbox_ttl)
    projections = Projections(runtime.store)
    faq_store = FaqStore(runtime.store)
    answerer = FaqAnswerer(store=faq_store) if settings.dialog_faq_enabled else None
    context = build_context(repository, data_dir=Path(settings.dialog_data_dir) if settings.dialog_data_dir else None,
                            records=projections, questions=answerer,
                            contact_center_phone=settings.dialog_contact_center_phone)
    handler = InboundHandler(repository=repository, inbox=inbox, context=context)
    events = EventsHandler(projections=projections, inbox=Inbox(runtime.store, "events_inbox", ttl=settings.inbox_ttl),
                           inbound=handler, repository=repository, bus=runtime.bus, faq=faq_store,
                           answerer=answerer)
    surveys = SurveysHandler(projections=projections)
    chat_events = ChatEventsHandler(inbound=handler, inbox=Inbox(runtime.store, "chat_inbox", ttl=settings.inbox_ttl))

    async def prepare() -> None:
        await repository.setup()
        await inbox.setup()
        await projections.setup()
        await events.inbox.setup()
        await chat_events.inbox.setup()
        await faq_store.setup()
        if answerer is not None:
            # Seeding is idempotent, so every replica may do it; a bad file stops the start.
            await faq_store.seed(load_seed(Path(settings.dialog_faq_file) if settings.dialog_faq_file else None))
            await answerer.refresh(force=True)

    async def relay() -> None:
        # The outbox relay, also finishing follow-up tasks and interrupted moves.
        await outbox.relay(RELAY_SAFETY_SCAN, scan=lambda: repository.relay_once(grace))

    runtime.on_prepare.append(prepare)
    spec = queue(INBOUND_QUEUE)
    runtime.subscribe(spec.name, list(spec.keys), handler, single_active=spec.single_active)
    events_spec = queue(EVENTS_QUEUE)
    runtime.subscribe(events_spec.name, list(events_spec.keys), events, single_active=events_spec.single_active)
    surveys_spec = queue(SURVEYS_QUEUE)
    runtime.subscribe(surveys_spec.name, list(surveys_spec.keys), surveys, single_active=surveys_spec.single_active)
    chat_spec = queue(CHAT_QUEUE)
    # one event at a time: a chat's events are handled in the order they were sent
    runtime.subscribe(chat_spec.name, list(chat_spec.keys), chat_events, single_active=chat_spec.single_active,
                      prefetch=1)
    runtime.singleton("outbox-relay", relay)
    runtime.singleton("chat-idle", lambda: idle_job(handler, repository, settings.dialog_chat_idle_minutes,
                                                    settings.dialog_chat_idle_scan_seconds))
    if answerer is not None:
        runtime.background("faq-refresh", lambda: answerer.keep_fresh(settings.dialog_faq_refresh_seconds))
    return runtime
