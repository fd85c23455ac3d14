"""A resident's side of the conversation, for engine-level scripted tests.

``Chat`` keeps the resident between messages like the service: it stores
``outcome.resident`` (round-tripped through JSON as the store would), honours
``merge_into`` and ``forget``, and exposes the last reply and its button codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chatbot_common.events import Button, ButtonAction, Channel, EventData, InboundContent, MessageKind

from dialog.conversation import Incoming, IncomingKind, Outcome, Reply, Resident, build_context, respond
from dialog.conversation.context import Context
from dialog.conversation.model import Identity


@dataclass
class FakeDirectory:
    """The store's view the engine may query: residents by phone."""

    residents: dict[str, Resident] = field(default_factory=dict)

    async def by_phone(self, phone: str) -> Resident | None:
        return next((r for r in self.residents.values() if r.phone == phone), None)

    def save(self, resident: Resident) -> None:
        self.residents[resident.id] = resident

    def delete(self, resident_id: str) -> None:
        self.residents.pop(resident_id, None)


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
        self.resident = self._new_resident()
        self.outcomes: list[Outcome] = []
        self.events: list[EventData] = []

    def _new_resident(self) -> Resident:
        return Resident(identities=[Identity(channel=self.channel, channel_user_id=self.channel_user_id)])

    # ------------------------------------------------------------------ sending

    async def incoming(self, kind: IncomingKind, content: InboundContent | None = None) -> Outcome:
        incoming = Incoming(kind=kind, channel_user_id=self.channel_user_id, content=content, channel=self.channel)
        outcome = await respond(self.resident, incoming, self.ctx)
        self.outcomes.append(outcome)
        self.events.extend(outcome.events)
        self._store(outcome)
        return outcome

    def _store(self, outcome: Outcome) -> None:
        stored = Resident.model_validate_json(outcome.resident.model_dump_json())
        if outcome.forget:
            self.directory.delete(self.resident.id)
            self.resident = self._new_resident()
            return
        if outcome.merge_into:
            self.directory.delete(self.resident.id)
        self.resident = stored
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
        """The last message the resident received (what their keyboard shows)."""
        replies = [r for o in self.outcomes for r in o.replies]
        assert replies, "the resident has received nothing yet"
        return replies[-1]

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
