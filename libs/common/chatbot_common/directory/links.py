"""Website and apps (C7): open-url buttons whose addresses are configuration (S8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Link:
    id: str
    label: str
    url: str


def parse_links(document: dict[str, Any]) -> tuple[Link, ...]:
    links = []
    for raw in document.get("link", []):
        url = str(raw.get("url", "")).strip()
        if not url.startswith(("https://", "http://")):
            continue  # an empty or wrong address is skipped rather than shown broken
        links.append(Link(str(raw["id"]), str(raw["label"]), url))
    return tuple(links)
