"""Conversation engine entry point (walking-skeleton version: first contact → consent).

The full registration, cabinet and profile flows extend this module (issue 3).
"""

from __future__ import annotations

from chatbot_common.events import Button
from chatbot_common.texts import catalog

from .api import Incoming, Outcome, Reply, ResidentDirectory
from .model import Resident


def consent_question() -> Reply:
    t = catalog()
    return Reply(
        text=t("registration.consent"),
        buttons=[
            Button(label=t("registration.consent_agree"), code="consent:yes", columns=3),
            Button(label=t("registration.consent_more"), code="consent:more", columns=3),
        ],
    )


async def respond(resident: Resident, incoming: Incoming, ctx: object) -> Outcome:
    """Answer one thing the resident did."""
    from .api import IncomingKind

    if incoming.kind in (IncomingKind.started, IncomingKind.unsubscribed):
        return Outcome(resident=resident)  # Viber allows only the gateway's welcome here
    if resident.state.step == "new":
        resident.state.step = "consent"
    return Outcome(resident=resident, replies=[consent_question()])
