"""Typed aiohttp application keys."""

from aiohttp import web

from .state import Simulator

SIM = web.AppKey("ccsim.simulator", Simulator)
