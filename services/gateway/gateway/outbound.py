"""Outbound lanes: consume ``outbound.viber.reply`` and ``outbound.viber.bulk`` and call
Viber, within its published limits.

- Two queues, two HTTP sessions, two rate limiters: a reply never waits behind a
  mailing (architecture: outbound lanes).
- One receiver → ``send_message``; more → ``broadcast_message`` in batches of ≤ 300;
  each batch remembered once sent, so a redelivered mailing does not resend batches.
- Network errors, HTTP 5xx and status 12 are retried with exponential backoff; if they
  persist the message is requeued (bounded by the queue's delivery limit, then parked).
- Status 5/6/11 (the resident can't be reached) is not retried: ``delivery.failed`` is
  published with the reason, then the message is acked — there is nothing to fix.
- Any other refusal (bad token, bad data, account blocked, HTTP 4xx, …) is the bot's
  problem, not the resident's: ``delivery.failed`` is published *and* the handler raises
  :class:`PermanentError`, so the message is parked in ``<queue>.dead`` for ops to
  replay once the configuration is fixed. Batches sent before the refusal are
  remembered, so the replay resumes at the refused batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from chatbot_common.bus import Bus, PermanentError
from chatbot_common.events import CloudEvent, DeliveryFailed, OutboundMessage, derived_id, make_event, utcnow
from chatbot_common.locks import KeyedLocks
from chatbot_common.store import Inbox

from .render import render_message
from .viber_api import MAX_BROADCAST, TransientViberError, ViberApi, ViberRefused

log = structlog.get_logger("gateway.outbound")
SOURCE = "/gateway/viber"


def batches(items: list[str], size: int = MAX_BROADCAST) -> Iterator[tuple[int, list[str]]]:
    for index, start in enumerate(range(0, len(items), size)):
        yield index, items[start : start + size]


class OutboundLane:
    def __init__(self, *, name: str, api: ViberApi, bus: Bus, sent: Inbox, limiter: AsyncLimiter,
                 sender_name: str, sender_avatar: str | None, attempts: int = 6, max_backoff: float = 5.0) -> None:
        self.name = name
        self.api = api
        self.bus = bus
        self.sent = sent
        self.limiter = limiter
        self.sender_name = sender_name
        self.sender_avatar = sender_avatar
        self.attempts = attempts
        self.max_backoff = max_backoff
        self.receiver_locks = KeyedLocks()

    async def handle(self, event: CloudEvent) -> None:
        message = OutboundMessage.model_validate(event.data)
        if len(message.receivers) == 1:
            # One resident's replies reach Viber in the order the dialog produced them.
            async with self.receiver_locks.hold(message.receivers[0]):
                await self._send(event, message)
        else:
            await self._send(event, message)

    async def _send(self, event: CloudEvent, message: OutboundMessage) -> None:
        body = render_message(message, sender_name=self.sender_name, sender_avatar=self.sender_avatar)
        for index, receivers in batches(message.receivers):
            batch_id = f"{event.id}:{index}"
            if await self.sent.seen(batch_id):
                continue
            try:
                answer = await self._with_retries(receivers, body)
            except ViberRefused as refused:
                await self._report_failed(event, message, receivers, refused.status, refused.reason)
                if not refused.resident_unreachable:
                    # Not remembered: a replay after the fix sends this batch and the rest.
                    raise PermanentError(f"{refused} on batch {index} of {self.name}") from refused
            else:
                for failed in answer.get("failed_list") or []:
                    await self._report_failed(
                        event, message, [str(failed.get("receiver"))], int(failed.get("status", -1)),
                        str(failed.get("status_message", "failed")),
                    )
                log.info("outbound.sent", lane=self.name, receivers=len(receivers), batch=index)
            await self.sent.remember(batch_id)

    async def _with_retries(self, receivers: list[str], body: dict) -> dict:  # type: ignore[type-arg]
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(TransientViberError),
            wait=wait_exponential(multiplier=0.2, max=self.max_backoff),
            stop=stop_after_attempt(self.attempts),
            reraise=True,
        ):
            with attempt:
                async with self.limiter:
                    if len(receivers) == 1:
                        return await self.api.send_message(receivers[0], body)
                    return await self.api.broadcast_message(receivers, body)
        raise AssertionError("unreachable")

    async def _report_failed(self, event: CloudEvent, message: OutboundMessage, receivers: list[str],
                             status: int, reason: str) -> None:
        residents = dict(zip(message.receivers, message.resident_ids, strict=False))
        log.warning("outbound.refused", lane=self.name, status=status, reason=reason, receivers=len(receivers))
        for receiver in receivers:
            failed = DeliveryFailed(
                channel=message.channel, channel_user_id=receiver, at=utcnow(), reason=reason, status_code=status,
                outbound_event_id=event.id, resident_id=residents.get(receiver),
            )
            await self.bus.publish(
                make_event(failed, source=SOURCE, id=derived_id(event.id, "failed", receiver),
                           correlationid=event.correlationid)
            )
