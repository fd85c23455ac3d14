"""Wiring of the contactcenter-sync service.

Bridge to the city's Contact Center over Open311 (S9). Walking skeleton: starts, connects to the broker and its own database, reports health; ticket submission and status polling come in their own issue.
"""

from __future__ import annotations

from chatbot_common.bus import Bus
from chatbot_common.runner import ServiceRuntime
from chatbot_common.store import Store

from .settings import ContactCenterSyncSettings


def build(settings: ContactCenterSyncSettings, *, bus: Bus | None = None, store: Store | None = None) -> ServiceRuntime:
    return ServiceRuntime("contactcenter-sync", settings, port=settings.contactcenter_sync_port, bus=bus, store=store)
