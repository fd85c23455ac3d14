"""``POST /viber/webhook``: verify, de-duplicate, publish, then answer.

- signature missing or forged → 403, nothing published;
- malformed JSON or unknown shape → 400; body over the limit → 413 (aiohttp);
- ``webhook`` (Viber's check after set_webhook) → 200;
- ``conversation_started`` → 200 with the welcome message and «Розпочати» in the body;
- everything else → published as a channel-agnostic event, answered 200 only after the
  broker confirmed. A publish that fails → 503, so Viber retries later and nothing is
  lost. A repeat (same :func:`dedup_key`) → 200 without publishing again.
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from aiohttp import web
from pydantic import ValidationError

from chatbot_common.bus import Bus, PublishError
from chatbot_common.events import Button, derived_id, make_event
from chatbot_common.logging import describe_error
from chatbot_common.metrics import WEBHOOK_CALLBACKS
from chatbot_common.store import Inbox
from chatbot_common.texts import catalog

from .callbacks import CALLBACK, ConversationStartedCallback, FailedCallback, ReceiptCallback, normalise
from .render import render_text
from .signature import verify

log = structlog.get_logger("gateway.webhook")
SOURCE = "/gateway/viber"
START_CODE = "start"


def welcome_message(sender_name: str, sender_avatar: str | None) -> dict[str, Any]:
    """The one message Viber lets us send before the resident subscribes."""
    t = catalog()
    start = Button(label=t("buttons.start"), code=START_CODE)
    return render_text(t("welcome.text"), [start], sender_name=sender_name, sender_avatar=sender_avatar)


def dedup_key(callback: Any) -> str:
    """What makes a callback unique: Viber retries one with the same ``message_token``.
    A receipt (delivered/seen/failed) carries the token of the message it describes,
    and one broadcast has one token for all its receivers — so receipts are keyed by
    the receiver too, else only the first receiver's receipt would be published."""
    if isinstance(callback, (ReceiptCallback, FailedCallback)):
        return f"{callback.event}:{callback.message_token}:{callback.user_id}"
    return f"{callback.event}:{callback.message_token}"


class Webhook:
    def __init__(self, *, token: str, bus: Bus, callbacks: Inbox, sender_name: str,
                 sender_avatar: str | None = None) -> None:
        self.token = token
        self.bus = bus
        self.callbacks = callbacks  # keys from dedup_key(), remembered after the confirm
        self.welcome = welcome_message(sender_name, sender_avatar)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()  # raises 413 over client_max_size
        signature = request.headers.get("X-Viber-Content-Signature") or request.query.get("sig")
        if not verify(self.token, body, signature):
            WEBHOOK_CALLBACKS.labels(event="unknown", outcome="forbidden").inc()
            log.warning("webhook.bad_signature", has_signature=bool(signature))
            return web.json_response({"error": "invalid signature"}, status=403)
        try:
            callback = CALLBACK.validate_python(json.loads(body))
            data = normalise(callback)
        except (ValueError, ValidationError, OverflowError, OSError) as exc:
            # OverflowError/OSError: a value the model let through that the standard
            # library can't represent (e.g. a date) — still the caller's fault, not ours.
            WEBHOOK_CALLBACKS.labels(event="unknown", outcome="malformed").inc()
            log.warning("webhook.malformed", error=describe_error(exc))
            return web.json_response({"error": "malformed callback"}, status=400)

        answer: dict[str, Any] | None = self.welcome if isinstance(callback, ConversationStartedCallback) else None
        if data is None:
            WEBHOOK_CALLBACKS.labels(event=callback.event, outcome="ok").inc()
            return web.json_response({"status": 0})
        key = dedup_key(callback)
        if await self.callbacks.seen(key):
            WEBHOOK_CALLBACKS.labels(event=callback.event, outcome="duplicate").inc()
            return web.json_response(answer or {"status": 0})
        event_id = derived_id("viber-callback", key)
        event = make_event(data, source=SOURCE, id=event_id, correlationid=event_id)
        try:
            await self.bus.publish(event)
        except PublishError as exc:
            WEBHOOK_CALLBACKS.labels(event=callback.event, outcome="publish_failed").inc()
            log.error("webhook.publish_failed", event_id=event_id, error=str(exc)[:300])
            return web.json_response({"error": "temporarily unavailable"}, status=503)
        await self.callbacks.remember(key)
        WEBHOOK_CALLBACKS.labels(event=callback.event, outcome="published").inc()
        log.info("webhook.published", event_id=event_id, event_type=event.type)
        return web.json_response(answer or {"status": 0})
