"""A clinic in a database of its own, served by a real `uvicorn` process, for the race tests:
requests that truly run at the same time, each in its own transaction on its own connection."""

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.accounts.schemas import Role
from services.core import migrations
from services.core.db import Database
from tests.conftest import create_scratch_database, drop_scratch_database, live_backend
from tests.factories import TEST_SETTINGS, intake_body, make_clinic, make_user
from tests.live import serve


@dataclass
class LiveClinic:
    base: str
    database_url: str
    secret_key: str
    users: dict[str, tuple[str, str, str]]  # name -> (email, password, user id)

    def key(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret_key}"}

    def login(self, name: str) -> dict[str, str]:
        email, password, _ = self.users[name]
        response = httpx.post(f"{self.base}/v1/auth/token", data={"username": email, "password": password}, timeout=15)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def submit(self) -> dict[str, Any]:
        """An intake (it must get its 201); the answer, with its referral."""
        headers = {**self.key(), "Idempotency-Key": str(uuid.uuid4())}
        response = httpx.post(f"{self.base}/v1/intakes", json=intake_body(), headers=headers, timeout=15)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


async def _committed(url: str, roles: dict[str, Role]) -> tuple[str, dict[str, tuple[str, str, str]]]:
    database = Database(url, pooled=False)
    try:
        async with database.sessionmaker() as session, session.begin():
            clinic = await make_clinic(session)
            users = {}
            for name, role in roles.items():
                user, password = await make_user(session, clinic.slug, role)
                users[name] = (user.email, password, str(user.id))
        return clinic.secret_key, users
    finally:
        await database.dispose()


@contextmanager
def live_clinic(tmp_path: Path, roles: dict[str, Role], workers: int = 2) -> Iterator[LiveClinic]:
    """A fresh migrated database (PostgreSQL when reachable), a clinic with these users, and the
    API serving it with `workers` processes."""
    backend = live_backend()  # PostgreSQL; fails where it is required but missing (CI)
    url, name = create_scratch_database(backend, str(tmp_path))
    try:
        migrations.upgrade(url)
        secret_key, users = asyncio.run(_committed(url, roles))
        env = {
            "DATABASE_URL": url,
            "SECRET_KEY": TEST_SETTINGS.secret_key.get_secret_value(),
            "BACKSTRIDE_ENV": "test",
            "KEY_CACHE_SECONDS": "0",
        }
        with serve(env, workers=workers if backend == "postgresql" else 1) as base:
            yield LiveClinic(base, url, secret_key, users)
    finally:
        drop_scratch_database(name)
