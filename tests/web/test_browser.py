"""As a runner and a physio would use it, in headless Chromium. Screenshots of each step
are written to artifacts/screenshots/ (not committed)."""

import asyncio
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, FrameLocator, Page, Route, expect
from sqlalchemy import func, select
from sqlmodel import col

from services.core.db import Database
from services.intake.models import Intake
from services.rulechange import service as rulechange
from services.web.service import Step, form_steps
from tests.factories import intake_body
from tests.rulechange.conftest import made_under_old_rules
from tests.web.conftest import ARTIFACTS, AXE, Site

BENIGN: dict[str, Any] = {
    "patient.given_name": "Sam", "patient.family_name": "Runner", "patient.birth_date": "1992-05-14",
    "patient.sex": "female", "pain.side": "central", "pain.radiates_to_leg": "none", "pain.weeks_since_onset": 2,
    "pain.intensity_now": 2, "pain.intensity_running": 3, "pain.morning_stiffness_minutes": 0,
    "running.weekly_km": 30, "running.mileage_increase_pct": 5,
    "running.surface": "mixed", "running.shoe_km": 300, "running.warm_up": True, "running.stretching_per_week": 3,
    "running.strength_sessions_per_week": 2, "consent.data_processing": True,
}  # fmt: skip


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def answer_step(form: FrameLocator, step: Step, answers: dict[str, Any]) -> None:
    """Answer one step's questions (yes/no questions default to no)."""
    for q in step.questions:
        value = answers.get(q.name, False if q.kind == "boolean" else None)
        if value is None or not await form.locator(f"#{q.id}-field").is_visible():
            continue
        if q.kind == "boolean":
            await form.locator(f"#{q.id}-{'true' if value else 'false'}").check()
        elif q.kind == "choice":
            for option in value if isinstance(value, list) else [value]:
                await form.locator(f"#{q.id}-{option}").check()
        else:
            await form.locator(f"#{q.id}").fill(str(value))


async def fill_form(
    page: Page, form: FrameLocator, answers: dict[str, Any], name: str, steps: int | None = None
) -> None:
    """Answer every question step by step (yes/no questions default to no), pressing Next; with
    `steps`, only that many steps, moving on to the next."""
    all_steps = form_steps()
    for number, step in enumerate(all_steps[:steps]):
        await answer_step(form, step, answers)
        await shot(page, f"{name}-step{number + 1}")
        if number < len(all_steps) - 1:
            await form.locator(f"#step-{step.id} .next").click()


async def intakes(database: Database, site: Site) -> int:
    async with database.sessionmaker() as session:
        count = await session.execute(
            select(func.count()).select_from(Intake).where(col(Intake.clinic_id) == site.clinic.clinic_id)
        )
        return int(count.scalar_one())


async def test_runner_with_a_benign_case(browser: Browser, site: Site, database: Database) -> None:
    page = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    await page.goto(site.host)
    form = page.frame_locator("iframe")
    await fill_form(page, form, BENIGN, "benign")
    # A double click sends once (same Idempotency-Key, button disabled while sending).
    await form.locator("#submit").dblclick()
    await expect(form.locator("#result")).to_be_visible()
    await expect(form.locator("#emergency")).to_be_hidden()
    await expect(form.locator("#advice")).to_contain_text("Take rest days")
    await shot(page, "benign-result")
    assert await page.evaluate("window.received") == [{"type": "backstride:submitted", "urgency": "self_care"}]
    assert await intakes(database, site) == 1


async def test_runner_with_an_emergency(browser: Browser, site: Site) -> None:
    page = await browser.new_page(viewport={"width": 1024, "height": 900})
    await page.goto(site.host)
    form = page.frame_locator("iframe")
    await fill_form(page, form, {**BENIGN, "neuro.saddle_numbness": True}, "emergency")
    await form.locator("#submit").click()
    emergency = form.locator("#emergency")
    await expect(emergency).to_be_visible()
    await expect(emergency).to_contain_text("emergency department now")
    assert await emergency.get_attribute("role") == "alert"
    await shot(page, "emergency-result")
    assert await page.evaluate("window.received") == [{"type": "backstride:submitted", "urgency": "emergency"}]


async def test_a_runner_who_answers_before_the_script_has_loaded_still_moves_on(
    browser: Browser, site: Site, database: Database
) -> None:
    """A slow connection: the questions are there before form.js is. Next only shows once the
    script can act on it, so a press is never lost (CI once pressed it too early, and the
    runner was left on a page whose Next did nothing)."""
    page = await browser.new_page()

    async def late(route: Route) -> None:
        await asyncio.sleep(1.5)
        await route.continue_()

    await page.route("**/static/form.js", late)
    await page.goto(site.host, wait_until="domcontentloaded")  # not "load": that waits for the form's script
    form = page.frame_locator("iframe")
    await expect(form.locator("#step-you")).to_be_visible()
    await expect(form.locator("#step-you .next")).to_be_hidden()  # nothing to press yet
    await fill_form(page, form, BENIGN, "late-script")
    await form.locator("#submit").click()
    await expect(form.locator("#result")).to_be_visible()
    assert await intakes(database, site) == 1


async def test_without_the_script_the_form_is_one_page_with_no_dead_buttons(browser: Browser, site: Site) -> None:
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(f"{site.api}/embed/form?key={site.clinic.publishable_key}")
    for step in form_steps():
        await expect(page.locator(f"#step-{step.id}")).to_be_visible()
    await expect(page.locator(".next")).to_have_count(len(form_steps()) - 1)
    for button in await page.locator(".next, .back").all():
        await expect(button).to_be_hidden()
    await expect(page.locator("#submit")).to_be_visible()
    await context.close()


async def test_field_only_asked_when_relevant_and_server_errors_shown(browser: Browser, site: Site) -> None:
    page = await axe_ready_page(browser)
    await page.goto(site.host)
    form = page.frame_locator("iframe")
    await fill_form(
        page, form, {**BENIGN, "patient.birth_date": "2020-01-01"}, "errors"
    )  # too young: only the server knows
    await form.locator("#submit").click()
    error = form.locator("#patient-birth_date-error")
    await expect(error).to_contain_text("12 to 110")
    await expect(form.locator("#step-you")).to_be_visible()
    assert await form.locator("#patient-birth_date").get_attribute("aria-invalid") == "true"
    # Refused for the age: where to seek help instead, and the safety advice.
    await expect(form.locator("#age-help")).to_be_visible()
    await expect(form.locator("#send-failed")).to_contain_text("do not wait")
    await shot(page, "errors-shown")
    assert await axe_violations_in(page, "iframe") == []
    # numbness_side appears only after "yes" to numbness.
    await form.locator("#step-you .next").click()
    await expect(form.locator("#step-nerves")).to_be_visible()
    await expect(form.locator("#neuro-numbness_side-field")).to_be_hidden()
    await form.locator("#neuro-numbness_or_tingling-true").check()
    await expect(form.locator("#neuro-numbness_side-field")).to_be_visible()


async def test_warning_signs_come_first_and_follow_ups_show_after_their_answer(browser: Browser, site: Site) -> None:
    page = await browser.new_page()
    await page.goto(site.host)
    form = page.frame_locator("iframe")
    await fill_form(page, form, BENIGN, "v2", steps=1)  # "About you", then on
    await expect(form.locator("#step-nerves")).to_be_visible()
    await expect(form.locator("#step-nerves .field").first).to_have_id("neuro-saddle_numbness-field")
    # Which leg: asked only when the pain spreads into a leg; options in words.
    leg_side = form.locator("#pain-leg_pain_side-field")
    await expect(leg_side).to_be_hidden()
    await form.locator("#pain-radiates_to_leg-below_knee").check()
    await expect(leg_side).to_be_visible()
    await expect(leg_side).to_contain_text("Both legs")
    await form.locator("#pain-radiates_to_leg-none").check()
    await expect(leg_side).to_be_hidden()
    # The v2 questions are required: unanswered, the step does not move on.
    await form.locator("#step-nerves .next").click()
    await expect(form.locator("#neuro-sexual_function_change-error")).not_to_be_empty()
    await expect(form.locator("#neuro-walking_difficulty-error")).not_to_be_empty()
    await expect(form.locator("#step-nerves")).to_be_visible()
    await shot(page, "v2-required")


async def test_an_answer_that_means_emergency_warns_at_once(browser: Browser, site: Site, database: Database) -> None:
    page = await axe_ready_page(browser)
    await page.goto(site.host)
    form = page.frame_locator("iframe")
    await fill_form(page, form, BENIGN, "early", steps=1)
    alert = form.locator("#early-alert")
    await expect(alert).to_be_hidden()
    await form.locator("#neuro-saddle_numbness-true").check()
    await expect(alert).to_be_visible()
    assert await alert.get_attribute("role") == "alert"
    await expect(alert).to_contain_text("emergency department now")
    assert await intakes(database, site) == 0  # nothing was sent
    await shot(page, "early-alert")
    assert await axe_violations_in(page, "iframe") == []
    await form.locator("#neuro-saddle_numbness-false").check()
    await expect(alert).to_be_hidden()
    # Yes again, and the person can still finish: the warning stays on the later steps.
    await form.locator("#neuro-saddle_numbness-true").check()
    steps = form_steps()
    answers = {**BENIGN, "neuro.saddle_numbness": True}
    for step in steps[1:]:
        await answer_step(form, step, answers)
        await expect(alert).to_be_visible()
        if step is not steps[-1]:
            await form.locator(f"#step-{step.id} .next").click()
    await form.locator("#submit").click()
    await expect(form.locator("#emergency")).to_be_visible()
    assert await intakes(database, site) == 1


@pytest.mark.parametrize("failure", ["503", "no connection"])
async def test_a_failed_send_shows_safety_advice_and_a_retry_sends_once(
    browser: Browser, site: Site, database: Database, failure: str
) -> None:
    page = await axe_ready_page(browser)
    await page.goto(site.host)
    form = page.frame_locator("iframe")
    await fill_form(page, form, BENIGN, f"failed-{failure.replace(' ', '-')}")

    async def fail(route: Route) -> None:
        if failure == "503":  # what a proxy says while the server is down
            await route.fulfill(status=503, body="<html>Service Unavailable</html>", content_type="text/html")
        else:
            await route.abort("connectionrefused")

    await page.route("**/v1/intakes", fail)
    await form.locator("#submit").click()
    failed = form.locator("#send-failed")
    await expect(failed).to_be_visible()
    await expect(failed).to_contain_text("If your symptoms are severe or getting worse, do not wait")
    await expect(form.locator("#submit")).to_be_enabled()
    await shot(page, f"failed-{failure.replace(' ', '-')}")
    assert await axe_violations_in(page, "iframe") == []
    assert await intakes(database, site) == 0
    # The server is back: the retry goes through, once.
    await page.unroute("**/v1/intakes")
    await form.locator("#submit").click()
    await expect(form.locator("#result")).to_be_visible()
    await expect(failed).to_be_hidden()
    assert await intakes(database, site) == 1
    assert await axe_violations_in(page, "iframe") == []


async def test_a_retry_after_an_unanswered_success_creates_one_intake(
    browser: Browser, site: Site, database: Database
) -> None:
    """The intake was stored but the answer was lost on the way back: the retry replays it."""
    page = await browser.new_page()
    await page.goto(site.host)
    form = page.frame_locator("iframe")
    await fill_form(page, form, BENIGN, "lost-answer")

    async def lose_answer(route: Route) -> None:
        await route.fetch()  # reaches the server, which stores the intake
        await route.abort("connectionreset")

    await page.route("**/v1/intakes", lose_answer)
    await form.locator("#submit").click()
    await expect(form.locator("#send-failed")).to_be_visible()
    await page.unroute("**/v1/intakes")
    await form.locator("#submit").click()
    await expect(form.locator("#result")).to_be_visible()
    assert await intakes(database, site) == 1


async def test_physio_logs_in_claims_and_accepts(browser: Browser, site: Site) -> None:
    referral = await submit(site)
    page = await browser.new_page()
    await page.goto(f"{site.api}/ui")
    await page.fill("#email", site.physio_email)
    await page.fill("#password", site.physio_password)
    await page.click("button[type=submit]")
    await expect(page.locator("h1")).to_have_text("Referral queue")
    await expect(page.locator("tbody .badge").first).to_have_text("urgent")
    await expect(page.locator("tbody tr").first).to_contain_text("Doctor within 24 hours")
    await shot(page, "physio-queue")
    await page.click(f"a[href='/ui/referrals/{referral['id']}']")
    await expect(page.locator("blockquote").first).to_be_visible()  # the source quotes
    await page.click("text=Claim")
    await expect(page.locator("#flash")).to_contain_text("claimed")
    await page.click("text=Mark accepted")
    await expect(page.locator("#status")).to_have_text("accepted")
    await page.fill("#note", "Booked Tuesday 9:00")
    await page.click("text=Add note")
    await expect(page.locator(".trail")).to_contain_text("Booked Tuesday 9:00")
    await shot(page, "physio-accepted")
    cookie = next(c for c in await page.context.cookies() if c["name"] == "bs_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


async def test_someone_else_got_there_first_is_said_in_words(browser: Browser, site: Site) -> None:
    referral = await submit(site)
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{site.api}/ui/login")
    await page.fill("#email", site.physio_email)
    await page.fill("#password", site.physio_password)
    await page.click("button[type=submit]")
    await page.goto(f"{site.api}/ui/referrals/{referral['id']}")
    other = await context.new_page()  # the same physio in a second tab
    await other.goto(f"{site.api}/ui/referrals/{referral['id']}")
    await other.click("text=Claim")
    await page.click("text=Claim")
    await expect(page.locator("#flash")).to_contain_text("Someone else got there first")


async def test_no_serious_accessibility_violations(browser: Browser, site: Site) -> None:
    page = await (await browser.new_context(bypass_csp=True)).new_page()  # so axe can be injected
    pages = {"form": f"{site.api}/embed/form?key={site.clinic.publishable_key}", "login": f"{site.api}/ui/login"}
    referral = await submit(site)
    for name, url in pages.items():
        await page.goto(url)
        assert await axe_violations(page) == [], name
    await page.fill("#email", site.physio_email)
    await page.fill("#password", site.physio_password)
    await page.click("button[type=submit]")
    for url in (f"{site.api}/ui", f"{site.api}/ui/referrals/{referral['id']}"):
        await page.goto(url)
        assert await axe_violations(page) == [], url


async def axe_ready_page(browser: Browser) -> Page:
    """A page whose CSP lets axe-core be injected (the form's own CSP allows only its own scripts)."""
    return await (await browser.new_context(bypass_csp=True)).new_page()


async def axe_violations_in(page: Page, frame_selector: str) -> list[str]:
    """axe-core run inside the embedded form's frame, as it is shown now."""
    handle = await page.query_selector(frame_selector)
    assert handle is not None
    frame = await handle.content_frame()
    assert frame is not None
    await frame.add_script_tag(path=str(AXE))
    result = await frame.evaluate("axe.run(document).then(r => r.violations.map(v => [v.id, v.impact]))")
    return [f"{rule} ({impact})" for rule, impact in result if impact in ("serious", "critical")]


async def axe_violations(page: Page) -> list[str]:
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("axe.run(document).then(r => r.violations.map(v => [v.id, v.impact]))")
    return [f"{rule} ({impact})" for rule, impact in result if impact in ("serious", "critical")]


def test_headers_and_framing(site: Site) -> None:
    form = httpx.get(f"{site.api}/embed/form", params={"key": site.clinic.publishable_key})
    csp = form.headers["content-security-policy"]
    assert f"frame-ancestors {site.host}" in csp
    assert form.headers["x-content-type-options"] == "nosniff" and form.headers["referrer-policy"]
    ui = httpx.get(f"{site.api}/ui/login")
    assert "frame-ancestors 'none'" in ui.headers["content-security-policy"]
    assert httpx.get(f"{site.api}/embed/form", params={"key": site.clinic.secret_key}).status_code == 404
    stranger = httpx.post(
        f"{site.api}/v1/intakes", json=intake_json(),
        headers={"Authorization": f"Bearer {site.clinic.publishable_key}", "Origin": "https://elsewhere.example"},
    )  # fmt: skip
    assert stranger.status_code == 403


def intake_json() -> dict[str, Any]:
    return intake_body(history={"fever": True}, pain={"side": "left"})


async def submit(site: Site) -> dict[str, Any]:
    """An urgent referral, sent by the clinic's EHR."""
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{site.api}/v1/intakes", json=intake_json(), headers={"Authorization": f"Bearer {site.clinic.secret_key}"}
        )
    referral: dict[str, Any] = response.json()["referral"]
    return referral


async def test_re_triage_and_a_persons_urgency_change_show_on_the_referral_page(
    browser: Browser, site: Site, database: Database
) -> None:
    kept = await made_under_old_rules(
        database, site.clinic, intake_body(), urgency="urgent", pathway="urgent_medical", due_hours=24
    )
    escalated = await made_under_old_rules(
        database, site.clinic, intake_body(neuro={"walking_difficulty": True}), urgency="routine",
        pathway="physiotherapy", due_hours=120,
    )  # fmt: skip
    await rulechange.retriage(database)
    page = await axe_ready_page(browser)
    await page.goto(f"{site.api}/ui/login")
    await page.fill("#email", site.physio_email)
    await page.fill("#password", site.physio_password)
    await page.click("button[type=submit]")
    await page.goto(f"{site.api}/ui/referrals/{escalated}")
    await expect(page.locator("#retriaged")).to_contain_text("Made more urgent by new triage rules")
    await expect(page.locator("#pathway")).to_have_text("Doctor today")
    await page.goto(f"{site.api}/ui/referrals/{kept}")
    suggestion = page.locator("#suggestion")
    await expect(suggestion).to_contain_text("self-care")
    await expect(page.locator("#urgency-to")).to_have_value("self_care")  # the suggestion, ready to apply
    assert await axe_violations(page) == []
    await shot(page, "physio-suggestion")
    await page.fill("#urgency-reason", "Spoke to her: settling, no red flags")
    await page.click("text=Set urgency")
    await expect(page.locator("#flash")).to_contain_text("Urgency set to self-care")
    await expect(page.locator("#override")).to_contain_text("Spoke to her: settling")
    await expect(page.locator("#suggestion")).to_have_count(0)  # acted on
    await expect(page.locator(".trail")).to_contain_text("changed the urgency: urgent, Doctor within 24 hours")
    assert await axe_violations(page) == []
    await shot(page, "physio-urgency-changed")
