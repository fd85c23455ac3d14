"""Fixtures of the admin service's tests: the service built on an in-memory bus and
store of its own (a real MongoDB when MONGODB_URL is set), logged in as the bootstrap
admin, with a recorder of every outage event it publishes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from admin_testkit import Admin, running_admin


@pytest.fixture
async def admin(unique: str, mongodb_url: str) -> AsyncIterator[Admin]:
    async with running_admin(unique, mongodb_url) as started:
        yield started
