"""Bus handlers of the dialog: turn an inbound event into the engine's input, persist
the outcome with its outbox, publish, then let the bus ack.

Idempotency (at-least-once delivery): the outbox write records which inbound event
produced it; a redelivered event re-publishes that outbox instead of answering again,
and every derived event has a deterministic id (``derived_id(inbound id, purpose, n)``).
Messages from one channel identity are handled one at a time, in order.
"""

from __future__ import annotations

from dataclasses import replace

import structlog

from chatbot_common.bus import Bus
from chatbot_common.events import (
    CloudEvent,
    EventData,
    InboundConversationStarted,
    InboundMessage,
    InboundSubscribed,
    InboundUnsubscribed,
    Lane,
    OutboundMessage,
    derived_id,
    make_event,
)
from chatbot_common.locks import KeyedLocks
from chatbot_common.store import Inbox

from .conversation import Incoming, IncomingKind, Outcome, Reply, Resident, respond
from .conversation.api import Notice
from .conversation.context import Context
from .conversation.model import Identity, identity_key
from .repository import ResidentRepository

log = structlog.get_logger("dialog")
SOURCE = "/dialog"
Inbound = InboundMessage | InboundConversationStarted | InboundSubscribed | InboundUnsubscribed


def to_incoming(data: EventData) -> Incoming:
    match data:
        case InboundMessage():
            return Incoming(IncomingKind.message, data.channel_user_id, data.content, data.user.name, data.channel)
        case InboundConversationStarted():
            return Incoming(IncomingKind.started, data.channel_user_id, None, data.user.name, data.channel)
        case InboundSubscribed():
            return Incoming(IncomingKind.subscribed, data.channel_user_id, None, data.user.name, data.channel)
        case InboundUnsubscribed():
            return Incoming(IncomingKind.unsubscribed, data.channel_user_id, channel=data.channel)
    raise TypeError(f"not an inbound event: {type(data).__name__}")


class InboundHandler:
    def __init__(self, *, bus: Bus, repository: ResidentRepository, inbox: Inbox, context: Context) -> None:
        self.bus = bus
        self.repository = repository
        self.inbox = inbox
        self.context = context
        self.identity_locks = KeyedLocks()
        self.resident_locks = KeyedLocks()

    async def __call__(self, event: CloudEvent) -> None:
        data = event.payload()
        assert isinstance(data, Inbound)
        # Identity lock first (keeps one chat's messages in order), then the resident's
        # (S7: two linked identities of one resident must not interleave). Always in
        # this order, so no deadlock.
        identity = identity_key(data.channel, data.channel_user_id)
        async with self.identity_locks.hold(identity):
            if await self.inbox.seen(event.id):
                return
            resident_id = await self.repository.resident_id_for(data.channel, data.channel_user_id)
            async with self.resident_locks.hold(resident_id or identity):
                await self._handle(event, data, resident_id)
            await self.inbox.remember(event.id)

    async def _handle(self, event: CloudEvent, data: Inbound, resident_id: str | None) -> None:
        resident, doc = (None, None)
        if resident_id is not None:
            resident, doc = await self.repository.load(resident_id)
        if doc is not None and doc.get("last_event_id") == event.id:
            # Redelivery after a crash between the state write and the publishes.
            await self._publish_stored(doc, event.id)
            return
        if doc is not None and doc.get("deleted"):
            # A deletion whose farewell and resident.deleted are not out yet (its own
            # redelivery is still on the way): finish it before anything new happens.
            await self._publish_stored(doc, doc.get("last_event_id", ""))
        if resident is None and isinstance(data, InboundConversationStarted | InboundUnsubscribed):
            # Opening the chat (or leaving it) without ever writing: nothing to answer and
            # nothing to keep — Viber sends this to everyone who merely looks at the bot.
            return
        if resident is None:
            resident = Resident(identities=[Identity(channel=data.channel, channel_user_id=data.channel_user_id)])
            log.info("dialog.resident_created", resident_id=resident.id)
        structlog.contextvars.bind_contextvars(resident_id=resident.id)
        # Identities the store already maps to this resident (the engine may add some).
        linked = frozenset(i.key for i in resident.identities) if doc is not None else frozenset()
        outcome = await respond(resident, to_incoming(data), self.context)
        outbox = self._outbox(event, data, outcome)
        target = outcome.resident
        if outcome.forget:
            await self.repository.forget(target, caused_by=event.id, outbox=outbox)
        else:
            await self.repository.save(target, caused_by=event.id, outbox=outbox,
                                       linked=linked if target.id == resident.id else frozenset())
            if outcome.absorbed and outcome.absorbed != target.id:
                await self.repository.drop(outcome.absorbed)  # its identities now point here
        for out in outbox:
            await self.bus.publish(out)
        await self._outbox_published(target.id, event.id, forgotten=outcome.forget)

    def _outbox(self, event: CloudEvent, data: Inbound, outcome: Outcome) -> list[CloudEvent]:
        """Replies to the writer, then notices to other identities, then domain events,
        each with an id derived from the inbound event (a replay re-emits the same ids)."""
        writer = Notice(data.channel, data.channel_user_id, outcome.resident.id, Reply(""))
        messages = [("reply", replace(writer, reply=reply)) for reply in outcome.replies]
        messages += [("notice", notice) for notice in outcome.notices]
        out: list[CloudEvent] = []
        for n, (purpose, to) in enumerate(messages):
            message = OutboundMessage(
                channel=to.channel, lane=Lane.reply, receivers=[to.channel_user_id], resident_ids=[to.resident_id],
                text=to.reply.text, buttons=list(to.reply.buttons),
            )
            out.append(make_event(message, source=SOURCE, id=derived_id(event.id, purpose, n),
                                  correlationid=event.correlationid))
        for n, domain_event in enumerate(outcome.events):
            out.append(make_event(domain_event, source=SOURCE, id=derived_id(event.id, domain_event.type, n),
                                  correlationid=event.correlationid))
        return out

    async def _publish_stored(self, doc: dict, event_id: str) -> None:  # type: ignore[type-arg]
        for raw in doc.get("outbox") or []:
            await self.bus.publish(CloudEvent.model_validate(raw))
        await self._outbox_published(doc["_id"], event_id, forgotten=bool(doc.get("deleted")))

    async def _outbox_published(self, resident_id: str, event_id: str, *, forgotten: bool) -> None:
        if forgotten:
            await self.repository.erase(resident_id)
        else:
            await self.repository.outbox_sent(resident_id, event_id)
