"""Summarise a py-spy ``--format raw`` profile (collapsed stacks): where the CPU went.

``python scripts/bench_profile.py /tmp/gateway.txt [--top 20]`` prints, as a share of
all samples: the functions the samples were *in* (self), the functions they were
*under* (inclusive, each function counted once per stack), and self time by package.
``make bench BENCH_ARGS="--profile DIR --py-spy PATH"`` records and summarises the
gateway and the dialog during the burst with it.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# One frame of py-spy's collapsed output: "function (path/to/module.py:123)".
TRUNK = 0.8  # inclusive share above which a frame is the process's trunk (event loop, main), not a hotspot
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def frame_key(frame: str) -> tuple[str, str]:
    """(function, file) of a frame, without the line number."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), ""
    return match["func"], match["file"]


def package_of(file: str) -> str:
    """The top-level package of a (py-spy shortened) file name: ``mongomock/collection.py`` → ``mongomock``."""
    parts = file.replace("\\", "/").split("/")
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1:]
    elif "lib" in parts and any(p.startswith("python3") for p in parts):
        return "stdlib"
    head = parts[0] if parts else file
    return head[:-3] if head.endswith(".py") else head or "?"


def entry_of(frames: list[tuple[str, str]]) -> tuple[str, str]:
    """The task a sample belongs to: the frame the event loop called (under the last ``Handle._run``)."""
    for i in range(len(frames) - 1, -1, -1):
        if frames[i][0] == "Handle._run" and i + 1 < len(frames):
            return frames[i + 1]
    if any(f[0] == "BaseEventLoop._run_once" for f in frames):
        return ("the event loop itself (select, scheduling)", "")
    return ("(partial stack: py-spy --nonblocking lost its root)", "")


def read_raw(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    """Stacks (outermost frame first) with their sample counts."""
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        line = line.rstrip()
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [frame_key(f) for f in stack.split(";") if f.strip()]
        # py-spy puts the process and thread first ("process 123:\"python -m x\"", "thread (0x..)").
        frames = [f for f in frames if f[1] or not (f[0].startswith("process ") or f[0].startswith("thread "))]
        if frames:
            stacks.append((frames, int(count)))
    return stacks


def summarise(path: Path, top: int = 20, title: str | None = None) -> str:
    stacks = read_raw(path)
    total = sum(count for _, count in stacks)
    if total == 0:
        return f"{title or path}: no samples"
    own: Counter[tuple[str, str]] = Counter()
    under: Counter[tuple[str, str]] = Counter()
    packages: Counter[str] = Counter()
    entries: Counter[tuple[str, str]] = Counter()
    for frames, count in stacks:
        entries[entry_of(frames)] += count
        own[frames[-1]] += count
        packages[package_of(frames[-1][1])] += count
        for key in set(frames):
            under[key] += count

    def rows(counter: Counter, label, skip=lambda count: False) -> list[str]:  # type: ignore[no-untyped-def]
        kept = [(key, count) for key, count in counter.most_common() if not skip(count)][:top]
        return [f"  {count / total * 100:5.1f}%  {label(key)}" for key, count in kept]

    def name(key: tuple[str, str]) -> str:
        return f"{key[0]} ({key[1]})" if key[1] else key[0]

    lines = [f"{title or path}: {total} samples (on CPU, idle excluded)",
             f" self — the function the sample was in (top {top}):", *rows(own, name),
             f" inclusive — the function was on the stack (top {top}; frames on ≥ {TRUNK:.0%} of the stacks, the"
             " event loop and the service's main, left out):", *rows(under, name, lambda n: n >= TRUNK * total),
             " by task — the coroutine the event loop was running (the frame under Handle._run):",
             *rows(entries, name),
             " self by package:", *rows(packages, str)]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profiles", nargs="+", type=Path, help="py-spy record --format raw output files")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    print("\n\n".join(summarise(p, args.top) for p in args.profiles))
