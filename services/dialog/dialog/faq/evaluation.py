"""Figures of the question answerer on a labelled set (C3): used by the regression test
(``services/dialog/tests/faq``) and by ``scripts/bench_faq.py`` (``make bench-faq``).

The set is a text file, one question a line: ``<entry id> | <question>``, or
``- | <question>`` for one the knowledge base cannot answer; ``#`` starts a comment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .search import FaqIndex

EVAL_SET = Path(__file__).resolve().parents[2] / "tests" / "faq" / "eval_set.txt"


@dataclass(frozen=True)
class Question:
    text: str
    entry_id: str | None  # None: unanswerable


def load_eval(path: Path = EVAL_SET) -> list[Question]:
    out: list[Question] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        label, sep, text = line.partition("|")
        if not sep or not text.strip():
            raise ValueError(f"{path.name}:{n}: expected '<entry id> | <question>'")
        label = label.strip()
        out.append(Question(text.strip(), None if label == "-" else label))
    return out


@dataclass(frozen=True)
class Figures:
    answerable: int
    unanswerable: int
    top1: float  # answerable: the confident answer is the right entry
    top3: float  # answerable: the right entry among the first three ranked
    correct_decline: float  # unanswerable: declined
    wrong_decline: float  # answerable: declined
    confident_wrong: float  # of ALL questions: a confident answer that is wrong
    misses: tuple[tuple[str, str | None, str | None], ...]  # (question, expected, answered)

    def lines(self) -> list[str]:
        return [
            f"questions: {self.answerable} answerable, {self.unanswerable} unanswerable",
            f"top-1 accuracy: {self.top1:.1%}",
            f"top-3 accuracy: {self.top3:.1%}",
            f"correct declines (unanswerable): {self.correct_decline:.1%}",
            f"wrong declines (answerable): {self.wrong_decline:.1%}",
            f"confident wrong answers (of all): {self.confident_wrong:.1%}",
        ]


def evaluate(index: FaqIndex, questions: Sequence[Question]) -> Figures:
    answerable = [q for q in questions if q.entry_id]
    unanswerable = [q for q in questions if not q.entry_id]
    top1 = top3 = declined_ok = declined_bad = wrong = 0
    misses: list[tuple[str, str | None, str | None]] = []
    for q in questions:
        found = index.search(q.text)
        answered = found.answer.entry.id if found.answer else None
        if q.entry_id:
            top1 += answered == q.entry_id
            top3 += q.entry_id in [h.entry.id for h in found.ranked[:3]]
            declined_bad += answered is None
        else:
            declined_ok += answered is None
        if answered is not None and answered != q.entry_id:
            wrong += 1
        if answered != q.entry_id:
            misses.append((q.text, q.entry_id, answered))
    a, u = max(len(answerable), 1), max(len(unanswerable), 1)
    return Figures(
        answerable=len(answerable), unanswerable=len(unanswerable),
        top1=top1 / a, top3=top3 / a, correct_decline=declined_ok / u, wrong_decline=declined_bad / a,
        confident_wrong=wrong / max(len(questions), 1), misses=tuple(misses),
    )
