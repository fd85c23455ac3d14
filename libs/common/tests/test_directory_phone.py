"""Phone numbers are kept as +380XXXXXXXXX whatever the resident typed or shared."""

import pytest

from chatbot_common.directory import display_phone, normalise_phone


@pytest.mark.parametrize(
    "typed",
    [
        "+380671234567",
        "380671234567",
        "0671234567",
        "067 123 45 67",
        "(067)123-45-67",
        "+38 (067) 123-45-67",
        " 067.123.45.67 ",
        "80671234567",
    ],
)
def test_ukrainian_numbers_in_any_spelling_become_one_canonical_number(typed):
    assert normalise_phone(typed) == "+380671234567"


@pytest.mark.parametrize(
    "typed",
    [
        "+48601234567",  # Poland
        "+1 202 555 0123",
        "067123456",  # too short
        "06712345678",  # too long
        "+3806712345678",
        "067abc4567",
        "мій номер 0671234567",
        "0000000000",
        "",
        "   ",
        None,
        "+38+0671234567",
    ],
)
def test_numbers_of_other_countries_wrong_length_or_with_letters_are_refused(typed):
    assert normalise_phone(typed) is None


def test_profile_shows_the_number_grouped_for_reading():
    assert display_phone("+380671234567") == "+380 67 123 45 67"
