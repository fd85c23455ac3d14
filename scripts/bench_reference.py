"""A reference workload both benchmarks time before they start, so that figures from
different hours can be compared: on a shared virtual machine the same code runs up to
twice as slowly in one hour as in another (seen on 2026-11-29), and a benchmark's
figures move with it.

The workload is fixed pure-Python work of the kinds the services do (building dicts,
sorting strings, formatting, a little JSON): ``reference_ms()`` is the fastest of a few
rounds, in milliseconds — lower is a faster machine. Compare two benchmark runs only
when their reference figures are close, or scale by their ratio.
"""

from __future__ import annotations

import json
import random
import time

ROUNDS = 5


def _workload() -> int:
    rng = random.Random(2026)
    keys = [f"r-{rng.getrandbits(64):016x}" for _ in range(20_000)]
    table = {k: {"receiver": k[::-1], "n": i, "tags": [i % 7, i % 11]} for i, k in enumerate(keys)}
    ordered = sorted(table, key=lambda k: (table[k]["n"] % 97, k))
    text = json.dumps([table[k] for k in ordered[:2_000]], ensure_ascii=False)
    return len(json.loads(text)) + sum(len(f"{k}:{table[k]['n']}") for k in ordered)


def reference_ms(rounds: int = ROUNDS) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        _workload()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def describe() -> str:
    return f"reference workload {reference_ms():.0f} ms (scripts/bench_reference.py; lower is a faster machine)"


if __name__ == "__main__":
    print(describe())
