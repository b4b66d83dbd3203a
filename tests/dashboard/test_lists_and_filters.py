"""Long lists are paged (a vendor with thousands of contracts and credentials loads a
page of each), and an invalid audit filter is an error, never everything."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from access.models import Credential
from revocation.models import RevocationAttempt
from tests.factories import SystemFactory
from vendors.models import Contract

pytestmark = pytest.mark.django_db


def _bulk_contracts(vendor, n):
    today = timezone.localdate()
    Contract.objects.bulk_create(
        Contract(
            vendor=vendor,
            reference=f"C-{i:05d}",
            start_date=today,
            end_date=today + dt.timedelta(days=1 + i % 300),
            access_ends_at=timezone.now() + dt.timedelta(days=2 + i % 300),
        )
        for i in range(n)
    )


def test_vendor_detail_pages_contracts_and_credentials(auditor_client, estate):
    vendor = estate["vendor"]
    _bulk_contracts(vendor, 5000)
    system = SystemFactory(agency=vendor.agency, name="bulk-db")
    Credential.objects.bulk_create(
        Credential(vendor=vendor, system=system, kind="other", external_id=f"bulk_{i:04d}")
        for i in range(300)
    )
    url = reverse("vendor_detail", args=[vendor.pk])
    with CaptureQueriesContext(connection) as queries:
        page = auditor_client.get(url)
    body = page.content.decode()
    assert page.status_code == 200
    assert len(queries) < 60
    assert "5002 contracts" in body and "303 credentials" in body
    contracts = body.split('data-testid="vendor-contracts"')[1].split("</table>")[0]
    assert contracts.count("<tr>") == 26  # header and one page
    assert "contracts_page=2" in body and "credentials_page=2" in body
    assert "Page 1 of 201" in body and "Page 1 of 13" in body
    # Each list pages on its own, keeping the other's place.
    second = auditor_client.get(url, {"contracts_page": 2, "credentials_page": 3}).content.decode()
    assert "Page 2 of 201" in second and "Page 3 of 13" in second
    assert "credentials_page=3&amp;contracts_page=3" in second


def test_vendor_detail_pages_its_revocation_history(auditor_client, estate):
    vendor = estate["vendor"]
    system = SystemFactory(agency=vendor.agency, name="retry-db")
    credential = Credential.objects.create(
        vendor=vendor, system=system, kind="other", external_id="flaky_role"
    )
    start = timezone.now() - dt.timedelta(days=1)
    RevocationAttempt.objects.bulk_create(
        RevocationAttempt(
            credential=credential,
            system=system,
            connector="postgres",
            worker="w1",
            attempt=i + 1,
            outcome=RevocationAttempt.Outcome.ERROR,
            error=f"attempt-{i + 1:02d} refused",
            started_at=start + dt.timedelta(minutes=i),
        )
        for i in range(60)
    )
    url = reverse("vendor_detail", args=[vendor.pk])
    first = auditor_client.get(url).content.decode()
    assert "Revocation history pages" in first and "history_page=2" in first
    assert "attempt-60 refused" in first and "attempt-35 refused" not in first  # newest 25
    last = auditor_client.get(url, {"history_page": 3}).content.decode()
    assert "attempt-01 refused" in last and "attempt-60 refused" not in last


def test_contract_page_pages_its_credentials(procurement_client, estate):
    contract = estate["running"]
    system = SystemFactory(agency=contract.vendor.agency, name="many")
    rows = Credential.objects.bulk_create(
        Credential(vendor=contract.vendor, system=system, kind="other", external_id=f"x{i:03d}")
        for i in range(120)
    )
    contract.credentials.add(*rows)
    body = procurement_client.get(reverse("contract_detail", args=[contract.pk])).content.decode()
    assert "122 credentials." in body and "Page 1 of 3" in body


def test_a_reversed_date_range_is_a_form_error(auditor_client, estate):
    params = {"date_from": "2026-05-02", "date_to": "2026-05-01"}
    page = auditor_client.get(reverse("audit_log"), params)
    assert page.status_code == 400
    body = page.content.decode()
    assert "must not be before its start" in body and "No events match." in body
    partial = auditor_client.get(reverse("audit_log"), params, HTTP_HX_REQUEST="true")
    assert partial.status_code == 200  # htmx swaps it in, errors included
    assert 'data-testid="audit-filter-errors"' in partial.content.decode()


def test_export_with_an_invalid_filter_exports_nothing(auditor_client, estate):
    for params in (
        {"date_from": "not-a-date"},
        {"date_from": "2026-05-02", "date_to": "2026-01-01"},
    ):
        response = auditor_client.get(reverse("audit_export"), params)
        assert response.status_code == 400
        assert response.content.decode().startswith("Nothing exported: the filter is not valid")
    ok = auditor_client.get(reverse("audit_export"), {"date_from": "2000-01-01"})
    assert ok.status_code == 200


def test_the_revocation_queue_pages_each_list(officer_client, estate):
    """Manual tasks (20 a page), failed and pending (50 a page) each page on their own;
    the 10-second poll asks for the pages on screen."""
    from revocation.models import ManualTask

    vendor, desk = estate["vendor"], estate["desk"]
    now = timezone.now()
    pending = Credential.objects.bulk_create(
        Credential(
            vendor=vendor,
            system=desk,
            kind="other",
            external_id=f"queued_{i:03d}",
            status="pending",
            revocation_requested_at=now - dt.timedelta(minutes=i),
        )
        for i in range(60)
    )
    ManualTask.objects.bulk_create(
        ManualTask(credential=c, system=desk, reason="manual_system", opened_at=now)
        for c in pending[:25]
    )
    url = reverse("revocation_queue")
    body = officer_client.get(url).content.decode()
    assert "Open manual tasks (25)" in body and "Pending (60)" in body
    assert body.count('class="sd-task"') == 20
    assert (
        'aria-label="Manual task pages"' in body and 'aria-label="Pending revocation pages"' in body
    )
    assert body.count("queued_") == 20 + 50  # task cards and pending rows on page 1
    assert "Page 1 of 2" in body and "?pending_page=2" in body

    second = officer_client.get(url, {"pending_page": 2, "tasks_page": 2}).content.decode()
    assert second.count('class="sd-task"') == 5
    assert 'hx-get="/revocations/?pending_page=2&amp;tasks_page=2"' in second
    # The next-page link of one list keeps the page the other list is on.
    assert "?pending_page=2&amp;tasks_page=1" in second
    # A task completed from page 2 comes back to page 2.
    task = ManualTask.objects.filter(status="open").order_by("opened_at", "pk").last()
    done = officer_client.post(
        reverse("manual_task_complete", args=[task.pk]) + "?tasks_page=2",
        {"note": "Removed by hand"},
    )
    assert done.status_code == 302 and done.url == "/revocations/?tasks_page=2"


def test_a_credentials_attempts_are_paged(officer_client, estate):
    from revocation.models import RevocationAttempt

    live = estate["live"]
    now = timezone.now()
    RevocationAttempt.objects.bulk_create(
        RevocationAttempt(
            credential=live,
            system=live.system,
            connector="postgres",
            worker="w1",
            attempt=i + 1,
            outcome="error",
            error=f"refused #{i + 1:02d}",
            started_at=now - dt.timedelta(minutes=60 - i),
        )
        for i in range(30)
    )
    url = reverse("credential_detail", args=[live.pk])
    body = officer_client.get(url).content.decode()
    assert "30 attempts, newest first" in body and "Page 1 of 2" in body
    assert "refused #30" in body and "refused #05" not in body
    body = officer_client.get(url, {"page": 2}).content.decode()
    assert "refused #05" in body and "refused #30" not in body
