"""Settlements of the territorial community (C5): the city first, then its villages.

They come from ``settlements.toml`` so each community lists its own; residents pick one
from buttons or type its name, which is matched the same tolerant way as streets.
"""

from __future__ import annotations

from dataclasses import dataclass

from .text import distance, fold, typo_allowance


@dataclass(frozen=True)
class SettlementKind:
    name: str  # місто / селище / село
    label: str  # "м. {name}"
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settlement:
    id: str  # stable: part of every address key
    name: str
    kind: SettlementKind

    @property
    def label(self) -> str:
        return self.kind.label.format(name=self.name)


def match_settlement(settlements: tuple[Settlement, ...], query: str) -> Settlement | None:
    """The one settlement a typed name means, or ``None`` when unsure or unknown."""
    if not query or len(query) > 100:
        return None
    words = fold(query).split()
    kind_words = {fold(w) for s in settlements for w in (s.kind.name, *s.kind.aliases)}
    while len(words) > 1 and words[0] in kind_words:
        words = words[1:]
    key = " ".join(words)
    if not key:
        return None
    exact = [s for s in settlements if fold(s.name) == key]
    if len(exact) == 1:
        return exact[0]
    allowance = typo_allowance(key)
    near = [s for s in settlements if distance(key, fold(s.name), allowance) <= allowance]
    return near[0] if len(near) == 1 else None
