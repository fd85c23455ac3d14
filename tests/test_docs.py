"""The messaging document stays true: it names every event type of the catalog and every
queue of the topology (architecture.md: «extend the catalog in one place; keep this list
true»)."""

from chatbot_common.events import EVENT_TYPES
from chatbot_common.topology import QUEUES
from tests.e2e.harness import ROOT

MESSAGING = (ROOT / "docs" / "messaging.md").read_text()


def test_every_event_type_is_in_the_messaging_document():
    assert sorted(t for t in EVENT_TYPES if f"`{t}`" not in MESSAGING) == []


def test_every_queue_and_its_bindings_are_in_the_messaging_document():
    missing = []
    for queue in QUEUES:
        row = next((line for line in MESSAGING.splitlines() if line.startswith(f"| `{queue.name}` |")), None)
        if row is None or any(f"`{key}`" not in row for key in queue.keys):
            missing.append(queue.name)
    assert missing == []
