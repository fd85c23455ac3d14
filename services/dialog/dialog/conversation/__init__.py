"""Pure conversation logic: registration, cabinet, profile, linked apps (see ``api``
for the contract)."""

from .api import (
    Incoming,
    IncomingKind,
    Notice,
    Outcome,
    Reply,
    ResidentDirectory,
    SystemNotice,
    TextNotice,
    TicketRejectedNotice,
)
from .context import Context, QuestionAnswerer, build_context
from .engine import notify, respond
from .model import Address, Identity, LinkAttempts, LinkCode, Resident

__all__ = [
    "Address",
    "Context",
    "Identity",
    "Incoming",
    "IncomingKind",
    "LinkAttempts",
    "LinkCode",
    "Notice",
    "Outcome",
    "QuestionAnswerer",
    "Reply",
    "Resident",
    "ResidentDirectory",
    "SystemNotice",
    "TextNotice",
    "TicketRejectedNotice",
    "build_context",
    "notify",
    "respond",
]
