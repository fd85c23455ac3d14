"""Useful information and links staff edit in the admin panel (C11, C7): the bot shows
the last ``info.changed`` from the next screen on, the highest revision wins, and the
packaged files stay the source until the first one. Also: the resident snapshot
carries ``registered_at`` (segments «registered before/after»)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chatbot_common.events import (
    ButtonAction,
    InfoChanged,
    InfoLinkItem,
    InfoSectionItem,
    ResidentRegistered,
)
from chatbot_common.texts import catalog

from dialog.conversation import build_context
from dialog.conversation.records import MemoryRecords, build_info
from engine_chat import Chat, register

t = catalog()
AT = datetime(2026, 3, 2, 8, tzinfo=UTC)


def info_changed(revision: int, *, title: str = "🚰 Вода", text: str = "Водоканал: 0382 00 00 00") -> InfoChanged:
    return InfoChanged(
        revision=revision,
        sections=[
            InfoSectionItem(id="utilities", title="🏠 Комунальні служби"),
            InfoSectionItem(id="water", title=title, text=text, parent_id="utilities"),
            InfoSectionItem(id="city-day", title="🎉 День міста", text="Свято 12 вересня."),
        ],
        links=[InfoLinkItem(id="website", label="🌐 Новий сайт", url="https://example.gov.ua"),
               InfoLinkItem(id="broken", label="Зламане", url="ftp://nowhere")],
        at=AT,
    )


@pytest.fixture
def records() -> MemoryRecords:
    return MemoryRecords()


@pytest.fixture
def ctx(directory, clock, records):
    return build_context(directory, clock=clock, records=records)


@pytest.fixture
async def resident(chat: Chat) -> Chat:
    return await register(chat)


async def test_before_any_change_the_packaged_sections_are_shown(resident):
    await resident.tap("menu:info")
    assert resident.codes()[0] == "info:emergency"


async def test_published_sections_replace_the_packaged_ones_from_the_next_screen(resident, records):
    await resident.tap("menu:info")
    records.apply("e1", info_changed(1))
    await resident.tap("nav:home")
    await resident.tap("menu:info")
    assert resident.codes() == ["info:utilities", "info:city-day", "nav:home"]
    await resident.tap("info:utilities")
    assert resident.codes() == ["info:water", "nav:back", "nav:home"]
    await resident.tap("info:water")
    assert "Водоканал: 0382 00 00 00" in resident.text
    await resident.tap("nav:back")
    await resident.tap("nav:back")
    assert resident.text == t("info.menu")


async def test_published_links_replace_the_packaged_ones_and_a_broken_one_is_not_shown(resident, records):
    records.apply("e1", info_changed(1))
    await resident.tap("menu:links")
    links = [b for b in resident.buttons() if b.action == ButtonAction.open_url]
    assert [(b.label, b.url) for b in links] == [("🌐 Новий сайт", "https://example.gov.ua")]


async def test_an_older_or_repeated_revision_changes_nothing(resident, records):
    records.apply("e2", info_changed(2, text="Нова версія"))
    records.apply("e1", info_changed(1, text="Стара версія"))  # late
    records.apply("e2", info_changed(2, text="Нова версія"))  # replayed
    await resident.tap("menu:info")
    await resident.tap("info:utilities")
    await resident.tap("info:water")
    assert "Нова версія" in resident.text and "Стара" not in resident.text


async def test_a_section_deleted_while_its_button_was_on_screen_says_the_menu_was_updated(resident, records):
    records.apply("e1", info_changed(1))
    await resident.tap("menu:info")
    await resident.tap("info:utilities")
    records.apply("e2", InfoChanged(revision=2, sections=[InfoSectionItem(id="city-day", title="🎉 День міста",
                                                                          text="Свято.")], at=AT))
    outcome = await resident.tap("info:water")
    assert resident.text.startswith(t("info.gone")) and resident.codes() == ["info:city-day", "nav:home"]
    assert outcome.events == []


async def test_sections_are_built_as_a_tree_and_an_orphan_is_left_out():
    published = build_info(InfoChanged(revision=1, at=AT, sections=[
        InfoSectionItem(id="a", title="А"),
        InfoSectionItem(id="b", title="Б", text="текст", parent_id="a"),
        InfoSectionItem(id="c", title="В", text="текст", parent_id="missing"),
    ]))
    assert [s.id for s in published.info.sections] == ["a"]
    assert [s.id for s in published.info.get("a").children] == ["b"] and published.info.get("c") is None


async def test_the_registration_event_carries_registered_at(resident, clock):
    [registered] = [e for e in resident.events if isinstance(e, ResidentRegistered)]
    assert registered.registered_at == clock.now == resident.resident.registered_at
