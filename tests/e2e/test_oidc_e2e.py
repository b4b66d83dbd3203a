"""Single sign-on in Chromium through the real OpenID provider (tests/sso/oidc_provider.mjs):
staff land in their agency and role, an unmapped user is refused, the IdP's MFA claim."""

from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from audit.actor import Actor
from audit.models import AuditEvent
from tests.factories import ContractFactory, VendorFactory
from tests.sso.provider import PASSWORD
from vendors.permissions import roles_of
from vendors.services import agency_set_idp_mfa_trust

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
User = get_user_model()


class CspWatch:
    """CSP complaints on Sundown's own pages (the provider's pages are not ours)."""

    def __init__(self, page, origin):
        self.complaints: list[str] = []
        page.on("console", lambda m: self._console(page, origin, m))

    def _console(self, page, origin, message):
        text = message.text
        if page.url.startswith(origin) and "Content Security Policy" in text:
            self.complaints.append(text)


def _sso_sign_in(browser, base, login, path="/", screenshot=None):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = CspWatch(page, base)
    page.goto(f"{base}/accounts/login/?next={path}")
    button = page.get_by_role("link", name="Sign in with Test IdP")
    expect(button).to_be_visible()
    if screenshot:
        page.screenshot(path=str(screenshot), full_page=True)
    button.click()
    expect(page.get_by_role("heading", name="Test IdP")).to_be_visible()
    assert urlsplit(page.url).port != urlsplit(base).port  # really at the provider
    page.get_by_label("Username").fill(login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{base}/**")
    return context, page, watch


def test_staff_land_in_their_agency_and_role(
    live_server, browser, sso, agency, other_agency, screenshots_dir
):
    vendor = VendorFactory(agency=agency, name="Acme Data Services")
    ContractFactory(vendor=vendor, reference="ACME-SSO")
    VendorFactory(agency=other_agency, name="Zeta Tax Consultants")

    context, page, watch = _sso_sign_in(
        browser, live_server.url, "cleo", "/contracts/", screenshots_dir / "sso-login.png"
    )
    page.wait_for_url(f"{live_server.url}/contracts/")
    user = User.objects.get(username="cleo")
    assert roles_of(user, agency) == ["procurement"]
    assert roles_of(user, other_agency) == ["auditor"]
    expect(page.locator(".sd-user__name")).to_have_text("cleo")
    expect(page.get_by_text("ACME-SSO")).to_be_visible()
    expect(page.get_by_role("link", name="New contract")).to_be_visible()
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Federal Ministry of Health")).to_be_visible()
    expect(page.get_by_role("heading", name="Regional Tax Office")).to_be_visible()
    page.screenshot(path=str(screenshots_dir / "sso-home.png"), full_page=True)
    assert watch.complaints == []
    context.close()

    # A security officer whose sign-in carried only a password still enrols TOTP.
    context, page, watch = _sso_sign_in(browser, live_server.url, "olivia")
    page.wait_for_url("**/account/two-factor/setup/**")
    assert roles_of(User.objects.get(username="olivia"), agency) == [
        "security_officer",
        "auditor",
    ]
    assert watch.complaints == []
    context.close()


def test_a_user_without_a_mapped_group_is_refused_and_audited(
    live_server, browser, sso, screenshots_dir
):
    context, page, watch = _sso_sign_in(browser, live_server.url, "nora")
    expect(page.get_by_role("heading", name="Sign-in refused")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("not in any group that has access")
    page.screenshot(path=str(screenshots_dir / "sso-refused.png"), full_page=True)
    page.goto(f"{live_server.url}/")
    page.wait_for_url("**/accounts/login/**")  # not signed in
    assert not User.objects.filter(username="nora").exists()
    refused = AuditEvent.objects.get(action="auth.oidc_refused")
    assert refused.actor_name == "nora"
    assert refused.after["reason"] == "no_mapped_group"
    assert refused.after["groups"] == ["marketing", "staff"]
    assert watch.complaints == []
    context.close()


def test_the_idps_mfa_claim_stands_in_for_totp_where_the_agency_accepts_it(
    live_server, browser, sso, agency
):
    agency_set_idp_mfa_trust(actor=Actor.system("test"), agency=agency, trusted=True)
    context, page, watch = _sso_sign_in(browser, live_server.url, "mia")
    page.wait_for_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="At a glance")).to_be_visible()
    expect(page.get_by_role("heading", name="Federal Ministry of Health")).to_be_visible()
    page.goto(f"{live_server.url}/revocations/")
    assert "/two-factor/" not in page.url
    signed_in = AuditEvent.objects.get(action="auth.oidc_signed_in")
    assert signed_in.after["amr"] == ["pwd", "otp"]
    assert signed_in.after["idp_mfa_accepted"] is True
    assert watch.complaints == []
    context.close()
