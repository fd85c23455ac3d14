"""Bus handlers of the dialog: turn an input into the engine's call, commit the outcome
with its outputs in one conditional write, complete what follows, publish.

Per input (see ``repository`` for the document layout and why each step is safe):
1. resolve the identity to its resident (claiming a new id for a new identity);
2. settle what an earlier, interrupted input left (a move, follow-up tasks);
3. a redelivered input (its id is in ``inputs``) only re-publishes what is pending;
4. otherwise run the engine and commit resident + outputs + tasks in ONE write
   (``version``-checked: a concurrent writer makes this input run again on fresh data);
5. complete tasks and publish; what the broker did not confirm stays in the outbox for
   the relay (a background job) — the input is acknowledged all the same, and a later
   input's outputs queue up behind it, in order.

Messages from one channel identity are handled one at a time, in order; two identities
of one resident never interleave (locks per identity, then per resident).
"""

from __future__ import annotations

from dataclasses import replace
import structlog

from chatbot_common.events import (
    CloudEvent,
    EventData,
    InboundConversationStarted,
    InboundMessage,
    InboundSubscribed,
    InboundUnsubscribed,
    Lane,
    OutboundMessage,
    SurveyAnswered,
    derived_id,
    make_event,
)
from chatbot_common.locks import KeyedLocks
from chatbot_common.store import Inbox

from .conversation import Incoming, IncomingKind, Outcome, Reply, Resident, respond
from .conversation.api import Notice, SystemNotice
from .conversation.context import Context
from .conversation.engine import notify
from .conversation.model import Identity, identity_key
from .repository import Change, Conflict, Loaded, ResidentRepository, new_resident_id_for

log = structlog.get_logger("dialog")
SOURCE = "/dialog"
Inbound = InboundMessage | InboundConversationStarted | InboundSubscribed | InboundUnsubscribed
#: Conflicting concurrent writes tolerated per input before it is requeued.
MAX_ATTEMPTS = 8


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


class TrackingDirectory:
    """The engine's view of other residents for one input. It remembers each document
    it served, so the resident the engine changes is written against the very version
    it read (never over a newer one)."""

    def __init__(self, repository: ResidentRepository) -> None:
        self.repository = repository
        self.served: dict[str, Loaded] = {}

    async def by_id(self, resident_id: str) -> Resident | None:
        loaded = await self.repository.load(resident_id)
        self.served[resident_id] = loaded
        return loaded.resident

    async def by_link_code(self, digest: str) -> Resident | None:
        loaded = await self.repository.load_by_link_code(digest)
        if loaded is None:
            return None
        self.served[loaded.id] = loaded
        return loaded.resident


def fault_point(name: str) -> None:
    """Test-only: ``DIALOG_FAULT_POINT=<name>`` kills this process right there (SIGKILL),
    as a machine dying would. Never set in production."""
    import os

    if os.environ.get("DIALOG_FAULT_POINT") == name:
        import signal

        log.warning("dialog.fault_point", point=name)
        os.kill(os.getpid(), signal.SIGKILL)


class InboundHandler:
    def __init__(self, *, repository: ResidentRepository, inbox: Inbox, context: Context) -> None:
        self.repository = repository
        self.inbox = inbox
        self.context = context
        self.identity_locks = KeyedLocks()
        self.resident_locks = KeyedLocks()

    async def __call__(self, event: CloudEvent) -> None:
        data = event.payload()
        assert isinstance(data, Inbound)
        identity = identity_key(data.channel, data.channel_user_id)
        async with self.identity_locks.hold(identity):
            if await self.inbox.seen(event.id):
                return
            for _attempt in range(MAX_ATTEMPTS):
                try:
                    await self._attempt(event, data, identity)
                    break
                except Conflict as exc:
                    log.info("dialog.retry", reason=str(exc)[:120])
            else:
                raise Conflict(f"input {event.id} kept conflicting; requeued")
            await self.inbox.remember(event.id)

    async def _attempt(self, event: CloudEvent, data: Inbound, identity: str) -> None:
        repo = self.repository
        resident_id = await repo.resident_id_for(identity)
        if resident_id is None:
            if isinstance(data, InboundConversationStarted | InboundUnsubscribed):
                # Opening the chat (or leaving it) without ever writing: nothing to answer and
                # nothing to keep — Viber sends this to everyone who merely looks at the bot.
                return
            resident_id = await repo.claim(identity, new_resident_id_for(event.id))
        async with self.resident_locks.hold(resident_id):
            loaded = await repo.load(resident_id)
            if event.id in loaded.inputs:
                # Redelivery after a crash between the write and the publishes.
                await repo.complete(resident_id)
                return
            if loaded.moving:
                await repo.settle_moving(loaded)
                raise Conflict("an interrupted move was settled")
            if loaded.doc and loaded.doc.get("tasks") and not loaded.deleted:
                await repo.complete(resident_id)  # follow-ups of an earlier input first
                raise Conflict("earlier follow-ups completed")
            if loaded.resident is not None and loaded.resident.identity(data.channel, data.channel_user_id) is None:
                # The app was unlinked from this resident (by another of its apps) after
                # the link was read: never add it back — it starts afresh.
                await repo.unlink(identity, resident_id)
                raise Conflict("the identity was unlinked meanwhile")
            link: list[str] = []
            if loaded.deleted:
                # A deletion whose farewell may still be on its way: this identity starts
                # afresh as a new resident, linked here by this input's own write.
                if isinstance(data, InboundConversationStarted | InboundUnsubscribed):
                    return
                loaded = await repo.load(new_resident_id_for(event.id))
                link = [identity]
            await self._run(event, data, identity, loaded, link)

    async def _run(self, event: CloudEvent, data: Inbound, identity: str, loaded: Loaded, link: list[str]) -> None:
        resident = loaded.resident
        if resident is None:
            resident = Resident(id=loaded.id, identities=[Identity(channel=data.channel,
                                                                    channel_user_id=data.channel_user_id)])
            log.info("dialog.resident_created", resident_id=resident.id)
        structlog.contextvars.bind_contextvars(resident_id=resident.id)
        directory = TrackingDirectory(self.repository)
        context = replace(self.context, directory=directory)
        outcome = await respond(resident, replace(to_incoming(data), input_id=event.id), context)
        writer = Notice(data.channel, data.channel_user_id, outcome.resident.id, Reply(""))
        await self._commit(event, outcome, loaded, writer, link, directory)

    async def _commit(self, event: CloudEvent, outcome: Outcome, loaded: Loaded, writer: Notice | None,
                      link: list[str], directory: TrackingDirectory) -> None:
        repo = self.repository
        events = outbox_events(event, outcome, writer)
        target = outcome.resident
        released = [i.key for i in outcome.released]
        if outcome.forget:
            change, where = Change(event.id, events, None, link=[], release=released), loaded
        elif outcome.absorbed and target.id != loaded.id:
            # S7: the writer's identity joins the resident whose link code it typed.
            where = directory.served.get(target.id)
            if where is None or where.resident is None:
                raise Conflict("the linked resident was not read through the directory")
            await repo.mark_moving(loaded, target.id, event.id)
            moved = [i.key for i in target.identities if i.key not in {j.key for j in where.resident.identities}]
            change = Change(event.id, events, target, link=moved, drop=loaded.id, release=released)
        else:
            change, where = Change(event.id, events, target, link=link, release=released), loaded
        entries = await repo.commit(where, change)
        fault_point("after_commit")
        if change.link or change.drop or change.release or change.resident is None or (where.doc or {}).get("tasks"):
            await repo.complete(where.id)
        else:  # the common case: nothing but outputs to publish
            await repo.outbox.flush(where.id, entries)

    async def notify(self, input_id: str, resident_id: str, notice: SystemNotice,
                     correlationid: str | None = None) -> None:
        """Something happened to a resident (not their message): tell them, once per
        ``input_id`` (later issues call this from their own event handlers)."""
        event = CloudEvent(id=input_id, source=SOURCE, type="dialog.notice", correlationid=correlationid, data={})
        async with self.resident_locks.hold(resident_id):
            for _attempt in range(MAX_ATTEMPTS):
                loaded = await self.repository.load(resident_id)
                if input_id in loaded.inputs:
                    await self.repository.complete(resident_id)
                    return
                if loaded.resident is None:
                    return  # deleted or never registered: nobody to tell
                outcome = await notify(loaded.resident, notice, self.context)
                try:
                    await self._commit(event, outcome, loaded, None, [], TrackingDirectory(self.repository))
                    return
                except Conflict:
                    continue
            raise Conflict(f"notice {input_id} kept conflicting; requeued")


def outbox_events(event: CloudEvent, outcome: Outcome, writer: Notice | None) -> list[CloudEvent]:
    """Replies to the writer, then notices to other identities, then domain events, each
    with an id derived from the input (a replay re-emits the same ids)."""
    messages: list[tuple[str, Notice]] = []
    if writer is not None:
        messages += [("reply", replace(writer, reply=reply)) for reply in outcome.replies]
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
        out.append(make_event(domain_event, source=SOURCE, id=domain_event_id(event.id, domain_event, n),
                              correlationid=event.correlationid))
    return out


def domain_event_id(input_id: str, domain_event: EventData, n: int) -> str:
    """Derived from the input, except ``survey.answered``: from the survey and the
    resident, so there is one per resident per survey whatever input sent it."""
    if isinstance(domain_event, SurveyAnswered):
        return survey_answered_id(domain_event.survey_id, domain_event.resident_id)
    return derived_id(input_id, domain_event.type, n)


def survey_answered_id(survey_id: str, resident_id: str) -> str:
    return derived_id("survey", survey_id, resident_id, "survey.answered")
