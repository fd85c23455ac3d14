"""Fixtures for the conversation engine: a fake resident directory and a chat that
stores the resident between messages the way the dialog service does."""

from __future__ import annotations

import pytest

from chatbot_common.events import Channel

from engine_chat import Chat, FakeDirectory


@pytest.fixture
def directory() -> FakeDirectory:
    return FakeDirectory()


@pytest.fixture
def chat(directory: FakeDirectory) -> Chat:
    return Chat(directory, "viber-user-1")


@pytest.fixture
def other_chat(directory: FakeDirectory) -> Chat:
    """The same person arriving through another channel identity (S7)."""
    return Chat(directory, "telegram-user-1", channel=Channel.telegram)
