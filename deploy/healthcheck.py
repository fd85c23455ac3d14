"""Container health probe: exit 0 when the service answers 200 on its health endpoint.

Used by the Dockerfile's HEALTHCHECK and by docker-compose.yml. Standard library only
(urllib), so it runs in the slim runtime image without curl or wget.

    python healthcheck.py [PATH]      # PATH defaults to /healthz

The port is the service's own port variable, ``<PACKAGE>_PORT`` (``GATEWAY_PORT``,
``CONTACTCENTER_SYNC_PORT``, ...), where PACKAGE comes from ``SERVICE_PACKAGE`` (set in
the image); ``HEALTHCHECK_PORT`` overrides it.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping

DEFAULT_PORTS = {
    "gateway": 8080,
    "dialog": 8081,
    "contactcenter_sync": 8082,
    "notifier": 8083,
}


def probe_url(path: str = "/healthz", environ: Mapping[str, str] = os.environ) -> str:
    package = environ.get("SERVICE_PACKAGE", "")
    port = (
        environ.get("HEALTHCHECK_PORT")
        or environ.get(f"{package.upper()}_PORT")
        or DEFAULT_PORTS.get(package)
    )
    if not port:
        raise SystemExit(f"healthcheck: no port known for SERVICE_PACKAGE={package!r}")
    if not path.startswith("/"):
        path = "/" + path
    return f"http://127.0.0.1:{port}{path}"


def main(argv: list[str]) -> int:
    url = probe_url(argv[1] if len(argv) > 1 else "/healthz")
    try:
        with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 (fixed scheme)
            ok = response.status == 200
    except (urllib.error.URLError, OSError) as exc:  # HTTPError (non-2xx) is a URLError
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1
    if not ok:
        print(f"healthcheck: {url}: HTTP {response.status}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
