"""The deployment files: docker-compose.yml must be valid for `docker-compose config` and wire
the stack the README describes; the Dockerfile must run as a non-root user."""

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def compose_config(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "POSTGRES_PASSWORD", "PUBLIC_BASE_URL", "FORWARDED_ALLOW_IPS", "METRICS_TOKEN"}
    }
    return subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    done = compose_config(SECRET_KEY="k" * 40, PUBLIC_BASE_URL="https://backstride.example.org",
                          FORWARDED_ALLOW_IPS="10.0.0.5")  # fmt: skip
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def test_compose_file_is_valid_and_has_the_whole_stack(stack: dict[str, Any]) -> None:
    assert set(stack["services"]) == {"postgres", "migrate", "api", "worker"}
    assert "pgdata" in stack["volumes"]


def test_postgres_keeps_its_data_and_reports_health(stack: dict[str, Any]) -> None:
    postgres = stack["services"]["postgres"]
    assert any(str(volume).startswith("pgdata:") or "pgdata" in str(volume) for volume in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_migration_runs_once_before_api_and_worker(stack: dict[str, Any]) -> None:
    services = stack["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["command"] == ["backstride", "migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_everything_is_configured_by_environment(stack: dict[str, Any]) -> None:
    for name in ("migrate", "api", "worker"):
        environment = stack["services"][name]["environment"]
        assert environment["BACKSTRIDE_ENV"] == "production"
        assert environment["SECRET_KEY"] == "k" * 40
        assert environment["DATABASE_URL"].startswith("postgresql://")
        assert environment["PUBLIC_BASE_URL"] == "https://backstride.example.org"
        # The proxy whose forwarded client addresses are believed (login throttling by address).
        assert environment["FORWARDED_ALLOW_IPS"] == "10.0.0.5"


@pytest.mark.parametrize("missing", ["SECRET_KEY", "PUBLIC_BASE_URL"])
def test_the_secret_key_and_public_address_must_be_given(missing: str) -> None:
    given = {"SECRET_KEY": "k" * 40, "PUBLIC_BASE_URL": "https://backstride.example.org"}
    done = compose_config(**{k: v for k, v in given.items() if k != missing})
    assert done.returncode != 0
    assert missing in done.stderr


def test_image_runs_as_a_non_root_user() -> None:
    text = (ROOT / "Dockerfile").read_text().splitlines()
    lines = [line.split() for line in text if line.strip() and not line.startswith("#")]
    users = [words[1] for words in lines if words[0] == "USER"]
    assert users and users[-1] not in {"root", "0"}
    assert lines[0][0] == "FROM" and "slim" in lines[0][1]


def test_the_api_scales_by_processes_behind_one_published_port(stack: dict[str, Any]) -> None:
    """`--scale api=N` would publish one host port N times: the API scales by its workers."""
    api = stack["services"]["api"]
    assert api["command"][-2:] == ["--workers", "2"]
    [port] = api["ports"]
    assert (str(port.get("published")), str(port.get("target"))) == ("8000", "8000")
    assert "--scale api=3" not in Path("docker-compose.yml").read_text(encoding="utf-8")
