"""Pure conversation logic: registration, cabinet, profile (see ``api`` for the contract)."""

from .api import Incoming, IncomingKind, Outcome, Reply, ResidentDirectory
from .engine import respond
from .model import Resident

__all__ = ["Incoming", "IncomingKind", "Outcome", "Reply", "Resident", "ResidentDirectory", "respond"]
