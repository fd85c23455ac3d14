"""Resident events (S7, C1, C9): what the notifier needs to build its audiences.

Instead of every handler remembering to publish, the engine compares the resident
before and after the turn: registration completed → ``resident.registered``; anything
the notifier keeps changed → ``resident.updated``; data deleted → ``resident.deleted``.
"""

from __future__ import annotations

from typing import Any

from chatbot_common.events import (
    EventData,
    ResidentAddress,
    ResidentDeleted,
    ResidentRegistered,
    ResidentUpdated,
)

from .model import Resident


def snapshot(resident: Resident) -> dict[str, Any]:
    """Only what mailings need: reachable channels, settlement, address keys,
    preference, birth date and registration time — never the name or phone (the notifier has no use)."""
    return {
        "resident_id": resident.id,
        "channels": [i.address() for i in resident.identities if i.subscribed],
        "settlement_id": resident.settlement_id,
        "addresses": [
            ResidentAddress(
                settlement_id=a.settlement_id,
                street_id=a.street_id,
                house=a.house,
                apartment=a.apartment,
                key=a.key,
            )
            for a in resident.addresses
        ],
        "notify": resident.notify,
        "birth_date": resident.birth_date,
        "subscribed": resident.subscribed,
        "registered_at": resident.registered_at,
    }


def resident_events(before: Resident, after: Resident, *, forgotten: bool) -> list[EventData]:
    if forgotten:
        return [ResidentDeleted(resident_id=before.id, channels=[i.address() for i in before.identities])]
    if not after.registered:
        return []
    fields = snapshot(after)
    if not before.registered:
        return [ResidentRegistered(**fields)]
    if fields != snapshot(before):
        return [ResidentUpdated(**fields)]
    return []
