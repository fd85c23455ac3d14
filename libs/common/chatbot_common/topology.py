"""The whole message topology in one place: every exchange, queue and binding.

Every service declares *all* of it at start (``Bus.declare``), not only its own queues,
so no publish depends on which service started first: an event published before its
consumer ever ran waits in that consumer's queue (issue 6, case 5).

- ``chatbot`` — durable topic exchange every event is published to, with the alternate
  exchange ``chatbot.unroutable`` (fanout) → queue ``chatbot.unroutable``: an event that
  no queue is bound to lands there for ops to see and alert on, never silently dropped.
  Publishes are also ``mandatory``: if the alternate exchange were missing (an exchange
  declared by an older version), the broker returns the message and the publish fails.
- ``chatbot.dlx`` — direct exchange for dead letters: each queue ``<q>`` dead-letters
  with routing key ``<q>`` into its parking queue ``<q>.dead``.
- Consumer queues are quorum queues with a delivery limit, at-least-once dead-lettering
  (``x-dead-letter-strategy=at-least-once`` requires ``x-overflow=reject-publish``).

Which queue gets which event is derived from the event catalog: a queue names the
routing-key patterns it consumes, and :func:`check_catalog` (run by the tests) proves
every event type in the catalog reaches at least one queue — a new event type without a
consumer fails the build rather than vanishing at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .events import EVENT_TYPES, Channel, Lane, OutboundMessage

EXCHANGE = "chatbot"
DEAD_LETTER_EXCHANGE = "chatbot.dlx"
UNROUTABLE_EXCHANGE = "chatbot.unroutable"
UNROUTABLE_QUEUE = "chatbot.unroutable"


@dataclass(frozen=True)
class QueueSpec:
    """One consumer queue: its name (``<service>.<purpose>``), the routing-key patterns
    bound to it, and whether only one consumer at a time may take from it."""

    name: str
    keys: tuple[str, ...]
    single_active: bool = False
    consumer: str = field(default="")  # the service that consumes it (docs, tests)


QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec(
        "dialog.inbound",
        ("inbound.message", "inbound.conversation_started", "inbound.subscribed", "inbound.unsubscribed"),
        single_active=True, consumer="dialog",
    ),
    QueueSpec("gateway.viber-replies", ("outbound.viber.reply",), consumer="gateway"),
    QueueSpec("gateway.viber-mailings", ("outbound.viber.bulk",), consumer="gateway"),
    # The notifier keeps its own view of the audience (S7, C1) and of deliveries (P2
    # progress). Declared now so no resident or delivery event is lost before it runs.
    QueueSpec("notifier.residents", ("resident.*",), single_active=True, consumer="notifier"),
    QueueSpec("notifier.delivery", ("delivery.*",), consumer="notifier"),
    # Requests (issue 7): the resident's request and rating to the contact center; what
    # the contact center says back to the dialog (its projection of the resident's
    # tickets) and to the notifier (one notice per change).
    QueueSpec("contactcenter.tickets", ("ticket.submitted", "ticket.rated"), consumer="contactcenter-sync"),
    QueueSpec(
        "dialog.events",
        ("ticket.*", "contactcenter.services", "outage.*", "audience.resync_requested",
         # C3: knowledge-base edits from admin; the dialog's own question feedback,
         # stored for staff once it left the resident's outbox (docs/faq.md)
         "faq.changed", "faq.feedback",
         # C11: useful information / links edited in the admin panel (docs/admin.md)
         "info.changed"),
        consumer="dialog",
    ),
    QueueSpec(
        "notifier.tickets",
        ("ticket.registered", "ticket.status_changed", "ticket.deadline_changed",
         "ticket.deadline_reminder", "ticket.overdue"),
        consumer="notifier",
    ),
    # Outages (issue 8): the notifier mails them, admin lists them (also those imported
    # from the contact center) and shows each mailing's progress.
    QueueSpec("notifier.outages", ("outage.*",), single_active=True, consumer="notifier"),
    QueueSpec("admin.outages", ("outage.*",), consumer="admin"),
    QueueSpec("admin.mailings", ("mailing.progress",), consumer="admin"),
    # Staff mailings and greetings (issue 9): one at a time, so a cancel never overtakes
    # its mailing and the newest greetings configuration wins.
    QueueSpec("notifier.mailings", ("mailing.requested", "mailing.cancelled", "greeting.configured"),
              single_active=True, consumer="notifier"),
    # Surveys (issue 9, C8): the notifier invites (and keeps who answered, for segments),
    # the dialog asks, the admin counts.
    QueueSpec("notifier.surveys", ("survey.published", "survey.answered"), single_active=True, consumer="notifier"),
    QueueSpec("dialog.surveys", ("survey.published",), consumer="dialog"),
    QueueSpec("admin.surveys", ("survey.answered",), consumer="admin"),
    # C3: unanswered and rated questions, listed for staff so the knowledge base grows
    # from real questions (docs/admin.md, docs/faq.md)
    QueueSpec("admin.faq", ("faq.feedback",), consumer="admin"),
    # Operator chat (issue 11): one consumer at a time on each side keeps a chat's
    # messages in order.
    QueueSpec(
        "contactcenter.chat",
        ("chat.requested", "chat.resident_message", "chat.end_requested", "chat.rated"),
        single_active=True, consumer="contactcenter-sync",
    ),
    QueueSpec(
        "dialog.chat",
        ("chat.opened", "chat.declined", "chat.operator_message", "chat.unanswered", "chat.undelivered",
         "chat.closed"),
        single_active=True, consumer="dialog",
    ),
)

BY_NAME: dict[str, QueueSpec] = {q.name: q for q in QUEUES}


def queue(name: str) -> QueueSpec:
    """The declared queue ``name``; a typo fails at start, not silently."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"queue {name!r} is not in the topology (chatbot_common.topology.QUEUES)") from None


def routing_keys_of_catalog() -> dict[str, list[str]]:
    """Every routing key the catalog can produce, by event type."""
    keys: dict[str, list[str]] = {}
    for event_type, model in EVENT_TYPES.items():
        if issubclass(model, OutboundMessage):
            channel = Channel(event_type.split(".", 1)[1])
            keys[event_type] = [f"outbound.{channel.value}.{lane.value}" for lane in Lane]
        else:
            keys[event_type] = [event_type]
    return keys


def consumers_of(key: str) -> list[str]:
    from .bus.topic import matches  # here, not at the top: the bus imports this module

    return [q.name for q in QUEUES if any(matches(pattern, key) for pattern in q.keys)]


def check_catalog() -> list[str]:
    """Routing keys of catalog events that no declared queue consumes (should be none)."""
    return [key for keys in routing_keys_of_catalog().values() for key in keys if not consumers_of(key)]
