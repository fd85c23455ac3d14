"""Ranking and the confidence decision (C3).

Each entry is two BM25 documents over lemmas (bm25s): its *questions* (the canonical
question, phrasings and keywords) and its *answer*. An entry's score is
``questions + ANSWER_WEIGHT × answer``.

The decision needs more than a high score, because BM25 scores are not probabilities:
``coverage`` is the share of the question's information (IDF-weighted lemmas) that the
best entry contains. A lemma the knowledge base has never seen («погода», «рецепт») gets
the highest IDF, so a question about something else has low coverage and is declined
even when one of its words («коли», «вода») matches. Answer only when the best entry's
score ≥ ``min_score``, coverage ≥ ``min_coverage`` and the best score is at least
``min_ratio`` × the second; otherwise decline with up to
three suggestions. A question naming another city (``elsewhere`` in the lexicon) is
never answered. The thresholds were chosen on the evaluation set (docs/faq.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import bm25s
import numpy as np

from chatbot_common.events import FaqEntry

from .text import Lemmatizer

ANSWER_WEIGHT = 0.3
MIN_SCORE = 2.5
MIN_COVERAGE = 0.25
#: the best entry must beat the second by this factor: two close entries (the start and
#: the end of the heating season) are offered as suggestions instead of a guess
MIN_RATIO = 1.05


@dataclass(frozen=True)
class Hit:
    entry: FaqEntry
    score: float
    coverage: float


@dataclass(frozen=True)
class Found:
    """The ranking of one question: ``answer`` is set when confident."""

    lemmas: tuple[str, ...]
    ranked: tuple[Hit, ...]
    answer: Hit | None

    @property
    def suggestions(self) -> tuple[Hit, ...]:
        return tuple(h for h in self.ranked if h.score > 0)[:3]


def _retriever(corpus: list[list[str]]) -> bm25s.BM25:
    retriever = bm25s.BM25()
    # bm25s needs at least one token per document; an empty one gets a placeholder.
    retriever.index([doc or ["\u2205"] for doc in corpus], show_progress=False)
    return retriever


class FaqIndex:
    """An immutable index of some entries; build a new one after a change."""

    def __init__(self, entries: Iterable[FaqEntry], lemmatizer: Lemmatizer | None = None, *,
                 min_score: float = MIN_SCORE, min_coverage: float = MIN_COVERAGE,
                 min_ratio: float = MIN_RATIO) -> None:
        self.entries: list[FaqEntry] = list(entries)
        self.by_id = {e.id: e for e in self.entries}
        base = lemmatizer or Lemmatizer()
        self.min_score = min_score
        self.min_coverage = min_coverage
        self.min_ratio = min_ratio
        questions = [base.lemmas(" ".join([e.question, *e.phrasings, *e.keywords])) for e in self.entries]
        answers = [base.lemmas(e.answer) for e in self.entries]
        vocabulary = {t for doc in (*questions, *answers) for t in doc}
        self.lemmatizer = base.with_vocabulary(vocabulary)
        self.question_sets = [set(doc) for doc in questions]
        self.answer_sets = [set(doc) for doc in answers]
        n = max(len(self.entries), 1)
        df: dict[str, int] = {}
        for q, a in zip(self.question_sets, self.answer_sets, strict=True):
            for term in q | a:
                df[term] = df.get(term, 0) + 1
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self.unknown_idf = math.log(1 + (n + 0.5) / 0.5)
        self._questions = _retriever(questions) if self.entries else None
        self._answers = _retriever(answers) if self.entries else None
        self._q_vocab = set(self._questions.vocab_dict) if self._questions else set()
        self._a_vocab = set(self._answers.vocab_dict) if self._answers else set()

    def __len__(self) -> int:
        return len(self.entries)

    def search(self, text: str, *, settlement: str | None = None, limit: int = 3) -> Found:
        lemmas = tuple(dict.fromkeys(self.lemmatizer.lemmas(text)))
        if not lemmas or not self.entries:
            return Found(lemmas, (), None)
        scores = self._scores(lemmas)
        order = np.argsort(-scores)
        ranked: list[Hit] = []
        for i in order:
            entry = self.entries[int(i)]
            if entry.settlement and entry.settlement != settlement:
                continue
            ranked.append(Hit(entry, float(scores[i]), self._coverage(lemmas, int(i))))
            if len(ranked) == limit:
                break
        best = ranked[0] if ranked else None
        second = ranked[1].score if len(ranked) > 1 else 0.0
        elsewhere = bool(self.lemmatizer.lexicon.elsewhere.intersection(lemmas))  # another city's question
        confident = (not elsewhere and best is not None and best.score >= self.min_score and best.coverage >= self.min_coverage
                     and best.score >= self.min_ratio * second)
        return Found(lemmas, tuple(ranked), best if confident else None)

    def _scores(self, lemmas: Sequence[str]) -> np.ndarray:
        scores = np.zeros(len(self.entries), dtype=np.float32)
        q = [t for t in lemmas if t in self._q_vocab]
        a = [t for t in lemmas if t in self._a_vocab]
        if q:
            scores += self._questions.get_scores(q)
        if a:
            scores += ANSWER_WEIGHT * self._answers.get_scores(a)
        return scores

    def _coverage(self, lemmas: Sequence[str], i: int) -> float:
        total = covered = 0.0
        for term in lemmas:
            weight = self.idf.get(term, self.unknown_idf)
            total += weight
            if term in self.question_sets[i]:
                covered += weight
            elif term in self.answer_sets[i]:
                covered += 0.5 * weight
        return covered / total if total else 0.0
