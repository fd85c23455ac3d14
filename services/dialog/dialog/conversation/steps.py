"""Every step of the conversation, in one place.

Each module lists its own steps (``STEPS``); this is the only place that gathers them,
so what the engine knows does not depend on which modules happen to be imported.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import address, cabinet, chat, linking, outages, profile, registration, surveys, tickets, useful_info
from .turn import Step


def index(*groups: Iterable[Step]) -> dict[str, Step]:
    steps: dict[str, Step] = {}
    for step in (s for group in groups for s in group):
        if step.name in steps:
            raise ValueError(f"two steps are named {step.name!r}")
        steps[step.name] = step
    return steps


STEPS: dict[str, Step] = index(
    registration.STEPS,
    address.STEPS,
    cabinet.STEPS,
    useful_info.STEPS,
    profile.STEPS,
    linking.STEPS,
    tickets.STEPS,
    outages.STEPS,
    chat.STEPS,
    surveys.STEPS,
)
