"""Tap every button reachable from the main menu, breadth-first, and check every reply
a resident would see (ux_checks): Ukrainian, formal, a way home, within Viber limits."""

from collections import deque

from chatbot_common.events import ButtonAction, InboundContent, MessageKind

from dialog.conversation import Incoming, IncomingKind, Resident, respond
from engine_chat import Chat, register
from ux_checks import problems

MAX_TAPS = 300


async def crawl(chat: Chat) -> tuple[int, set[str], list[str]]:
    """Returns (taps, steps visited, problems found)."""
    ctx = chat.ctx
    start = chat.resident.model_dump_json()
    queue = deque([(start, chat.last)])
    seen: set[tuple[str, str, str]] = set()
    steps: set[str] = set()
    found: list[str] = []
    taps = 0
    while queue and taps < MAX_TAPS:
        state, reply = queue.popleft()
        resident_now = Resident.model_validate_json(state)
        for button in reply.buttons:
            if taps >= MAX_TAPS:
                break
            if button.action == ButtonAction.open_url:
                continue  # opens a browser; checked by ux_checks on the screen itself
            key = (resident_now.state.step, repr(sorted(resident_now.state.data.items())), button.code)
            if key in seen:
                continue
            seen.add(key)
            if button.action == ButtonAction.share_phone:
                content = InboundContent(kind=MessageKind.contact, phone=resident_now.phone or "+380671234567")
            else:
                content = InboundContent(kind=MessageKind.text, text=button.code)
            incoming = Incoming(IncomingKind.message, chat.channel_user_id, content, channel=chat.channel)
            outcome = await respond(Resident.model_validate_json(state), incoming, ctx)
            taps += 1
            where = f"{resident_now.state.step} → {button.code}"
            if not outcome.replies:
                found.append(f"{where}: no reply")
                continue
            for r in outcome.replies:
                found += [f"{where}: {p}" for p in problems(r.text, r.buttons, registered=outcome.resident.registered)]
            steps.add(outcome.resident.state.step)
            if not outcome.forget:
                queue.append((outcome.resident.model_dump_json(), outcome.replies[-1]))
    return taps, steps, found


async def test_every_reply_reachable_from_the_main_menu_is_polite_ukrainian_with_a_way_home(chat):
    await register(chat)
    await chat.send("nav:home")
    taps, steps, found = await crawl(chat)
    assert found == []
    assert taps >= 100
    assert {
        "cabinet", "info", "links", "profile", "profile_name", "profile_phone", "settlement", "street",
        "addresses", "address", "birth_date", "notify", "delete", "new", "apps", "apps_code",
    } <= steps


async def test_the_guest_menu_is_crawlable_too(chat):
    await chat.tap_start()
    await chat.tap("consent:no")
    taps, steps, found = await crawl(chat)
    assert found == []
    assert {"guest", "info", "links", "consent", "link_enter"} <= steps
