"""A resident's side of the conversation, for engine-level scripted tests.

``Chat`` plays one channel identity and keeps residents between messages like the
service: it finds the resident by identity in the shared directory, stores
``outcome.resident`` (round-tripped through JSON as the store would), honours
``absorbed``, ``consumed_link_code``, ``released`` and ``forget``, delivers ``notices``
to the other identities' chats, and exposes the last message this identity received and
its button codes. :func:`system_notice` plays the service receiving an event about a
resident (``engine.notify``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from chatbot_common.events import Button, ButtonAction, Channel, EventData, InboundContent, MessageKind

from dialog.conversation import (
    Incoming,
    IncomingKind,
    Outcome,
    Reply,
    Resident,
    SystemNotice,
    build_context,
    notify,
    respond,
)
from dialog.conversation.context import Context
from dialog.conversation.model import Identity


class Clock:
    """A clock tests move by hand (code expiry, lockouts)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class FakeDirectory:
    """The store's view the engine may query (residents by id and by link code), plus
    what each channel identity has received, in order."""

    residents: dict[str, Resident] = field(default_factory=dict)
    received: dict[tuple[Channel, str], list[Reply]] = field(default_factory=dict)
    #: ids of records dropped (absorbed) or erased (forgotten): never issued again
    retired: set[str] = field(default_factory=set)

    async def by_id(self, resident_id: str) -> Resident | None:
        return self.residents.get(resident_id)

    async def by_link_code(self, digest: str) -> Resident | None:
        return next((r for r in self.residents.values() if r.link_code and r.link_code.digest == digest), None)

    def of_identity(self, channel: Channel, channel_user_id: str) -> Resident | None:
        return next((r for r in self.residents.values() if r.identity(channel, channel_user_id)), None)

    def save(self, resident: Resident) -> None:
        self.residents[resident.id] = resident

    def delete(self, resident_id: str) -> None:
        self.residents.pop(resident_id, None)
        self.retired.add(resident_id)

    def deliver(self, channel: Channel, channel_user_id: str, reply: Reply) -> None:
        self.received.setdefault((channel, channel_user_id), []).append(reply)

    def store(self, outcome: Outcome) -> None:
        """What the service does with an outcome: one resident document written (or
        forgotten), an absorbed record dropped; a released identity has no record any
        more, so it starts afresh."""
        stored = Resident.model_validate_json(outcome.resident.model_dump_json())
        if outcome.forget:
            self.delete(stored.id)
            return
        if outcome.consumed_link_code:  # the service writes only if the code is still there
            current = self.residents.get(stored.id)
            assert current and current.link_code and current.link_code.digest == outcome.consumed_link_code
        if outcome.absorbed:
            self.delete(outcome.absorbed)
        for identity in outcome.released:
            assert stored.identity(identity.channel, identity.channel_user_id) is None
        self.save(stored)

    def deliver_outcome(self, outcome: Outcome, writer: tuple[Channel, str] | None) -> None:
        if writer is not None:
            for reply in outcome.replies:
                self.deliver(*writer, reply)
        else:
            assert outcome.replies == [], "nobody wrote: everything must be a notice"
        for notice in outcome.notices:
            self.deliver(notice.channel, notice.channel_user_id, notice.reply)


async def system_notice(directory: FakeDirectory, resident_id: str, notice: SystemNotice, ctx: Context) -> Outcome:
    """The service got an event about a resident (not their message): ``engine.notify``."""
    resident = directory.residents[resident_id].model_copy(deep=True)
    outcome = await notify(resident, notice, ctx)
    directory.store(outcome)
    directory.deliver_outcome(outcome, None)
    return outcome


class Chat:
    def __init__(
        self,
        directory: FakeDirectory,
        channel_user_id: str,
        *,
        channel: Channel = Channel.viber,
        ctx: Context | None = None,
    ) -> None:
        self.directory = directory
        self.channel = channel
        self.channel_user_id = channel_user_id
        self.ctx = ctx or build_context(directory)
        self.outcomes: list[Outcome] = []
        self.events: list[EventData] = []

    @property
    def resident(self) -> Resident:
        """Whoever this identity belongs to now (a fresh one before first contact)."""
        found = self.directory.of_identity(self.channel, self.channel_user_id)
        return found.model_copy(deep=True) if found else self._new_resident()

    def _new_resident(self) -> Resident:
        """The record the service creates for an identity it does not know (the same
        one until it is stored; a new one after the old was dropped or erased)."""
        fresh = getattr(self, "_fresh", None)
        if fresh is None or fresh.id in self.directory.retired:
            fresh = self._fresh = Resident(
                identities=[Identity(channel=self.channel, channel_user_id=self.channel_user_id)]
            )
        return fresh.model_copy(deep=True)

    # ------------------------------------------------------------------ sending

    async def incoming(self, kind: IncomingKind, content: InboundContent | None = None) -> Outcome:
        self.n = getattr(self, "n", 0) + 1
        incoming = Incoming(kind=kind, channel_user_id=self.channel_user_id, content=content, channel=self.channel,
                            input_id=f"{self.channel_user_id}-{self.n}")
        outcome = await respond(self.resident, incoming, self.ctx)
        self.outcomes.append(outcome)
        self.events.extend(outcome.events)
        self.directory.store(outcome)
        self.directory.deliver_outcome(outcome, (self.channel, self.channel_user_id))
        return outcome

    async def tap_start(self) -> Outcome:
        """The gateway's welcome button «Розпочати» (on the welcome, not our keyboards)."""
        return await self.send("start")

    async def send(self, text: str) -> Outcome:
        return await self.incoming(IncomingKind.message, InboundContent(kind=MessageKind.text, text=text))

    async def tap(self, code: str) -> Outcome:
        assert code in self.codes(), f"{code!r} is not on the keyboard: {self.codes()}"
        return await self.send(code)

    async def share_phone(self, phone: str) -> Outcome:
        assert any(b.action == ButtonAction.share_phone for b in self.buttons()), "no share-phone button"
        return await self.incoming(IncomingKind.message, InboundContent(kind=MessageKind.contact, phone=phone))

    async def send_kind(self, kind: MessageKind, **fields: object) -> Outcome:
        return await self.incoming(IncomingKind.message, InboundContent(kind=kind, **fields))

    # ------------------------------------------------------------------ reading

    @property
    def last(self) -> Reply:
        """The last message this identity received (what its keyboard shows)."""
        received = self.directory.received.get((self.channel, self.channel_user_id), [])
        assert received, "the resident has received nothing yet"
        return received[-1]

    @property
    def text(self) -> str:
        return self.last.text

    def buttons(self) -> list[Button]:
        return list(self.last.buttons)

    def codes(self) -> list[str]:
        return [b.code for b in self.last.buttons]

    @property
    def step(self) -> str:
        return self.resident.state.step

    def shown_code(self) -> str:
        """The one-time link code in the last message («1234 5678» → ``12345678``)."""
        found = re.search(r"(\d{4}) (\d{4})", self.text)
        assert found, self.text
        return found.group(1) + found.group(2)


async def register(
    chat: Chat,
    *,
    name: str = "Олена Коваленко",
    phone: str = "0671234567",
    shared: bool = False,  # the share-phone button: a contact message
    street: str = "Проскурівська",
    house: str = "12а",
    apartment: str | None = "5",
    notify: str = "address",
) -> Chat:
    """Walk a new resident through the whole registration (S5)."""
    await chat.tap_start()
    await chat.tap("consent:yes")
    await chat.tap("settlement:khmelnytskyi")
    await chat.send(name)
    if shared:
        await chat.share_phone(phone)
    else:
        await chat.send(phone)
    await chat.send(street)
    await chat.send(house)
    if apartment:
        await chat.send(apartment)
    else:
        await chat.tap("apartment:none")
    await chat.tap(f"notify:{notify}")
    assert chat.resident.registered, chat.text
    return chat
