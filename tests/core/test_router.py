"""Health endpoints."""

from pathlib import Path

import httpx

from services.app import create_app
from services.core.config import Settings
from services.core.db import Database


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


async def test_readyz_when_migrated(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text


async def _readyz(url: str) -> httpx.Response:
    database = Database(url, pooled=False)
    app = create_app(Settings(environment="test", database_url=url, secret_key="t" * 40), database=database)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            return await http.get("/readyz")
    finally:
        await database.dispose()


async def test_readyz_503_when_not_migrated(tmp_path: Path) -> None:
    response = await _readyz(f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert "expected" in response.json()["detail"]


async def test_readyz_503_when_database_unreachable() -> None:
    response = await _readyz("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    assert response.status_code == 503
    assert response.json()["detail"] == "database unreachable"
