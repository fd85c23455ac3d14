"""The text catalog is one catalog spread over files: the main file and ``uk/*.toml``."""

import pytest

from chatbot_common import texts


def test_area_files_join_the_one_catalog(tmp_path, monkeypatch):
    (tmp_path / "uk").mkdir()
    (tmp_path / "uk.toml").write_text('[welcome]\ntext = "Вітаємо"\n')
    (tmp_path / "uk" / "tickets.toml").write_text('[tickets]\nnumber = "Номер {n}"\n')
    monkeypatch.setattr(texts, "CATALOG_DIR", tmp_path)
    texts.catalog.cache_clear()
    try:
        t = texts.catalog()
        assert t("welcome.text") == "Вітаємо"
        assert t("tickets.number", n=7) == "Номер 7"
    finally:
        texts.catalog.cache_clear()


def test_a_table_defined_in_two_files_is_refused(tmp_path, monkeypatch):
    (tmp_path / "uk").mkdir()
    (tmp_path / "uk.toml").write_text('[tickets]\na = "А"\n')
    (tmp_path / "uk" / "tickets.toml").write_text('[tickets]\nb = "Б"\n')
    monkeypatch.setattr(texts, "CATALOG_DIR", tmp_path)
    texts.catalog.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"\[tickets\]"):
            texts.catalog()
    finally:
        texts.catalog.cache_clear()
