"""A resident's side of the conversation, for engine-level scripted tests.

``Chat`` plays one channel identity and keeps residents between messages like the
service: it finds the resident by identity in the shared directory, stores
``outcome.resident`` (round-tripped through JSON as the store would), honours
``absorbed`` and ``forget``, delivers ``notices`` to the other identities' chats, and
exposes the last message this identity received and its button codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chatbot_common.events import Button, ButtonAction, Channel, EventData, InboundContent, MessageKind

from dialog.conversation import Incoming, IncomingKind, Outcome, Reply, Resident, build_context, respond
from dialog.conversation.context import Context
from dialog.conversation.model import Identity


@dataclass
class FakeDirectory:
    """The store's view the engine may query (residents by phone and id), plus what
    each channel identity has received, in order."""

    residents: dict[str, Resident] = field(default_factory=dict)
    received: dict[tuple[Channel, str], list[Reply]] = field(default_factory=dict)

    async def by_phone(self, phone: str) -> Resident | None:
        return next((r for r in self.residents.values() if r.phone == phone and r.phone_verified), None)

    async def by_id(self, resident_id: str) -> Resident | None:
        return self.residents.get(resident_id)

    def of_identity(self, channel: Channel, channel_user_id: str) -> Resident | None:
        return next((r for r in self.residents.values() if r.identity(channel, channel_user_id)), None)

    def save(self, resident: Resident) -> None:
        self.residents[resident.id] = resident

    def delete(self, resident_id: str) -> None:
        self.residents.pop(resident_id, None)

    def deliver(self, channel: Channel, channel_user_id: str, reply: Reply) -> None:
        self.received.setdefault((channel, channel_user_id), []).append(reply)


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
        if not hasattr(self, "_fresh"):
            self._fresh = Resident(identities=[Identity(channel=self.channel, channel_user_id=self.channel_user_id)])
        return self._fresh.model_copy(deep=True)

    # ------------------------------------------------------------------ sending

    async def incoming(self, kind: IncomingKind, content: InboundContent | None = None) -> Outcome:
        incoming = Incoming(kind=kind, channel_user_id=self.channel_user_id, content=content, channel=self.channel)
        outcome = await respond(self.resident, incoming, self.ctx)
        self.outcomes.append(outcome)
        self.events.extend(outcome.events)
        self._store(outcome)
        for reply in outcome.replies:
            self.directory.deliver(self.channel, self.channel_user_id, reply)
        for notice in outcome.notices:
            self.directory.deliver(notice.channel, notice.channel_user_id, notice.reply)
        return outcome

    def _store(self, outcome: Outcome) -> None:
        stored = Resident.model_validate_json(outcome.resident.model_dump_json())
        if outcome.forget:
            self.directory.delete(stored.id)
            self.__dict__.pop("_fresh", None)  # coming back after deletion is a first contact again
            return
        if outcome.absorbed:
            self.directory.delete(outcome.absorbed)
        self.directory.save(stored)

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


async def register(
    chat: Chat,
    *,
    name: str = "Олена Коваленко",
    phone: str = "0671234567",
    shared: bool = False,
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
