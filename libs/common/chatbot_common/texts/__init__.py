"""The resident-facing text catalog (G2, G3): one TOML file per language.

All Ukrainian text a resident reads lives in ``uk.toml`` so staff can review and edit
wording without reading Python. Code refers to texts by dotted keys
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


@cache
def catalog(language: str = "uk", path: str | None = None) -> Catalog:
    """Load (once) the catalog; ``path`` overrides the packaged file (TEXTS_PATH)."""
    file = Path(path) if path else CATALOG_DIR / f"{language}.toml"
    with file.open("rb") as fh:
        return Catalog(tomllib.load(fh))
