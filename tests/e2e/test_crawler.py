"""Crawl the registered resident's bot end to end: from the main menu, tap every button
breadth-first (bounded), through the real gateway, broker and dialog, and check every
reply exactly as it reached the fake Viber API: non-empty, Ukrainian, formal, a way
home, within Viber's limits (the shared checks of the engine-level crawler). The
``sim`` fixture also checks that every message parses with the official Viber SDK.
"""

from __future__ import annotations

from collections import deque

import pytest

from chatbot_common.events import ButtonAction
from services.dialog.tests.unit.ux_checks import problems
from tests.e2e.resident import Phone, register
from vibersim.client import SimClient

pytestmark = pytest.mark.rabbitmq
MAX_TAPS = 160
#: Irreversible for the crawl itself (the engine-level crawler covers them).
NOT_TAPPED = {"profile:delete:yes"}


async def test_every_button_reachable_from_the_main_menu_answers_politely_with_a_way_home(sim: SimClient):
    phone = Phone(sim, "crawler")
    await register(phone)
    await phone.say("nav:home")
    home_codes = list(phone.codes)
    queue: deque[list[str]] = deque([[code] for code in home_codes])
    seen = set(home_codes)
    found: list[str] = []
    taps = 0
    screens = 0
    while queue and taps < MAX_TAPS:
        path = queue.popleft()
        if path[-1] in NOT_TAPPED:
            continue
        await phone.say("nav:home")  # from anywhere, home
        taps += 1
        ok = True
        for code in path:
            button = next((b for b in phone.buttons if b.code == code), None)
            if button is None or button.action in (ButtonAction.open_url, ButtonAction.share_phone):
                ok = False  # open-url leaves the chat; share-phone is exercised by scripts
                break
            await phone.tap(code)
            taps += 1
        if not ok:
            continue
        screens += 1
        where = " → ".join(path)
        found += [f"{where}: {p}" for p in problems(phone.text, phone.buttons, registered=True)]
        for button in phone.buttons:
            if button.code not in seen:
                seen.add(button.code)
                queue.append([*path, button.code])
    assert found == []
    assert screens >= 25, f"only {screens} screens reached in {taps} taps"
    assert {"menu:profile", "profile:addresses", "menu:info", "menu:links"} <= seen
