"""From what a resident typed to the lemmas the search compares (C3).

1. :func:`normalize`: NFC, lower case, the apostrophes ’ ʼ ` ´ ‘ ′ to ``'``, Latin letters
   that look Cyrillic (``a c e i o p x y k m t h b``) to Cyrillic inside a word that
   has Cyrillic letters («вoда» with a Latin o), punctuation to spaces.
2. :class:`Lemmatizer`: each word to its Ukrainian lemma(s) with pymorphy3 and its
   Ukrainian dictionary. A word the Ukrainian dictionary does not know goes through the
   surzhyk table, then the Russian dictionary and the Russian → Ukrainian table of
   ``data/lexicon.toml``; a word nobody knows is corrected to the nearest word of the
   knowledge base's vocabulary (one typo, two for long words). Synonyms then meet on one
   lemma (``опалювальний`` → ``опалення``).

Also here: greetings, thanks and obscenities (:func:`small_talk`), and
:func:`strip_personal` (phones, e-mails, names out of a question before it is stored).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from chatbot_common.directory.text import distance

DATA_DIR = Path(__file__).parent / "data"
LEXICON = DATA_DIR / "lexicon.toml"

_APOSTROPHES = str.maketrans({a: "'" for a in "’ʼ`´‘′ʹ"})
#: Latin letters that look like Cyrillic ones (upper case is folded to lower first).
_LOOKALIKES = str.maketrans({"a": "а", "c": "с", "e": "е", "i": "і", "o": "о", "p": "р", "x": "х", "y": "у",
                             "k": "к", "m": "м", "t": "т", "h": "н", "b": "в"})
_CYRILLIC = re.compile(r"[а-яіїєґёыэъ]")
_WORD = re.compile(r"[0-9a-zа-яіїєґёыэъ]+(?:['\-][0-9a-zа-яіїєґёыэъ]+)*")
_RUSSIAN_ONLY = re.compile(r"[ёыэъ]")


def normalize(text: str) -> str:
    """Lower case, one apostrophe, Cyrillic look-alikes fixed, words separated by spaces."""
    text = unicodedata.normalize("NFC", text).lower().translate(_APOSTROPHES)
    return " ".join(_fix_lookalikes(w) for w in _WORD.findall(text))


def words(text: str) -> list[str]:
    return normalize(text).split()


def _fix_lookalikes(word: str) -> str:
    if _CYRILLIC.search(word) and re.search(r"[a-z]", word):
        return word.translate(_LOOKALIKES)
    return word


@dataclass(frozen=True)
class Lexicon:
    stopwords: frozenset[str]
    russian: dict[str, str]
    surzhyk: dict[str, str]
    synonyms: dict[str, str]
    elsewhere: frozenset[str] = frozenset()

    @classmethod
    def load(cls, path: Path = LEXICON) -> Lexicon:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return cls(stopwords=frozenset(data.get("stopwords", [])), russian=dict(data.get("russian", {})),
                   surzhyk=dict(data.get("surzhyk", {})), synonyms=dict(data.get("synonyms", {})),
                   elsewhere=frozenset(data.get("elsewhere", [])))


@cache
def _analyzers():  # noqa: ANN202 - pymorphy3 has no types
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang="uk"), pymorphy3.MorphAnalyzer(lang="ru")


@dataclass
class Lemmatizer:
    """Words → lemmas, with a cache (residents ask the same words over and over).

    ``vocabulary``: the lemmas of the knowledge base, the targets of typo correction.
    """

    lexicon: Lexicon = field(default_factory=Lexicon.load)
    vocabulary: frozenset[str] = frozenset()
    _cache: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _by_deletion: dict[str, set[str]] = field(default_factory=dict)

    def with_vocabulary(self, vocabulary: Iterable[str]) -> Lemmatizer:
        """A lemmatiser whose typo correction aims at ``vocabulary`` (shares the lexicon)."""
        other = Lemmatizer(self.lexicon, frozenset(v for v in vocabulary if len(v) >= 4))
        for term in other.vocabulary:
            for key in _deletions(term, 2 if len(term) >= 8 else 1):
                other._by_deletion.setdefault(key, set()).add(term)
        return other

    def lemmas(self, text: str) -> list[str]:
        """The lemmas of ``text`` without stop words, in order (a word may give two)."""
        out: list[str] = []
        for word in words(text):
            out.extend(self.word(word))
        return out

    def word(self, word: str) -> tuple[str, ...]:
        cached = self._cache.get(word)
        if cached is None:
            cached = self._cache[word] = self._word(word)
            if len(self._cache) > 50_000:
                self._cache.clear()
        return cached

    def _word(self, word: str) -> tuple[str, ...]:
        lex = self.lexicon
        if word in lex.stopwords or not _CYRILLIC.search(word) and not word.isdigit():
            return () if word in lex.stopwords else (word,)
        uk, ru = _analyzers()
        if word in lex.surzhyk:
            found = [lex.surzhyk[word]]
        elif not _RUSSIAN_ONLY.search(word) and uk.word_is_known(word):
            found = _normal_forms(uk.parse(word))
        elif ru.word_is_known(word):
            found = [lex.russian.get(lemma, lemma) for lemma in _normal_forms(ru.parse(word))]
        else:
            corrected = self.correct(word)
            found = [corrected] if corrected else _normal_forms(uk.parse(word))[:1]
        lemmas: list[str] = []
        for lemma in found:
            lemma = lex.synonyms.get(lemma, lemma)
            if lemma not in lex.stopwords and lemma not in lemmas:
                lemmas.append(lemma)
        return tuple(lemmas)

    def correct(self, word: str) -> str | None:
        """The vocabulary word nearest to a word no dictionary knows (a typo), if close."""
        if len(word) < 4 or not self.vocabulary:
            return None
        limit = 2 if len(word) >= 8 else 1
        candidates: set[str] = set()
        for key in _deletions(word, limit):
            candidates |= self._by_deletion.get(key, set())
        best: tuple[int, str] | None = None
        for term in candidates:
            d = distance(word, term, limit)
            if d <= limit and (best is None or (d, term) < best):
                best = (d, term)
        if best is None:
            # A typo inside an inflected form: correct the form's first letters to a lemma.
            uk, _ru = _analyzers()
            guess = uk.parse(word)[0].normal_form
            if guess != word and guess in self.vocabulary:
                return guess
            return None
        return best[1]


def _normal_forms(parses) -> list[str]:  # noqa: ANN001
    """Distinct lemmas of the likely readings (at most three)."""
    out: list[str] = []
    top = parses[0].score if parses else 0.0
    for parse in parses:
        if parse.score < top * 0.25:
            continue
        lemma = parse.normal_form
        if lemma not in out:
            out.append(lemma)
        if len(out) == 3:
            break
    return out


def _deletions(word: str, limit: int) -> set[str]:
    found = {word}
    frontier = {word}
    for _ in range(limit):
        frontier = {w[:i] + w[i + 1:] for w in frontier for i in range(len(w))}
        found |= frontier
    return found


# ----------------------------------------------------------------------------- small talk

GREETINGS = frozenset({
    "привіт", "привiт", "вітаю", "добрий", "день", "доброго", "ранку", "добрий вечір", "вечір", "вечора", "здрастуйте",
    "здрастє", "здравствуйте", "привет", "добрый", "доброе", "утро", "вечер", "хай", "hello", "hi", "слава", "україні",
    "героям", "салют", "алло", "ало", "доброї", "ночі", "пані", "пане", "шановні", "шановний",
})
THANKS = frozenset({
    "дякую", "дякуємо", "спасибі", "спасибо", "спс", "дяка", "дуже", "щиро", "вдячний", "вдячна", "благодарю",
    "thanks", "thank", "you", "велике", "большое", "величезне", "ок", "ok", "добре", "зрозуміло", "ясно", "понятно",
    "супер", "клас", "чудово",
})
#: Roots of obscene words (Ukrainian and Russian mat): a word containing one is obscene.
_OBSCENE = re.compile(r"(хуй|хуя|хуе|хуї|хує|пизд|пізд|єба|еба|ёба|їба|ебл|єбл|бля|сука|суки|сучк|мудак|мудил|гандон"
                      r"|залуп|підар|пидар|пидор|підор|дебіл|дебил|курва|срак|херн|нахер|похер|шлюх)")


def small_talk(text: str) -> str | None:
    """``greeting``, ``thanks`` or ``obscene`` when that is all the message is (an
    obscenity anywhere counts), else ``None``."""
    tokens = words(text)
    if any(_OBSCENE.search(t) for t in tokens):
        return "obscene"
    if not tokens:
        return None
    if all(t in THANKS for t in tokens) and any(t in {"дякую", "дякуємо", "спасибі", "спасибо", "спс", "дяка",
                                                          "thanks", "thank", "благодарю", "вдячний", "вдячна"} for t in tokens):
        return "thanks"
    if all(t in GREETINGS for t in tokens):
        return "greeting"
    return None


def without_obscenities(text: str) -> str:
    return " ".join(t for t in words(text) if not _OBSCENE.search(t))


# ----------------------------------------------------------------------------- personal data

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<!\w)\+?\d[\d\s().-]{7,}\d")
_NAME_INTRO = re.compile(r"\b((?i:мене звати|моє ім'я|моє прізвище|меня зовут|з повагою|с уважением))[\s,:]+([А-ЯІЇЄҐ][\w'’ʼ-]+(?:\s+[А-ЯІЇЄҐ][\w'’ʼ-]+){0,2})")
_LONG_NUMBER = re.compile(r"\b\d{6,}\b")


def strip_personal(text: str, names: Iterable[str] = ()) -> str:
    """The question without phone numbers, e-mails, long numbers (accounts, codes), the
    resident's own name words and names after «мене звати…» — before anything is stored."""
    text = _EMAIL.sub("[e-mail]", text)
    text = _PHONE.sub("[телефон]", text)
    text = _LONG_NUMBER.sub("[номер]", text)
    text = _NAME_INTRO.sub(lambda m: f"{m.group(1)} [ім'я]", text)
    for name in names:
        for part in (p for p in re.split(r"[\s-]+", name or "") if len(p) >= 3):
            text = re.sub(rf"(?i)\b{re.escape(part)}\w*", "[ім'я]", text)
    return " ".join(text.split())[:500]
