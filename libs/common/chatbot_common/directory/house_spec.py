"""House lists of an outage as staff write them: the ONE parser (admin's API, the
contact center's outage import, the panel's preview).

A spec is a comma- or semicolon-separated list of parts; each part is either

- one house, any spelling :func:`~chatbot_common.directory.parse_house` accepts
  (``12а``, ``14/2``, ``16 корп. 2``, ``буд. 7``), or
- a range ``1-15`` (every house), ``2-20 парні`` / ``1-31 непарні`` (one side of the
  street; ``(парні)``, ``парна сторона``, ``пар.`` too), with ``-``, ``–`` or ``—``.

An empty spec means the whole street (``[]``). The result is the canonical house
numbers, in street order, each once — the ``houses`` of an ``OutageAddress``, which the
notifier turns into address keys. Anything else raises :class:`HouseSpecError` whose
message (Ukrainian, for the staff) names the part that is wrong: residents never see an
outage built from half a spec.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .house import MAX_HOUSE, parse_house

#: Most houses one spec may expand to: more is a typo (``1-10000``), not a street.
MAX_SPEC_HOUSES = 1000
#: Houses :func:`describe` shows before the ellipsis.
PREVIEW_HEAD = 3

_DASHES = str.maketrans({"–": "-", "—": "-", "‒": "-", "−": "-", "‐": "-", "‑": "-"})
_PREFIX = r"(?:будинки|будинок|буд\.?|б\.|№)"
_PARITY_WORDS = {
    "парні": 0, "парна": 0, "пар": 0, "парн": 0, "парні сторона": 0, "парна сторона": 0,
    "непарні": 1, "непарна": 1, "непар": 1, "непарн": 1, "непарні сторона": 1, "непарна сторона": 1,
}
_RANGE = re.compile(
    rf"""^(?:{_PREFIX}\s*)?(?P<first>\d{{1,6}})\s*(?:-|до|по)\s*(?P<last>\d{{1,6}})
        \s*(?:\(\s*(?P<parity1>[а-яіїєґ .]+?)\s*\)|(?P<parity2>[а-яіїєґ .]+?))?\s*$""",
    re.VERBOSE,
)
_BLOCK_CONTINUATION = re.compile(r"^(?:корпус|корп\.?|к\.)\s*\d")


class HouseSpecError(ValueError):
    """A spec that is not a house list. ``part`` is the offending piece as written;
    ``str(error)`` is a Ukrainian sentence for the staff member that names it."""

    def __init__(self, message: str, part: str = "") -> None:
        super().__init__(message)
        self.part = part


def _parity(raw: str | None, part: str) -> int | None:
    if raw is None:
        return None
    words = " ".join(raw.replace(".", " ").split())
    if words in _PARITY_WORDS:
        return _PARITY_WORDS[words]
    raise HouseSpecError(f"«{part}»: після діапазону можна написати лише «парні» або «непарні»", part)


def _parts(spec: str) -> list[str]:
    """Split on commas/semicolons, gluing «, корп. 2» back to the house before it."""
    parts: list[str] = []
    for piece in re.split(r"[,;]", spec):
        piece = " ".join(piece.split())
        if not piece:
            continue
        if parts and _BLOCK_CONTINUATION.match(piece.lower()):
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    return parts


def _expand_range(m: re.Match[str], part: str) -> list[str]:
    first, last = int(m["first"]), int(m["last"])
    parity = _parity(m["parity1"] or m["parity2"], part)
    for end in (first, last):
        if not 1 <= end <= MAX_HOUSE:
            raise HouseSpecError(f"«{part}»: номер будинку {end} поза межами 1–{MAX_HOUSE}", part)
    if first > last:
        raise HouseSpecError(f"«{part}»: діапазон навпаки — початок {first} більший за кінець {last}", part)
    if parity is not None:
        word = "парні" if parity == 0 else "непарні"
        wrong = [str(end) for end in dict.fromkeys((first, last)) if end % 2 != parity]
        if wrong:
            other = ("непарні числа" if parity == 0 else "парні числа") if len(wrong) > 1 else (
                "непарне число" if parity == 0 else "парне число")
            raise HouseSpecError(f"«{part}»: діапазон «{word}», але {' і '.join(wrong)} — {other}", part)
    step = 1 if parity is None else 2
    if (last - first) // step + 1 > MAX_SPEC_HOUSES:
        raise HouseSpecError(f"«{part}»: забагато будинків (більше {MAX_SPEC_HOUSES})", part)
    return [str(n) for n in range(first, last + 1, step)]


def parse_house_spec(spec: str | None) -> list[str]:
    """Canonical house numbers of ``spec`` in street order, each once; ``[]`` for an
    empty spec (the whole street). Raises :class:`HouseSpecError` (a ``ValueError``)."""
    if spec is None:
        return []
    text = spec.translate(_DASHES).strip()
    if not text:
        return []
    if len(text) > 2000:
        raise HouseSpecError("Список будинків задовгий (більше 2000 символів)", text[:40])
    houses: dict[str, None] = {}
    for part in _parts(text):
        lowered = part.lower()
        m = _RANGE.match(lowered)
        if m:
            expanded = _expand_range(m, part)
        else:
            house = parse_house(part)
            if house is None:
                raise HouseSpecError(f"«{part}» — не номер будинку і не діапазон (наприклад, «1-15 непарні»)", part)
            expanded = [house]
        houses.update(dict.fromkeys(expanded))
        if len(houses) > MAX_SPEC_HOUSES:
            raise HouseSpecError(f"Забагато будинків (більше {MAX_SPEC_HOUSES}); для всієї вулиці залиште поле порожнім",
                                 part)
    return sorted(houses, key=house_order)


def house_order(house: str) -> tuple[int, str]:
    """Street order of canonical house numbers: 2 < 10 < 10а < 10/1 < 10 корп. 2."""
    m = re.match(r"\d+", house)
    return (int(m.group()) if m else 0, house[m.end():] if m else house)


def plural_houses(n: int) -> str:
    """«1 будинок», «3 будинки», «16 будинків» (Ukrainian plural forms)."""
    if n % 10 == 1 and n % 100 != 11:
        word = "будинок"
    elif 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        word = "будинки"
    else:
        word = "будинків"
    return f"{n} {word}"


def describe(houses: Sequence[str], street: str | None = None) -> str:
    """A short preview for the staff: ``1, 3, 5 … 31 — 16 будинків``; ``[]`` is
    «уся вулиця»; with ``street``: «Проскурівська: 1, 3, 5 … 31 — 16 будинків»."""
    if not houses:
        body = "уся вулиця"
    else:
        shown = list(houses)
        if len(shown) > PREVIEW_HEAD + 2:
            listed = f"{', '.join(shown[:PREVIEW_HEAD])} … {shown[-1]}"
        else:
            listed = ", ".join(shown)
        body = f"{listed} — {plural_houses(len(shown))}"
    return f"{street}: {body}" if street else body


__all__ = ["MAX_SPEC_HOUSES", "HouseSpecError", "describe", "house_order", "parse_house_spec", "plural_houses"]
