"""``python -m contactcenter_sync``: run the contactcenter_sync as its own process."""

from chatbot_common.runner import run_service

from .service import build
from .settings import ContactCenterSyncSettings


def main() -> None:
    run_service(build, ContactCenterSyncSettings())


if __name__ == "__main__":
    main()
