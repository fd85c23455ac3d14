"""Normalisation and lemmatisation tables of the question search (C3): cases, the three
apostrophes, Latin look-alike letters, inflections, Russian and surzhyk words, typos —
each row a form residents type and the lemma(s) the knowledge base is indexed by."""

from __future__ import annotations

import pytest

from dialog.faq.text import Lemmatizer, normalize, small_talk, strip_personal

LEM = Lemmatizer().with_vocabulary(["опалення", "лічильник", "субсидія", "вода", "гарячий", "ліфт", "сміття",
                                    "укриття", "незламність", "прописка", "квиток", "паркування"])


@pytest.mark.parametrize(("typed", "normal"), [
    ("ПІД’ЇЗД", "під'їзд"),  # right single quotation mark
    ("підʼїзд", "під'їзд"),  # modifier letter apostrophe
    ("під`їзд", "під'їзд"),  # grave accent
    ("під'їзд", "під'їзд"),
    ("Вoда", "вода"),  # Latin o inside a Cyrillic word
    ("CMITTЯ", "сміття"),  # Latin C, M, T in capitals
    ("ліфт!!! не працює???", "ліфт не працює"),
    ("e-mail і www", "e-mail і www"),  # all-Latin words stay Latin
])
def test_normalisation(typed, normal):
    assert normalize(typed) == normal


@pytest.mark.parametrize(("word", "lemma"), [
    # Ukrainian inflections meet on one lemma
    ("опалення", "опалення"), ("опаленням", "опалення"), ("опалювальний", "опалення"), ("опалювального", "опалення"),
    ("лічильника", "лічильник"), ("лічильників", "лічильник"), ("субсидію", "субсидія"), ("субсидії", "субсидія"),
    ("ліфти", "ліфт"), ("ліфтом", "ліфт"), ("укриттях", "укриття"),
    # apostrophes and look-alikes
    ("під’їзді", "під'їзд"), ("підʼїзду", "під'їзд"),
    # Russian through the Russian dictionary and the lexicon
    ("горячую", "гарячий"), ("горячей", "гарячий"), ("отопление", "опалення"), ("отопительный", "опалення"),
    ("счётчика", "лічильник"), ("мусор", "сміття"), ("лифт", "ліфт"), ("когда", "коли"), ("билет", "квиток"),
    ("парковка", "паркування"), ("бомбоубежище", "укриття"), ("субсидию", "субсидія"),
    # surzhyk
    ("свєт", "електроенергія"), ("отоплєніє", "опалення"), ("счотчик", "лічильник"),
    ("пропіска", "прописка"), ("субсідію", "субсидія"), ("комуналку", "комунальний"), ("нема", "немає"),
    # typos: corrected to the knowledge base's vocabulary
    ("опаленя", "опалення"), ("лічільник", "лічильник"), ("субсидя", "субсидія"), ("незламнсть", "незламність"),
])
def test_lemmas(word, lemma):
    assert lemma in LEM.lemmas(word), (word, LEM.lemmas(word))


def test_stop_words_are_left_out_and_order_is_kept():
    """Function words carry nothing to search for; «коли» and «де» do (intent) and stay."""
    lemmas = LEM.lemmas("Скажіть, будь ласка, коли в нас дадуть гарячу воду?")
    assert lemmas[:2] == ["коли", "подати"] and "гарячий" in lemmas and lemmas[-1] == "вода"
    assert not {"скажіть", "будь", "ласка", "в", "нас"} & set(lemmas)
    assert LEM.lemmas("шо") == LEM.lemmas("що") == []  # surzhyk «шо» is «що», a stop word


def test_an_unknown_word_far_from_the_vocabulary_is_not_forced_onto_it():
    """«погода» is one typo from nothing in the vocabulary: it stays itself (and the
    search declines), instead of being «corrected» into a knowledge-base word."""
    assert LEM.word("погода") == ("погода",)
    assert LEM.correct("погода") is None


@pytest.mark.parametrize(("text", "kind"), [
    ("Добрий день!", "greeting"), ("привіт", "greeting"), ("Здравствуйте", "greeting"), ("Слава Україні!", "greeting"),
    ("Дякую!", "thanks"), ("спасибо большое", "thanks"), ("Щиро дякую, зрозуміло", "thanks"),
    ("бля, коли буде вода", "obscene"), ("ви там всі мудаки", "obscene"),
    ("Добрий день, коли дадуть воду?", None), ("дякую, а де ЦНАП?", None), ("ок", None),
])
def test_small_talk(text, kind):
    assert small_talk(text) == kind


def test_personal_data_is_stripped_before_anything_is_stored():
    """Phones, e-mails, long numbers (accounts), «мене звати …» and the resident's own
    name are replaced; the question itself stays readable."""
    text = ("Мене звати Олена Коваленко, мій номер +380 67 123-45-67, пошта olena.k@example.com, "
            "особовий рахунок 12345678. Коли дадуть воду? Коваленко")
    stripped = strip_personal(text, ["Олена Коваленко"])
    for secret in ("Олена", "Коваленко", "67 123", "olena", "12345678"):
        assert secret not in stripped
    assert "Коли дадуть воду?" in stripped and "[телефон]" in stripped and "[e-mail]" in stripped


def test_stripping_keeps_ordinary_numbers_and_words():
    assert strip_personal("Гаряча вода в будинку 12 на 3 поверсі") == "Гаряча вода в будинку 12 на 3 поверсі"


def test_a_question_about_another_city_is_never_answered():
    """«ЦНАП у Вінниці» shares every word with the ЦНАП entries but is about another
    community: declined, with the ЦНАП entries as suggestions."""
    from dialog.faq.kb import load_seed
    from dialog.faq.search import FaqIndex

    index = FaqIndex(load_seed().entries)
    assert index.search("графік роботи цнап").answer.entry.id == "cnap-hours"
    found = index.search("графік роботи цнап у Вінниці")
    assert found.answer is None and found.suggestions[0].entry.id == "cnap-hours"
