"""Wiring of the admin service: the staff REST API under /api/v1 (issue 8), the staff's
web panel under /panel (issue 9, ``admin.panel``), its
consumers (mailing progress, outages imported from the contact center) and the relay."""

from __future__ import annotations

import asyncio
from functools import cache
from pathlib import Path

import structlog
from aiohttp import web

from chatbot_common.bus import Bus
from chatbot_common.directory import load_city
from chatbot_common.events import CloudEvent, FaqFeedback, MailingProgress, OutageSnapshot, SurveyAnswered
from chatbot_common.outbox import Outbox
from chatbot_common.runner import ServiceRuntime
from chatbot_common.store import Store
from chatbot_common.topology import queue

from .api import bearer_token, build_api
from .audit import AuditLog
from .http import Api
from .openapi import document
from .faq import COLLECTION as FAQ, QUESTIONS as FAQ_QUESTIONS, FaqRepository
from .info import COLLECTION as INFO, InfoRepository
from .mailings import GREETINGS, MAILINGS, GreetingsRepository, MailingRepository
from .outages import COLLECTION, OutageRepository
from .panel import Panel
from .settings import AdminSettings
from .staff import COLLECTION as STAFF, Staff, StaffRepository
from .surveys import COLLECTION as SURVEYS, SurveyRepository

log = structlog.get_logger("admin")
#: The relay scans at start, soon after a publish failed, and at least this often.
RELAY_SAFETY_SCAN = 30.0
OUTAGES_QUEUE = "admin.outages"
MAILINGS_QUEUE = "admin.mailings"
FAQ_QUEUE = "admin.faq"
SURVEYS_QUEUE = "admin.surveys"
#: what tests and the panel (issue 9) reach through ``runtime.app``
API = web.AppKey("admin.api", Api)
STAFF_REPOSITORY = web.AppKey("admin.staff", StaffRepository)
OUTAGE_REPOSITORY = web.AppKey("admin.outages", OutageRepository)
INFO_REPOSITORY = web.AppKey("admin.info", InfoRepository)
FAQ_REPOSITORY = web.AppKey("admin.faq", FaqRepository)
MAILING_REPOSITORY = web.AppKey("admin.mailings", MailingRepository)
GREETINGS_REPOSITORY = web.AppKey("admin.greetings", GreetingsRepository)
SURVEY_REPOSITORY = web.AppKey("admin.surveys", SurveyRepository)


def build(settings: AdminSettings, *, bus: Bus | None = None, store: Store | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime("admin", settings, port=settings.admin_port, bus=bus, store=store)
    grace = settings.outbox_relay_seconds
    city = load_city(Path(settings.admin_data_dir)) if settings.admin_data_dir else load_city()
    audit_log = AuditLog(runtime.store)
    outbox = Outbox(runtime.bus, runtime.store, COLLECTION, grace=grace)
    outages = OutageRepository(runtime.store, outbox, audit_log)
    info_outbox = Outbox(runtime.bus, runtime.store, INFO, grace=grace)
    info_outbox.failed = outbox.failed  # one relay job watches both outboxes
    info = InfoRepository(runtime.store, info_outbox, audit_log, city)
    faq_outbox = Outbox(runtime.bus, runtime.store, FAQ, grace=grace)
    faq_outbox.failed = outbox.failed
    faq = FaqRepository(runtime.store, faq_outbox, audit_log, city,
                        Path(settings.admin_faq_file) if settings.admin_faq_file else None)
    mailings_outbox = Outbox(runtime.bus, runtime.store, MAILINGS, grace=grace)
    mailings_outbox.failed = outbox.failed
    mailings = MailingRepository(runtime.store, mailings_outbox, audit_log, city, outages.figures)
    greetings_outbox = Outbox(runtime.bus, runtime.store, GREETINGS, grace=grace)
    greetings_outbox.failed = outbox.failed
    greetings = GreetingsRepository(runtime.store, greetings_outbox, audit_log, city, outages.figures)
    surveys_outbox = Outbox(runtime.bus, runtime.store, SURVEYS, grace=grace)
    surveys_outbox.failed = outbox.failed
    surveys = SurveyRepository(runtime.store, surveys_outbox, audit_log, city, outages.figures)
    staff = StaffRepository(runtime.store, audit_log, token_ttl=settings.admin_token_ttl_seconds,
                            attempts=settings.admin_login_attempts, window=settings.admin_login_window_seconds)

    @cache
    def openapi() -> dict:
        return document(api)

    api = build_api(staff=staff, outages=outages, audit_log=audit_log, city=city, openapi=openapi, info=info,
                    faq=faq, mailings=mailings, greetings=greetings, notifier_url=settings.admin_notifier_url,
                    price_uah=settings.admin_message_price_uah, surveys=surveys)

    async def authenticate(request: web.Request) -> Staff:
        return await staff.authenticate(bearer_token(request))

    api.mount(runtime.app, authenticate)
    runtime.app[API] = api
    runtime.app[STAFF_REPOSITORY] = staff
    runtime.app[OUTAGE_REPOSITORY] = outages
    runtime.app[INFO_REPOSITORY] = info
    runtime.app[FAQ_REPOSITORY] = faq
    runtime.app[MAILING_REPOSITORY] = mailings
    runtime.app[GREETINGS_REPOSITORY] = greetings
    runtime.app[SURVEY_REPOSITORY] = surveys
    panel = Panel(settings=settings, api=api, staff=staff, city=city, store=runtime.store)
    panel.mount(runtime.app)

    async def prepare() -> None:
        await audit_log.setup(COLLECTION, STAFF, INFO, FAQ, FAQ_QUESTIONS, MAILINGS, GREETINGS, SURVEYS)
        await staff.setup()
        await outages.setup()
        await panel.setup()
        await info.setup()
        await faq.setup()
        await mailings.setup()
        await greetings.setup()
        await surveys.setup()
        password = settings.admin_bootstrap_password.get_secret_value() if settings.admin_bootstrap_password else None
        await staff.bootstrap(settings.admin_bootstrap_email, password)

    async def on_outage(event: CloudEvent) -> None:
        data = event.payload()
        if isinstance(data, OutageSnapshot) and data.source != "admin":
            await outages.import_external(data)  # our own events: already in the store

    async def on_mailing(event: CloudEvent) -> None:
        data = event.payload()
        # figures per (subject, subject_id, mailing_id): outages, staff mailings, greetings
        if isinstance(data, MailingProgress) and data.subject in ("outage", "mailing", "greeting", "survey"):
            await outages.figures.record(data)

    async def on_faq_feedback(event: CloudEvent) -> None:
        data = event.payload()
        if isinstance(data, FaqFeedback):
            await faq.record_feedback(event.id, data)

    async def on_survey_answered(event: CloudEvent) -> None:
        data = event.payload()
        if isinstance(data, SurveyAnswered):
            await surveys.record_answer(data)  # one per (survey, resident); the resident id is not kept

    async def survey_lifecycle() -> None:
        # scheduled → active at the start, → closed at the end; conditional writes: once
        while True:
            try:
                await surveys.tick()
            except Exception:  # noqa: BLE001 - the store hiccuped: try again next round
                log.exception("survey_lifecycle.failed")
            await asyncio.sleep(settings.admin_survey_tick_seconds)

    async def relay() -> None:
        async def scan() -> None:
            await outages.relay_once(grace)
            await info.relay_once(grace)
            await faq.relay_once(grace)
            await mailings.relay_once(grace)
            await greetings.relay_once(grace)
            await surveys.relay_once(grace)

        await outbox.relay(RELAY_SAFETY_SCAN, scan=scan)

    runtime.on_prepare.append(prepare)
    for name, handler in ((OUTAGES_QUEUE, on_outage), (MAILINGS_QUEUE, on_mailing),
                          (FAQ_QUEUE, on_faq_feedback), (SURVEYS_QUEUE, on_survey_answered)):
        spec = queue(name)
        runtime.subscribe(spec.name, list(spec.keys), handler, single_active=spec.single_active)
    runtime.singleton("outbox-relay", relay)
    runtime.singleton("survey-lifecycle", survey_lifecycle)
    return runtime
