"""``make demo``: the whole bot in one process on embedded defaults.

Every service (gateway, dialog, contactcenter-sync, notifier, admin) runs in this one
event loop, on the in-memory bus and store unless ``AMQP_URL`` / ``MONGODB_URL`` say
otherwise, with the Viber simulator playing Viber — unless ``VIBER_API_URL`` points at
a real Viber API, in which case no simulator is started and ``VIBER_WEBHOOK_URL``
must be the gateway's public HTTPS address — and the contact-center simulator playing
the city's Contact Center (Open311), unless ``CONTACTCENTER_URL`` points at a real one.
The first admin of the staff API is created from ``ADMIN_BOOTSTRAP_EMAIL`` /
``ADMIN_BOOTSTRAP_PASSWORD`` (demo defaults below, printed at start).
"""

from __future__ import annotations

import asyncio
import os
import secrets

from pydantic import SecretStr

from admin.settings import AdminSettings
from chatbot_common.logging import configure_logging
from chatbot_common.runner import serve_until_signalled
from contactcenter_sync.settings import ContactCenterSyncSettings
from dialog.settings import DialogSettings
from gateway.settings import GatewaySettings
from notifier.settings import NotifierSettings

#: The demo's first admin when ADMIN_BOOTSTRAP_* are unset: printed at start, demo only.
DEMO_ADMIN_EMAIL = "admin@demo.local"
DEMO_ADMIN_PASSWORD = "demo-admin-2026"


async def main() -> None:
    settings = GatewaySettings()  # each service below reads its own settings class
    configure_logging("demo", settings.log_level, os.environ.get("LOG_FORMAT", "console"))
    use_simulator = "VIBER_API_URL" not in os.environ
    sim_runner = None
    page_url = None
    if use_simulator:
        from vibersim.app import start_simulator
        from vibersim.config import SimConfig

        host = os.environ.get("VIBERSIM_HOST", "127.0.0.1")
        port = int(os.environ.get("VIBERSIM_PORT", "8000"))
        sim_runner, sim_url = await start_simulator(SimConfig(auth_token=settings.viber_auth_token.get_secret_value()), host, port)
        page_url = f"{sim_url}/"
        settings = settings.model_copy(update={
            "viber_api_url": f"{sim_url}/pa",
            "viber_webhook_url": settings.viber_webhook_url or f"http://127.0.0.1:{settings.gateway_port}/viber/webhook",
        })

    cc_runner = None
    operator_url = None
    chat_url = None
    sync_settings = ContactCenterSyncSettings()
    if not sync_settings.contactcenter_url:
        from ccsim.app import start_simulator as start_contact_center
        from ccsim.state import Simulator

        host = os.environ.get("CCSIM_HOST", "127.0.0.1")
        port = int(os.environ.get("CCSIM_PORT", "8090"))
        chat_sim = None
        update: dict[str, object] = {}
        if not sync_settings.chat_configured:
            # The operator chat too (issue 11): the simulator speaks Chatwoot's API channel
            # and signs its webhooks to contactcenter-sync with a secret of this run.
            from ccsim.chat import ChatSim

            secret, token = secrets.token_hex(16), secrets.token_hex(16)
            chat_sim = ChatSim(token=token, webhook_secret=secret, webhook_url=(
                f"http://127.0.0.1:{sync_settings.contactcenter_sync_port}/chat/webhook"))
            update.update(chat_api_token=SecretStr(token), chat_webhook_secret=SecretStr(secret))
        cc_runner, cc_url = await start_contact_center(Simulator(), host, port, chat_sim=chat_sim)
        operator_url = f"{cc_url}/"
        update["contactcenter_url"] = f"{cc_url}/open311/v2"
        if chat_sim is not None:
            update["chat_url"] = f"{cc_url}/chatwoot"
            chat_url = f"{cc_url}/chat"
        sync_settings = sync_settings.model_copy(update=update)
    notifier_settings = NotifierSettings()
    admin_settings = AdminSettings(
        admin_bootstrap_email=os.environ.get("ADMIN_BOOTSTRAP_EMAIL") or DEMO_ADMIN_EMAIL,
        admin_bootstrap_password=os.environ.get("ADMIN_BOOTSTRAP_PASSWORD") or DEMO_ADMIN_PASSWORD,
        # the panel's audience preview asks the notifier (its projection of residents)
        admin_notifier_url=os.environ.get("ADMIN_NOTIFIER_URL") or f"http://127.0.0.1:{notifier_settings.notifier_port}",
    )

    from admin.service import build as build_admin
    from contactcenter_sync.service import build as build_sync
    from dialog.service import build as build_dialog
    from gateway.service import build as build_gateway
    from notifier.service import build as build_notifier

    runtimes = [build_dialog(DialogSettings()), build_sync(sync_settings),
                build_notifier(notifier_settings), build_admin(admin_settings), build_gateway(settings)]

    async def announce() -> None:
        print("\n" + "=" * 72, flush=True)
        print("Міський чат-бот працює (demo).", flush=True)
        if page_url:
            print(f"Open the resident's phone (Viber simulator): {page_url}", flush=True)
        if operator_url:
            print(f"Contact Center operator page (simulator): {operator_url}", flush=True)
        if chat_url:
            print(f"Operator chat page (simulator): {chat_url}", flush=True)
        else:
            print(f"Contact Center (Open311): {sync_settings.contactcenter_url}", flush=True)
        print(f"Staff panel: http://127.0.0.1:{admin_settings.admin_port}/panel/   API: "
              f"http://127.0.0.1:{admin_settings.admin_port}/api/v1/ (OpenAPI: /api/v1/openapi.json)", flush=True)
        if admin_settings.admin_bootstrap_email == DEMO_ADMIN_EMAIL:
            print(f"  first admin: {DEMO_ADMIN_EMAIL} / {DEMO_ADMIN_PASSWORD} (demo only)", flush=True)
        print(f"Gateway webhook: http://127.0.0.1:{settings.gateway_port}/viber/webhook", flush=True)
        print(f"Bus: {settings.amqp_url.split('@')[-1]}   Store: {settings.mongodb_url.split('@')[-1]}", flush=True)
        print("Stop with Ctrl+C.", flush=True)
        print("=" * 72 + "\n", flush=True)

    try:
        await serve_until_signalled(*runtimes, host="127.0.0.1", after_start=announce)
    finally:
        if sim_runner is not None:
            await sim_runner.cleanup()
        if cc_runner is not None:
            await cc_runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
