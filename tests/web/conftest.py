"""A real server, a clinic web page on another origin, and Debian's Chromium driven by Playwright."""

import functools
import http.server
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright
from sqlalchemy import delete
from sqlmodel import col

from services.clinics.models import Clinic
from services.clinics.schemas import ClinicCreated
from services.core.config import Settings
from services.core.db import Database
from tests.factories import make_clinic, make_user
from tests.live import free_port, serve

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).parents[2] / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).parents[2] / "artifacts" / "screenshots"


@dataclass
class Site:
    api: str  # the Backstride server
    host: str  # the clinic's own web site, another origin
    clinic: ClinicCreated
    physio_email: str
    physio_password: str


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    env = {"DATABASE_URL": settings.database_url, "SECRET_KEY": settings.secret_key.get_secret_value(),
           "BACKSTRIDE_ENV": "test", "UI_POLL_SECONDS": "1"}  # fmt: skip
    with serve(env) as base:
        yield base


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def host(host_dir: Path) -> Iterator[str]:
    """A plain static web server on another port: the clinic's site, another origin."""
    port = free_port()
    handler = functools.partial(QuietHandler, directory=str(host_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    httpd.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
async def site(database: Database, server: str, host: str, host_dir: Path) -> AsyncIterator[Site]:
    async with database.sessionmaker() as session, session.begin():
        clinic = await make_clinic(session, origins=[host])
        physio, password = await make_user(session, clinic.slug)
    (host_dir / "index.html").write_text(
        f"""<!doctype html><html lang="en"><head><title>Riverside Physio</title></head><body>
<h1>Riverside Physio</h1><p>Tell us about your back pain:</p>
<script>window.received = []; window.addEventListener("message", e => window.received.push(e.data));</script>
<script src="{server}/embed.js" data-key="{clinic.publishable_key}"></script>
</body></html>"""
    )
    yield Site(server, host, clinic, physio.email, password)
    async with database.sessionmaker() as session, session.begin():
        await session.execute(delete(Clinic).where(col(Clinic.id) == clinic.clinic_id))


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync"],
        )  # fmt: skip
        yield launched
        await launched.close()
