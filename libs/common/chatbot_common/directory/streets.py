"""The street directory of one settlement and matching what a resident typed against it.

Outage notices are matched to residents by street id, so a resident's street must be a
directory entry, not free text. Residents type «вул. Кам’янецька», «кам'янецька»,
«Камянецька 12» or «Проскуровська»; the matcher folds all of that to the entry, or
offers the nearest entries as suggestions when it is not sure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .house import parse_house
from .text import distance, fold, typo_allowance

#: How many suggestions a resident is shown at most (they become buttons).
MAX_SUGGESTIONS = 8
#: Longer input is not a street name: no point matching it.
MAX_QUERY_LENGTH = 100
#: Where a house number may start after the street name: «Проскурівська, буд. 12».
_HOUSE_GAP = re.compile(r"[\s,]+(?=(?:буд\.?|будинок|№)?\s*\d)")


@dataclass(frozen=True)
class StreetType:
    """вулиця / проспект / провулок / шосе / бульвар / площа …, from ``street_types.toml``."""

    name: str
    label: str  # format with {name}: "вул. {name}", "{name} шосе"
    aliases: tuple[str, ...] = ()

    def words(self) -> set[str]:
        return {fold(word) for word in (self.name, *self.aliases)}


@dataclass(frozen=True)
class Street:
    id: str  # stable: part of every address key; never reuse or rename
    name: str
    type: StreetType
    aliases: tuple[str, ...] = ()  # former names residents still use

    @property
    def label(self) -> str:
        return self.type.label.format(name=self.name)

    def keys(self) -> set[str]:
        """Folded spellings that match exactly: the name, former names, and the surname
        alone for names like «Степана Бандери» (people say «Бандери»)."""
        keys = set()
        for spelling in (self.name, *self.aliases):
            folded = fold(spelling)
            keys.add(folded)
            words = folded.split()
            if len(words) > 1 and len(words[-1]) >= 4:
                keys.add(words[-1])
        return keys


@dataclass(frozen=True)
class StreetMatch:
    """What a typed street name matched.

    ``street`` is set when we are sure (exact after folding, or a single close typo);
    ``suggestions`` lists candidates to offer as buttons otherwise; ``house`` is a house
    number typed together with the street («Проскурівська 12»); ``bad_house`` says a
    number was typed with it that is no house number («Проскурівська 0»).
    """

    street: Street | None = None
    suggestions: tuple[Street, ...] = ()
    house: str | None = None
    typo: bool = False
    bad_house: bool = False


@dataclass(frozen=True)
class StreetDirectory:
    streets: tuple[Street, ...] = ()
    types: tuple[StreetType, ...] = ()
    _by_id: dict[str, Street] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id.update({street.id: street for street in self.streets})

    def __bool__(self) -> bool:
        return bool(self.streets)

    def get(self, street_id: str) -> Street | None:
        return self._by_id.get(street_id)

    def match(self, query: str) -> StreetMatch:
        """Match a typed street name; see :class:`StreetMatch`."""
        if not query or len(query) > MAX_QUERY_LENGTH:
            return StreetMatch()
        found = self._match_name(query)
        if found.street or found.suggestions:
            return found
        bad_house = StreetMatch()
        for gap in _HOUSE_GAP.finditer(query):  # «Проскурівська 12/1», «… 12 корпус 2»
            house = parse_house(query[gap.end() :])
            found = self._match_name(query[: gap.start()])
            if not (found.street or found.suggestions):
                continue
            if house:
                return StreetMatch(found.street, found.suggestions, house, found.typo)
            if not (bad_house.street or bad_house.suggestions):
                bad_house = StreetMatch(found.street, found.suggestions, None, found.typo, bad_house=True)
        return bad_house

    def _match_name(self, name: str) -> StreetMatch:
        type_hint, words = self._strip_type(fold(name).split())
        return self._match_words(words, type_hint)

    def _strip_type(self, words: list[str]) -> tuple[StreetType | None, list[str]]:
        """Remove «вул.», «вулиця», «просп.», «пр-т», «шосе» … at either end of the words
        and remember the type: it tells «вулиця» from «провулок» of the same name."""
        spellings = sorted(
            ((w.split(), t) for t in self.types for w in t.words()),
            key=lambda item: -len(item[0]),
        )
        for spelling, street_type in spellings:
            n = len(spelling)
            if len(words) > n and words[:n] == spelling:
                return street_type, words[n:]
            if len(words) > n and words[-n:] == spelling:
                return street_type, words[:-n]
        return None, words

    def _match_words(self, words: list[str], type_hint: StreetType | None) -> StreetMatch:
        key = " ".join(words)
        if not key:
            return StreetMatch()
        exact = [s for s in self.streets if key in s.keys()]
        if exact:
            exact = _prefer_type(exact, type_hint)
            if len(exact) == 1:
                return StreetMatch(street=exact[0])
            return StreetMatch(suggestions=tuple(exact[:MAX_SUGGESTIONS]))
        if any(ch.isdigit() for ch in key):  # «Подільська 3» is a street and a house, not a typo
            return StreetMatch()
        return self._near(key, type_hint)

    def _near(self, key: str, type_hint: StreetType | None) -> StreetMatch:
        """Typos and beginnings of names: candidates ranked by how close they are."""
        allowance = typo_allowance(key)
        scored: list[tuple[int, str, Street]] = []
        for street in self.streets:
            best = min(distance(key, k, allowance) for k in street.keys())
            if best <= allowance:
                scored.append((best, street.name, street))
            elif len(key) >= 3 and any(w.startswith(key) for k in street.keys() for w in [k, *k.split()]):
                scored.append((allowance + 1, street.name, street))
        if not scored:
            return StreetMatch()
        scored.sort(key=lambda item: (item[0], item[1]))
        candidates = _prefer_type([s for _, _, s in scored], type_hint)
        typos = [s for d, _, s in scored if d <= allowance and s in candidates]
        if len(typos) == 1 and len(candidates) == 1:
            return StreetMatch(street=typos[0], typo=True)
        return StreetMatch(suggestions=tuple(candidates[:MAX_SUGGESTIONS]))


def _prefer_type(streets: list[Street], type_hint: StreetType | None) -> list[Street]:
    if type_hint is None:
        return streets
    typed = [s for s in streets if s.type.name == type_hint.name]
    return typed or streets
