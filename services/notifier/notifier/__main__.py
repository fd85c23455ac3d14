"""``python -m notifier``: run the notifier as its own process."""

from chatbot_common.runner import run_service

from .service import build
from .settings import NotifierSettings


def main() -> None:
    run_service(build, NotifierSettings())


if __name__ == "__main__":
    main()
