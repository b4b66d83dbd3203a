"""The interactive docs really work in a browser under the site's strict CSP.

Headless Chromium (Debian's /usr/bin/chromium, installed by `make test`) opens
/api/docs/ on live_server with a signed-in session: Swagger UI must render the
operations from local assets only, without a single CSP violation.
"""

import os

import pytest
from django.test import Client

CHROMIUM = "/usr/bin/chromium"
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop, sync DB calls

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_renders_with_local_assets_under_csp(live_server, procurement):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (bin/ensure-services)")
    from playwright.sync_api import sync_playwright

    client = Client()
    client.force_login(procurement)  # no TOTP needed: procurement cannot revoke
    session = client.cookies["sessionid"].value
    host = live_server.url.split("//", 1)[1].split(":")[0]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            context = browser.new_context()
            context.add_cookies(
                [{"name": "sessionid", "value": session, "domain": host, "path": "/"}]
            )
            page = context.new_page()
            problems, requests = [], []
            page.on(
                "console",
                lambda msg: (
                    problems.append(msg.text)
                    if msg.type == "error" or "Content Security Policy" in msg.text
                    else None
                ),
            )
            page.on("request", lambda request: requests.append(request.url))
            page.goto(f"{live_server.url}/api/docs/")
            page.wait_for_selector(".opblock-summary-path", timeout=20_000)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
        finally:
            browser.close()

    assert any("/api/v1/credentials/{id}/revoke/" in p.replace("\u200b", "") for p in paths)
    assert not problems, problems
    assert all(url.startswith(live_server.url) for url in requests), requests
