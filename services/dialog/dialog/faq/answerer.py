"""The engine's question answerer (C3): small talk, then the search, then the decision.

``FaqAnswerer`` keeps an in-memory :class:`~.search.FaqIndex` of the knowledge base and
rebuilds it (in a worker thread) when the store's generation changes: right after this
replica applied a ``faq.changed``, and every ``DIALOG_FAQ_REFRESH_SECONDS`` for changes
another replica applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import structlog

from chatbot_common.events import FaqEntry

from ..conversation.api import QuestionResult
from ..conversation.model import Resident
from .search import FaqIndex
from .store import FaqStore
from .text import Lemmatizer, small_talk, strip_personal, without_obscenities

log = structlog.get_logger("dialog.faq")


class FaqAnswerer:
    def __init__(self, entries: Iterable[FaqEntry] = (), *, store: FaqStore | None = None,
                 lemmatizer: Lemmatizer | None = None) -> None:
        self.lemmatizer = lemmatizer or Lemmatizer()
        self.store = store
        self.index = FaqIndex(entries, self.lemmatizer)
        self.generation: int | None = None
        self._lock = asyncio.Lock()

    def replace(self, entries: Iterable[FaqEntry]) -> None:
        self.index = FaqIndex(entries, self.lemmatizer)

    async def refresh(self, *, force: bool = False) -> bool:
        """Rebuild the index when the stored knowledge base changed; ``True`` if it did."""
        if self.store is None:
            return False
        async with self._lock:
            generation = await self.store.generation()
            if generation == self.generation and not force:
                return False
            entries = await self.store.entries()
            self.index = await asyncio.to_thread(FaqIndex, entries, self.lemmatizer)
            self.generation = generation
            log.info("faq.index_built", entries=len(entries), generation=generation)
            return True

    async def keep_fresh(self, every: float) -> None:
        """Background job: pick up changes other replicas applied."""
        while True:
            await asyncio.sleep(every)
            await self.refresh()

    async def answer(self, resident: Resident, text: str) -> QuestionResult:
        question = strip_personal(text, [resident.name or ""])
        kind = small_talk(text)
        if kind in ("greeting", "thanks"):
            return QuestionResult(kind, question)
        obscene = kind == "obscene"
        found = self.index.search(without_obscenities(text) if obscene else text, settlement=resident.settlement_id)
        best = found.ranked[0].score if found.ranked else None
        if found.answer is not None:
            return QuestionResult("answer", question, answer=found.answer.entry, score=found.answer.score,
                                  obscene=obscene)
        if obscene:
            return QuestionResult("obscene", question)
        return QuestionResult("decline", question, suggestions=tuple(h.entry for h in found.suggestions), score=best)

    async def entry(self, entry_id: str) -> FaqEntry | None:
        return self.index.by_id.get(entry_id)
