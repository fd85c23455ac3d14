"""``POST /viber/webhook``: verify, de-duplicate, publish, then answer.

- a ``Content-Encoding`` other than ``identity`` → 415, before the body is read (Viber
  sends none; the server never decompresses — ``chatbot_common.http_server``);
- signature missing or forged → 403, nothing published;
- malformed JSON or unknown shape → 400, also for JSON nested too deep to parse, for
  ``NaN``/``Infinity`` and for a body aiohttp could not read (broken chunked framing);
  body over the limit → 413 (aiohttp); a caller that hangs up mid-body → one INFO line;
- lone UTF-16 surrogates in a signed callback's strings → replaced with U+FFFD and the
  callback handled as usual (``callbacks.parse``: a resident's message is not lost);
- **callback freshness** (decision: 403, like a forged signature — the body is
  genuine but may not be used now): a signed callback is accepted only if its
  ``timestamp`` lies in ``[now − (callback_memory − max_clock_skew), now +
  max_clock_skew]``. ``callback_memory`` is how long the de-duplication keys are kept
  (``service.CALLBACK_MEMORY``), so a captured callback can't be replayed once its key
  is forgotten: a key is remembered at acceptance, which is at most ``max_clock_skew``
  before the timestamp, and kept ``callback_memory`` from then — past the last moment
  the same timestamp is accepted. ``max_clock_skew`` (1 hour) allows for Viber's clock
  being ahead of ours. Viber itself retries a callback for about an hour, far inside
  the window. The ``webhook`` check is exempt (Viber's own test vector has a timestamp
  far in the future, and it publishes nothing);
- ``webhook`` (Viber's check after set_webhook) → 200;
- ``conversation_started`` → 200 with the welcome message and «Розпочати» in the body;
- everything else → published as a channel-agnostic event, answered 200 only after the
  broker confirmed. A publish that fails → 503, so Viber retries later and nothing is
  lost. A repeat (same :func:`dedup_key`) → 200 without publishing again.

Whatever the input, the answer is never a 5xx of ours (a 503 means the broker refused),
and a request logs at most one line, never with the message's text, names or phones
(refusals: one WARNING each; malformed HTTP: ``chatbot_common.http_server``); an
accepted callback logs nothing above DEBUG (the metric counts it).

Cost per accepted callback (issue 6): the answers' bodies are encoded once, the
metric's children are looked up once, and nothing is logged above DEBUG.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import structlog
from aiohttp import web
from pydantic import ValidationError

from chatbot_common.bus import Bus, PublishError
from chatbot_common.events import Button, derived_id, make_event
from chatbot_common.http_server import MALFORMED_HTTP, one_line
from chatbot_common.logging import describe_error
from chatbot_common.metrics import WEBHOOK_CALLBACKS, Children
from chatbot_common.store import Inbox
from chatbot_common.texts import catalog

from .callbacks import ConversationStartedCallback, FailedCallback, ReceiptCallback, WebhookCallback, normalise, parse
from .render import render_text
from .signature import verify

log = structlog.get_logger("gateway.webhook")
SOURCE = "/gateway/viber"
START_CODE = "start"
#: How long the gateway remembers a callback's de-duplication key; equal to
#: ``service.CALLBACK_MEMORY`` (a test keeps them equal).
DEFAULT_CALLBACK_MEMORY = timedelta(days=2)
#: How far ahead of our clock a callback's timestamp may be.
DEFAULT_MAX_CLOCK_SKEW = timedelta(hours=1)
_MAX_ENCODING_IN_LOG = 40
_OK_BODY = json.dumps({"status": 0}).encode()


def _json(body: bytes) -> web.Response:
    """What ``web.json_response`` answers, from a body encoded once."""
    return web.Response(body=body, content_type="application/json", charset="utf-8")


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
                 sender_avatar: str | None = None, callback_memory: timedelta = DEFAULT_CALLBACK_MEMORY,
                 max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW,
                 clock: Callable[[], float] = time.time) -> None:
        if max_clock_skew < timedelta(0) or callback_memory <= max_clock_skew:
            raise ValueError("callback_memory must be longer than max_clock_skew (≥ 0)")
        self.token = token
        self.bus = bus
        self.callbacks = callbacks  # keys from dedup_key(), remembered after the confirm
        self.welcome = welcome_message(sender_name, sender_avatar)
        self._welcome_body = json.dumps(self.welcome).encode()
        self._counted = Children(WEBHOOK_CALLBACKS)  # by (event, outcome)
        self.max_age_ms = int((callback_memory - max_clock_skew).total_seconds() * 1000)
        self.max_ahead_ms = int(max_clock_skew.total_seconds() * 1000)
        self.clock = clock  # seconds since the epoch

    def _count(self, event: str, outcome: str) -> None:
        self._counted(event, outcome).inc()

    def freshness(self, timestamp_ms: int) -> str | None:
        """Why a callback with this timestamp is refused (``"stale"``/``"future"``), or
        ``None`` when it is fresh (see the module docstring)."""
        now_ms = int(self.clock() * 1000)
        if timestamp_ms < now_ms - self.max_age_ms:
            return "stale"
        if timestamp_ms > now_ms + self.max_ahead_ms:
            return "future"
        return None

    async def handle(self, request: web.Request) -> web.Response:
        encodings = ",".join(request.headers.getall("Content-Encoding", []))
        if any(coding.strip().lower() not in {"", "identity"} for coding in encodings.split(",")):
            # Refused before reading: the body is never inflated (nor read) for a caller
            # that hasn't even shown a signature.
            self._count("unknown", "bad_encoding")
            log.warning("webhook.unsupported_encoding", content_encoding=encodings[:_MAX_ENCODING_IN_LOG])
            return web.json_response({"error": "unsupported content encoding"}, status=415)
        try:
            body = await request.read()  # raises 413 over client_max_size
        except MALFORMED_HTTP as exc:  # e.g. broken chunked framing
            self._count("unknown", "malformed")
            log.warning("webhook.unreadable_body", error=one_line(exc))
            return web.json_response({"error": "unreadable body"}, status=400)
        except ConnectionError:
            # The caller left before sending the whole body: nobody to answer, nothing
            # to do (raised, aiohttp would log it as a 500 with a traceback).
            self._count("unknown", "disconnected")
            log.info("webhook.client_disconnected")
            return web.json_response({"error": "incomplete body"}, status=400)
        signature = request.headers.get("X-Viber-Content-Signature") or request.query.get("sig")
        if not verify(self.token, body, signature):
            self._count("unknown", "forbidden")
            log.warning("webhook.bad_signature", has_signature=bool(signature))
            return web.json_response({"error": "invalid signature"}, status=403)
        try:
            callback = parse(body)
            data = normalise(callback)
        except (ValueError, ValidationError, OverflowError, OSError, RecursionError) as exc:
            # OverflowError/OSError: a value the model let through that the standard
            # library can't represent (e.g. a date) — still the caller's fault, not ours.
            # RecursionError: JSON nested deeper than the parser goes.
            self._count("unknown", "malformed")
            log.warning("webhook.malformed", error=describe_error(exc))
            return web.json_response({"error": "malformed callback"}, status=400)
        if not isinstance(callback, WebhookCallback) and (refusal := self.freshness(callback.timestamp)):
            self._count(callback.event, refusal)
            age_s = round(self.clock() - callback.timestamp / 1000)
            log.warning(f"webhook.{refusal}_callback", event_type=callback.event, age_s=age_s)
            return web.json_response({"error": f"{refusal} callback"}, status=403)

        answer = self._welcome_body if isinstance(callback, ConversationStartedCallback) else _OK_BODY
        if data is None:
            self._count(callback.event, "ok")
            return _json(_OK_BODY)
        key = dedup_key(callback)
        if await self.callbacks.seen(key):
            self._count(callback.event, "duplicate")
            return _json(answer)
        event_id = derived_id("viber-callback", key)
        event = make_event(data, source=SOURCE, id=event_id, correlationid=event_id)
        try:
            await self.bus.publish(event)
        except PublishError as exc:
            self._count(callback.event, "publish_failed")
            log.error("webhook.publish_failed", event_id=event_id, error=str(exc)[:300])
            return web.json_response({"error": "temporarily unavailable"}, status=503)
        await self.callbacks.remember(key)
        self._count(callback.event, "published")
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            log.debug("webhook.published", event_id=event_id, event_type=event.type)
        return _json(answer)
