"""The resident-facing text catalog (G2, G3): one catalog per language.

All Ukrainian text a resident reads lives in ``uk.toml`` and the files of ``uk/``
(one per area: ``uk/tickets.toml``, ``uk/outages.toml``…), loaded into ONE catalog, so
staff can review and edit wording without reading Python. A table defined in two files
is an error (a key has exactly one home). Code refers to texts by dotted keys
(``registration.consent``) and fills ``{placeholders}``.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

CATALOG_DIR = Path(__file__).parent


class MissingText(KeyError):
    """A key the code asked for is not in the catalog: a defect, caught by tests."""


class Catalog:
    def __init__(self, entries: dict[str, Any]) -> None:
        self._flat: dict[str, str] = {}
        self._flatten("", entries)

    def _flatten(self, prefix: str, node: dict[str, Any]) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict):
                self._flatten(f"{path}.", value)
            else:
                self._flat[path] = str(value)

    def __call__(self, key: str, /, **params: object) -> str:
        try:
            template = self._flat[key]
        except KeyError:
            raise MissingText(key) from None
        return template.format(**params) if params else template

    def __contains__(self, key: str) -> bool:
        return key in self._flat

    def keys(self) -> list[str]:
        return sorted(self._flat)


def catalog_files(language: str = "uk", path: str | None = None) -> list[Path]:
    """The files of one language's catalog: the main file (``path`` overrides it), then
    every ``<language>/*.toml`` in name order."""
    main = Path(path) if path else CATALOG_DIR / f"{language}.toml"
    return [main, *sorted((CATALOG_DIR / language).glob("*.toml"))]


@cache
def catalog(language: str = "uk", path: str | None = None) -> Catalog:
    """Load (once) the catalog; ``path`` overrides the packaged main file."""
    entries: dict[str, Any] = {}
    owner: dict[str, Path] = {}
    for file in catalog_files(language, path):
        with file.open("rb") as fh:
            for table, value in tomllib.load(fh).items():
                if table in entries:
                    raise ValueError(f"text table [{table}] is defined in {owner[table].name} and {file.name}")
                entries[table], owner[table] = value, file
    return Catalog(entries)
