"""The one house-spec parser (admin's outages, the contact center's import, the panel's
preview): every spelling staff use expands to the canonical house numbers the
resident side produces (``parse_house``), and anything else is refused with a Ukrainian
message naming the bad part — never a partial list."""

from __future__ import annotations

import pytest

from chatbot_common.directory import parse_house
from chatbot_common.directory.house_spec import (
    MAX_SPEC_HOUSES,
    HouseSpecError,
    describe,
    parse_house_spec,
    plural_houses,
)

ODD_1_31 = [str(n) for n in range(1, 32, 2)]
EVEN_2_20 = [str(n) for n in range(2, 21, 2)]

VALID = [
    ("", []),
    ("   ", []),
    (None, []),
    ("1-15", [str(n) for n in range(1, 16)]),
    ("1 - 15", [str(n) for n in range(1, 16)]),
    ("1–15", [str(n) for n in range(1, 16)]),  # en dash
    ("1—15", [str(n) for n in range(1, 16)]),  # em dash
    ("2-20 парні", EVEN_2_20),
    ("2–20 (парні)", EVEN_2_20),
    ("2-20 парна сторона", EVEN_2_20),
    ("2-20 пар.", EVEN_2_20),
    ("1-31 непарні", ODD_1_31),
    ("1-31 НЕПАРНІ", ODD_1_31),
    ("буд. 1-31 непарні", ODD_1_31),
    ("12а, 14/2, 16 корп. 2", ["12а", "14/2", "16 корп. 2"]),
    ("12-А", ["12а"]),  # Cyrillic capital, dash: the resident side's spelling
    ("12a", ["12а"]),  # Latin look-alike letter
    ("16 корпус 2", ["16 корп. 2"]),
    ("16, корп. 2", ["16 корп. 2"]),  # the comma before «корп.» does not split the house
    ("буд. 7", ["7"]),
    ("№ 7", ["7"]),
    ("5", ["5"]),
    ("1-3, 2, 3", ["1", "2", "3"]),  # repeated houses counted once
    ("10, 2, 1-3", ["1", "2", "3", "10"]),  # street order
    ("1-5 непарні; 10а; 12/1", ["1", "3", "5", "10а", "12/1"]),
    ("7-7", ["7"]),
    ("1-999", [str(n) for n in range(1, 1000)]),
]


@pytest.mark.parametrize(("spec", "houses"), VALID)
def test_valid_specs_expand_to_canonical_houses(spec, houses):
    """Each spelling expands to exactly these canonical numbers, in street order."""
    assert parse_house_spec(spec) == houses


@pytest.mark.parametrize("spec", ["12а, 14/2, 16 корп. 2", "1-31 непарні", "12-А, 3 к.1"])
def test_houses_are_what_the_resident_side_produces(spec):
    """Outage matching compares keys built from these numbers with residents' houses
    (``parse_house``): a spec's houses must already be in that canonical form."""
    for house in parse_house_spec(spec):
        assert parse_house(house) == house


INVALID = [
    ("абв", "абв", "не номер будинку"),
    ("1-15, абв", "абв", "не номер будинку"),
    ("15-1", "15-1", "навпаки"),
    ("2-20 непарні", "2-20 непарні", "парні числа"),
    ("1-20 парні", "1-20 парні", "1 — непарне число"),
    ("1-31 парні", "1-31 парні", "1 і 31 — непарні числа"),
    ("1-15 усі", "1-15 усі", "«парні» або «непарні»"),
    ("0-5", "0-5", "поза межами"),
    ("1-5000", "1-5000", "поза межами"),
    ("0", "0", "не номер будинку"),
    ("12 корп 0", "12 корп 0", "не номер будинку"),
    ("1-999, 1а, 2а", "2а", "Забагато"),
    ("парні", "парні", "не номер будинку"),
    ("1-", "1-", "не номер будинку"),
]


@pytest.mark.parametrize(("spec", "part", "words"), INVALID)
def test_bad_specs_are_refused_naming_the_part(spec, part, words):
    """Nonsense, reversed ranges, contradicting parity, out-of-range numbers and
    over-long lists raise a ``ValueError`` whose Ukrainian message names the part."""
    with pytest.raises(HouseSpecError) as caught:
        parse_house_spec(spec)
    assert isinstance(caught.value, ValueError)
    assert caught.value.part == part
    assert words in str(caught.value)
    if words != "Забагато":
        assert f"«{part}»" in str(caught.value)


def test_limit_is_the_documented_one():
    """Exactly MAX_SPEC_HOUSES houses pass; one more is refused."""
    assert MAX_SPEC_HOUSES == 1000
    assert len(parse_house_spec("1-999, 1а")) == 1000
    with pytest.raises(HouseSpecError):
        parse_house_spec("1-999, 1а, 1б")


@pytest.mark.parametrize(
    ("houses", "street", "text"),
    [
        (ODD_1_31, None, "1, 3, 5 … 31 — 16 будинків"),
        (ODD_1_31, "Проскурівська", "Проскурівська: 1, 3, 5 … 31 — 16 будинків"),
        (["12а", "14/2", "16 корп. 2"], None, "12а, 14/2, 16 корп. 2 — 3 будинки"),
        (["7"], None, "7 — 1 будинок"),
        (["1", "2", "3", "4", "5"], None, "1, 2, 3, 4, 5 — 5 будинків"),
        ([], "Проскурівська", "Проскурівська: уся вулиця"),
    ],
)
def test_describe_previews_a_house_list(houses, street, text):
    assert describe(houses, street) == text


@pytest.mark.parametrize(
    ("n", "text"),
    [(1, "1 будинок"), (2, "2 будинки"), (4, "4 будинки"), (5, "5 будинків"), (11, "11 будинків"),
     (12, "12 будинків"), (21, "21 будинок"), (22, "22 будинки"), (111, "111 будинків"), (0, "0 будинків")],
)
def test_plural_forms(n, text):
    assert plural_houses(n) == text
