"""``python -m vibersim`` starts from the environment and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

import aiohttp

from .helpers import eventually


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_cli_reads_env_prints_page_url_serves_api_and_exits_0_on_sigterm() -> None:
    port = free_port()
    env = os.environ | {"VIBERSIM_PORT": str(port), "VIBERSIM_HOST": "127.0.0.1", "VIBER_AUTH_TOKEN": "cli-token"}
    env.pop("VIBERSIM_WEBHOOK_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vibersim", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def ready() -> bool:
                try:
                    async with session.get(base + "/readyz") as resp:
                        return resp.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await eventually(ready, timeout=20)
            async with session.post(base + "/pa/get_account_info", json={},
                                    headers={"X-Viber-Auth-Token": "cli-token"}) as resp:
                assert (await resp.json())["status"] == 0
            async with session.get(base + "/") as resp:
                assert resp.status == 200 and "Почати розмову" in await resp.text()
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=20)
    assert proc.returncode == 0, stderr.decode()
    assert f"{base}/" in stdout.decode()
