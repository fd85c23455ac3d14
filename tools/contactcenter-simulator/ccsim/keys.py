"""Typed aiohttp application keys."""

import asyncio

from aiohttp import web

from .state import Simulator

SIM = web.AppKey("ccsim.simulator", Simulator)
STOPPING = web.AppKey("ccsim.stopping", asyncio.Event)
