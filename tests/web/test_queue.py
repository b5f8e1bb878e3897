"""A physio's working day in Chromium: the queue says who and what at a glance, updates by itself
and announces a new emergency; the referral page tells the clinical picture first and cites its
sources by title, linked to the passage."""

from datetime import date
from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect

from services.triage.documents import TITLES
from services.web.service import form_steps
from tests.factories import intake_body
from tests.web.conftest import Site
from tests.web.test_browser import axe_ready_page, axe_violations, shot

EMERGENCY = {"neuro": {"saddle_numbness": True, "bladder_or_bowel_change": True}}


def born(age: int) -> str:
    today = date.today()
    return today.replace(year=today.year - age, month=1, day=1).isoformat()  # turned `age` on 1 January


async def send(site: Site, given: str, family: str, age: int, **sections: Any) -> dict[str, Any]:
    body = intake_body(**sections)
    body["patient"] |= {"given_name": given, "family_name": family, "birth_date": born(age)}
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{site.api}/v1/intakes", json=body, headers={"Authorization": f"Bearer {site.clinic.secret_key}"}
        )
    assert response.status_code == 201, response.text
    referral: dict[str, Any] = response.json()["referral"]
    return referral


async def logged_in(browser: Browser, site: Site, javascript: bool = True) -> Page:
    page = (
        await axe_ready_page(browser)
        if javascript
        else await (await browser.new_context(java_script_enabled=False)).new_page()
    )
    await page.goto(f"{site.api}/ui/login")
    await page.fill("#email", site.physio_email)
    await page.fill("#password", site.physio_password)
    await page.click("button[type=submit]")
    await expect(page.locator("h1")).to_have_text("Referral queue")
    return page


async def test_a_new_emergency_appears_and_is_announced_without_reloading(browser: Browser, site: Site) -> None:
    await send(site, "Rosa", "Quiet", 30)
    page = await logged_in(browser, site)
    await expect(page.locator("tbody tr")).to_have_count(1)
    await expect(page.locator("#arrivals")).to_be_empty()
    title = await page.title()
    emergency = await send(site, "Eddie", "Urgent", 52, **EMERGENCY)
    # No reload: the page polls every second in these tests (UI_POLL_SECONDS).
    banner = page.locator("#arrivals")
    await expect(banner).to_contain_text("New emergency referral", timeout=15_000)
    assert await banner.get_attribute("role") == "alert" and await banner.get_attribute("aria-live") == "assertive"
    await expect(banner.locator(f"a[href='/ui/referrals/{emergency['id']}']")).to_be_visible()
    await expect(page.locator("tbody tr").first).to_contain_text("Eddie Urgent")
    await expect(page.locator("#count-emergency")).to_have_text("1")
    assert (await page.title()) == f"(1 new) {title}"
    await shot(page, "queue-new-emergency")
    assert await axe_violations(page) == []
    await page.click("#dismiss")
    await expect(banner).to_be_empty()
    assert await page.title() == title


async def test_each_row_says_who_how_old_and_what(browser: Browser, site: Site) -> None:
    await send(site, "Ada", "Stride", 41, pain={"side": "left", "weeks_since_onset": 6, "radiates_to_leg": "below_knee",
               "leg_pain_side": "left", "night_pain": True}, **EMERGENCY)  # fmt: skip
    page = await logged_in(browser, site)
    row = page.locator("tbody tr").first
    await expect(row).to_contain_text("Ada Stride")
    await expect(row.locator(".age")).to_have_text("41")
    summary = row.locator(".summary")
    await expect(summary).to_contain_text("Left-sided, 6 weeks; pain into the left leg below the knee")
    await expect(summary).to_contain_text("Red flags:")
    await expect(summary).to_contain_text("numbness", ignore_case=True)
    await expect(row).to_contain_text("Emergency department now")
    await expect(row).to_contain_text("overdue by")  # an emergency is due at once
    await send(site, "Bo", "Easy", 25)
    await page.reload()
    await expect(page.locator("tbody tr").nth(1)).to_contain_text("due in")
    await expect(page.locator("#waiting")).to_contain_text("emergency referral")


async def test_without_javascript_the_queue_refreshes_itself_and_still_warns(browser: Browser, site: Site) -> None:
    await send(site, "Eddie", "Urgent", 52, **EMERGENCY)
    page = await logged_in(browser, site, javascript=False)
    refresh = page.locator("noscript meta[http-equiv=refresh]")
    assert await refresh.count() == 1 and await refresh.get_attribute("content") == "60"
    await expect(page.locator("#waiting")).to_contain_text("Waiting for someone: emergency referral")


async def test_the_referral_page_tells_the_picture_first_and_cites_articles_by_title(
    browser: Browser, site: Site
) -> None:
    referral = await send(site, "Ada", "Stride", 41, pain={"side": "left", "weeks_since_onset": 6}, **EMERGENCY)
    page = await logged_in(browser, site)
    await page.click(f"a[href='/ui/referrals/{referral['id']}']")
    sections = page.locator("main section h2")
    await expect(sections.first).to_have_text("Clinical summary")
    summary = page.locator("#summary")
    await expect(summary).to_contain_text("Ada Stride, 41-year-old")
    await expect(summary).to_contain_text("low back pain for 6 weeks, left-sided")
    await expect(summary).to_contain_text("numbness around the bottom or genitals")
    headings = await sections.all_text_contents()
    assert headings.index("Red flags") < headings.index("Why this urgency") < headings.index(
        "Answers, as the form asked") < headings.index("Actions")  # fmt: skip
    # Sources by the article's title, never by file name; the link lands on the quoted passage.
    cites = await page.locator("cite a").all_text_contents()
    assert cites and set(cites) <= set(TITLES.values())
    assert not any(".txt" in c for c in await page.locator("cite").all_text_contents())
    # The questions in the form's own words.
    first_question = form_steps()[1].questions[0].text
    await expect(page.locator(".answers dt", has_text=first_question).first).to_be_visible()
    await shot(page, "referral-page")
    assert await axe_violations(page) == []
    link = page.locator("cite a").first
    href = await link.get_attribute("href")
    assert href is not None and "#passage-" in href
    await link.click()
    passage = page.locator(f"mark#{href.split('#')[1]}")
    await expect(passage).to_be_visible()
    assert await page.locator("h1").text_content() in TITLES.values()
    await shot(page, "source-document")
    assert await axe_violations(page) == []
