"""Every job in the browser (issue 14's acceptance): an officer registers a PostgreSQL
system, tests its connection, registers a vendor's role on it and sees it revoked and
verified on the real server; an auditor verifies the audit chain; a clerk finds no way
to extend a terminated contract."""

import datetime as dt
import os
import uuid

import psycopg2
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from access.models import Credential, System
from audit.models import VerificationRun
from dashboard.models import SealedTOTPDevice as TOTPDevice
from revocation.services import revocation_batch_run
from tests.e2e.test_dashboard_e2e import (
    PASSWORD,
    Watch,
    _no_horizontal_overflow,
    _persona,
    _sign_in,
    _sign_out,
    _totp,
)
from tests.factories import AgencyFactory, ContractFactory, VendorFactory
from tests.revocation.helpers import PG, pg_admin

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def vendor_role():
    """A LOGIN role on the suite's PostgreSQL server, as a vendor's account would be."""
    name = f"acme_e2e_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with pg_admin() as cursor:
        cursor.execute(f'CREATE ROLE "{name}" LOGIN PASSWORD %s', ["vendor-pass-1"])
    yield name
    with pg_admin() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [name]
        )
        cursor.execute(f'DROP ROLE IF EXISTS "{name}"')


def _vendor_can_log_in(role: str) -> bool:
    try:
        psycopg2.connect(
            host=PG["host"], port=PG["port"], user=role, password="vendor-pass-1", dbname="postgres"
        ).close()
    except psycopg2.OperationalError:
        return False
    return True


@pytest.fixture
def world():
    health = AgencyFactory(name="Federal Ministry of Health", slug="health")
    _persona("clerk", health, "procurement")
    officer = _persona("officer", health, "security_officer")
    _persona("auditor", health, "auditor")
    acme = VendorFactory(agency=health, name="Acme Data Services", registration_number="HRB-1")
    running = ContractFactory(vendor=acme, reference="ACME-2026", title="Data processing")
    today = timezone.now().astimezone(health.tz).date()
    terminated = ContractFactory(
        vendor=acme,
        reference="ACME-OLD-TERMINATED",
        start_date=today - dt.timedelta(days=30),
        end_date=today + dt.timedelta(days=10),
        access_ends_at=timezone.now() + dt.timedelta(days=11),
        status="terminated",
        termination_reason="breach",
    )
    return {"officer": officer, "running": running, "terminated": terminated}


def test_every_job_in_the_browser(live_server, browser, world, vendor_role, screenshots_dir):
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page, base)
    assert PASSWORD

    # 1. The officer signs in (TOTP) and registers a PostgreSQL system.
    _sign_in(page, base, "officer")
    page.wait_for_url("**/account/two-factor/setup/**")
    device = TOTPDevice.objects.get(user=world["officer"], confirmed=False)
    page.fill("#id_token", _totp(device))
    page.click("text=Confirm and continue")
    page.wait_for_url(f"{base}/")
    page.click("text=Systems")
    page.click("text=Register a system")
    page.fill("#id_name", "citizen-registry-db")
    page.select_option("#id_kind", "redis")
    assert page.locator("[data-testid=settings-redis]").is_visible()
    assert not page.locator("[data-testid=settings-postgres]").is_visible()
    page.select_option("#id_kind", "postgres")
    settings = page.locator("[data-testid=settings-postgres]")
    assert settings.is_visible() and "Role Sundown logs in as" in settings.inner_text()
    page.fill("#id_config__postgres__host", PG["host"])
    page.fill("#id_config__postgres__port", str(PG["port"]))
    page.fill("#id_config__postgres__user", "postgres")
    page.fill("#id_config__postgres__dbname", "postgres")
    page.fill("#id_estimated_records", "18000000")
    page.select_option("#id_data_classification", "restricted")
    page.fill("#id_secret", "unused-under-trust")
    page.screenshot(path=str(screenshots_dir / "system-form.png"), full_page=True)
    page.click("text=Register system")
    page.wait_for_selector("text=System citizen-registry-db registered.")
    system = System.objects.get(name="citizen-registry-db")
    assert system.get_secret() == "unused-under-trust"
    assert "unused-under-trust" not in page.content()

    # 2. Test the connection: a read through the connector, nothing changed.
    page.click("text=Test connection")
    page.wait_for_selector("text=Connected to citizen-registry-db")
    page.screenshot(path=str(screenshots_dir / "system-detail.png"), full_page=True)

    # 3. Register the vendor's role on it; the contract picker lists the vendor's contracts.
    page.click("text=Systems")
    page.click("text=Register a credential")
    assert page.locator("text=Choose a vendor first").is_visible()
    # htmx (loaded at the end of the page) binds the vendor field's change when the page
    # has loaded; a choice made before that sends nothing, and the picker waited 30 s
    # for contracts that were never asked for (CI, 2026-12-07, a quiet machine).
    page.wait_for_load_state("load")
    page.select_option("#id_vendor", label="Acme Data Services")
    running = world["running"]
    page.wait_for_selector(f"label[for=contract-{running.pk}]")
    results = page.locator("[data-testid=contract-results]")
    page.fill("#contract-search", "ACME-2026")
    expect(results).not_to_contain_text("ACME-OLD-TERMINATED")
    page.click(f"label[for=contract-{running.pk}]")
    # A ticked contract stays ticked whatever is searched next.
    chosen = page.locator("[data-testid=contracts-chosen]")
    expect(chosen).to_contain_text("ACME-2026")
    page.fill("#contract-search", "TERMINATED")
    expect(results).to_contain_text("ACME-OLD-TERMINATED")
    expect(results).not_to_contain_text("ACME-2026")
    assert page.locator(f"#contract-{running.pk}").is_checked()
    page.select_option("#id_system", label="citizen-registry-db")
    page.select_option("#id_kind", "database_role")
    page.fill("#id_external_id", vendor_role)
    page.screenshot(path=str(screenshots_dir / "credential-form.png"), full_page=True)
    page.click("button:has-text('Register')")
    page.wait_for_selector(f"h1:has-text('{vendor_role}')")
    credential = Credential.objects.get(external_id=vendor_role)
    assert list(credential.contracts.all()) == [running]
    assert _vendor_can_log_in(vendor_role)

    # 4. Revoke it; the engine revokes on the server and reads it back.
    page.fill("#id_revoke_reason", "Contractor left the project")
    page.click("text=Revoke this credential now")
    page.wait_for_selector("text=Revocation requested")
    revocation_batch_run(system_id=system.pk, worker="e2e")
    page.reload()
    page.wait_for_selector("h1 >> text=Revoked (verified)")
    assert not _vendor_can_log_in(vendor_role)
    page.screenshot(path=str(screenshots_dir / "credential-revoked.png"), full_page=True)

    # The new pages at both widths: nothing scrolls sideways.
    new_pages = {
        "system-form": "/systems/new/",
        "system-detail": f"/systems/{system.pk}/",
        "system-edit": f"/systems/{system.pk}/edit/",
        "credential-form": "/credentials/new/",
        "credential-edit": f"/credentials/{credential.pk}/edit/",
    }
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 800})
        for name, path in new_pages.items():
            page.goto(base + path)
            assert _no_horizontal_overflow(page), (width, path)
            if width == 375:
                page.screenshot(path=str(screenshots_dir / f"{name}-narrow.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    _sign_out(page)

    # 5. The auditor verifies the chain and sees the sign-ins that fill seq.
    _sign_in(page, base, "auditor")
    page.wait_for_url(f"{base}/")
    page.click("text=Audit")
    page.click("text=Verify the chain now")
    page.wait_for_selector("text=Audit chain verified")
    assert VerificationRun.objects.get().ok
    table = page.locator("[data-testid=audit-table]").inner_text()
    for action in (
        "auth.login",
        "system.created",
        "system.connection_tested",
        "credential.revoked",
    ):
        assert action in table, action
    _sign_out(page)

    # 6. The clerk cannot extend a terminated contract: no control, and the page says why.
    _sign_in(page, base, "clerk")
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/contracts/{world['terminated'].pk}/")
    assert "cannot be extended" in page.locator("[data-testid=not-amendable]").inner_text()
    assert page.locator("text=Change end date").count() == 0
    page.screenshot(path=str(screenshots_dir / "contract-terminated.png"), full_page=True)
    page.goto(f"{base}/contracts/{running.pk}/")
    assert page.locator("text=Change end date").count() == 1

    # The clerk's CSV import runs as a job on a real worker: tests/e2e/test_jobs_e2e.py.

    assert watch.foreign == [], watch.foreign
    assert watch.csp == [], watch.csp
    context.close()
