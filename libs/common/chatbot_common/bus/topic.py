"""AMQP topic-pattern matching for the in-memory bus (``*`` = one word, ``#`` = any)."""

from __future__ import annotations

from functools import cache


@cache
def matches(pattern: str, key: str) -> bool:
    return _match(tuple(pattern.split(".")), tuple(key.split(".")))


def _match(pat: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pat:
        return not words
    head, rest = pat[0], pat[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])
