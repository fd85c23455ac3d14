"""Typed application keys shared by the handlers (aiohttp's ``web.AppKey``)."""

from __future__ import annotations

from aiohttp import web

from .callbacks import CallbackSender, ReceiptQueue
from .state import SimState

STATE: web.AppKey[SimState] = web.AppKey("vibersim_state", SimState)
CALLBACKS: web.AppKey[CallbackSender] = web.AppKey("vibersim_callbacks", CallbackSender)
RECEIPTS: web.AppKey[ReceiptQueue] = web.AppKey("vibersim_receipts", ReceiptQueue)
