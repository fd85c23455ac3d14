"""Every resident-facing string comes from the one catalog, and the catalog is polite
Ukrainian (G2, G3)."""

import ast
import re
import string
from pathlib import Path

import pytest

from chatbot_common.events import NotifyScope
from chatbot_common.texts import catalog

import dialog.conversation as conversation
from ux_checks import informal_forms, language_problems

t = catalog()
TABLES = {key.split(".")[0] for key in t.keys()}
#: A dotted catalog key; f-string prefixes such as "notify.current_" end with «_».
KEY = re.compile(rf"^({'|'.join(TABLES)})\.[a-z_]*[a-z]$")
SOURCES = sorted(Path(conversation.__file__).parent.glob("*.py"))


def keys_in_code() -> set[str]:
    keys = set()
    for source in SOURCES:
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and KEY.match(node.value):
                keys.add(node.value)
    return keys


def test_every_key_the_code_names_is_in_the_catalog():
    used = keys_in_code()
    assert len(used) > 60
    assert sorted(k for k in used if k not in t) == []


def test_keys_the_code_builds_from_parts_are_in_the_catalog():
    built = [f"notify.{s.value}" for s in NotifyScope] + [f"notify.current_{s.value}" for s in NotifyScope]
    built += [f"address.settlement_{flow}" for flow in ("registration", "primary", "add", "edit")]
    assert [k for k in built if k not in t] == []


def test_the_gateway_keys_are_kept():
    for key in ("welcome.text", "buttons.start", "buttons.back", "buttons.home", "registration.consent",
                "registration.consent_agree", "registration.consent_more"):
        assert key in t


PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


@pytest.mark.parametrize("key", t.keys())
def test_catalog_text_is_formal_ukrainian(key):
    text = PLACEHOLDER.sub("", t(key))
    assert text.strip()
    assert language_problems(text) == [], key
    assert not re.search(r"[ыэёъ]", text), f"{key}: Russian letters"


def test_the_informal_check_catches_informal_forms():
    assert informal_forms("Натисни кнопку, щоб ти отримав твій номер")
    assert informal_forms("Дякуємо за ваше звернення")  # lower-case «ваше»
    assert not informal_forms("Натисніть кнопку, щоб Ви отримали Ваш номер")


def test_placeholders_are_named():
    for key in t.keys():
        fields = [f for _, f, _, _ in string.Formatter().parse(t(key)) if f is not None]
        assert all(fields), f"{key}: positional placeholder"


LABELS = [
    k for k in t.keys()
    if k.startswith(("buttons.", "menu.", "notify.", "profile.edit_", "survey_buttons.", "chat_buttons."))
    and not k.startswith("notify.current_")
] + ["registration.consent_agree", "registration.consent_more", "registration.consent_decline", "profile.delete"]


@pytest.mark.parametrize("key", LABELS)
def test_button_labels_fit_a_viber_button(key):
    assert len(t(key)) <= 40
