"""``python -m gateway``: run the Viber gateway as its own process."""

from chatbot_common.runner import run_service

from .service import build
from .settings import GatewaySettings


def main() -> None:
    run_service(build, GatewaySettings())


if __name__ == "__main__":
    main()
