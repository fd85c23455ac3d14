"""``python -m ccsim`` starts from flags/environment, serves, and stops cleanly on SIGTERM."""

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


async def test_cli_serves_open311_with_the_api_key_prints_urls_and_exits_0_on_sigterm() -> None:
    port = free_port()
    env = os.environ | {"CCSIM_PORT": str(port), "CCSIM_HOST": "127.0.0.1", "CCSIM_ANSWER_WITH": "token"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ccsim", "--api-key", "cli-key", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def ready() -> bool:
                try:
                    async with session.get(base + "/healthz") as resp:
                        return resp.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await eventually(ready, timeout=20)
            form = {"service_code": "road-pothole", "address_string": "вул. Соборна, 1"}
            async with session.post(base + "/open311/v2/requests.json", data=form | {"api_key": "nope"}) as resp:
                assert resp.status == 403
            async with session.post(base + "/open311/v2/requests.json", data=form | {"api_key": "cli-key"}) as resp:
                assert resp.status == 200 and "token" in (await resp.json())[0]
            async with session.get(base + "/") as resp:
                assert resp.status == 200 and "Вхідні звернення" in await resp.text()
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=20)
    assert proc.returncode == 0, stderr.decode()
    assert f"{base}/open311/v2" in stdout.decode()
