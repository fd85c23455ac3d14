"""One turn of the conversation: what the resident sent, and what we answer.

Handlers never build an :class:`Outcome` by hand; they change ``turn.resident``, leave
short notes («✅ Збережено», «Ця кнопка вже неактивна…») and move to the next step,
whose question is asked with the notes on top — one message per turn, as Viber shows
the keyboard of the last message only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from chatbot_common.events import Button, InboundContent, MessageKind
from chatbot_common.texts import Catalog, catalog

from chatbot_common.directory import CityData
from . import codes
from .api import Notice, Outcome, Reply
from .context import Context
from .model import ConversationState, Identity, Resident
from .snapshots import resident_events


@dataclass(frozen=True)
class Answer:
    """What the resident sent, read once: a button ``code``, free ``text``, a shared
    ``phone``, or another kind (sticker, picture, file, location…)."""

    kind: MessageKind
    text: str = ""
    code: str | None = None
    phone: str | None = None
    lat: float | None = None  # a location pin
    lon: float | None = None
    media_url: str | None = None  # a picture

    @classmethod
    def read(cls, content: InboundContent | None) -> Answer:
        if content is None:
            return cls(MessageKind.other)
        if content.kind == MessageKind.text:
            text = (content.text or "").strip()
            return cls(MessageKind.text, text, code=text if codes.is_code(text) else None)
        if content.kind == MessageKind.contact:
            return cls(MessageKind.contact, phone=content.phone or "")
        if content.kind == MessageKind.location:
            return cls(MessageKind.location, lat=content.lat, lon=content.lon)
        return cls(content.kind, media_url=content.media_url)


@dataclass(frozen=True)
class Step:
    """A place in the conversation.

    ``ask`` shows its question or screen; ``answer`` takes what the resident sent and
    returns ``False`` for a button code it does not know (a stale keyboard); ``back`` is
    where «⬅️ Назад» leads. A ``screen`` (menu, profile, info) waits for a button only,
    so free text there is a question for C3, not an answer.

    Each module lists its steps in a module-level ``STEPS`` tuple; ``steps.STEPS``
    gathers them all in one place.
    """

    name: str
    ask: Callable[[Turn], None]
    answer: Callable[[Turn, Answer], Awaitable[bool]]
    back: Callable[[Turn], None] | None = None
    screen: bool = False
    accepts_contact: bool = False
    #: other kinds of message the step takes as an answer (a location pin, a picture)
    accepts: frozenset[MessageKind] = frozenset()


class Turn:
    """One call of the engine. ``identity`` is the app the replies go to: the writer for
    :func:`~.engine.respond`, the preferred app for :func:`~.engine.notify`."""

    def __init__(
        self,
        resident: Resident,
        ctx: Context,
        identity: Identity,
        baseline: Resident,
        steps: Mapping[str, Step],
    ) -> None:
        self.baseline = baseline  # the resident as stored before this turn: events compare against it
        self.resident = resident
        self.ctx = ctx
        self.identity = identity
        self.steps = steps
        self.t: Catalog = catalog()
        self.replies: list[Reply] = []
        self.forget = False
        self.absorbed: str | None = None
        self.consumed_link_code: str | None = None
        self.released: list[Identity] = []
        self.notices: list[Notice] = []
        #: the input's event id (``Incoming.input_id``): ids issued from it are derived
        self.input_id: str | None = None
        #: projections read for this turn (``tickets.preload``)
        self.services: list | None = None
        self.tickets: list = []
        self.outages: list = []
        #: surveys currently open (``surveys.preload``)
        self.surveys: list = []
        #: the useful information and links staff last published (``useful_info.preload``):
        #: the city data with them in place of the packaged ones
        self.city_override: CityData | None = None
        #: domain events this turn publishes besides the resident's (a request sent)
        self.events: list = []
        self._notes: list[str] = []

    @property
    def step(self) -> str:
        return self.resident.state.step

    @property
    def data(self) -> dict:
        return self.resident.state.data

    @property
    def city(self) -> CityData:
        return self.city_override or self.ctx.city

    def note(self, key: str, /, **params: object) -> None:
        """A short remark shown on top of the next question."""
        self._notes.append(self.t(key, **params))

    def say(self, text: str, buttons: Sequence[Button] = ()) -> None:
        body = "\n\n".join([*self._notes, text]) if text else "\n\n".join(self._notes)
        self._notes.clear()
        self.replies.append(Reply(text=body, buttons=list(buttons)))

    def set(self, **data: object) -> None:
        """Remember answers of the current step without moving on."""
        self.resident.state.data.update(data)

    def go(self, step: str, *, keep: bool = False, **data: object) -> None:
        """Move to ``step`` and ask its question; ``keep`` carries the collected answers
        (registration and address flows) over, otherwise the step starts clean."""
        merged = {**self.data, **data} if keep else dict(data)
        self.resident.state = ConversationState(step=step, data=merged)
        self.ask()

    def ask(self) -> None:
        self.steps[self.step].ask(self)

    def ask_again(self, key: str, /, **params: object) -> bool:
        """The step's question again, with the remark ``key`` on top; ``True`` (the
        answer was taken care of), so a step's ``answer`` can ``return`` it."""
        self.note(key, **params)
        self.ask()
        return True

    def unrecognised(self, answer: Answer) -> bool:
        """A step's last word on an answer none of its buttons gave: a button code is
        not this step's (``False``: a stale keyboard, the engine answers it); typed text
        asks the question again with a hint to use the buttons."""
        if answer.code:
            return False
        return self.ask_again("errors.use_buttons")

    def notify(self, identity: Identity, reply: Reply) -> None:
        """A message to another app (``identity``) of this turn's resident."""
        self.notices.append(Notice(identity.channel, identity.channel_user_id, self.resident.id, reply))

    def go_home(self) -> None:
        """Home is the main menu for registered residents and the guest menu otherwise."""
        self.go("cabinet" if self.resident.registered else "guest")

    def outcome(self, *, replies_as_notices: bool = False) -> Outcome:
        """What the service does next. ``replies_as_notices``: nobody wrote (a system
        notice), so what the turn said goes to ``identity`` as notices, first."""
        if self._notes:  # a handler noted something but asked nothing: still say it
            self.say("")
        events = [*self.events, *resident_events(self.baseline, self.resident, forgotten=self.forget)]
        replies, notices = self.replies, self.notices
        if replies_as_notices:
            said = [Notice(self.identity.channel, self.identity.channel_user_id, self.resident.id, r) for r in replies]
            replies, notices = [], [*said, *notices]
        return Outcome(
            resident=self.resident,
            replies=replies,
            events=events,
            forget=self.forget,
            notices=notices,
            absorbed=self.absorbed,
            consumed_link_code=self.consumed_link_code,
            released=self.released,
        )
