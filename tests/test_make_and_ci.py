"""`make setup` on a machine without uv, and CI's runner (.ci/run), each in a sandbox
with fake tools on PATH: no network, no real installs, no broker started."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import ROOT

SYSTEM_PATH = "/usr/bin:/bin"  # make, bash, coreutils — and no uv


def tool(bin_dir: Path, name: str, body: str) -> None:
    """A fake command that appends its name and arguments to $CALLS, then runs ``body``."""
    path = bin_dir / name
    path.write_text(f'#!/bin/bash\necho "{name} $*" >> "$CALLS"\n{body}\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Path]:
    if not shutil.which("make", path=SYSTEM_PATH):
        pytest.skip("no make in /usr/bin")
    (tmp_path / "bin").mkdir()
    (tmp_path / "calls").touch()
    yield tmp_path


def run(sandbox: Path, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": f"{sandbox / 'bin'}:{SYSTEM_PATH}", "HOME": str(sandbox), "CALLS": str(sandbox / "calls"),
                   **env}
    return subprocess.run(argv, cwd=sandbox, env=environment, capture_output=True, text=True, timeout=60)


def calls(sandbox: Path) -> list[str]:
    return (sandbox / "calls").read_text().splitlines()


# A python3 whose venv makes a pip that "installs" uv: a copy of the fake in $FAKE_UV.
WORKING_VENV = """
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin"
  printf '#!/bin/bash\\necho "pip $*" >> "$CALLS"\\ncp "$FAKE_UV" "$(dirname "$0")/uv"\\n' > "$3/bin/pip"
  chmod +x "$3/bin/pip"
  exit 0
fi
exit 1
"""
# Debian without python3-venv: ensurepip is missing, venv leaves a half-made directory.
BROKEN_VENV = """
if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin"; echo "ensurepip is not available" >&2; exit 1; fi
exit 1
"""


def copy_makefile(sandbox: Path) -> None:
    shutil.copy(ROOT / "Makefile", sandbox / "Makefile")


def test_make_setup_without_uv_installs_the_pinned_uv_into_a_project_venv_and_syncs_with_it(sandbox):
    copy_makefile(sandbox)
    tool(sandbox / "bin", "python3", WORKING_VENV)
    tool(sandbox, "fake-uv", "")
    result = run(sandbox, ["make", "setup"], FAKE_UV=str(sandbox / "fake-uv"))
    assert result.returncode == 0, result.stdout + result.stderr
    version = next(line.split(":=")[1].strip() for line in (ROOT / "Makefile").read_text().splitlines()
                   if line.startswith("UV_VERSION"))
    tools = sandbox / ".tools"
    assert calls(sandbox) == [
        f"python3 -m venv {tools}",
        f"pip install -q uv=={version}",
        "fake-uv sync --all-packages --frozen",
    ]
    # A second run finds the project's uv and installs nothing again.
    (sandbox / "calls").write_text("")
    assert run(sandbox, ["make", "setup"]).returncode == 0
    assert calls(sandbox) == ["fake-uv sync --all-packages --frozen"]


def test_make_setup_uses_a_uv_already_on_path(sandbox):
    copy_makefile(sandbox)
    tool(sandbox / "bin", "uv", "")
    tool(sandbox / "bin", "python3", "exit 1")
    result = run(sandbox, ["make", "setup"])
    assert result.returncode == 0, result.stderr
    assert calls(sandbox) == ["uv sync --all-packages --frozen"]
    assert not (sandbox / ".tools").exists()


def test_make_setup_without_venv_says_to_install_python3_venv(sandbox):
    copy_makefile(sandbox)
    tool(sandbox / "bin", "python3", BROKEN_VENV)
    result = run(sandbox, ["make", "setup"])
    assert result.returncode != 0
    assert "python3-venv" in result.stderr
    assert not (sandbox / ".tools").exists()  # no half-made venv to trip the next run


def test_tools_venv_is_ignored_by_git():
    assert ".tools/" in (ROOT / ".gitignore").read_text().splitlines()


def test_make_test_and_ci_run_the_same_test_script():
    # Without the caller's make variables (a `make test PYTEST_ARGS=…` run passes them on).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTEST_ARGS")}
    dry = subprocess.run(["make", "-n", "test", "test-fast"], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True)
    recipes = [line.strip() for line in dry.stdout.splitlines() if "run-tests.sh" in line]
    assert recipes == ["bash scripts/run-tests.sh", 'bash scripts/run-tests.sh -m "not rabbitmq and not browser"']
    commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.strip().startswith("#")]
    assert "bash scripts/run-tests.sh" in commands
    assert not any("make test" in line for line in commands)  # make would turn pytest's 5 into 2


# ------------------------------------------------------------------------- .ci/run


@pytest.fixture
def ci(sandbox: Path) -> Path:
    """A copy of .ci/run over a fake project: make, apt-get and the RabbitMQ tools record
    their calls; scripts/run-tests.sh exits with $PYTEST_RC."""
    (sandbox / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "run", sandbox / ".ci" / "run")
    (sandbox / "scripts").mkdir()
    (sandbox / "scripts" / "run-tests.sh").write_text('echo "run-tests $*" >> "$CALLS"\nexit "$PYTEST_RC"\n')
    for name in ("make", "apt-get", "rabbitmq-server", "rabbitmq-diagnostics"):
        tool(sandbox / "bin", name, "exit 0")
    return sandbox


@pytest.fixture
def broker_port() -> Iterator[int]:
    """Something listening, as RabbitMQ would."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("pytest_rc", [0, 1])
def test_ci_checks_the_broker_by_tcp_and_passes_pytests_status_through(ci, broker_port, pytest_rc):
    result = run(ci, ["bash", ".ci/run"], RABBITMQ_PORT=str(broker_port), PYTEST_RC=str(pytest_rc))
    assert result.returncode == pytest_rc, result.stderr
    # A broker answers: nothing is installed, started or asked; then the README's command.
    assert calls(ci) == ["make setup system-deps", "run-tests "]


def test_ci_fails_when_pytest_collects_no_tests(ci, broker_port):
    result = run(ci, ["bash", ".ci/run"], RABBITMQ_PORT=str(broker_port), PYTEST_RC="5")
    assert result.returncode == 1
    assert "collected no tests" in result.stderr


def test_ci_requires_broker_browser_and_compose(ci, broker_port):
    script = ci / "scripts" / "run-tests.sh"
    script.write_text('echo "run-tests $REQUIRE_RABBITMQ$REQUIRE_BROWSER$REQUIRE_DOCKER_COMPOSE" >> "$CALLS"\n')
    assert run(ci, ["bash", ".ci/run"], RABBITMQ_PORT=str(broker_port)).returncode == 0
    assert calls(ci)[-1] == "run-tests 111"


def test_ci_starts_rabbitmq_when_nothing_answers_and_fails_clearly_if_it_never_does(ci):
    port = free_port()
    result = run(ci, ["bash", "-c", "sed -i 's/seq 1 60/seq 1 2/' .ci/run && bash .ci/run"],
                 RABBITMQ_PORT=str(port), PYTEST_RC="0")
    assert result.returncode == 1
    assert "rabbitmq-server -detached" in calls(ci)
    assert "did not start" in result.stderr
    assert not any(c.startswith(("make", "run-tests")) for c in calls(ci))
