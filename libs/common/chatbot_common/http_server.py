"""Options for every service's aiohttp server (``ServiceRuntime`` passes them to
``web.AppRunner``): one place to tune how the HTTP server behaves and logs."""

from __future__ import annotations

from typing import Any


def server_options() -> dict[str, Any]:
    """Keyword arguments for ``web.AppRunner`` beyond the app itself."""
    return {"access_log": None, "handle_signals": False}
