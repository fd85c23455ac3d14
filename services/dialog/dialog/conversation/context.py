"""What the engine may consult besides the resident (placeholder until city data lands)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .api import ResidentDirectory


@dataclass(frozen=True)
class Context:
    directory: ResidentDirectory


def build_context(directory: ResidentDirectory, *, data_dir: Path | None = None) -> Context:
    return Context(directory=directory)
