"""The knowledge base's entries and the packaged per-city seed file.

An entry is :class:`chatbot_common.events.FaqEntry` (the same model ``faq.changed``
carries). The seed file (``data/<city>.toml``, format in its header) has a ``version``:
the dialog seeds its database from it when the database is empty or holds an older
version (``store.FaqStore.seed``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from chatbot_common.events import FaqEntry

from .text import DATA_DIR

DEFAULT_SEED = DATA_DIR / "khmelnytskyi.toml"


@dataclass(frozen=True)
class Seed:
    version: int
    city: str
    verified: bool
    entries: list[FaqEntry]


def load_seed(path: Path | None = None) -> Seed:
    """Read and check a seed file: valid entries, unique ids. A bad file fails loudly at
    start (with the entry's id), never half-loaded."""
    path = Path(path) if path else DEFAULT_SEED
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    entries: list[FaqEntry] = []
    seen: set[str] = set()
    for n, raw in enumerate(data.get("entry", []), start=1):
        try:
            entry = FaqEntry.model_validate(raw)
        except ValueError as exc:
            raise ValueError(f"{path.name}: entry {n} ({raw.get('id', '?')}): {exc}") from exc
        if entry.id in seen:
            raise ValueError(f"{path.name}: entry id {entry.id!r} twice")
        seen.add(entry.id)
        entries.append(entry)
    return Seed(version=int(data.get("version", 1)), city=str(data.get("city", "")),
                verified=bool(data.get("verified", False)), entries=entries)
