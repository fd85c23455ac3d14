"""What every message a resident sees must satisfy (G2, G3, conversation.md, Viber).

Plain functions returning a list of problems (empty = fine), so the engine-level
crawler here and a later end-to-end crawler (which reads real Viber keyboards) can share
them: ``problems(text, buttons, registered=...)``.

Decisions the checks encode:
- Latin letters are allowed only in URLs and in brand names (:data:`BRANDS`).
- Formal address: no informal «ти/тобі/твій…» nor informal imperatives, and
  «Ви/Вам/Ваш…» are capitalised.
- A registered resident can always get home: the keyboard has ``nav:home``, or it *is*
  the main menu. Open-url-only screens would be exempt, but the engine has none (the
  «Сайт і застосунки» screen carries «🏠 Головне меню» too).
- Residents who are not registered (registration, guests, after deleting their data)
  always have a way out too: «🏠 Головне меню» (the guest menu while registering), or
  the guest menu itself (it offers «✅ Зареєструватися»), «❌ Не погоджуюсь» on the
  consent question, or «▶️ Розпочати» after deleting their data.
- Viber: ≤ 12 rows of 6 columns, text ≤ 7000 characters, labels ≤ 40 characters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from chatbot_common.events import Button, ButtonAction

HOME_CODE = "nav:home"
NEWCOMER_WAYS_OUT = frozenset({HOME_CODE, "menu:register", "consent:no", "start"})
MAIN_MENU_CODES = frozenset({"menu:profile", "menu:info", "menu:links", "menu:new_ticket"})
BRANDS = frozenset({"Viber", "Android", "iOS", "App", "Store", "Google", "Play", "Telegram"})
MAX_ROWS = 12
MAX_COLUMNS = 6
MAX_TEXT = 7000
MAX_LABEL = 40

_URL = re.compile(r"https?://\S+")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_INFORMAL = re.compile(
    r"\b(ти|тебе|тобі|тобою|твій|твоя|твоє|твої|твого|твоєї|твоїх|твоїм|твоєму|твоїми|твоїй"
    r"|натисни|напиши|обери|введи|вкажи|надішли|поділись|поділися|зареєструйся|спробуй"
    r"|відкрий|перевір|скористайся|звернися|зверніся|зачекай|подивись|оціни)\b",
    re.IGNORECASE,
)
_LOWERCASE_POLITE = re.compile(
    r"\b(ви|вас|вам|вами|ваш|ваша|ваше|ваші|вашого|вашої|вашому|вашим|вашій|ваших|вашими|вашу)\b"
)


def latin_words(text: str) -> list[str]:
    """Latin-alphabet words outside URLs and brand names."""
    return [w for w in _LATIN_WORD.findall(_URL.sub(" ", text)) if w not in BRANDS]


def informal_forms(text: str) -> list[str]:
    """Informal address («ти», «натисни») and lower-case «ви/ваш» (G3)."""
    return _INFORMAL.findall(text) + _LOWERCASE_POLITE.findall(text)


def keyboard_rows(buttons: Sequence[Button]) -> int:
    """Rows Viber needs: buttons fill 6-column rows left to right, one row high."""
    rows, used = 0, MAX_COLUMNS
    for b in buttons:
        if used + b.columns > MAX_COLUMNS:
            rows, used = rows + 1, 0
        used += b.columns
    return rows


def is_main_menu(buttons: Sequence[Button]) -> bool:
    return MAIN_MENU_CODES <= {b.code for b in buttons}


def viber_problems(text: str, buttons: Sequence[Button]) -> list[str]:
    found = []
    if not text.strip():
        found.append("empty text")
    if len(text) > MAX_TEXT:
        found.append(f"text of {len(text)} characters")
    if keyboard_rows(buttons) > MAX_ROWS:
        found.append(f"keyboard of {keyboard_rows(buttons)} rows")
    for b in buttons:
        if not 1 <= b.columns <= MAX_COLUMNS:
            found.append(f"button {b.code} of {b.columns} columns")
        if len(b.label) > MAX_LABEL:
            found.append(f"label {b.label!r} longer than {MAX_LABEL}")
        if b.action == ButtonAction.open_url and not (b.url or "").startswith("https://"):
            found.append(f"open-url button {b.code} without an https address")
    codes = [b.code for b in buttons]
    if len(codes) != len(set(codes)):
        found.append(f"duplicate button codes {codes}")
    return found


def language_problems(text: str) -> list[str]:
    found = []
    if latin := latin_words(text):
        found.append(f"Latin words {latin}")
    if informal := informal_forms(text):
        found.append(f"informal forms {informal}")
    return found


def navigation_problems(buttons: Sequence[Button], *, registered: bool) -> list[str]:
    if registered:
        if any(b.code == HOME_CODE for b in buttons) or is_main_menu(buttons):
            return []
        if buttons and all(b.action == ButtonAction.open_url for b in buttons):
            return []  # open-url-only screens are exempt (none exist today)
        return ["no way home (nav:home) on a registered resident's keyboard"]
    if any(b.code in NEWCOMER_WAYS_OUT for b in buttons):
        return []
    return ["no way home for a resident who is not registered"]


def problems(text: str, buttons: Sequence[Button], *, registered: bool) -> list[str]:
    """Everything wrong with one message as a resident would see it."""
    labels = "\n".join(b.label for b in buttons)
    return [
        *viber_problems(text, buttons),
        *language_problems(text),
        *[f"label: {p}" for p in language_problems(labels)],
        *navigation_problems(buttons, registered=registered),
    ]
