"""Attacks 4-6 and 8: login CSRF, logout that revoked nothing, cookies without Secure in
production, and a stranger locking a physio out with five wrong passwords."""

import re
from pathlib import Path

import httpx
from playwright.async_api import Browser

from tests.security.conftest import Tenant, token
from tests.web.conftest import Site


def keep_cookies(http: httpx.AsyncClient, response: httpx.Response) -> None:
    """The server's cookies are Secure (production); this test talks plain http to it, as a TLS proxy
    would in front, so the client is told to send them anyway."""
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        value = rest.split(";", 1)[0]
        http.cookies.delete(name)  # the Secure copy httpx keeps (and would not send over http)
        if "max-age=0" not in header.lower() and value and value != '""':
            http.cookies.set(name, value)


async def ui_session(base: str, user_email: str, password: str) -> httpx.AsyncClient:
    """A logged-in browser-like client (cookies kept), as the login page is used."""
    http = httpx.AsyncClient(base_url=base, follow_redirects=False)
    page = await http.get("/ui/login")
    keep_cookies(http, page)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    response = await http.post("/ui/login", data={"email": user_email, "password": password, "csrf": csrf.group(1)})
    assert response.status_code == 303, response.text
    keep_cookies(http, response)
    return http


async def test_a_foreign_page_cannot_log_a_physio_in(browser: Browser, site: Site, host_dir: Path) -> None:
    """Login CSRF: a page elsewhere posts the attacker's credentials to /ui/login from the victim's browser."""
    (host_dir / "evil.html").write_text(
        f"""<!doctype html><html lang="en"><head><title>Win a prize</title></head><body>
<form id="f" method="post" action="{site.api}/ui/login">
<input name="email" value="{site.physio_email}"><input name="password" value="{site.physio_password}">
</form><script>document.getElementById("f").submit()</script></body></html>"""
    )
    context = await browser.new_context()
    page = await context.new_page()
    answers: list[int] = []
    page.on("response", lambda r: answers.append(r.status) if r.url.endswith("/ui/login") else None)
    await page.goto(f"{site.host}/evil.html")
    await page.wait_for_load_state("networkidle")
    assert 403 in answers
    assert not [c for c in await context.cookies() if c["name"] == "bs_session"]
    await page.goto(f"{site.api}/ui")
    assert page.url.endswith("/ui/login")  # not logged in to anyone's queue


async def test_logging_out_ends_the_session_for_cookie_and_bearer_alike(
    server: str, tenants: tuple[Tenant, Tenant]
) -> None:
    clinic, _ = tenants
    http = await ui_session(server, clinic.physio.email, clinic.physio_password)
    try:
        cookie = http.cookies["bs_session"]
        bearer = {"Authorization": f"Bearer {cookie}"}
        assert (await http.get("/v1/referrals", headers=bearer)).status_code == 200
        queue = await http.get("/ui")
        csrf = re.search(r'name="csrf" value="([^"]+)"', queue.text)
        assert csrf is not None
        # A forged logout (wrong token) logs nobody out, and says so.
        forged = await http.post("/ui/logout", data={"csrf": "forged"})
        assert forged.status_code == 403 and "still logged in" in forged.text
        assert (await http.get("/ui")).status_code == 200
        out = await http.post("/ui/logout", data={"csrf": csrf.group(1)})
        assert out.status_code == 303 and out.headers["location"] == "/ui/login?msg=logged-out"
    finally:
        await http.aclose()
    async with httpx.AsyncClient(base_url=server, follow_redirects=False) as stale:
        stale.cookies.set("bs_session", cookie)
        assert (await stale.get("/ui")).headers["location"].startswith("/ui/login")
        assert (await stale.get("/v1/referrals", headers=bearer)).status_code == 401
    # A bearer token ends the same way.
    access = await token(server, clinic.physio, clinic.physio_password)
    async with httpx.AsyncClient(base_url=server) as api:
        headers = {"Authorization": f"Bearer {access}"}
        assert (await api.post("/v1/auth/logout", headers=headers)).status_code == 204
        assert (await api.get("/v1/referrals", headers=headers)).status_code == 401


async def test_cookies_are_secure_in_production_even_over_plain_http(
    server: str, tenants: tuple[Tenant, Tenant]
) -> None:
    clinic, _ = tenants
    async with httpx.AsyncClient(base_url=server, follow_redirects=False) as http:
        page = await http.get("/ui/login")
        assert "secure" in page.headers["set-cookie"].lower()
        keep_cookies(http, page)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        response = await http.post(
            "/ui/login", data={"email": clinic.physio.email, "password": clinic.physio_password, "csrf": csrf.group(1)}
        )
    session_cookie = [h for h in response.headers.get_list("set-cookie") if h.startswith("bs_session=")]
    assert session_cookie and "secure" in session_cookie[0].lower() and "httponly" in session_cookie[0].lower()


async def test_a_strangers_wrong_passwords_do_not_keep_the_physio_out(
    server: str, tenants: tuple[Tenant, Tenant]
) -> None:
    clinic, _ = tenants
    async with httpx.AsyncClient(base_url=server) as http:
        for _ in range(5):
            wrong = await http.post(
                "/v1/auth/token",
                data={"username": clinic.physio.email, "password": "not-it-at-all"},
                headers={"X-Forwarded-For": "203.0.113.50"},
            )
            assert wrong.status_code == 401
        # The stranger's own next try waits; the physio, at work, logs in.
        assert (
            await http.post(
                "/v1/auth/token",
                data={"username": clinic.physio.email, "password": clinic.physio_password},
                headers={"X-Forwarded-For": "203.0.113.50"},
            )
        ).status_code == 429
    assert await token(server, clinic.physio, clinic.physio_password, address="198.51.100.7")
