"""Per-community data files (C5, C7, C11, S8): a realistic default for Khmelnytskyi,
staff-readable, and fully replaceable by pointing at another folder."""

from pathlib import Path

import pytest

from dialog.conversation import build_context
from chatbot_common.directory import DEFAULT_DATA_DIR, load_city
from engine_chat import Chat, FakeDirectory
from ux_checks import language_problems


@pytest.fixture(scope="module")
def city():
    return load_city()


def test_the_city_comes_first_then_its_villages(city):
    assert city.settlements[0].label == "м. Хмельницький"
    names = {s.name for s in city.settlements}
    assert {"Масівці", "Малашівці", "Іванківці", "Бахматівці", "Олешин", "Пирогівці", "Давидківці", "Шаровечка",
            "Климківці", "Лезневе", "Мацьківці", "Водички", "Головчинці", "Івашківці", "Копистин", "Черепова",
            "Черепівка", "Дубове", "Велика Калинівка"} <= names


def test_the_city_street_directory_is_realistic(city):
    streets = city.street_directory("khmelnytskyi").streets
    assert len(streets) > 100
    names = {s.name for s in streets}
    assert {"Проскурівська", "Кам'янецька", "Зарічанська", "Свободи", "Героїв Маріуполя", "Староконстянтинівське",
            "Тернопільська", "Прибузька", "Інститутська", "Подільська", "Січових Стрільців", "Лесі Українки",
            "Степана Бандери", "Геологів", "Панаса Мирного", "Володимирська", "Театральна", "Пилипчука",
            "Трудова"} <= names
    assert {"вулиця", "проспект", "провулок", "шосе", "бульвар", "площа"} <= {s.type.name for s in streets}


def test_some_villages_have_streets_too(city):
    assert sum(1 for s in city.settlements[1:] if city.street_directory(s.id)) >= 3


def test_every_text_from_data_is_formal_ukrainian(city):
    texts = [s.label for s in city.settlements]
    texts += [s.label for d in city.streets.values() for s in d.streets]
    texts += [f"{x.title}\n{x.text}" for x in city.info.all()]
    texts += [link.label for link in city.links]
    assert [(text, p) for text in texts for p in language_problems(text)] == []


def test_labels_from_data_fit_a_button(city):
    labels = [s.label for s in city.settlements] + [s.label for d in city.streets.values() for s in d.streets]
    labels += [x.title for x in city.info.all()] + [link.label for link in city.links]
    assert [label for label in labels if len(label) > 40] == []


def test_the_data_is_packaged_inside_the_common_library():
    """One directory for dialog, admin and notifier (issue 8): the data ships in chatbot_common."""
    import chatbot_common

    assert DEFAULT_DATA_DIR.is_relative_to(Path(chatbot_common.__file__).parent / "directory")


def _other_community(folder: Path) -> Path:
    (folder / "streets").mkdir(parents=True)
    (folder / "settlements.toml").write_text(
        '[[kind]]\nname = "місто"\nlabel = "м. {name}"\n\n'
        '[[settlement]]\nid = "tyvriv"\nname = "Тиврів"\nkind = "місто"\n'
    )
    (folder / "street_types.toml").write_text('[[type]]\nname = "вулиця"\nlabel = "вул. {name}"\naliases = ["вул"]\n')
    (folder / "streets" / "tyvriv.toml").write_text('[[street]]\nid = "soborna"\nname = "Соборна"\n')
    (folder / "links.toml").write_text('[[link]]\nid = "site"\nlabel = "🌐 Сайт громади"\nurl = "https://example.gov.ua"\n')
    return folder


async def test_another_community_swaps_every_data_file(tmp_path):
    directory = FakeDirectory()
    chat = Chat(directory, "viber-user-5", ctx=build_context(directory, data_dir=_other_community(tmp_path)))
    await chat.tap_start()
    await chat.tap("consent:yes")
    assert chat.codes() == ["settlement:tyvriv", "nav:back", "nav:home"]
    await chat.tap("settlement:tyvriv")
    await chat.send("Олена Коваленко")
    await chat.send("0671234567")
    await chat.send("вул. Соборна")
    assert "вул. Соборна" in chat.text
    await chat.send("1")
    await chat.tap("apartment:none")
    await chat.tap("notify:address")
    assert chat.resident.addresses[0].key == "tyvriv|soborna|1"
    await chat.tap("menu:links")
    assert [b.url for b in chat.buttons() if b.url] == ["https://example.gov.ua"]
    await chat.send("menu:info")
    assert chat.text.startswith("Довідкові розділи ще не заповнено")


def test_data_is_read_once_per_folder():
    assert build_context(FakeDirectory()).city is build_context(FakeDirectory()).city


@pytest.mark.parametrize("bad_id", ["Tyvriv", "тиврів", "tyv riv", "tyv:riv", ""])
def test_an_id_that_cannot_be_a_button_code_is_refused_at_start(tmp_path, bad_id):
    folder = _other_community(tmp_path)
    (folder / "links.toml").write_text(f'[[link]]\nid = "{bad_id}"\nlabel = "Сайт"\nurl = "https://example.gov.ua"\n')
    with pytest.raises(ValueError, match="ids must be lower-case"):
        load_city(folder)


def test_a_useful_info_text_too_long_for_one_message_is_refused_at_start(tmp_path):
    folder = _other_community(tmp_path)
    (folder / "useful_info.toml").write_text(f'[[section]]\nid = "long"\ntitle = "Довго"\ntext = "{"я" * 7000}"\n')
    with pytest.raises(ValueError, match="longer than"):
        load_city(folder)
