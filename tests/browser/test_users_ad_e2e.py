"""The Active Directory settings in real Chromium: [Test] stage by stage, save, an AD sign-in."""

from __future__ import annotations

from pathlib import Path

import adserver
import pytest
from playwright.sync_api import Page, expect

from webfixtures import ADMIN_NAME, ADMIN_PASSWORD, Served, browser_sign_in

pytestmark = pytest.mark.browser
WAIT_MS = 30_000


def test_set_up_test_and_sign_in_with_active_directory(
    page: Page, served: Served, dc: adserver.SambaDC, artifacts: Path
) -> None:
    page.goto(served.fresh_url())
    expect(page.locator("#signin-form")).to_be_visible(timeout=WAIT_MS)
    browser_sign_in(page, ADMIN_NAME, ADMIN_PASSWORD)
    expect(page.locator("#signed-in-name")).to_have_text("Test Admin", timeout=WAIT_MS)
    page.get_by_role("link", name="Users & user groups").click()
    page.locator("#users-ad-link").click()
    form = page.locator("#users-ad")
    expect(form).to_be_visible(timeout=WAIT_MS)
    form.get_by_label("Let Active Directory users sign in").check()
    form.get_by_label("Domain controllers").fill(dc.address)
    form.locator("#ca_file").set_input_files(str(dc.certs.ca))
    form.get_by_label("Base DN").fill(adserver.BASE_DN)
    form.get_by_label("Lookup account", exact=True).fill("bind@ib.test")
    form.get_by_label("Lookup account's password").fill(adserver.PASSWORD)
    form.locator("#mappings").fill("IB Clinic = Clinicians\nIB Admins = Administrators")
    form.locator("#test_user").fill("junior")
    form.locator("#users-ad-test").click()
    stages = page.locator("#users-ad-stages li")
    expect(stages).to_have_count(5, timeout=WAIT_MS)
    expect(page.locator("#users-ad-stages li.users-stage-ok")).to_have_count(5)
    expect(stages.last).to_contain_text("mapped to: Clinicians")
    page.screenshot(path=str(artifacts / "users-ad-test.png"), full_page=True)
    form.locator("#users-ad-save").click()
    expect(page.locator("#users-ad .alert")).to_contain_text("settings were saved", timeout=WAIT_MS)
    page.locator("#sign-out").click()
    expect(page.locator("#signin-form")).to_be_visible(timeout=WAIT_MS)
    browser_sign_in(page, "adadmin", adserver.PASSWORD)
    expect(page.locator("#signed-in-name")).to_have_text("Ada Admin", timeout=WAIT_MS)
