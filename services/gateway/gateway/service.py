"""Wiring of the gateway: webhook in, two outbound lanes out, their outbox relay,
set_webhook at start."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import aiohttp
import structlog
from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, stop_after_attempt, wait_exponential

from chatbot_common.bus import Bus
from chatbot_common.outbox import Outbox
from chatbot_common.runner import ServiceRuntime
from chatbot_common.settings import DEMO_TOKEN, VIBER_PUBLIC_API
from chatbot_common.store import Inbox, Store

from .outbound import OutboundLane
from .viber_api import ViberApi
from .window import WindowLimiter
from .webhook import Webhook

if TYPE_CHECKING:
    from .settings import GatewaySettings

log = structlog.get_logger("gateway")
REPLIES_QUEUE = "gateway.viber-replies"
MAILINGS_QUEUE = "gateway.viber-mailings"
WEBHOOK_PATH = "/viber/webhook"
CALLBACK_MEMORY = timedelta(days=2)
#: One document per outbound event: its claim, its outcome and its outbox (outbound.py).
SENT_BATCHES = "sent_batches"
#: Viber calls: ``connect`` (a pooled connection or a new one, before a byte is
#: written) fails as "not sent"; whatever times out later, up to ``total``, may have
#: reached Viber (viber_api.py).
VIBER_TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)


def bulk_limiter(calls_per_10s: int) -> WindowLimiter:
    """At most ``calls_per_10s`` broadcast calls in *any* 10-second window (Viber counts
    ``broadcast_message`` calls in a sliding window, ≤ 500 per 10 s): a burst that fits
    the window goes at once (window.py)."""
    if calls_per_10s < 2:
        raise ValueError("VIBER_BULK_CALLS_PER_10S must be at least 2")
    return WindowLimiter(calls_per_10s, 10.0)


def secret(value: object) -> str:
    """The plain value of a setting that may be a ``SecretStr``."""
    reveal = getattr(value, "get_secret_value", None)
    return str(reveal() if reveal is not None else value or "")


def bulk_connector(settings: GatewaySettings) -> aiohttp.TCPConnector:
    """The mailing lane's connection pool: ``VIBER_BULK_CONCURRENCY`` connections, each
    reused only within ``VIBER_BULK_KEEPALIVE_SECONDS`` of its last answer; 0 opens a
    fresh connection for every broadcast."""
    idle = settings.viber_bulk_keepalive_seconds
    if idle <= 0:
        return aiohttp.TCPConnector(limit=settings.viber_bulk_concurrency, force_close=True)
    return aiohttp.TCPConnector(limit=settings.viber_bulk_concurrency, keepalive_timeout=idle)


def build(settings: GatewaySettings, *, bus: Bus | None = None, store: Store | None = None,
          viber_timeout: aiohttp.ClientTimeout = VIBER_TIMEOUT) -> ServiceRuntime:
    token = secret(settings.viber_auth_token)
    if not token:
        raise ValueError("VIBER_AUTH_TOKEN must be set: it signs every callback the gateway accepts")
    if token == DEMO_TOKEN and settings.viber_api_url.rstrip("/") == VIBER_PUBLIC_API:
        # The published demo token would let anyone forge callbacks to a live bot.
        raise ValueError("VIBER_AUTH_TOKEN is the demo token but VIBER_API_URL is Viber's real API: set the bot's token")
    mailings_limiter = bulk_limiter(settings.viber_bulk_calls_per_10s)  # a bad setting fails at start
    runtime = ServiceRuntime("gateway", settings, port=settings.gateway_port, bus=bus, store=store)
    # Viber retries a callback for about an hour: two days of keys is plenty.
    callbacks = Inbox(runtime.store, "callbacks", ttl=CALLBACK_MEMORY)
    outbox = Outbox(runtime.bus, runtime.store, SENT_BATCHES, grace=settings.outbox_relay_seconds)
    webhook = Webhook(
        token=token, bus=runtime.bus, callbacks=callbacks,
        sender_name=settings.viber_sender_name, sender_avatar=settings.viber_sender_avatar,
    )
    runtime.app.router.add_post(WEBHOOK_PATH, webhook.handle)
    sessions: list[aiohttp.ClientSession] = []

    def lane(name: str, limiter: AsyncLimiter | WindowLimiter, connector: aiohttp.TCPConnector, *, resend_unknown: bool) -> OutboundLane:
        session = aiohttp.ClientSession(connector=connector, timeout=viber_timeout)
        sessions.append(session)
        return OutboundLane(
            name=name, api=ViberApi(settings.viber_api_url, token, session), bus=runtime.bus,
            outbox=outbox, limiter=limiter, sender_name=settings.viber_sender_name,
            sender_avatar=settings.viber_sender_avatar, attempts=settings.viber_send_attempts,
            resend_unknown=resend_unknown,
        )

    async def prepare() -> None:
        await callbacks.setup()
        await outbox.setup()
        # Outcomes are kept as long as every consumer's inbox keeps event ids.
        await outbox.collection.create_index("at", expireAfterSeconds=int(settings.inbox_ttl.total_seconds()))
        # Replies: kept-alive connections (a reply is cheap to send again after a dropped
        # one). Mailings: a connection is reused only after a short idle time, so one
        # Viber closed while idle can hardly turn a batch it never saw into "maybe sent"
        # (docs/messaging.md, "Viber calls").
        replies = lane("replies", AsyncLimiter(settings.viber_replies_per_second, 1),
                       aiohttp.TCPConnector(limit=32), resend_unknown=True)
        mailings = lane("mailings", mailings_limiter, bulk_connector(settings), resend_unknown=False)
        runtime.subscribe(REPLIES_QUEUE, ["outbound.viber.reply"], replies.handle, prefetch=settings.bus_prefetch)
        runtime.subscribe(MAILINGS_QUEUE, ["outbound.viber.bulk"], mailings.handle,
                          prefetch=settings.viber_bulk_concurrency)

    # What a lane recorded but the broker did not confirm (delivery.failed events). On
    # every replica, not under a lease: a replica's relay wakes on its *own* failed
    # flushes (``Outbox.failed``), which a relay on another replica would only find at
    # its next periodic scan; two relays flushing one document at once publish an event
    # twice at worst, with the same id, and inboxes drop the repeat.
    runtime.background("outbox-relay", outbox.relay)

    async def register_webhook() -> None:
        if not settings.viber_webhook_url:
            return
        api = ViberApi(settings.viber_api_url, token, sessions[0])
        try:
            async for attempt in AsyncRetrying(stop=stop_after_attempt(5), wait=wait_exponential(0.5, max=5), reraise=True):
                with attempt:
                    await api.set_webhook(settings.viber_webhook_url)
            log.info("gateway.webhook_registered")
        except Exception as exc:  # noqa: BLE001 - keep serving; ops sees it in logs/readyz
            log.error("gateway.webhook_registration_failed", error=repr(exc)[:300])

    async def close_sessions() -> None:
        for session in sessions:
            await session.close()

    runtime.on_prepare.append(prepare)
    runtime.on_started.append(register_webhook)
    runtime.on_stopping.append(close_sessions)
    return runtime
