"""The `backstride` command, run as a user would: a real process on a fresh SQLite file."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.app import create_app
from services.core.config import Settings
from services.core.db import Database
from tests.factories import intake_body

BACKSTRIDE = str(Path(sys.executable).with_name("backstride"))


def run(db: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "BACKSTRIDE_ENV": "development"}
    return subprocess.run(
        [BACKSTRIDE, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "cli.db"
    result = run(path, "migrate")
    assert result.returncode == 0, result.stderr
    return path


async def call(db: Path, method: str, path: str, **kwargs: Any) -> httpx.Response:
    url = f"sqlite+aiosqlite:///{db}"
    database = Database(url, pooled=False)
    app = create_app(Settings(database_url=url), database=database)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            return await http.request(method, path, **kwargs)
    finally:
        await database.dispose()


async def post_intake(db: Path, key: str) -> int:
    response = await call(db, "POST", "/v1/intakes", json=intake_body(), headers={"Authorization": f"Bearer {key}"})
    return response.status_code


async def log_in(db: Path, email: str, password: str) -> int:
    response = await call(db, "POST", "/v1/auth/token", data={"username": email, "password": password})
    return response.status_code


async def test_clinic_create_json_gives_working_keys(db: Path) -> None:
    result = run(
        db,
        "clinic",
        "create",
        "--name",
        "Harbour Physio",
        "--slug",
        "harbour",
        "--origin",
        "https://harbour.example",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert set(created) == {"clinic_id", "slug", "secret_key", "publishable_key"}
    assert created["slug"] == "harbour"
    assert await post_intake(db, created["secret_key"]) == 201
    assert await post_intake(db, created["publishable_key"]) == 201


def test_clinic_create_refuses_duplicates_and_bad_input(db: Path) -> None:
    assert run(db, "clinic", "create", "--name", "A", "--slug", "dup", "--json").returncode == 0
    again = run(db, "clinic", "create", "--name", "B", "--slug", "dup", "--json")
    assert again.returncode == 1 and "exists" in again.stderr
    bad = run(db, "clinic", "create", "--name", "C", "--slug", "Bad Slug", "--json")
    assert bad.returncode == 1 and "slug" in bad.stderr


async def test_demo_prints_keys_and_users_and_rotates_them(db: Path) -> None:
    first = run(db, "demo")
    second = run(db, "demo")
    assert first.returncode == second.returncode == 0

    def secret(output: str) -> str:
        return next(line.split()[-1] for line in output.splitlines() if "secret key" in line)

    def physio_password(output: str) -> str:
        return next(line.split()[-1] for line in output.splitlines() if "physio@demo.example" in line)

    assert await post_intake(db, secret(first.stdout)) == 401
    assert await post_intake(db, secret(second.stdout)) == 201
    assert await log_in(db, "physio@demo.example", physio_password(first.stdout)) == 401
    assert await log_in(db, "physio@demo.example", physio_password(second.stdout)) == 200
    assert "admin@demo.example" in second.stdout


async def test_user_create_reads_the_password_from_stdin(db: Path) -> None:
    assert run(db, "clinic", "create", "--name", "A", "--slug", "pine", "--json").returncode == 0
    created = run(
        db,
        "user",
        "create",
        "--clinic",
        "pine",
        "--email",
        "Kim@Pine.example",
        "--role",
        "physio",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert created.returncode == 0, created.stderr
    assert "a long enough password" not in created.stdout + created.stderr
    assert await log_in(db, "kim@pine.example", "a long enough password") == 200
    duplicate = run(
        db,
        "user",
        "create",
        "--clinic",
        "pine",
        "--email",
        "kim@pine.example",
        "--role",
        "physio",
        "--password-stdin",
        stdin="another long password\n",
    )
    assert duplicate.returncode == 1 and "exists" in duplicate.stderr
    bad_role = run(
        db,
        "user",
        "create",
        "--clinic",
        "pine",
        "--email",
        "x@pine.example",
        "--role",
        "boss",
        "--password-stdin",
        stdin="another long password\n",
    )
    assert bad_role.returncode != 0


def test_openapi_prints_the_document(tmp_path: Path) -> None:
    result = run(tmp_path / "unused.db", "openapi")
    assert result.returncode == 0
    assert json.loads(result.stdout)["info"]["title"] == "Backstride"
