"""The dialog's settings: the common ones and its own."""

from __future__ import annotations

from chatbot_common.settings import Settings


class DialogSettings(Settings):
    dialog_port: int = 8081
    dialog_data_dir: str | None = None  # per-city data; default: packaged Khmelnytskyi data
