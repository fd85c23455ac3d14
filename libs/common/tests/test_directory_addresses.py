"""Streets, house and apartment numbers as residents type them, matched to the directory."""

import pytest

from chatbot_common.directory import load_city, match_settlement, parse_apartment, parse_house


@pytest.fixture(scope="module")
def city():
    return load_city()


@pytest.fixture(scope="module")
def streets(city):
    return city.street_directory("khmelnytskyi")


@pytest.mark.parametrize(
    ("typed", "street_id"),
    [
        ("Проскурівська", "proskurivska"),
        ("вул. Проскурівська", "proskurivska"),
        ("вулиця Проскурівська", "proskurivska"),
        ("Проскурівська вулиця", "proskurivska"),
        ("ПРОСКУРІВСЬКА", "proskurivska"),
        ("  проскурівська ", "proskurivska"),
        ("Кам'янецька", "kamianetska"),
        ("Кам’янецька", "kamianetska"),
        ("Камʼянецька", "kamianetska"),
        ("Камянецька", "kamianetska"),
        ("вул.Кам'янецька", "kamianetska"),
        ("просп. Миру", "prosp-myru"),
        ("пр-т Миру", "prosp-myru"),
        ("проспект миру", "prosp-myru"),
        ("пров. Героїв Маріуполя", "prov-heroiv-mariupolia"),
        ("вул. Героїв Маріуполя", "heroiv-mariupolia"),
        ("Староконстянтинівське шосе", "starokonstiantynivske-shose"),
        ("шосе Староконстянтинівське", "starokonstiantynivske-shose"),
        ("Степана Бандери", "stepana-bandery"),
        ("Бандери", "stepana-bandery"),
        ("Січових Стрільців", "sichovykh-striltsiv"),
        ("вул. Лесі Українки", "lesi-ukrainky"),
        ("вул. Купріна", "symona-petliury"),  # the former name still works
    ],
)
def test_street_prefixes_case_and_apostrophes_do_not_matter(streets, typed, street_id):
    found = streets.match(typed)
    assert found.street is not None and found.street.id == street_id
    assert not found.typo


@pytest.mark.parametrize(
    ("typed", "street_id"),
    [
        ("Проскуровська", "proskurivska"),
        ("Зарiчанська", "zarichanska"),  # a Latin «i» in the middle
        ("Тернопільска", "ternopilska"),
        ("Подільсьа", "podilska"),
        ("Інститутьска", "instytutska"),
    ],
)
def test_a_small_typo_still_finds_the_street(streets, typed, street_id):
    found = streets.match(typed)
    assert found.street is not None and found.street.id == street_id
    assert found.typo


def test_a_name_shared_by_a_street_and_a_lane_offers_both(streets):
    found = streets.match("Героїв Маріуполя")
    assert found.street is None
    assert {s.id for s in found.suggestions} == {"heroiv-mariupolia", "prov-heroiv-mariupolia"}


def test_the_beginning_of_a_name_offers_suggestions(streets):
    found = streets.match("Проск")
    assert found.street is None
    assert {"proskurivska", "proskurivskoho-pidpillia"} <= {s.id for s in found.suggestions}


@pytest.mark.parametrize("typed", ["Неіснуюча", "вул. Лондонська", "12345", "", "я" * 500])
def test_an_unknown_street_matches_nothing(streets, typed):
    found = streets.match(typed)
    assert found.street is None and not found.suggestions


@pytest.mark.parametrize(
    ("typed", "street_id", "house"),
    [
        ("Проскурівська 12", "proskurivska", "12"),
        ("вул. Кам'янецька, 12/1", "kamianetska", "12/1"),
        ("Зарічанська, буд. 5а", "zarichanska", "5а"),
        ("Проскурівська 12 корпус 2", "proskurivska", "12 корп. 2"),
    ],
)
def test_a_house_number_typed_with_the_street_is_kept(streets, typed, street_id, house):
    found = streets.match(typed)
    assert found.street is not None and found.street.id == street_id
    assert found.house == house


@pytest.mark.parametrize(
    ("typed", "house"),
    [
        ("12", "12"),
        ("12а", "12а"),
        ("12 А", "12а"),
        ("12-а", "12а"),
        ("12a", "12а"),  # Latin «a» looks the same
        ("12/1", "12/1"),
        ("12 / 1", "12/1"),
        ("12 корпус 2", "12 корп. 2"),
        ("12 к.2", "12 корп. 2"),
        ("12к2", "12 корп. 2"),
        ("12, корп. 2", "12 корп. 2"),
        ("буд. 7", "7"),
        ("№ 7", "7"),
        ("999", "999"),
    ],
)
def test_house_numbers_with_letters_fractions_and_blocks_are_accepted(typed, house):
    assert parse_house(typed) == house


@pytest.mark.parametrize("typed", ["0", "00", "999999", "1000", "", "   ", "абв", "12абв", "12/0", "-5", "12 корпус"])
def test_impossible_house_numbers_are_refused(typed):
    assert parse_house(typed) is None


@pytest.mark.parametrize(("typed", "apartment"), [("5", "5"), ("кв. 5", "5"), ("квартира 12а", "12а"), ("007", "7")])
def test_apartment_numbers_are_normalised(typed, apartment):
    assert parse_apartment(typed) == apartment


@pytest.mark.parametrize("typed", ["0", "100000", "п'ять", ""])
def test_impossible_apartment_numbers_are_refused(typed):
    assert parse_apartment(typed) is None


@pytest.mark.parametrize(
    ("typed", "settlement_id"),
    [("Олешин", "oleshyn"), ("с. Олешин", "oleshyn"), ("село масівці", "masivtsi"), ("м. Хмельницький", "khmelnytskyi"),
     ("Хмельницкий", "khmelnytskyi"), ("Велика Калинівка", "velyka-kalynivka"), ("Мацьківці", "matskivtsi")],
)
def test_settlements_are_found_by_typed_name(city, typed, settlement_id):
    found = match_settlement(city.settlements, typed)
    assert found is not None and found.id == settlement_id


@pytest.mark.parametrize("typed", ["Київ", "", "с."])
def test_settlements_outside_the_community_are_not_found(city, typed):
    assert match_settlement(city.settlements, typed) is None
