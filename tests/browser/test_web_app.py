"""The web app (web/) in a real browser against the test stack, as a customer and as staff.

Each test saves a screenshot of every page it visits under its tmp_path.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests import conftest
from tests.browser.conftest import sign_in
from tests.conftest import StackHandle
from tests.integration.loans_support import balance, deposit

pytestmark = [pytest.mark.integration, pytest.mark.browser]

Customer = tuple[conftest.TestUser, str, str]


def balance_cell(page: Page, account_id: str) -> Any:
    return page.locator(f'#accounts tr[data-account-id="{account_id}"] .balance')


def transfers_from(pg: psycopg.Connection[Any], account_id: str) -> int:
    row = pg.execute(
        "select count(*) from public.transfers where from_account_id = %s", (account_id,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def fill_transfer(page: Page, from_id: str, to_id: str, amount: str) -> None:
    page.get_by_label("From", exact=True).select_option(from_id)
    page.get_by_label("To", exact=True).select_option(to_id)
    page.get_by_label("Amount", exact=True).fill(amount)


def test_customer_signs_in_and_a_transfer_changes_both_balances(
    page: Page, app_url: str, customer: Customer, tmp_path: Path
) -> None:
    user, checking, savings = customer
    sign_in(page, app_url, user.token, screenshot=tmp_path / "sign-in.png")
    expect(balance_cell(page, checking)).to_have_text("100.00 USD")
    expect(balance_cell(page, savings)).to_have_text("0.00 USD")

    fill_transfer(page, checking, savings, "12.34")
    # The keyboard is enough: Enter in a field submits the form.
    page.get_by_label("Description").fill("rent share")
    page.get_by_label("Description").press("Enter")

    expect(page.get_by_role("status").filter(has_text="Sent 12.34 USD")).to_be_visible()
    expect(balance_cell(page, checking)).to_have_text("87.66 USD")
    expect(balance_cell(page, savings)).to_have_text("12.34 USD")
    expect(page.locator("#transactions tbody tr").first).to_contain_text("rent share")
    page.screenshot(path=tmp_path / "customer.png", full_page=True)


def test_insufficient_funds_is_shown_with_the_request_id(
    page: Page, app_url: str, customer: Customer, pg: psycopg.Connection[Any], tmp_path: Path
) -> None:
    user, checking, savings = customer
    sign_in(page, app_url, user.token)
    fill_transfer(page, checking, savings, "1000.00")
    page.get_by_role("button", name="Send").click()

    alert = page.locator("#transfer [data-form-error]")
    expect(alert).to_contain_text("insufficient_funds")
    expect(alert).to_contain_text("request id")
    page.screenshot(path=tmp_path / "insufficient-funds.png", full_page=True)
    assert balance(pg, checking) == 10_000


def test_a_validation_error_is_shown_next_to_the_field_it_names(
    page: Page, app_url: str, customer: Customer, tmp_path: Path
) -> None:
    user, checking, savings = customer
    sign_in(page, app_url, user.token)
    fill_transfer(page, checking, savings, "twelve")
    page.get_by_role("button", name="Send").click()

    amount = page.get_by_label("Amount", exact=True)
    expect(amount).to_have_attribute("aria-invalid", "true")
    note = page.locator('#transfer [data-field-error="amount"]')
    expect(note).to_be_visible()
    # The note sits right after the field and is what a screen reader reads for it.
    assert amount.evaluate("node => node.nextElementSibling.dataset.fieldError") == "amount"
    expect(amount).to_have_attribute("aria-describedby", "transfer-amount-error")
    page.screenshot(path=tmp_path / "validation.png", full_page=True)


def test_a_double_submit_makes_one_transfer(
    page: Page, app_url: str, customer: Customer, pg: psycopg.Connection[Any], tmp_path: Path
) -> None:
    user, checking, savings = customer
    sign_in(page, app_url, user.token)
    fill_transfer(page, checking, savings, "5.00")
    page.eval_on_selector("#transfer", "form => { form.requestSubmit(); form.requestSubmit(); }")
    expect(page.get_by_role("status").filter(has_text="Sent 5.00 USD")).to_be_visible()
    page.get_by_label("Amount", exact=True).fill("5.00")
    page.get_by_role("button", name="Send").dblclick()
    expect(balance_cell(page, checking)).to_have_text("90.00 USD")
    page.screenshot(path=tmp_path / "double-submit.png", full_page=True)

    assert transfers_from(pg, checking) == 2
    assert balance(pg, checking) == 9_000


def test_a_retry_after_a_lost_answer_makes_one_transfer(
    page: Page, app_url: str, customer: Customer, pg: psycopg.Connection[Any], tmp_path: Path
) -> None:
    user, checking, savings = customer
    sign_in(page, app_url, user.token)

    def lose_the_answer(route: Route) -> None:
        # The transfer reaches the server and is made; its answer never reaches the page.
        route.fetch()
        route.abort("connectionreset")

    page.route("**/functions/v1/transfers", lose_the_answer)
    fill_transfer(page, checking, savings, "7.00")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#transfer [data-form-error]")).to_contain_text("retry safely")
    assert transfers_from(pg, checking) == 1
    page.screenshot(path=tmp_path / "lost-answer.png", full_page=True)

    page.unroute("**/functions/v1/transfers")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status").filter(has_text="Sent 7.00 USD")).to_be_visible()
    expect(balance_cell(page, checking)).to_have_text("93.00 USD")
    assert transfers_from(pg, checking) == 1
    assert balance(pg, checking) == 9_300


def test_staff_approve_a_loan_and_the_customer_sees_the_money(
    page: Page,
    browser: Browser,
    app_url: str,
    customer: Customer,
    make_user: Callable[..., conftest.TestUser],
    pg: psycopg.Connection[Any],
    tmp_path: Path,
) -> None:
    user, checking, _ = customer
    sign_in(page, app_url, user.token)
    page.get_by_label("Pay into").select_option(checking)
    page.get_by_label("Principal").fill("1000.00")
    page.get_by_label("Term (months)").fill("12")
    page.get_by_role("button", name="Apply").click()
    loan = page.locator('.loan[data-status="pending"]')
    expect(loan).to_have_count(1)
    expect(loan.locator("tbody tr")).to_have_count(12)
    loan_id = loan.get_attribute("data-loan-id")
    assert loan_id is not None

    staff = browser.new_context()
    try:
        staff_page = staff.new_page()
        sign_in(staff_page, app_url, make_user("admin").token)
        row = staff_page.locator(f'#pending-loans tr[data-loan-id="{loan_id}"]')
        expect(row).to_contain_text("1000.00 USD")
        staff_page.screenshot(path=tmp_path / "staff.png", full_page=True)
        row.get_by_role("button", name="Approve").click()
        expect(row).to_have_count(0)
    finally:
        staff.close()

    page.reload()
    expect(balance_cell(page, checking)).to_have_text("1100.00 USD")
    active = page.locator(f'.loan[data-loan-id="{loan_id}"]')
    expect(active).to_have_attribute("data-status", "active")
    page.screenshot(path=tmp_path / "customer-with-loan.png", full_page=True)

    active.get_by_label("Amount").fill("10.00")
    active.get_by_role("button", name="Repay").click()
    expect(balance_cell(page, checking)).to_have_text("1090.00 USD")
    assert balance(pg, checking) == 109_000


def test_staff_deposit_and_freeze_an_account(
    page: Page,
    app_url: str,
    customer: Customer,
    make_user: Callable[..., conftest.TestUser],
    pg: psycopg.Connection[Any],
    tmp_path: Path,
) -> None:
    _, checking, _ = customer
    row = pg.execute(
        "select account_number from public.accounts where id = %s", (checking,)
    ).fetchone()
    assert row is not None
    sign_in(page, app_url, make_user("admin").token)
    page.get_by_label("Account number").fill(row[0])
    page.get_by_label("Account number").press("Enter")
    found = page.locator("#found-account")
    expect(found.locator("[data-field=balance]")).to_have_text("100.00 USD")

    page.get_by_label("Deposit amount").fill("50.00")
    page.get_by_label("Reference").fill("counter 3")
    page.get_by_role("button", name="Deposit").click()
    expect(found.locator("[data-field=balance]")).to_have_text("150.00 USD")

    page.get_by_role("button", name="Freeze", exact=True).click()
    expect(found.locator("[data-field=status]")).to_have_text("frozen")
    page.screenshot(path=tmp_path / "staff-account.png", full_page=True)
    page.get_by_role("button", name="Unfreeze").click()
    expect(found.locator("[data-field=status]")).to_have_text("active")
    assert balance(pg, checking) == 15_000


def test_every_control_has_a_label_and_the_page_fits_a_phone(
    page: Page, app_url: str, customer: Customer, tmp_path: Path
) -> None:
    user, checking, _ = customer
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, app_url, user.token)
    expect(balance_cell(page, checking)).to_have_text("100.00 USD")
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter(node => node.type !== 'hidden')
            .filter(node => !(node.labels?.length || node.getAttribute('aria-label')
                              || (node.tagName === 'BUTTON' && node.textContent.trim())))
            .map(node => node.outerHTML)"""
    )
    assert unnamed == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    box = balance_cell(page, checking).bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= 375
    page.screenshot(path=tmp_path / "customer-phone.png", full_page=True)


def test_transactions_page_back_through_older_entries(
    page: Page, app_url: str, customer: Customer, pg: psycopg.Connection[Any], tmp_path: Path
) -> None:
    user, checking, _ = customer
    for _ in range(11):
        deposit(pg, checking, 100)
    sign_in(page, app_url, user.token)
    entries = page.locator("#transactions tbody tr")
    expect(entries).to_have_count(10)
    page.get_by_role("button", name="Older entries").click()
    expect(entries).to_have_count(12)
    expect(page.get_by_role("button", name="Older entries")).to_be_hidden()
    # Oldest last: the first deposit, 100.00, left a balance of 100.00.
    expect(entries.last).to_contain_text("100.00 USD")
    page.screenshot(path=tmp_path / "transactions.png", full_page=True)


def test_a_month_statement_downloads_as_csv(
    page: Page, app_url: str, customer: Customer, tmp_path: Path
) -> None:
    user, checking, _ = customer
    sign_in(page, app_url, user.token)
    page.get_by_label("Account", exact=True).nth(1).select_option(checking)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    lines = saved.read_text().splitlines()
    assert saved.name.startswith("statement-")
    assert saved.name.endswith(".csv")
    assert lines[1].startswith("opening_balance,")
    assert lines[-1].startswith("closing_balance,")
    assert lines[-1].endswith(",100.00")


def test_a_bad_token_is_refused_on_the_sign_in_page(
    page: Page, app_url: str, customer: Customer, tmp_path: Path
) -> None:
    user, _, _ = customer
    header, _, signature = user.token.split(".")
    page.goto(app_url)
    page.get_by_label("Access token").fill("not a token")
    page.get_by_role("button", name="Sign in").click()
    alert = page.locator("#local-sign-in [data-form-error]")
    expect(alert).to_contain_text("That is not a token")

    forged = base64.urlsafe_b64encode(json.dumps({"sub": user.id, "role": "service_role"}).encode())
    page.get_by_label("Access token").fill(f"{header}.{forged.decode().rstrip('=')}.{signature}")
    page.get_by_role("button", name="Sign in").click()
    expect(alert).to_contain_text("The server refused that token: JWSError JWSInvalidSignature")
    expect(page.locator("#customer-page")).to_be_hidden()
    page.screenshot(path=tmp_path / "sign-in-refused.png", full_page=True)


def test_hosted_sign_in_goes_through_supabase_auth(
    page: Page, app_url: str, stack: StackHandle, customer: Customer, tmp_path: Path
) -> None:
    """The hosted config's email and password form, with Supabase Auth's token endpoint
    played by the test: the local stack has no Auth server, and its gateway answers 501."""
    user, checking, _ = customer
    hosted = {"auth": "hosted", "supabaseUrl": stack.api_url, "anonKey": stack.anon_key}
    page.route("**/app/config.json", lambda route: route.fulfill(json=hosted))
    asked: list[dict[str, Any]] = []

    def auth_server(route: Route) -> None:
        asked.append(route.request.post_data_json)
        session = {
            "access_token": user.token,
            "token_type": "bearer",
            "expires_in": 3600,
            "expires_at": int(time.time()) + 3600,
            "refresh_token": "refresh-token",
            "user": {"id": user.id, "aud": "authenticated", "email": user.email,
                     "app_metadata": {}, "user_metadata": {}, "created_at": "2026-01-01T00:00:00Z"},
        }  # fmt: skip
        route.fulfill(json=session)

    page.route("**/auth/v1/token?grant_type=password", auth_server)
    page.goto(app_url)
    expect(page.get_by_label("Access token")).to_be_hidden()
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill("correct horse")
    page.get_by_label("Password").press("Enter")
    expect(balance_cell(page, checking)).to_have_text("100.00 USD")
    assert asked == [{"email": user.email, "password": "correct horse", "gotrue_meta_security": {}}]
    page.screenshot(path=tmp_path / "hosted.png", full_page=True)
