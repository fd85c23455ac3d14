"""``python -m admin``: run the admin service as its own process."""

from chatbot_common.runner import run_service

from .service import build
from .settings import AdminSettings


def main() -> None:
    run_service(build, AdminSettings())


if __name__ == "__main__":
    main()
