"""Useful information (C11): reference sections staff edit without code.

Sections come from ``useful_info.toml`` now and from the admin panel later; both give
the same tree of titled texts, shown to residents as menus. Ids are unique in the whole
tree so a button code ``info:<id>`` opens its section from any screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class InfoSection:
    id: str
    title: str  # the button label
    text: str = ""  # shown when the section is opened
    children: tuple[InfoSection, ...] = ()
    parent_id: str | None = None


@dataclass(frozen=True)
class UsefulInfo:
    sections: tuple[InfoSection, ...] = ()  # top level
    _by_id: dict[str, InfoSection] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        stack = list(self.sections)
        while stack:
            section = stack.pop()
            if section.id in self._by_id:
                raise ValueError(f"useful info: section id {section.id!r} is used twice")
            self._by_id[section.id] = section
            stack.extend(section.children)

    def get(self, section_id: str) -> InfoSection | None:
        return self._by_id.get(section_id)

    def all(self) -> list[InfoSection]:
        return list(self._by_id.values())


def parse_useful_info(document: dict[str, Any]) -> UsefulInfo:
    """Build the tree from ``[[section]]`` tables with nested ``[[section.section]]``."""
    return UsefulInfo(tuple(_section(raw, None) for raw in document.get("section", [])))


def _section(raw: dict[str, Any], parent_id: str | None) -> InfoSection:
    section_id = str(raw["id"])
    children = tuple(_section(child, section_id) for child in raw.get("section", []))
    text = str(raw.get("text", "")).strip()
    if not text and not children:
        raise ValueError(f"useful info: section {section_id!r} has neither text nor subsections")
    return InfoSection(section_id, str(raw["title"]), text, children, parent_id)
