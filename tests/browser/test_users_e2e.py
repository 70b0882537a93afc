"""Signing in, being locked out, and editing a user, in real Chromium against ``ibdesk serve``."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from factories import USER_PASSWORD
from ibdesk import users
from ibdesk.audit import Actor
from ibdesk.db import make_engine
from webfixtures import ADMIN_NAME, ADMIN_PASSWORD, Served, browser_sign_in

pytestmark = pytest.mark.browser
WAIT_MS = 30_000


def _add_user(clinic_db: str, name: str) -> None:
    engine = make_engine(clinic_db)
    with Session(engine) as session:
        users.create_user(session, name, USER_PASSWORD, actor=Actor("test", "test"), is_admin=True)
        session.commit()
    engine.dispose()


def test_sign_in_sign_out_and_a_user_edit(
    page: Page, served: Served, clinic_db: str, artifacts: Path
) -> None:
    _add_user(clinic_db, "karin.berg")
    page.goto(served.fresh_url())
    expect(page.locator("#signin-form")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("nav.tabs")).to_have_count(0)
    browser_sign_in(page, ADMIN_NAME, "inte rätt lösenord alls")
    expect(page.locator("#password-errors")).to_contain_text("Wrong user name or password")
    browser_sign_in(page, ADMIN_NAME, ADMIN_PASSWORD)
    expect(page.locator("#signed-in-name")).to_have_text("Test Admin", timeout=WAIT_MS)
    page.get_by_role("link", name="Users & user groups").click()
    row = page.locator('tr[data-user="karin.berg"]')
    expect(row).to_be_visible(timeout=WAIT_MS)
    row.get_by_role("link", name="Edit").click()
    form = page.locator("#user-edit-form")
    expect(form).to_be_visible(timeout=WAIT_MS)
    form.get_by_label("Full name").fill("Karin Berg")
    form.get_by_label("Reception").check()
    form.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#users-tab .alert")).to_contain_text("karin.berg", timeout=WAIT_MS)
    expect(row).to_contain_text("Karin Berg")
    expect(row).to_contain_text("Reception")
    page.screenshot(path=str(artifacts / "users-tab.png"), full_page=True)
    page.locator("#sign-out").click()
    expect(page.locator("#signin-form")).to_be_visible(timeout=WAIT_MS)


def test_five_wrong_passwords_lock_the_account(page: Page, served: Served, clinic_db: str) -> None:
    _add_user(clinic_db, "lars.lund")
    page.goto(served.fresh_url())
    for _ in range(4):
        browser_sign_in(page, "lars.lund", "fel lösenord igen och igen")
        expect(page.locator("#password-errors")).to_contain_text("Wrong user name")
    browser_sign_in(page, "lars.lund", "fel lösenord igen och igen")
    expect(page.locator("#password-errors")).to_contain_text("locked for 15 minutes")
    browser_sign_in(page, "lars.lund", USER_PASSWORD)
    expect(page.locator("#password-errors")).to_contain_text("locked for 15 minutes")
    expect(page.locator("#signed-in-name")).to_have_count(0)
