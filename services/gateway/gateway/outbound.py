"""Outbound lanes: consume ``outbound.viber.reply`` and ``outbound.viber.bulk`` and call
Viber, within its published limits.

- Two queues, two HTTP sessions, two rate limiters: a reply never waits behind a
  mailing (architecture: outbound lanes).
- One event, one Viber call: ``send_message`` for one receiver, ``broadcast_message``
  for more (an event carries at most 300 receivers, ``OutboundMessage``; producers
  split larger audiences with ``events.split_receivers``).
- Each event has one document in ``sent_batches``, ``_id`` = the event id:

  1. **claim** — ``{state: "sending"}`` is inserted *before* the call; the unique
     ``_id`` makes a repeat of the event collide (one ``insert_one``, no read, on the
     happy path);
  2. **outcome** — after Viber's answer, ONE write records the state (``sent``,
     ``refused``, ``rejected`` or ``unknown``), a summary of the answer and, in the
     same write, an outbox entry (``chatbot_common.outbox``) with the
     ``delivery.failed`` events the answer implies. Only then are they published
     (``Outbox.flush``); what the broker does not confirm, the gateway's outbox relay
     publishes later — the message is not sent again for it.

- A delivery that finds the document already there:
  ``sent``/``refused``/``unknown`` → nothing to send (publishes what its outbox still
  holds) and acked; ``rejected`` (the bot's own refusal, parked, now replayed after
  the fix) → claimed again and sent; ``sending`` — a claim another delivery made and
  never finished (a crash or a lost connection mid-call): Viber may have the message.
  The reply lane sends it again (a resident is waiting; a reply is not paid); the
  mailing lane never does: it records the batch as ``unknown`` and publishes a
  ``delivery.failed`` with reason ``unknown`` for each receiver.
- Failures (docs/messaging.md, "Viber calls"): *not sent* (connection refused, DNS,
  connect timeout, HTTP 500/502/503, status 12) → retried with exponential backoff;
  if it persists the claim is released and the message requeued (bounded by the
  queue's delivery limit, then parked). *Maybe sent* (a timeout or a dropped
  connection once the request may have left, HTTP 504, an unreadable answer) → the
  reply lane retries like the above; the mailing lane never resends: ``unknown``, as
  above. Status 5/6/11 (the resident can't be reached) → ``refused``,
  ``delivery.failed``, acked. Any other refusal (bad token, bad data, account blocked,
  HTTP 4xx, …) is the bot's problem, not the resident's → ``rejected``,
  ``delivery.failed`` *and* :class:`PermanentError`, so the message is parked in
  ``<queue>.dead`` for ops to replay once the configuration is fixed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import structlog
from aiolimiter import AsyncLimiter
from prometheus_client import Counter
from pymongo.errors import DuplicateKeyError

from chatbot_common.bus import Bus, PermanentError
from chatbot_common.events import CloudEvent, DeliveryFailed, DeliverySent, derived_id, make_event, utcnow
from chatbot_common.locks import KeyedLocks
from chatbot_common.outbox import FIELD as OUTBOX
from chatbot_common.outbox import Outbox, entry

from .render import render_data
from .viber_api import TransientViberError, ViberApi, ViberOutcomeUnknown, ViberRefused

log = structlog.get_logger("gateway.outbound")
SOURCE = "/gateway/viber"

SENDING = "sending"  # claimed; the call is under way (or its caller died)
SENT = "sent"  # Viber accepted it (status 0); its failed_list, if any, is in the outbox
REFUSED = "refused"  # status 5/6/11: the resident can't be reached; final
REJECTED = "rejected"  # the bot's own refusal: parked; a replay claims it again
UNKNOWN = "unknown"  # maybe sent, never sent again (mailing lane)
#: ``delivery.failed`` reason for a receiver whose message may or may not have gone out.
UNKNOWN_REASON = "unknown"
FINAL = frozenset({SENT, REFUSED, UNKNOWN})

OUTCOME_UNKNOWN = Counter(
    "chatbot_outbound_outcome_unknown_total",
    "Receivers of outbound messages that may or may not have been sent (never sent again)", ["lane"],
)


class Unpublished(RuntimeError):
    """An event's earlier outputs are not published yet: it waits (requeued) for them."""


class OutboundLane:
    def __init__(self, *, name: str, api: ViberApi, bus: Bus, outbox: Outbox, limiter: AsyncLimiter,
                 sender_name: str, sender_avatar: str | None, attempts: int = 6, max_backoff: float = 5.0,
                 resend_unknown: bool = False) -> None:
        self.name = name
        OUTCOME_UNKNOWN.labels(lane=name)  # the series exists at 0 (deploy/prometheus/alerts.yml)
        self.api = api
        self.bus = bus
        self.outbox = outbox
        self.batches = outbox.collection  # one document per outbound event
        self.limiter = limiter
        self.sender_name = sender_name
        self.sender_avatar = sender_avatar
        self.attempts = max(1, attempts)
        self.max_backoff = max_backoff
        #: whether a maybe-sent message is sent again (replies) or never (mailings)
        self.resend_unknown = resend_unknown
        self.receiver_locks = KeyedLocks()
        #: deliveries under way in this process, by event id
        self._in_flight: dict[str, asyncio.Future[None]] = {}

    async def handle(self, event: CloudEvent) -> None:
        # The bus validated ``data`` as an OutboundMessage before calling us: use it as is.
        data = event.data
        receivers: list[str] = data["receivers"]
        if len(receivers) == 1:
            # One resident's messages reach Viber in the order they were produced.
            async with self.receiver_locks.hold(receivers[0]):
                await self._deliver(event, data, receivers)
        else:
            await self._deliver(event, data, receivers)

    # ------------------------------------------------------------------ the one call

    async def _deliver(self, event: CloudEvent, data: Mapping[str, Any], receivers: list[str]) -> None:
        while (running := self._in_flight.get(event.id)) is not None:
            # This very event is being delivered here already: the broker redelivered it
            # because our connection dropped while the call was out. Its outcome is known
            # soon; wait for it rather than take the claim for an abandoned one.
            await asyncio.wait({running})
        done = asyncio.get_running_loop().create_future()
        self._in_flight[event.id] = done
        try:
            await self._deliver_once(event, data, receivers)
        finally:
            del self._in_flight[event.id]
            done.set_result(None)

    async def _deliver_once(self, event: CloudEvent, data: Mapping[str, Any], receivers: list[str]) -> None:
        body = render_data(data, sender_name=self.sender_name, sender_avatar=self.sender_avatar)
        if not await self._claim(event, data, receivers):
            return
        call = _Call()
        try:
            answer = await self._call(receivers, body, call)
        except ViberRefused as refused:
            await self._refused(event, data, receivers, refused)
            return
        except ViberOutcomeUnknown as exc:
            if self.resend_unknown:
                await self._release(event.id)
                raise
            await self._unknown(event, data, receivers, str(exc))
            return
        except TransientViberError:
            await self._release(event.id)  # not sent: the redelivery may send it
            raise
        except BaseException:
            # Cancelled (shutdown) or a bug: give the claim back only if no request can
            # have left; otherwise it stays "sending", which means "maybe sent".
            if not call.maybe_sent:
                await asyncio.shield(self._release(event.id))
            raise
        await self._accepted(event, data, receivers, answer)

    async def _call(self, receivers: list[str], body: dict[str, Any], call: _Call) -> dict[str, Any]:
        """One Viber call; retried with exponential backoff while it was certainly not
        sent (and, on the reply lane, also when it may have been)."""
        attempt = 1
        while True:
            try:
                async with self.limiter:
                    call.maybe_sent = True
                    if len(receivers) == 1:
                        return await self.api.send_message(receivers[0], body)
                    return await self.api.broadcast_message(receivers, body)
            except ViberOutcomeUnknown:
                if not self.resend_unknown or attempt >= self.attempts:
                    raise
            except TransientViberError:
                call.maybe_sent = False
                if attempt >= self.attempts:
                    raise
            await asyncio.sleep(min(self.max_backoff, 0.2 * 2 ** (attempt - 1)))
            attempt += 1

    # ------------------------------------------------------------------ claims

    async def _claim(self, event: CloudEvent, data: Mapping[str, Any], receivers: list[str]) -> bool:
        """Claim the event for one call; ``False`` when there is nothing to send."""
        now = utcnow()
        try:
            await self.batches.insert_one({"_id": event.id, "state": SENDING, "lane": self.name, "at": now})
            return True
        except DuplicateKeyError:
            pass
        doc = await self.batches.find_one({"_id": event.id})
        if doc is None:  # released (or expired) in between: claim it afresh
            await self.batches.insert_one({"_id": event.id, "state": SENDING, "lane": self.name, "at": now})
            return True
        state = doc.get("state")
        if state in FINAL:
            if doc.get(OUTBOX):  # best effort: the relay publishes whatever is left
                await self.outbox.flush(event.id, doc[OUTBOX])
            log.debug("outbound.duplicate", lane=self.name, state=state)
            return False
        if state == REJECTED:
            # Its delivery.failed events first: the next outcome's entry must not share
            # the outbox with them (entries are removed by input id).
            if doc.get(OUTBOX) and not await self.outbox.flush(event.id, doc[OUTBOX]):
                raise Unpublished(f"outbox of {event.id} not published yet")
            taken = await self.batches.update_one({"_id": event.id, "state": REJECTED},
                                                  {"$set": {"state": SENDING, "at": now}})
            if taken.modified_count == 1:
                log.info("outbound.replayed", lane=self.name)
                return True
            return False
        # A claim another delivery made and never finished: Viber may have the message.
        if self.resend_unknown:
            log.warning("outbound.resending_unfinished", lane=self.name)
            await self.batches.update_one({"_id": event.id}, {"$set": {"at": now}})
            return True
        await self._unknown(event, data, receivers, "an earlier delivery claimed it and never finished")
        return False

    async def _release(self, event_id: str) -> None:
        """Give a claim back after a failure that proves nothing was sent."""
        await self.batches.delete_one({"_id": event_id, "state": SENDING})

    # ------------------------------------------------------------------ outcomes

    async def _record(self, event: CloudEvent, state: str, summary: dict[str, Any],
                      failed: list[CloudEvent]) -> None:
        """The outcome and its events (delivery.failed; delivery.sent on the mailing lane) in ONE write, then publish them."""
        update: dict[str, Any] = {"$set": {"state": state, "answer": summary}}
        pending = None
        if failed:
            pending = entry(event.id, failed)
            update["$push"] = {OUTBOX: pending}
        await self.batches.update_one({"_id": event.id}, update)
        if pending is not None and not await self.outbox.flush(event.id, [pending]):
            # Recorded: the relay publishes them; the message itself is never sent again.
            log.warning("outbound.failures_not_published_yet", lane=self.name, events=len(failed))

    async def _accepted(self, event: CloudEvent, data: Mapping[str, Any], receivers: list[str],
                        answer: dict[str, Any]) -> None:
        failed_list = answer.get("failed_list") or []
        failed = self._failed_events(event, data, [
            (str(item.get("receiver")), int(item.get("status", -1)), str(item.get("status_message", "failed")))
            for item in failed_list if isinstance(item, dict)
        ])
        summary = {"status": 0, "message_token": str(answer.get("message_token")), "receivers": len(receivers),
                   "failed": len(failed)}
        events = failed
        if not self.resend_unknown:  # the mailing lane: its producer counts deliveries by token
            sent = make_event(
                DeliverySent(channel=data.get("channel") or "viber", outbound_event_id=event.id,
                             channel_message_id=summary["message_token"], lane=self.name,
                             receivers=len(receivers), failed=len(failed), at=utcnow()),
                source=SOURCE, id=derived_id(event.id, "sent"), correlationid=event.correlationid,
            )
            events = [sent, *failed]
        await self._record(event, SENT, summary, events)
        if failed:
            log.info("outbound.sent_with_failures", lane=self.name, receivers=len(receivers), failed=len(failed))
        elif _debug():
            log.debug("outbound.sent", lane=self.name, receivers=len(receivers))

    async def _refused(self, event: CloudEvent, data: Mapping[str, Any], receivers: list[str],
                       refused: ViberRefused) -> None:
        log.warning("outbound.refused", lane=self.name, status=refused.status, reason=refused.reason,
                    receivers=len(receivers))
        failed = self._failed_events(event, data, [(r, refused.status, refused.reason) for r in receivers])
        state = REFUSED if refused.resident_unreachable else REJECTED
        await self._record(event, state, {"status": refused.status, "reason": refused.reason}, failed)
        if not refused.resident_unreachable:
            # Parked; a replay after the fix claims the event again and sends it.
            raise PermanentError(f"{refused} on {self.name}") from refused

    async def _unknown(self, event: CloudEvent, data: Mapping[str, Any], receivers: list[str], why: str) -> None:
        """Maybe sent: never sent again; every receiver reported ``unknown``."""
        log.error("outbound.outcome_unknown", lane=self.name, receivers=len(receivers), error=why[:200])
        OUTCOME_UNKNOWN.labels(lane=self.name).inc(len(receivers))
        failed = self._failed_events(event, data, [(r, None, UNKNOWN_REASON) for r in receivers])
        await self._record(event, UNKNOWN, {"status": None, "reason": why[:200]}, failed)

    @staticmethod
    def _failed_events(event: CloudEvent, data: Mapping[str, Any],
                       failures: list[tuple[str, int | None, str]]) -> list[CloudEvent]:
        """One ``delivery.failed`` per (receiver, status, reason), with a deterministic id."""
        if not failures:
            return []
        residents = dict(zip(data["receivers"], data.get("resident_ids") or (), strict=False))
        channel = data.get("channel") or "viber"
        at = utcnow()
        return [
            make_event(
                DeliveryFailed(channel=channel, channel_user_id=receiver, at=at, reason=reason, status_code=status,
                               outbound_event_id=event.id, resident_id=residents.get(receiver)),
                source=SOURCE, id=derived_id(event.id, "failed", receiver), correlationid=event.correlationid,
            )
            for receiver, status, reason in failures
        ]


class _Call:
    """Whether a request of this delivery may have reached Viber (set before each
    attempt, cleared by a failure that proves it did not)."""

    __slots__ = ("maybe_sent",)

    def __init__(self) -> None:
        self.maybe_sent = False


def _debug() -> bool:
    """Whether DEBUG lines are written: checked before building one per message."""
    return logging.getLogger().isEnabledFor(logging.DEBUG)
