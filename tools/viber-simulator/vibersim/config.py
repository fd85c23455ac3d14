"""Simulator configuration.

One small frozen dataclass so tests, the benchmark and the CLI all build the fake
Viber the same way and nothing reads the environment behind their backs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class SimConfig:
    """How the fake Viber behaves.

    ``clock`` is injectable so rate-limit windows can be tested without waiting an hour.
    """

    auth_token: str = "demo-token"
    webhook_url: str | None = None
    reject_unknown_receivers: bool = False
    send_delivery_receipts: bool = True
    public_url: str | None = None
    account_name: str = "Міська гаряча лінія"
    account_uri: str = "city-hotline"
    callback_timeout: float = 10.0
    delivery_concurrency: int = 16
    max_records: int = 100_000
    max_chat_entries: int = 1_000
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)
