"""Useful information and links (C11, C7): the sections residents open from the bot's
menu and its open-url buttons, edited by staff, delivered to the dialog as
``info.changed`` (the whole content, with a growing ``revision``).

One document (collection ``info``, ``_id`` ``content``) holds the whole content: the
sections flat, parents before their children, siblings in display order, and the links.
It is seeded at first start from the city's packaged ``useful_info.toml``/``links.toml``
(revision 0, no event: the dialog reads the same files until the first change). Every
change is ONE conditional write (on the revision read) that sets the new content and
``revision + 1`` and pushes the ``info.changed`` event (id ``derived_id("info",
revision)``) onto the outbox and the audit record onto ``pending_audit`` — the same
pattern as outages — then both are flushed; the relay takes what a crash leaves.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chatbot_common import outbox as outbox_mod
from chatbot_common.directory import CityData
from chatbot_common.events import InfoChanged, InfoLinkItem, InfoSectionItem, derived_id, make_event, utcnow
from chatbot_common.outbox import Outbox
from chatbot_common.store import Store

from . import audit
from .errors import ApiError, FieldError
from .staff import Staff
from .validators import button_label, web_url

COLLECTION = "info"
DOC_ID = "content"
SOURCE = "/admin"
#: ids become button codes (``info:<id>``): as chatbot_common.directory.city.ID
ID = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,60}$")
#: a section's text is one Viber message with a short note on top (city.MAX_SECTION_TEXT)
MAX_TEXT = 6500
#: Viber shows about this much of a button's label
MAX_TITLE = 60
MAX_SECTIONS = 300
MAX_LINKS = 30


class InfoContent(BaseModel):
    """The useful information as residents will see it."""

    revision: int
    sections: list[InfoSectionItem]
    links: list[InfoLinkItem]


class InfoSectionIn(BaseModel):
    """Create or change a section (the id is in the path). ``revision``, when given, must
    be the content's current revision (else 409)."""

    model_config = ConfigDict(extra="forbid", title="InfoSectionInput")
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    text: str = Field(default="", max_length=MAX_TEXT)
    parent_id: str | None = Field(default=None, max_length=61)
    revision: int | None = Field(default=None, ge=0)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("назва не може бути порожньою")
        return value

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        return value.replace("\r\n", "\n").strip()

    @field_validator("parent_id")
    @classmethod
    def _parent(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class InfoLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid", title="InfoLinkInput")
    label: str = Field(min_length=1, max_length=MAX_TITLE)
    url: str = Field(min_length=1, max_length=1000)
    revision: int | None = Field(default=None, ge=0)

    @field_validator("label")
    @classmethod
    def _label(cls, value: str) -> str:
        return button_label(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return web_url(value)


class InfoMove(BaseModel):
    model_config = ConfigDict(extra="forbid")
    direction: str = Field(pattern="^(up|down)$", description="up or down among its siblings")
    revision: int | None = Field(default=None, ge=0)


def check_id(value: str) -> str:
    if not ID.match(value):
        raise ApiError(422, "validation_failed", "id: лише малі латинські літери, цифри, «_» і «-» (до 61)",
                       [FieldError(path="id", message="лише малі латинські літери, цифри, «_» і «-» (до 61)")])
    return value


def ordered(sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parents before children, siblings in their list order (depth first)."""
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for section in sections:
        children[section.get("parent_id")].append(section)
    result: list[dict[str, Any]] = []

    def walk(parent: str | None) -> None:
        for section in children.get(parent, []):
            result.append(section)
            walk(section["id"])

    walk(None)
    return result


def descendants(sections: list[dict[str, Any]], section_id: str) -> set[str]:
    found: set[str] = set()
    frontier = {section_id}
    while frontier:
        frontier = {s["id"] for s in sections if s.get("parent_id") in frontier} - found
        found |= frontier
    return found


def depth(sections: list[dict[str, Any]], section: dict[str, Any]) -> int:
    by_id = {s["id"]: s for s in sections}
    n, parent = 0, section.get("parent_id")
    while parent is not None and parent in by_id and n < 50:
        n, parent = n + 1, by_id[parent].get("parent_id")
    return n


def _empty_sections(sections: list[dict[str, Any]]) -> list[str]:
    parents = {s.get("parent_id") for s in sections}
    return [s["title"] for s in sections if not s.get("text") and s["id"] not in parents]


def _seed(city: CityData) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    sections: list[dict[str, Any]] = []

    def walk(items: Any) -> None:
        for item in items:
            sections.append({"id": item.id, "title": item.title, "text": item.text, "parent_id": item.parent_id})
            walk(item.children)

    walk(city.info.sections)
    links = [{"id": link.id, "label": link.label, "url": link.url} for link in city.links]
    return sections, links


class InfoRepository:
    def __init__(self, store: Store, outbox: Outbox, audit_log: audit.AuditLog, city: CityData) -> None:
        self.collection = store[COLLECTION]
        self.outbox = outbox
        self.audit = audit_log
        self.city = city

    async def setup(self) -> None:
        await self.outbox.setup()
        if await self.collection.find_one({"_id": DOC_ID}, {"_id": 1}) is None:
            sections, links = _seed(self.city)
            try:
                await self.collection.insert_one({"_id": DOC_ID, "revision": 0, "sections": sections, "links": links,
                                                  "updated_at": utcnow()})
            except Exception:  # noqa: BLE001 - another replica seeded it first (duplicate key)
                pass

    async def get(self) -> InfoContent:
        doc = await self.collection.find_one({"_id": DOC_ID}, {"outbox": 0, audit.PENDING: 0})
        if doc is None:
            sections, links = _seed(self.city)
            return InfoContent(revision=0, sections=[InfoSectionItem(**s) for s in sections],
                               links=[InfoLinkItem(**link) for link in links])
        return _content(doc)

    # ------------------------------------------------------------------ changes

    async def put_section(self, actor: Staff, section_id: str, body: InfoSectionIn) -> InfoContent:
        check_id(section_id)

        def change(sections: list[dict[str, Any]], links: list[dict[str, Any]]) -> tuple[str, Any, Any]:
            existing = next((s for s in sections if s["id"] == section_id), None)
            if body.parent_id is not None:
                if body.parent_id == section_id or body.parent_id in descendants(sections, section_id):
                    raise _field("parent_id", "розділ не можна вкласти в самого себе чи свій підрозділ")
                if not any(s["id"] == body.parent_id for s in sections):
                    raise _field("parent_id", f"немає розділу «{body.parent_id}»")
            new = {"id": section_id, "title": body.title, "text": body.text, "parent_id": body.parent_id}
            if existing is None:
                if len(sections) >= MAX_SECTIONS:
                    raise ApiError(409, "too_many", f"Не більше {MAX_SECTIONS} розділів")
                sections.append(new)
                return "info.section_created", None, new
            before = dict(existing)
            moved = existing.get("parent_id") != body.parent_id
            existing.update(new)
            if moved:  # the last among its new siblings
                sections.remove(existing)
                sections.append(existing)
            return "info.section_changed", before, new

        return await self._change(actor, section_id, body.revision, change)

    async def delete_section(self, actor: Staff, section_id: str, revision: int | None = None) -> InfoContent:
        def change(sections: list[dict[str, Any]], links: list[dict[str, Any]]) -> tuple[str, Any, Any]:
            existing = next((s for s in sections if s["id"] == section_id), None)
            if existing is None:
                raise ApiError(404, "not_found", "Розділ не знайдено")
            if any(s.get("parent_id") == section_id for s in sections):
                raise ApiError(409, "has_children", "У розділі є підрозділи: спершу видаліть або перенесіть їх")
            sections.remove(existing)
            return "info.section_deleted", existing, None

        return await self._change(actor, section_id, revision, change)

    async def move_section(self, actor: Staff, section_id: str, body: InfoMove) -> InfoContent:
        def change(sections: list[dict[str, Any]], links: list[dict[str, Any]]) -> tuple[str, Any, Any]:
            existing = next((s for s in sections if s["id"] == section_id), None)
            if existing is None:
                raise ApiError(404, "not_found", "Розділ не знайдено")
            siblings = [s for s in sections if s.get("parent_id") == existing.get("parent_id")]
            n = siblings.index(existing)
            other = n - 1 if body.direction == "up" else n + 1
            if not 0 <= other < len(siblings):
                return "", None, None  # already first / last: nothing changes
            i, j = sections.index(existing), sections.index(siblings[other])
            sections[i], sections[j] = sections[j], sections[i]
            return "info.section_moved", {"position": n}, {"position": other}

        return await self._change(actor, section_id, body.revision, change)

    async def put_link(self, actor: Staff, link_id: str, body: InfoLinkIn) -> InfoContent:
        check_id(link_id)

        def change(sections: list[dict[str, Any]], links: list[dict[str, Any]]) -> tuple[str, Any, Any]:
            existing = next((link for link in links if link["id"] == link_id), None)
            new = {"id": link_id, "label": body.label, "url": body.url}
            if existing is None:
                if len(links) >= MAX_LINKS:
                    raise ApiError(409, "too_many", f"Не більше {MAX_LINKS} посилань")
                links.append(new)
                return "info.link_created", None, new
            before = dict(existing)
            existing.update(new)
            return "info.link_changed", before, new

        return await self._change(actor, link_id, body.revision, change)

    async def delete_link(self, actor: Staff, link_id: str, revision: int | None = None) -> InfoContent:
        def change(sections: list[dict[str, Any]], links: list[dict[str, Any]]) -> tuple[str, Any, Any]:
            existing = next((link for link in links if link["id"] == link_id), None)
            if existing is None:
                raise ApiError(404, "not_found", "Посилання не знайдено")
            links.remove(existing)
            return "info.link_deleted", existing, None

        return await self._change(actor, link_id, revision, change)

    async def _change(self, actor: Staff, entity_id: str, expected: int | None, change: Any) -> InfoContent:
        for _attempt in range(5):
            await self.setup_if_missing()
            doc = await self.collection.find_one({"_id": DOC_ID}, {"outbox": 0, audit.PENDING: 0})
            assert doc is not None
            if expected is not None and expected != doc["revision"]:
                raise ApiError(409, "stale_revision",
                               f"Довідку вже змінено (ревізія {doc['revision']}, а не {expected}); оновіть сторінку")
            sections = [dict(s) for s in doc["sections"]]
            links = [dict(link) for link in doc["links"]]
            action, before, after = change(sections, links)
            if not action or (sections == doc["sections"] and links == doc["links"]):
                return _content(doc)
            sections = ordered(sections)
            empty = _empty_sections(sections)
            if empty:
                raise ApiError(422, "validation_failed", f"Розділ без тексту й без підрозділів: {', '.join(empty)}",
                               [FieldError(path="text", message="розділ без підрозділів має містити текст")])
            revision = doc["revision"] + 1
            now = utcnow()
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)
            data = InfoChanged(revision=revision, sections=[InfoSectionItem(**s) for s in sections],
                               links=[InfoLinkItem(**link) for link in links], at=now, changed_by=actor.id)
            event = make_event(data, source=SOURCE, id=derived_id("info", revision, InfoChanged.type))
            entry = outbox_mod.entry(f"info:{revision}", [event])
            rec = audit.record(id=derived_id("audit", "info", revision), at=now, actor_id=actor.id,
                               actor_email=actor.email, action=action, entity="info", entity_id=entity_id,
                               before=before, after=after)
            result = await self.collection.update_one(
                {"_id": DOC_ID, "revision": doc["revision"]},
                {"$set": {"sections": sections, "links": links, "revision": revision, "updated_at": now},
                 "$push": {outbox_mod.FIELD: entry, audit.PENDING: rec}})
            if result.matched_count == 1:
                await self.audit.settle(COLLECTION, DOC_ID, [rec])
                await self.outbox.flush(DOC_ID)
                return InfoContent(revision=revision, sections=data.sections, links=data.links)
            if expected is not None:
                raise ApiError(409, "stale_revision", "Довідку щойно змінив хтось інший; оновіть сторінку")
        raise ApiError(409, "conflict", "Довідку змінюють одночасно; повторіть")

    async def setup_if_missing(self) -> None:
        if await self.collection.find_one({"_id": DOC_ID}, {"_id": 1}) is None:
            await self.setup()

    async def relay_once(self, grace: float) -> int:
        await self.audit.settle_all(COLLECTION, grace)
        return await self.outbox.relay_once()


def _content(doc: dict[str, Any]) -> InfoContent:
    return InfoContent(revision=doc["revision"], sections=[InfoSectionItem(**s) for s in doc["sections"]],
                       links=[InfoLinkItem(**link) for link in doc["links"]])


def _field(path: str, message: str) -> ApiError:
    return ApiError(422, "validation_failed", f"{path}: {message}", [FieldError(path=path, message=message)])
