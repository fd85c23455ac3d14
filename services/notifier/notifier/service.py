"""Wiring of the notifier service.

Every message the bot starts itself: outages, status notices, mailings (C1, C6, C9). Walking skeleton: starts, connects, reports health; audiences and mailings come in their own issue.
"""

from __future__ import annotations

from chatbot_common.bus import Bus
from chatbot_common.runner import ServiceRuntime
from chatbot_common.store import Store

from .settings import NotifierSettings


def build(settings: NotifierSettings, *, bus: Bus | None = None, store: Store | None = None) -> ServiceRuntime:
    return ServiceRuntime("notifier", settings, port=settings.notifier_port, bus=bus, store=store)
