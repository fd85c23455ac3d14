"""S3: the contact center's outage feed (``x-chatbot/v1/outages.json``) → outage.* events."""

from __future__ import annotations

import asyncio

from chatbot_common.outbox import Outbox
from chatbot_common.store import Store

from .open311 import Open311Client
from .settings import ContactCenterSyncSettings


class OutageImport:
    def __init__(self, settings: ContactCenterSyncSettings, store: Store, outbox: Outbox,
                 client: Open311Client | None) -> None:
        self.settings = settings
        self.outages = store["outages"]
        self.outbox = outbox
        self.client = client

    async def setup(self) -> None:
        await self.outbox.setup()

    async def loop(self) -> None:
        await asyncio.Event().wait()
