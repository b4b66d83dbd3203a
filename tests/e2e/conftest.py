"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright against live_server."""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the test still talks to the
# database synchronously between browser steps, which is safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Screenshots go under var/ (ignored by git) so a test run leaves the tree clean;
# `make screenshots` sets SUNDOWN_SCREENSHOTS=docs/screenshots to refresh the README's.
SCREENSHOTS = Path(
    os.environ.get(
        "SUNDOWN_SCREENSHOTS",
        Path(__file__).resolve().parents[2] / "var" / "screenshots",
    )
)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (bin/ensure-services)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def screenshots_dir():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def signed_in_page(live_server, browser):
    """``open(user, width=1280)``: a page whose browser holds ``user``'s session, past
    TOTP unless ``verified=False`` (the sign-in itself is tested in test_dashboard_e2e);
    contexts closed after."""
    from tests.sessions import signed_in

    contexts = []

    def open_page(user, width: int = 1280, *, verified: bool = True, **context_kwargs):
        context = browser.new_context(viewport={"width": width, "height": 900}, **context_kwargs)
        contexts.append(context)
        session = signed_in(user, verified=verified).cookies["sessionid"].value
        context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()
