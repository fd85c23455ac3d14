"""``python -m ccsim``: run the contact-center simulator until SIGINT/SIGTERM.

Settings come from the environment (``make demo``, compose files) with command-line
overrides: CCSIM_HOST, CCSIM_PORT, CCSIM_API_KEY, CCSIM_JURISDICTION_ID,
CCSIM_ANSWER_WITH, CCSIM_TOKEN_DELAY_SECONDS, CCSIM_SETTLEMENT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from .app import start_simulator
from .state import Simulator


def _delay(text: str) -> float | None:
    return None if text.strip().lower() in ("", "none", "manual") else float(text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="ccsim", description="Open311 contact-center simulator with an operator page")
    parser.add_argument("--host", default=env("CCSIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("CCSIM_PORT", "8090")))
    parser.add_argument("--api-key", default=env("CCSIM_API_KEY") or None,
                        help="POSTs must carry this api_key (default: any key accepted)")
    parser.add_argument("--jurisdiction-id", default=env("CCSIM_JURISDICTION_ID") or None)
    parser.add_argument("--answer-with", choices=("id", "token"), default=env("CCSIM_ANSWER_WITH", "id"))
    parser.add_argument("--token-delay-seconds", type=_delay, default=_delay(env("CCSIM_TOKEN_DELAY_SECONDS", "2")),
                        help="seconds until a token gets its number; 'manual' = only the operator assigns")
    parser.add_argument("--settlement", default=env("CCSIM_SETTLEMENT", "Хмельницький"))
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    sim = Simulator(api_key=args.api_key, jurisdiction_id=args.jurisdiction_id, settlement=args.settlement)
    sim.faults.update({"answer_with": args.answer_with, "token_delay_seconds": args.token_delay_seconds})
    runner, url = await start_simulator(sim, args.host, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"Contact-center simulator: operator page {url}/", flush=True)
    print(f"  Open311 (CONTACTCENTER_URL): {url}/open311/v2   control API: {url}/control/...", flush=True)
    print(f"  api_key: {'required' if args.api_key else 'any accepted'}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``contactcenter-simulator``)."""
    logging.basicConfig(level=os.environ.get("CCSIM_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
