"""The notifier's settings: the common ones and its own."""

from __future__ import annotations

from chatbot_common.settings import Settings


class NotifierSettings(Settings):
    notifier_port: int = 8083
