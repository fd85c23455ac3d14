"""Pure conversation logic: registration, cabinet, profile (see ``api`` for the contract)."""

from .api import Incoming, IncomingKind, Outcome, Reply, ResidentDirectory
from .context import Context, QuestionAnswerer, build_context
from .engine import respond
from .model import Address, Identity, Resident

__all__ = [
    "Address",
    "Context",
    "Identity",
    "Incoming",
    "IncomingKind",
    "Outcome",
    "QuestionAnswerer",
    "Reply",
    "Resident",
    "ResidentDirectory",
    "build_context",
    "respond",
]
