"""Playwright's pytest plugin on Debian's Chromium, and the web app's users.

Playwright cannot download its own browsers here, so the plugin's launch arguments
point it at the system Chromium (`apt-get install chromium`, as .ci/run does).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
from playwright.sync_api import (
    Browser,
    BrowserType,
    ConsoleMessage,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from tests.conftest import StackHandle, TestUser
from tests.integration.loans_support import deposit, open_account

CHROMIUM_NAMES = ("chromium", "chromium-browser")


def _chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("the browser tests need Debian's Chromium: apt-get install chromium")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    args = [
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    # Chromium's sandbox refuses to start as root.
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    return {**browser_type_launch_args, "executable_path": _chromium(), "args": args}


# Playwright's sync API keeps an asyncio loop running in this thread from its start to its
# stop, and while it runs `asyncio.run()` refuses to start (tests elsewhere call it). The
# plugin starts Playwright once per session; these overrides give Playwright and the browser
# the lifetime of this package instead, so both stop before the next package's tests.
@pytest.fixture(scope="package")
def playwright(_pw_api_request_contexts: Any) -> Iterator[Playwright]:
    driver = sync_playwright().start()
    if _pw_api_request_contexts:
        _pw_api_request_contexts.instrument(driver)
    yield driver
    driver.stop()


@pytest.fixture(scope="package")
def browser_type(playwright: Playwright, browser_name: str) -> BrowserType:
    return cast(BrowserType, getattr(playwright, browser_name))


@pytest.fixture(scope="package")
def launch_browser(
    browser_type_launch_args: dict[str, Any], browser_type: BrowserType
) -> Callable[..., Browser]:
    def launch(**kwargs: Any) -> Browser:
        return browser_type.launch(**{**browser_type_launch_args, **kwargs})

    return launch


@pytest.fixture(scope="package")
def browser(launch_browser: Callable[..., Browser]) -> Iterator[Browser]:
    launched = launch_browser()
    yield launched
    launched.close()


@pytest.fixture(scope="package")
def browser_context_args(
    pytestconfig: pytest.Config,
    playwright: Playwright,
    device: str | None,
    base_url: str | None,
    _pw_artifacts_folder: Any,
) -> dict[str, Any]:
    """The plugin's own (it reads `playwright`, so it takes the package scope too)."""
    args: dict[str, Any] = {}
    if device:
        args.update(playwright.devices[device])
    if base_url:
        args["base_url"] = base_url
    if pytestconfig.getoption("--video") in ("on", "retain-on-failure"):
        args["record_video_dir"] = _pw_artifacts_folder.name
    return args


@pytest.fixture
def app_url(stack: StackHandle) -> str:
    """The web app as the gateway serves it, like http://127.0.0.1:54321/app/ for `make run`."""
    return f"{stack.api_url}/app/"


@pytest.fixture
def customer(
    make_user: Callable[..., TestUser], pg: psycopg.Connection[Any]
) -> tuple[TestUser, str, str]:
    """A customer with a checking account holding 100.00 USD and an empty second one."""
    user = make_user()
    checking = open_account(pg, user.id)
    savings = open_account(pg, user.id)
    deposit(pg, checking, 10_000)
    return user, checking, savings


def sign_in(page: Page, app_url: str, token: str, screenshot: Path | None = None) -> None:
    """Signs in on the local form with a token the stack minted, as `make token` prints it."""
    page.goto(app_url)
    page.get_by_label("Access token").fill(token)
    if screenshot is not None:
        page.screenshot(path=screenshot, full_page=True)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as")).to_be_visible()


@pytest.fixture(autouse=True)
def page_errors(page: Page) -> Iterator[list[str]]:
    """Fails a test whose page threw an uncaught error or logged one of its own.

    Chromium logs every 4xx answer and refused request as "Failed to load resource"; those
    are the answers the tests ask for, and the page shows them itself.
    """
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(f"console: {message.text}")

    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on("console", on_console)
    yield errors
    assert errors == []
