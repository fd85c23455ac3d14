"""``python -m dialog``: run the dialog as its own process."""

from chatbot_common.runner import run_service

from .service import build
from .settings import DialogSettings


def main() -> None:
    run_service(build, DialogSettings())


if __name__ == "__main__":
    main()
