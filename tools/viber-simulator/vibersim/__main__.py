"""``python -m vibersim``: run the simulator until SIGINT/SIGTERM.

Configuration comes from the environment (so ``make demo`` and compose files can set
it) with optional command-line overrides.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal

from .app import start_simulator
from .config import SimConfig


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """CLI flags; each defaults to its environment variable."""
    parser = argparse.ArgumentParser(prog="vibersim", description="Fake Viber REST API and resident phone page")
    parser.add_argument("--host", default=os.environ.get("VIBERSIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("VIBERSIM_PORT", "8000")))
    parser.add_argument("--token", default=os.environ.get("VIBER_AUTH_TOKEN", "demo-token"))
    parser.add_argument("--webhook-url", default=os.environ.get("VIBERSIM_WEBHOOK_URL") or None)
    parser.add_argument("--public-url", default=os.environ.get("VIBERSIM_PUBLIC_URL") or None)
    parser.add_argument("--reject-unknown-receivers", action="store_true",
                        default=_flag("VIBERSIM_REJECT_UNKNOWN_RECEIVERS", False))
    parser.add_argument("--no-delivery-receipts", action="store_true",
                        default=not _flag("VIBERSIM_DELIVERY_RECEIPTS", True))
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Start, print the URLs, wait for a stop signal, shut down cleanly."""
    config = SimConfig(
        auth_token=args.token,
        webhook_url=args.webhook_url,
        public_url=args.public_url,
        reject_unknown_receivers=args.reject_unknown_receivers,
        send_delivery_receipts=not args.no_delivery_receipts,
    )
    runner, url = await start_simulator(config, args.host, args.port)
    # What start-up made is never walked by the collector again: the simulator is the
    # benchmark's measuring instrument, and full collections paused it for up to 110 ms.
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"Viber simulator: resident phone page {url}/", flush=True)
    print(f"  fake Viber API: {url}/pa/<method>   control API: {url}/_sim/...", flush=True)
    print(f"  webhook: {config.webhook_url or 'not set (the bot must call set_webhook)'}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``viber-simulator``)."""
    logging.basicConfig(level=os.environ.get("VIBERSIM_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
