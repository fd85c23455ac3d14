"""``python -m notifier``: run the notifier as its own process.

``python -m notifier resync``: ask the dialog to publish every resident again
(``audience.resync_requested``), e.g. after the notifier's database was lost or
restored from an old backup. Uses the same settings (``AMQP_URL``) as the service.
"""

import asyncio
import sys

from chatbot_common.bus import create_bus
from chatbot_common.logging import configure_logging
from chatbot_common.runner import run_service

from .service import build, resync_request
from .settings import NotifierSettings

USAGE = "usage: python -m notifier [resync]"


async def resync(settings: NotifierSettings) -> None:
    bus = create_bus(settings.amqp_url, name="notifier-resync", confirm_timeout=settings.bus_confirm_timeout)
    await bus.connect()
    try:
        await bus.declare()
        event = resync_request()
        await bus.publish(event)
        print(f"audience.resync_requested published (id {event.id})")
    finally:
        await bus.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    settings = NotifierSettings()
    if not args:
        run_service(build, settings)
        return 0
    if args == ["resync"]:
        configure_logging("notifier", settings.log_level, settings.log_format)
        asyncio.run(resync(settings))
        return 0
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
