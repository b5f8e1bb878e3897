"""X-Forwarded-For and X-Forwarded-Proto are believed from the proxies in FORWARDED_ALLOW_IPS
only: from one, each forwarded client address has its own rate-limit budget and https makes the
UI's cookies Secure; from any other peer the headers change nothing. Uvicorn does this, so it is
tried on real server processes started as production starts them (`backstride serve`), one
trusting the test's address (127.0.0.1) and one trusting another."""

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from services.core import migrations
from tests.conftest import create_scratch_database, drop_scratch_database, live_backend
from tests.factories import intake_body, seed_clinic
from tests.live import backstride_serve

ORIGIN = "https://clinic.example"
LIMIT = 2  # intakes a minute per publishable key and client address
CLIENT_A, CLIENT_B = "203.0.113.7", "198.51.100.23"


@dataclass(frozen=True)
class Seed:
    database_url: str
    publishable_key: str
    email: str
    password: str


async def seed(url: str) -> Seed:
    seeded = await seed_clinic(url, origins=[ORIGIN])
    return Seed(url, seeded.clinic.publishable_key, seeded.physio_email, seeded.physio_password)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seed]:
    url, name = create_scratch_database(live_backend(), str(tmp_path_factory.mktemp("proxy")))
    try:
        migrations.upgrade(url)
        yield asyncio.run(seed(url))
    finally:
        drop_scratch_database(name)


def environment(data: Seed, forwarded_allow_ips: str) -> dict[str, str]:
    return {"DATABASE_URL": data.database_url, "SECRET_KEY": "p" * 40, "BACKSTRIDE_ENV": "test",
            "RATE_LIMIT_INTAKES_PER_MINUTE": str(LIMIT), "FORWARDED_ALLOW_IPS": forwarded_allow_ips,
            "RETRIAGE_ON_STARTUP": "false", "LOG_LEVEL": "WARNING"}  # fmt: skip


@pytest.fixture(scope="module")
def trusting(data: Seed) -> Iterator[str]:
    """A server behind a proxy at 127.0.0.1, where the tests connect from."""
    with backstride_serve(environment(data, "127.0.0.1")) as base:
        yield base


@pytest.fixture(scope="module")
def distrusting(data: Seed) -> Iterator[str]:
    """A server whose proxy is elsewhere (192.0.2.1): the tests are an untrusted peer."""
    with backstride_serve(environment(data, "192.0.2.1")) as base:
        yield base


def intake(base: str, data: Seed, forwarded_for: str | None) -> int:
    headers = {"Authorization": f"Bearer {data.publishable_key}", "Origin": ORIGIN}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    return httpx.post(f"{base}/v1/intakes", json=intake_body(), headers=headers, timeout=30).status_code


def test_from_a_trusted_proxy_each_forwarded_address_has_its_own_budget(trusting: str, data: Seed) -> None:
    assert [intake(trusting, data, CLIENT_A) for _ in range(LIMIT + 1)] == [201] * LIMIT + [429]
    # Another client behind the same proxy is not held up by the first...
    assert [intake(trusting, data, CLIENT_B) for _ in range(LIMIT + 1)] == [201] * LIMIT + [429]
    # ...nor is the proxy's own address, and the header is read per request (the last hop's).
    assert intake(trusting, data, None) == 201
    assert intake(trusting, data, f"{CLIENT_B}, {CLIENT_A}") == 429


def test_from_an_untrusted_peer_the_forwarded_address_is_ignored(distrusting: str, data: Seed) -> None:
    assert [intake(distrusting, data, CLIENT_A) for _ in range(LIMIT)] == [201] * LIMIT
    # Claiming to be someone else buys nothing: the budget is the peer's own.
    assert intake(distrusting, data, CLIENT_B) == 429
    assert intake(distrusting, data, None) == 429


def ui_cookies(base: str, data: Seed, headers: dict[str, str]) -> dict[str, str]:
    """The Set-Cookie headers of a UI login (the login page's cookie, then the session's), by
    cookie name, sent as through a proxy with `headers`."""
    page = httpx.get(f"{base}/ui/login", headers=headers)
    [login_cookie] = [h for h in page.headers.get_list("set-cookie") if h.startswith("bs_login=")]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {"email": data.email, "password": data.password, "csrf": csrf.group(1)}
    cookie = {"Cookie": login_cookie.split(";", 1)[0]}  # sent back whatever its flags (the proxy speaks https)
    answer = httpx.post(f"{base}/ui/login", data=form, headers={**headers, **cookie}, timeout=30)
    assert answer.status_code == 303, answer.text
    [session_cookie] = [h for h in answer.headers.get_list("set-cookie") if h.startswith("bs_session=")]
    return {"bs_login": login_cookie, "bs_session": session_cookie}


def secure(set_cookie: str) -> bool:
    return "secure" in [part.strip().lower() for part in set_cookie.split(";")]


HTTPS = {"X-Forwarded-Proto": "https"}


def test_https_from_a_trusted_proxy_makes_the_cookies_secure(trusting: str, data: Seed) -> None:
    cookies = ui_cookies(trusting, data, {**HTTPS, "X-Forwarded-For": CLIENT_A})
    assert secure(cookies["bs_session"]) and secure(cookies["bs_login"]), cookies
    assert "httponly" in cookies["bs_session"].lower() and "samesite=strict" in cookies["bs_session"].lower()
    # Plain http through the same proxy (outside production): not Secure, so it is the header that did it.
    plain = ui_cookies(trusting, data, {"X-Forwarded-For": CLIENT_A})
    assert not secure(plain["bs_session"]) and not secure(plain["bs_login"]), plain


def test_https_claimed_by_an_untrusted_peer_changes_nothing(distrusting: str, data: Seed) -> None:
    cookies = ui_cookies(distrusting, data, HTTPS)
    assert not secure(cookies["bs_session"]) and not secure(cookies["bs_login"]), cookies
