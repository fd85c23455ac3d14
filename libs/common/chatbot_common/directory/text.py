"""Folding of what residents type, so that matching ignores what people vary in.

Residents type street and settlement names with any case, any of the three apostrophes
(' ’ ʼ) or none, with dots and commas, sometimes with Russian letters. Matching compares
folded keys only; what residents *see* always comes from the data files.
"""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = "'’ʼ`´‘′"
_TRANSLATE = str.maketrans(
    {
        **{a: "" for a in _APOSTROPHES},
        "ы": "и",
        "э": "е",
        "ё": "е",
        "ъ": "",
        "-": " ",
        "–": " ",
        "—": " ",
    }
)
_PUNCTUATION = re.compile(r"[^\w\s]")


def fold(text: str) -> str:
    """Lower-case, apostrophes removed, punctuation to spaces, single spaces."""
    folded = unicodedata.normalize("NFC", text).lower().translate(_TRANSLATE)
    folded = _PUNCTUATION.sub(" ", folded).replace("_", " ")
    return " ".join(folded.split())


def distance(a: str, b: str, limit: int) -> int:
    """Damerau–Levenshtein (optimal string alignment) distance, ``limit + 1`` when above.

    A swapped pair of letters counts as one typo, as people make them on phone keyboards.
    """
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return min(previous[-1], limit + 1)


def typo_allowance(key: str) -> int:
    """How many typos a key of this length tolerates: short names are easy to confuse."""
    if len(key) < 5:
        return 0
    if len(key) <= 10:
        return 1
    return 2
