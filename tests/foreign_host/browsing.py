"""Driving Orbit in Chromium the way its members do."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .world import PASSWORD, World

RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation",
    (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


def sign_in_browser(page: Page, base: str) -> None:
    page.goto(f"{base}/signin")
    page.fill("input[name=email]", "owner@acme.example")
    page.fill("input[name=password]", PASSWORD)
    page.click("#orbit-signin button[type=submit]")
    page.wait_for_url(f"{base}/")


def open_tab(page: Page, live_orbit: str, world: World) -> None:
    sign_in_browser(page, live_orbit)
    page.goto(f"{live_orbit}/analytics/?range=custom&from={world.day(-1)}&to={world.day(9)}")


def choose_last_7_days(page: Page) -> None:
    """Click the 7-day preset and wait until the address bar says so."""
    page.get_by_text("7 days", exact=True).click()
    expect(page).to_have_url(re.compile(r"[?&]range=7(&|$)"))
