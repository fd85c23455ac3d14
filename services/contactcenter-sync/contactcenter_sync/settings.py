"""contactcenter-sync's settings: the common ones and its own."""

from __future__ import annotations

from chatbot_common.settings import Settings


class ContactCenterSyncSettings(Settings):
    contactcenter_sync_port: int = 8082
