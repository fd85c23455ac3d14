"""The knowledge base's per-city seed file (C3), read by the dialog (which answers from
it) and by admin (where staff edit it): one file, one reader.

An entry is :class:`chatbot_common.events.FaqEntry` (the model ``faq.changed``
carries). The packaged file is Khmelnytskyi's (``directory/data/faq.toml``, format in
its header); ``DIALOG_FAQ_FILE`` / ``ADMIN_FAQ_FILE`` point both services at another
community's. Its ``version`` decides when a service re-seeds (docs/faq.md).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from .directory import DEFAULT_DATA_DIR
from .events import FaqEntry

DEFAULT_SEED = DEFAULT_DATA_DIR / "faq.toml"


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
