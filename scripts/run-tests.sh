#!/usr/bin/env bash
# The one test command: `make test` (and `make test-fast`) and CI (.ci/run) both run
# it, so CI tests exactly what the README promises. Arguments go to pytest; the exit
# status is pytest's own (5 = no tests collected), not make's.
set -uo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never
UV=${UV:-$(command -v uv 2>/dev/null || echo "$PWD/.tools/bin/uv")}
exec "$UV" run --frozen pytest "$@"
