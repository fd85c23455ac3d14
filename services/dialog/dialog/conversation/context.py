"""What the engine needs besides the resident and the message: other residents (S7),
the community's data (settlements, streets, useful info, links), a few settings, and
its sources of time and randomness (so tests can fix them).

The service builds one :class:`Context` and passes it to every :func:`respond` call;
``build_context`` is cheap because the data files are read once per folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from chatbot_common.events import FaqEntry, utcnow

from chatbot_common.directory import DEFAULT_DATA_DIR, CityData, load_city
from .api import QuestionResult, Reply, ResidentDirectory
from .model import Resident, new_link_code
from .records import MemoryRecords, Records


class QuestionAnswerer(Protocol):
    """C3: answers a resident's free-text question (``dialog.faq.FaqAnswerer``).

    ``answer`` returns a :class:`~.api.QuestionResult` (an older, simpler answerer may
    return a ready :class:`~.api.Reply`, or ``None`` when it has nothing: the engine then
    falls back to a polite hint and the menu). ``entry`` gives an entry by id, for a
    suggestion the resident taps later. Free text at a menu screen and «❓ Поставити
    питання» both go through it once it is given to :func:`build_context`.
    """

    async def answer(self, resident: Resident, text: str) -> QuestionResult | Reply | None: ...

    async def entry(self, entry_id: str) -> FaqEntry | None: ...


@dataclass(frozen=True)
class Context:
    directory: ResidentDirectory
    city: CityData
    questions: QuestionAnswerer | None = None
    #: the dialog's projections: service list, the resident's requests, outages
    records: Records = field(default_factory=MemoryRecords)
    #: how many addresses a resident may keep for notifications (C1)
    max_addresses: int = 5
    #: settlements shown per page (Viber shows ≤ 24 buttons; we keep room for navigation)
    settlements_per_page: int = 16
    clock: Callable[[], datetime] = field(default=utcnow)
    #: one-time codes to link another app (S7); random unless a test fixes them
    new_link_code: Callable[[], str] = field(default=new_link_code)
    #: the Contact Center's phone, told when a chat with an operator cannot happen
    #: (``build_context``: the setting, or else the city data's ``contact_center.toml``)
    contact_center_phone: str | None = None


def build_context(
    directory: ResidentDirectory,
    *,
    data_dir: Path | None = None,
    questions: QuestionAnswerer | None = None,
    clock: Callable[[], datetime] = utcnow,
    link_codes: Callable[[], str] = new_link_code,
    records: Records | None = None,
    contact_center_phone: str | None = None,
) -> Context:
    """The engine's context; ``data_dir`` swaps all of a community's data files
    (default: Khmelnytskyi, packaged in ``chatbot_common/directory/data``).
    ``contact_center_phone`` overrides the city data's phone; empty keeps it."""
    city = load_city(Path(data_dir).resolve() if data_dir else DEFAULT_DATA_DIR)
    return Context(directory=directory, city=city, questions=questions, clock=clock, new_link_code=link_codes,
                   records=records if records is not None else MemoryRecords(),
                   contact_center_phone=contact_center_phone or city.contact_center_phone)
