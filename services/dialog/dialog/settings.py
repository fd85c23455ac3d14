"""The dialog's settings: the common ones and its own."""

from __future__ import annotations

from chatbot_common.settings import Settings


class DialogSettings(Settings):
    dialog_port: int = 8081
    dialog_data_dir: str | None = None  # per-city data; default: packaged Khmelnytskyi data
    #: C3 questions: off answers free text with the old hint (no knowledge base)
    dialog_faq_enabled: bool = True
    dialog_faq_file: str | None = None  # the seed file; default: packaged Khmelnytskyi knowledge base
    #: how often a replica checks for knowledge-base changes another replica applied
    dialog_faq_refresh_seconds: float = 30.0
    #: operator chat (issue 11): a resident who writes nothing this long leaves the chat
    dialog_chat_idle_minutes: float = 30.0
    #: how often the idle job (one replica, under a lease) looks for quiet chats
    dialog_chat_idle_scan_seconds: float = 60.0
    #: the Contact Center's phone, told when a chat cannot happen ("" → the city data's
    #: ``contact_center.toml``; none there either → «see the website»)
    dialog_contact_center_phone: str = ""
