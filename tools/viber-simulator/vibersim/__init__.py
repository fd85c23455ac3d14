"""Viber simulator: a fake Viber REST Bot API plus a resident's phone in the browser.

Used by the project's tests, benchmark and ``make demo`` so nothing talks to the real
Viber. See ``create_app``/``start_simulator`` and ``vibersim.client.SimClient``.
"""

from .app import create_app, simulator_state, start_simulator
from .config import SimConfig
from .signing import sign, verify

__all__ = ["SimConfig", "create_app", "simulator_state", "sign", "start_simulator", "verify"]
