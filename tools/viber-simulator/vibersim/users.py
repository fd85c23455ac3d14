"""Simulated residents: profile, subscription and what Viber remembers about them."""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from typing import Any

PROFILE_FIELDS = ("name", "phone", "avatar", "language", "country", "api_version")


def default_phone(user_id: str) -> str:
    """A stable, distinct Ukrainian mobile number per user id (Kyivstar 067 prefix)."""
    return "+38067" + f"{zlib.crc32(user_id.encode()) % 10_000_000:07d}"


@dataclass
class User:
    """One resident as Viber knows them.

    ``known`` becomes true once the simulator sent any callback from the user;
    ``tracking_data`` is the last value the bot attached to a message to this user —
    Viber echoes it back in the user's next message.
    """

    id: str
    name: str = "Мешканець"
    phone: str = ""
    avatar: str = ""
    language: str = "uk"
    country: str = "UA"
    api_version: int = 10
    subscribed: bool = False
    unsubscribed: bool = False
    known: bool = False
    tracking_data: str | None = None

    def __post_init__(self) -> None:
        if not self.phone:
            self.phone = default_phone(self.id)

    def update(self, fields: dict[str, Any]) -> None:
        """Apply profile fields from a control request; unknown keys are ignored."""
        for key in PROFILE_FIELDS:
            value = fields.get(key)
            if value is None:
                continue
            if key == "api_version":
                value = int(value)
            setattr(self, key, value)

    def profile(self) -> dict[str, Any]:
        """The ``user``/``sender`` object as it appears in callbacks."""
        return {
            "id": self.id,
            "name": self.name,
            "avatar": self.avatar,
            "country": self.country,
            "language": self.language,
            "api_version": self.api_version,
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything, for the control API."""
        return asdict(self)
