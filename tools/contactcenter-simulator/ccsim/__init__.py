"""Contact-center simulator: Open311 GeoReport v2 JSON server + operator page (Ukrainian).

``build_app(sim, api_key=...)`` for in-process tests, ``start_simulator`` to serve on a
port, ``python -m ccsim`` to run it. See docs/contactcenter-simulator.md.
"""

from .app import build_app, simulator_of, start_simulator
from .schemas import validate
from .state import Faults, Open311Error, Simulator

__all__ = ["Faults", "Open311Error", "Simulator", "build_app", "simulator_of", "start_simulator", "validate"]
