"""The gateway's settings: the common ones and the Viber ones, which no other service
reads. The bot token is a secret (``SecretStr``): it never shows in a repr or a log."""

from __future__ import annotations

from pydantic import SecretStr

from chatbot_common.settings import DEMO_TOKEN, VIBER_PUBLIC_API, Settings


class GatewaySettings(Settings):
    gateway_port: int = 8080
    viber_auth_token: SecretStr = SecretStr(DEMO_TOKEN)
    viber_api_url: str = VIBER_PUBLIC_API
    viber_webhook_url: str | None = None
    viber_sender_name: str = "Контактний центр"
    viber_sender_avatar: str | None = None
    # Viber allows 500 broadcast calls in any 10 s; the limiter stamps a call when it
    # ends, so its window is never looser than Viber's (window.py).
    viber_bulk_calls_per_10s: int = 500
    viber_bulk_concurrency: int = 16  # broadcast calls in flight at once
    # A broadcast reuses a pooled connection only if it was idle at most this long (0: a
    # fresh connection per call). Short, so Viber's end can hardly have closed it while
    # idle: a batch Viber never saw must not turn "maybe sent" (docs/messaging.md).
    viber_bulk_keepalive_seconds: float = 2.0
    # Viber documents no global send_message limit (only ~100 unanswered messages per
    # resident per hour), so this cap only guards against a runaway producer; status 12
    # (tooManyRequests) still backs off. docs/messaging.md explains the default.
    viber_replies_per_second: float = 1000.0
    viber_send_attempts: int = 6  # per delivery; then the bus requeues (delivery limit)
