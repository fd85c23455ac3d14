"""``python -m contactcenter_sync``: run the contactcenter_sync as its own process."""

from chatbot_common.runner import run_service
from chatbot_common.settings import load_settings

from .service import build


def main() -> None:
    run_service(build, load_settings())


if __name__ == "__main__":
    main()
