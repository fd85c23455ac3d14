"""The crawler's checks catch what a resident would notice (so a green crawl means something)."""

from chatbot_common.events import Button, ButtonAction

from ux_checks import keyboard_rows, problems

HOME = Button(label="🏠 Головне меню", code="nav:home", columns=3)
BACK = Button(label="⬅️ Назад", code="nav:back", columns=3)


def test_a_polite_ukrainian_reply_with_a_way_home_passes():
    assert problems("Оберіть, будь ласка, розділ. Ваш профіль у Viber.", [BACK, HOME], registered=True) == []


def test_english_words_are_caught_but_urls_and_brands_are_not():
    assert problems("Error: something failed", [HOME], registered=True)
    assert problems("Відкрийте https://khm.gov.ua/en у Google Play чи App Store", [HOME], registered=True) == []


def test_informal_address_is_caught():
    assert problems("Натисни кнопку, будь ласка", [HOME], registered=True)
    assert problems("Дякуємо за ваше звернення", [HOME], registered=True)


def test_a_registered_resident_without_a_way_home_is_caught():
    assert problems("Оберіть, будь ласка:", [BACK], registered=True)


def test_a_resident_not_registered_without_any_button_is_caught():
    assert problems("Оберіть, будь ласка:", [], registered=False)


def test_keyboards_beyond_viber_limits_are_caught():
    buttons = [Button(label=f"Кнопка {n}", code=f"x:{n}", columns=3) for n in range(26)]
    assert keyboard_rows(buttons) == 13
    assert problems("Оберіть:", [*buttons, HOME], registered=True)


def test_rows_are_counted_as_viber_fills_them():
    assert keyboard_rows([BACK, HOME]) == 1
    assert keyboard_rows([Button(label="А", code="a:1", columns=4), BACK, HOME]) == 2


def test_open_url_buttons_need_an_https_address():
    link = Button(label="🌐 Сайт", code="link:site", action=ButtonAction.open_url, url="http://example.org")
    assert problems("Сайт:", [link, HOME], registered=True)
