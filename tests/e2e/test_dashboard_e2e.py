"""The acceptance story in a real browser: contract entry, TOTP sign-in, kill switch,
manual revocation, audit trail, and an auditor who cannot use the kill switch."""

import datetime as dt
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from django_otp.oath import TOTP
from playwright.sync_api import expect

from access.models import System
from dashboard.models import SealedTOTPDevice as TOTPDevice
from revocation.services import revocation_batch_run
from tests.factories import (
    AgencyFactory,
    ContractFactory,
    CredentialFactory,
    SystemFactory,
    UserFactory,
    VendorFactory,
)
from vendors.permissions import role_grant

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
PASSWORD = "correct-horse-battery"


def _persona(username, agency, role):
    user = UserFactory(username=username)
    role_grant(user=user, agency=agency, role=role)
    return user


@pytest.fixture
def world():
    health = AgencyFactory(name="Federal Ministry of Health", slug="health")
    tax = AgencyFactory(name="Regional Tax Office", slug="tax")
    _persona("clerk", health, "procurement")
    officer = _persona("officer", health, "security_officer")
    _persona("auditor", health, "auditor")
    acme = VendorFactory(agency=health, name="Acme Data Services", registration_number="HRB-1")
    running = ContractFactory(vendor=acme, reference="ACME-2026", title="Data processing")
    desk = SystemFactory(agency=health, name="citizen-helpdesk", kind=System.Kind.MANUAL)
    portal = SystemFactory(agency=health, name="benefits-portal", kind=System.Kind.MANUAL)
    CredentialFactory(vendor=acme, system=desk, external_id="acme_agent_1", contracts=[running])
    CredentialFactory(vendor=acme, system=portal, external_id="acme_portal", contracts=[running])
    zeta = VendorFactory(agency=tax, name="Zeta Secret Contractors")
    CredentialFactory(vendor=zeta, external_id="zeta_admin")
    return {"officer": officer, "vendor": acme, "desk": desk, "portal": portal, "agency": health}


class Watch:
    """Records every request and CSP complaint a page makes."""

    def __init__(self, page, origin):
        self.origin = origin
        self.foreign: list[str] = []
        self.csp: list[str] = []
        page.on("request", self._request)
        page.on("console", self._console)

    def _request(self, request):
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob", "about"):
            return
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            self.foreign.append(request.url)

    def _console(self, message):
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp.append(message.text)


def _sign_in(page, base, username):
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")


def _sign_out(page):
    page.click("text=Sign out")
    page.wait_for_url("**/accounts/login/")


def _totp(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = timezone.now().timestamp()
    return f"{totp.token():0{device.digits}d}"


def _no_horizontal_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_acceptance_story(live_server, browser, world, screenshots_dir):
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page, base)
    # "Today" in the agency's zone: end dates are days there, not in UTC.
    today = timezone.now().astimezone(world["agency"].tz).date()

    # 1. Procurement signs in (no second factor for that role) and enters a contract.
    _sign_in(page, base, "clerk")
    page.wait_for_url(f"{base}/")
    page.click("text=Contracts")
    page.click("text=New contract")
    page.select_option("#id_vendor", label="Acme Data Services")
    page.fill("#id_reference", "E2E-ENDS-TODAY")
    page.fill("#id_title", "Helpdesk outsourcing")
    page.fill("#id_start_date", (today - dt.timedelta(days=200)).isoformat())
    page.fill("#id_end_date", (today - dt.timedelta(days=201)).isoformat())
    page.click("text=Save contract")
    assert page.locator(".usa-error-message, .usa-alert--error").first.is_visible()
    page.fill("#id_end_date", today.isoformat())
    page.click("text=Save contract")
    page.wait_for_selector("h1:has-text('Contract E2E-ENDS-TODAY')")
    _sign_out(page)

    # 2. The security officer signs in, is sent to enrol TOTP, and sees the contract.
    _sign_in(page, base, "officer")
    page.wait_for_url("**/account/two-factor/setup/**")
    assert page.locator("[data-testid=otp-secret]").inner_text().strip()
    device = TOTPDevice.objects.get(user=world["officer"], confirmed=False)
    page.fill("#id_token", _totp(device))
    page.click("text=Confirm and continue")
    page.wait_for_url(f"{base}/")
    ending = page.locator("[data-testid=ending-soon]")
    assert "E2E-ENDS-TODAY" in ending.inner_text()
    assert "Zeta" not in page.content()
    page.screenshot(path=str(screenshots_dir / "home.png"), full_page=True)

    # 3. Kill switch: a confirmation that lists exactly what will be revoked.
    page.click("text=Vendors")
    page.fill("#id_q", "acme")
    page.wait_for_selector("[data-testid=vendor-table] >> text=Acme Data Services")
    assert "Zeta" not in page.content()
    page.click("text=Acme Data Services")
    page.click("[data-testid=kill-switch]")
    preview = page.locator("[data-testid=kill-switch-preview]").inner_text()
    assert "acme_agent_1" in preview and "acme_portal" in preview
    assert "This revokes 2 credentials on 2 systems" in page.content()
    page.fill("#id_reason", "Vendor breach reported by CERT")
    page.screenshot(path=str(screenshots_dir / "kill-switch.png"), full_page=True)
    page.click("label[for=id_confirm]")  # USWDS styles the label; the box is hidden
    page.click("text=Revoke all 2 and suspend Acme Data Services")
    page.wait_for_selector("text=queued for revocation")
    assert page.locator("text=Revocation pending").count() == 2

    # 4. The engine hands manual systems to a person; the officer completes one task.
    revocation_batch_run(system_id=world["desk"].pk, worker="e2e")
    revocation_batch_run(system_id=world["portal"].pk, worker="e2e")
    page.click("text=Revocations")
    task = page.locator(".sd-task", has_text="acme_agent_1")
    task.locator("textarea").fill("Disabled the helpdesk login and ended its sessions")
    page.screenshot(path=str(screenshots_dir / "revocation-queue.png"), full_page=True)
    task.locator("button").click()
    page.wait_for_selector("text=Manual task for acme_agent_1 completed")
    page.goto(f"{base}/vendors/{world['vendor'].pk}/")
    body = page.content()
    # A person's word is labelled as such, never "Revoked (verified)".
    assert "Revoked, confirmed by" in body and "Revocation pending" in body
    page.screenshot(path=str(screenshots_dir / "vendor-detail.png"), full_page=True)

    # 5. The audit page shows those events.
    page.click("text=Audit")
    table = page.locator("[data-testid=audit-table]").inner_text()
    for action in (
        "vendor.kill_switch",
        "credential.revocation_requested",
        "credential.revoked",
        "manual_task.completed",
        "contract.created",
    ):
        assert action in table, action
    page.click("text=Verify the chain now")
    page.wait_for_selector("text=Hash chain intact")
    page.fill("#id_action", "vendor.kill")
    # htmx swaps the results in place (no eval: the CSP forbids it, so use a locator).
    expect(page.locator("[data-testid=audit-table] tbody tr")).to_have_count(1)
    page.goto(f"{base}/audit/")
    page.screenshot(path=str(screenshots_dir / "audit.png"), full_page=True)

    # 6. Narrow screens: no page scrolls sideways.
    vendor_pk = world["vendor"].pk
    pages = (
        "/",
        "/vendors/",
        f"/vendors/{vendor_pk}/",
        f"/vendors/{vendor_pk}/kill-switch/",
        "/contracts/",
        "/systems/",
        f"/systems/{world['desk'].pk}/",
        "/credentials/new/",
        "/revocations/",
        "/audit/",
    )
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 800})
        for path in pages:
            page.goto(base + path)
            assert _no_horizontal_overflow(page), (width, path)
            if width == 375 and path == f"/vendors/{vendor_pk}/":
                page.screenshot(
                    path=str(screenshots_dir / "vendor-detail-narrow.png"), full_page=True
                )
    page.set_viewport_size({"width": 1280, "height": 900})
    _sign_out(page)

    # 7. An auditor sees no kill switch and gets 404 when posting it anyway.
    _sign_in(page, base, "auditor")
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/vendors/{world['vendor'].pk}/")
    assert page.locator("[data-testid=kill-switch]").count() == 0
    csrf = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        f"{base}/vendors/{world['vendor'].pk}/kill-switch/",
        form={"reason": "not allowed", "confirm": "on"},
        headers={"X-CSRFToken": csrf, "Referer": f"{base}/"},
    )
    assert response.status == 404

    assert watch.foreign == [], watch.foreign
    assert watch.csp == [], watch.csp
    context.close()
