"""Configuration from environment variables (pydantic-settings).

Every variable here is documented in the README with its default. URLs select
implementations: ``AMQP_URL=memory://`` → in-process bus, ``amqp://…`` → RabbitMQ;
``MONGODB_URL=memory://`` → in-memory store, ``mongodb://…`` → MongoDB.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

VIBER_PUBLIC_API = "https://chatapi.viber.com/pa"
DEMO_TOKEN = "demo-token"  # for the demo and the simulator only; the gateway refuses it against real Viber


class Settings(BaseSettings):
    """What every service reads. Each service has its own class on top of this one
    (``gateway.settings.GatewaySettings``, ``dialog.settings.DialogSettings`` …), so a
    service reads only its own settings and secrets: the Viber token is the gateway's."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    amqp_url: str = "memory://"
    mongodb_url: str = "memory://"
    database_prefix: str = ""  # each service uses database "<prefix><service>"
    log_level: str = "INFO"
    log_format: str = "json"  # json | console
    # uvloop: libuv's event loop, less CPU per message (make bench); asyncio: the standard one
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"

    # bus tuning
    bus_prefetch: int = 32
    bus_delivery_limit: int = 5
    bus_confirm_timeout: float = 10.0

    # largest HTTP request body a service accepts (413 beyond it)
    webhook_max_body: int = 65536

    # inbox de-duplication memory
    inbox_ttl_days: int = 7

    # outbox relay: seconds an unpublished output waits before the relay takes it over
    outbox_relay_seconds: float = 5.0

    @property
    def inbox_ttl(self) -> timedelta:
        """How long every ``Inbox`` remembers handled ids: pass it to each one."""
        return timedelta(days=self.inbox_ttl_days)


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
