"""Run the bot's services as separate OS processes for end-to-end tests and benchmarks.

Each service is started with ``python -m <package>`` on a free port, awaited on its
``/readyz``, and stopped with SIGTERM (checking it exits cleanly) — testing.md.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = ROOT / "test-artifacts" / "logs"
TOKEN = "e2e-token-4f1c"
STATE_QUEUES = ["gateway.viber-replies", "gateway.viber-mailings", "dialog.inbound"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http_ok(url: str, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except Exception as exc:  # noqa: BLE001 - polling until ready
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s: {last!r}")


@dataclass
class ServiceProcess:
    name: str
    module: str
    port: int
    env: dict[str, str]
    ready_path: str = "/readyz"
    process: subprocess.Popen | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{self.name}-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServiceProcess:
        self.launch()
        wait_http_ok(self.url + self.ready_path, timeout, self.process)
        return self

    def launch(self, **env: str) -> ServiceProcess:
        """Start the process without waiting for it to be ready (e.g. one expected to die
        at a fault point while starting); ``env`` adds to this start only."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module], env={**os.environ, **self.env, **env}, stdout=log,
            stderr=subprocess.STDOUT, cwd=ROOT,
        )
        return self

    def wait_exit(self, timeout: float = 30.0) -> int:
        """Wait for the process to end on its own; its exit code (negative: a signal)."""
        assert self.process is not None
        return self.process.wait(timeout)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; returns the exit code (0 = clean shutdown)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return -9

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as when a machine dies."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class BotSystem:
    """Fake Viber + gateway + dialog, each its own process, on one broker."""

    amqp_url: str
    mongodb_url: str = "memory://"
    extra_env: dict[str, str] = field(default_factory=dict)
    sim: ServiceProcess = field(init=False)
    gateway: ServiceProcess = field(init=False)
    dialog: ServiceProcess = field(init=False)
    database_prefix: str = field(init=False)

    def __post_init__(self) -> None:
        sim_port, gw_port, dialog_port = free_port(), free_port(), free_port()
        prefix = self.database_prefix = f"e2e_{uuid.uuid4().hex[:6]}_"
        common = {
            "AMQP_URL": self.amqp_url, "MONGODB_URL": self.mongodb_url, "DATABASE_PREFIX": prefix,
            "VIBER_AUTH_TOKEN": TOKEN, "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1", **self.extra_env,
        }
        self.sim = ServiceProcess("vibersim", "vibersim", sim_port,
                                  {**common, "VIBERSIM_PORT": str(sim_port), "VIBERSIM_DELIVERY_RECEIPTS": "0"})
        self.gateway = ServiceProcess("gateway", "gateway", gw_port, {
            **common, "GATEWAY_PORT": str(gw_port), "VIBER_API_URL": f"http://127.0.0.1:{sim_port}/pa",
            "VIBER_WEBHOOK_URL": f"http://127.0.0.1:{gw_port}/viber/webhook",
        })
        self.dialog = ServiceProcess("dialog", "dialog", dialog_port, {**common, "DIALOG_PORT": str(dialog_port)})

    @property
    def webhook_url(self) -> str:
        return f"{self.gateway.url}/viber/webhook"

    def start(self, *, dialog: bool = True) -> BotSystem:
        """Start the processes; ``dialog=False`` leaves the dialog for the test to start."""
        self.sim.start()
        if dialog:
            self.dialog.start()
        self.gateway.start()
        return self

    def stop(self) -> dict[str, int]:
        return {p.name: p.stop() for p in (self.gateway, self.dialog, self.sim)}


ADMIN_EMAIL = "admin@e2e.local"
ADMIN_PASSWORD = "e2e-admin-password"
CHAT_SECRET = "e2e-chat-webhook-secret"
CHAT_TOKEN = "e2e-chat-token"


@dataclass
class CitySystem(BotSystem):
    """Everything a city runs, each its own process on one broker: fake Viber, gateway,
    dialog, contactcenter-sync with the contact-center simulator, notifier and admin."""

    ccsim: ServiceProcess = field(init=False)
    contactcenter: ServiceProcess = field(init=False)
    notifier: ServiceProcess = field(init=False)
    admin: ServiceProcess = field(init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        common = {k: v for k, v in self.dialog.env.items() if k != "DIALOG_PORT"}
        cc_port, sync_port, notifier_port, admin_port = free_port(), free_port(), free_port(), free_port()
        self.ccsim = ServiceProcess("ccsim", "ccsim", cc_port, {
            **common, "CCSIM_PORT": str(cc_port), "CCSIM_TOKEN_DELAY_SECONDS": "manual", "CCSIM_API_KEY": "e2e-key",
            # the operator chat (Chatwoot's API channel), its webhooks signed to contactcenter-sync
            "CCSIM_CHAT_WEBHOOK_URL": f"http://127.0.0.1:{sync_port}/chat/webhook",
            "CCSIM_CHAT_WEBHOOK_SECRET": CHAT_SECRET, "CCSIM_CHAT_TOKEN": CHAT_TOKEN,
        }, ready_path="/healthz")
        self.contactcenter = ServiceProcess("contactcenter-sync", "contactcenter_sync", sync_port, {
            **common, "CONTACTCENTER_SYNC_PORT": str(sync_port),
            "CONTACTCENTER_URL": f"http://127.0.0.1:{cc_port}/open311/v2", "CONTACTCENTER_API_KEY": "e2e-key",
            "CONTACTCENTER_POLL_SECONDS": "1", "CONTACTCENTER_RETRY_MIN_SECONDS": "0.5",
            "CONTACTCENTER_RETRY_MAX_SECONDS": "2",
            "CHAT_URL": f"http://127.0.0.1:{cc_port}/chatwoot", "CHAT_API_TOKEN": CHAT_TOKEN,
            "CHAT_WEBHOOK_SECRET": CHAT_SECRET, **self.extra_env,
        })
        self.notifier = ServiceProcess("notifier", "notifier", notifier_port,
                                       {**common, "NOTIFIER_PORT": str(notifier_port)})
        self.admin = ServiceProcess("admin", "admin", admin_port, {
            **common, "ADMIN_PORT": str(admin_port), "ADMIN_BOOTSTRAP_EMAIL": ADMIN_EMAIL,
            "ADMIN_BOOTSTRAP_PASSWORD": ADMIN_PASSWORD, "ADMIN_NOTIFIER_URL": f"http://127.0.0.1:{notifier_port}",
        })

    @property
    def processes(self) -> list[ServiceProcess]:
        return [self.sim, self.ccsim, self.dialog, self.contactcenter, self.notifier, self.admin, self.gateway]

    def start(self, *, dialog: bool = True) -> CitySystem:
        for process in self.processes:
            if process is not self.dialog or dialog:
                process.start()
        return self

    def stop(self) -> dict[str, int]:
        return {p.name: p.stop() for p in reversed(self.processes)}
