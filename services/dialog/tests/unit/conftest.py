"""Fixtures for the conversation engine: a fake resident directory and a chat that
stores the resident between messages the way the dialog service does."""

from __future__ import annotations

import pytest

from chatbot_common.events import Channel

from dialog.conversation import build_context
from dialog.conversation.context import Context
from engine_chat import Chat, Clock, FakeDirectory


@pytest.fixture
def directory() -> FakeDirectory:
    return FakeDirectory()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ctx(directory: FakeDirectory, clock: Clock) -> Context:
    return build_context(directory, clock=clock)


@pytest.fixture
def chat(directory: FakeDirectory, ctx: Context) -> Chat:
    return Chat(directory, "viber-user-1", ctx=ctx)


@pytest.fixture
def other_chat(directory: FakeDirectory, ctx: Context) -> Chat:
    """The same person arriving through another channel identity (S7)."""
    return Chat(directory, "telegram-user-1", channel=Channel.telegram, ctx=ctx)
