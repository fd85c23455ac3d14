"""Prometheus metrics every service exposes on ``/metrics`` (T3).

Labelled by queue (whose name starts with the service) so one process running every
service (the demo) and one process per service report the same series.
"""

from typing import Any

from prometheus_client import Counter, Histogram

HANDLED = Counter("chatbot_messages_handled_total", "Messages handled successfully", ["queue"])
HANDLER_FAILED = Counter("chatbot_messages_failed_total", "Handler failures (requeued)", ["queue"])
DEAD_LETTERED = Counter(
    "chatbot_messages_dead_lettered_total", "Messages parked in <queue>.dead", ["queue", "reason"]
)
HANDLER_SECONDS = Histogram("chatbot_handler_seconds", "Handler latency", ["queue"])
PUBLISHED = Counter("chatbot_events_published_total", "Events published and confirmed", ["type"])
VIBER_CALLS = Counter("chatbot_viber_api_calls_total", "Viber API calls by method and status", ["method", "status"])
WEBHOOK_CALLBACKS = Counter("chatbot_webhook_callbacks_total", "Viber callbacks by event and outcome", ["event", "outcome"])
OUTBOX_UNPUBLISHED = Counter(
    "chatbot_outbox_publish_failures_total",
    "Outbox flushes the broker did not confirm: the outputs wait in the store for the relay",
    ["collection"],
)


class Children:
    """One metric's children by label values (in the metric's label order), looked up
    once each: ``labels()`` takes a lock and builds its key on every call, which per
    message adds up (``make bench``)."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self.metric.labels(*values)
        return child


HANDLED_BY_QUEUE = Children(HANDLED)
HANDLER_SECONDS_BY_QUEUE = Children(HANDLER_SECONDS)
PUBLISHED_BY_TYPE = Children(PUBLISHED)
