"""Signing and POSTing callbacks to the bot's webhook.

Bodies are serialised once and the signature is computed over exactly those bytes,
because a receiver must verify the raw body — re-serialising would break it.
Delivery receipts go through a small worker pool so an API answer never waits for them
and a 300-receiver broadcast does not open 300 connections at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp

from .events import Event
from .signing import SIGNATURE_HEADER, sign, signed_url
from .state import SimState

log = logging.getLogger(__name__)

ALWAYS_SENT = frozenset({"message", "webhook"})


def encode(event: Event) -> bytes:
    """Compact UTF-8 JSON; integers (message tokens) stay integers."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class CallbackSender:
    """Posts signed callbacks and reports what the webhook answered."""

    def __init__(self, state: SimState, session: aiohttp.ClientSession) -> None:
        self.state = state
        self.session = session

    def wanted(self, event_name: str) -> bool:
        """Whether the bot's ``set_webhook event_types`` asked for this event."""
        return event_name in ALWAYS_SENT or event_name in self.state.event_types

    async def post(self, event: Event, url: str | None = None, force: bool = False) -> dict[str, Any]:
        """Send ``event``; return ``{http_status, response, event[, error]}``.

        ``http_status`` is None when nothing was answered (no webhook, connection
        error, timeout, event type filtered out unless ``force``); ``response`` is the
        parsed JSON answer or None.
        """
        target = url if url is not None else self.state.webhook_url
        result: dict[str, Any] = {"http_status": None, "response": None, "event": event}
        if not target:
            result["error"] = "webhook is not set (call set_webhook first)"
            return result
        if not force and not self.wanted(str(event.get("event"))):
            result["error"] = f"event type {event['event']!r} is not in the webhook's event_types"
            return result
        body = encode(event)
        signature = sign(body, self.state.config.auth_token)
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature}
        timeout = aiohttp.ClientTimeout(total=self.state.config.callback_timeout)
        try:
            async with self.session.post(
                signed_url(target, signature), data=body, headers=headers, timeout=timeout
            ) as resp:
                raw = await resp.read()
                result["http_status"] = resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            result["error"] = f"{type(exc).__name__}: {exc}"
            log.info("callback %s to %s failed: %s", event["event"], target, result["error"])
            return result
        result["response"] = _parse(raw)
        if result["response"] is None and raw.strip():
            result["response_text"] = raw.decode("utf-8", "replace")[:2000]
        return result


def _parse(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


class ReceiptQueue:
    """Background workers that post ``delivered``/``failed`` callbacks in order of arrival."""

    def __init__(self, sender: CallbackSender, workers: int) -> None:
        self.sender = sender
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._workers = [asyncio.create_task(self._work()) for _ in range(max(1, workers))]

    def put(self, event: Event) -> None:
        """Schedule a callback without waiting for it."""
        self._queue.put_nowait(event)

    async def _work(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self.sender.post(event)
            except Exception:  # a receipt must never kill the worker
                log.exception("receipt callback failed")
            finally:
                self._queue.task_done()

    async def join(self) -> None:
        """Wait until every queued receipt was attempted (useful in tests)."""
        await self._queue.join()

    async def close(self) -> None:
        """Stop the workers; pending receipts are dropped."""
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
