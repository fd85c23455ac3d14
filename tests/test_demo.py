"""`make demo` runs the whole bot in one process on the embedded defaults: every
service ready, the simulator page served, and a resident's first exchange works."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

from tests.e2e.harness import LOG_DIR, ROOT, free_port, wait_http_ok
from vibersim.client import SimClient


async def test_demo_process_serves_the_phone_page_and_answers_a_resident():
    ports = {name: free_port() for name in ("GATEWAY_PORT", "DIALOG_PORT", "CONTACTCENTER_SYNC_PORT",
                                            "NOTIFIER_PORT", "VIBERSIM_PORT", "ADMIN_PORT", "CCSIM_PORT")}
    env = {k: v for k, v in os.environ.items()
           if k not in ("AMQP_URL", "MONGODB_URL", "VIBER_API_URL", "CONTACTCENTER_URL", "ADMIN_BOOTSTRAP_EMAIL",
                        "ADMIN_BOOTSTRAP_PASSWORD", "CHAT_URL")}
    env.update({name: str(port) for name, port in ports.items()})
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = (LOG_DIR / "demo.log").open("wb")
    demo = subprocess.Popen([sys.executable, "scripts/demo.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for name in ("GATEWAY_PORT", "DIALOG_PORT", "CONTACTCENTER_SYNC_PORT", "NOTIFIER_PORT", "ADMIN_PORT"):
            wait_http_ok(f"http://127.0.0.1:{ports[name]}/readyz", 30, demo)
        cc_url = f"http://127.0.0.1:{ports['CCSIM_PORT']}"
        wait_http_ok(cc_url + "/", 10, demo)  # the contact center's operator page
        # The demo's first admin can log in to the staff API with what the demo printed.
        login = json.dumps({"email": "admin@demo.local", "password": "demo-admin-2026"}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{ports['ADMIN_PORT']}/api/v1/auth/token", data=login,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert json.load(resp)["token_type"] == "bearer"
        sim_url = f"http://127.0.0.1:{ports['VIBERSIM_PORT']}"
        wait_http_ok(sim_url + "/", 10, demo)
        async with SimClient(sim_url) as sim:
            welcome = await sim.open("demo-resident")
            assert "Вітаємо" in welcome["response"]["text"]
            await sim.say("demo-resident", "start", silent=True)
            chat = await sim.wait_for_chat("demo-resident", lambda c: len([e for e in c if e["from"] == "bot"]) >= 2)
            assert "персональних даних" in chat[-1]["text"]
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(20)
    printed = (LOG_DIR / "demo.log").read_text()
    assert f"{sim_url}/" in printed  # the page URL is printed for the person who ran it
    assert f"{cc_url}/" in printed and "admin@demo.local / demo-admin-2026" in printed
    assert f"{cc_url}/chat" in printed  # the operator chat page (issue 11)
    assert code == 0, printed[-2000:]
