"""Message bus: one interface, two adapters chosen by ``AMQP_URL``."""

from __future__ import annotations

from .base import (
    DEAD_LETTER_EXCHANGE,
    EXCHANGE,
    Bus,
    Handler,
    InvalidMessage,
    PermanentError,
    PublishError,
    dead_queue_name,
)
from .memory import MemoryBroker, MemoryBus, memory_broker


def create_bus(url: str, *, name: str = "chatbot", prefetch: int = 32, delivery_limit: int = 5,
               confirm_timeout: float = 10.0) -> Bus:
    if url.startswith("memory://"):
        return MemoryBus(memory_broker(url), prefetch=prefetch, delivery_limit=delivery_limit)
    if url.startswith(("amqp://", "amqps://")):
        from .rabbitmq import RabbitBus

        return RabbitBus(url, name=name, confirm_timeout=confirm_timeout, prefetch=prefetch,
                         delivery_limit=delivery_limit)
    raise ValueError(f"AMQP_URL must be memory:// or amqp(s)://…, got {url.split('@')[-1]!r}")


__all__ = ["DEAD_LETTER_EXCHANGE", "EXCHANGE", "Bus", "Handler", "InvalidMessage", "MemoryBroker", "MemoryBus", "memory_broker",
           "PermanentError", "PublishError", "create_bus", "dead_queue_name"]
