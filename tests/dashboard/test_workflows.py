"""Contracts, CSV import, credentials, kill switch, queue and audit through the pages."""

import csv
import datetime as dt
import io
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from access.models import Credential
from audit.actor import Actor
from audit.models import AuditEvent, VerificationRun
from revocation.models import ManualTask
from revocation.services import revocation_batch_run
from vendors.models import Contract

pytestmark = pytest.mark.django_db


def test_procurement_creates_a_contract_with_clear_errors(procurement_client, estate):
    vendor = estate["vendor"]
    url = reverse("contract_create")
    today = timezone.localdate()
    bad = procurement_client.post(
        url,
        {
            "vendor": vendor.pk,
            "reference": "NEW-1",
            "start_date": today.isoformat(),
            "end_date": (today - dt.timedelta(days=1)).isoformat(),
            "grace_days": 0,
        },
    )
    assert bad.status_code == 400
    assert "The end date must not be before the start date." in bad.content.decode()
    assert not Contract.objects.filter(reference="NEW-1").exists()

    ok = procurement_client.post(
        url,
        {
            "vendor": vendor.pk,
            "reference": "NEW-1",
            "start_date": today.isoformat(),
            "end_date": today.isoformat(),
            "grace_days": 0,
        },
    )
    contract = Contract.objects.get(reference="NEW-1")
    assert ok.status_code == 302 and ok.url == reverse("contract_detail", args=[contract.pk])
    assert AuditEvent.objects.filter(action="contract.created", target_id=str(contract.pk)).exists()
    # Another agency's vendor is not even a choice.
    other = procurement_client.post(
        url,
        {
            "vendor": estate["secret_vendor"].pk,
            "reference": "X",
            "start_date": today.isoformat(),
            "end_date": today.isoformat(),
            "grace_days": 0,
        },
    )
    assert other.status_code == 400 and not Contract.objects.filter(reference="X").exists()


def test_extend_and_terminate(procurement_client, estate):
    contract = estate["running"]
    new_end = contract.end_date + dt.timedelta(days=30)
    response = procurement_client.post(
        reverse("contract_end_date", args=[contract.pk]),
        {"end_date": new_end.isoformat(), "grace_days": 2, "reason": "renewed"},
    )
    assert response.status_code == 302
    contract.refresh_from_db()
    assert contract.end_date == new_end and contract.grace_days == 2

    missing_reason = procurement_client.post(
        reverse("contract_terminate", args=[contract.pk]), {"reason": ""}
    )
    assert missing_reason.status_code == 400
    # First the confirmation: when access ends, in the agency's zone; nothing changes yet.
    review = procurement_client.post(
        reverse("contract_terminate", args=[contract.pk]), {"reason": "breach of contract"}
    )
    assert review.status_code == 200
    today = timezone.now().astimezone(contract.vendor.agency.tz).date()
    ends = dt.datetime.combine(today + dt.timedelta(days=1), dt.time.min)
    ends = ends.replace(tzinfo=contract.vendor.agency.tz)
    page = review.content.decode()
    assert f"{ends:%Y-%m-%d %H:%M %Z} ({contract.vendor.agency.tz.key})" in page
    contract.refresh_from_db()
    assert contract.status == Contract.Status.ACTIVE
    response = procurement_client.post(
        reverse("contract_terminate", args=[contract.pk]),
        {"reason": "breach of contract", "effective_date": today.isoformat(), "confirmed": "yes"},
    )
    assert response.status_code == 302
    contract.refresh_from_db()
    assert contract.status == Contract.Status.TERMINATED
    assert contract.access_ends_at == ends
    # A terminated contract offers no extension, and says why.
    detail = procurement_client.get(reverse("contract_detail", args=[contract.pk]))
    body = detail.content.decode()
    assert "cannot be extended" in body
    assert reverse("contract_end_date", args=[contract.pk]) not in body
    refused = procurement_client.post(
        reverse("contract_end_date", args=[contract.pk]),
        {"end_date": (contract.end_date + dt.timedelta(days=400)).isoformat(), "reason": "more"},
    )
    assert refused.status_code == 400
    assert "A terminated contract cannot be extended" in refused.content.decode()
    assert AuditEvent.objects.filter(action="contract.terminated").exists()


def _csv(rows: list[str]) -> io.BytesIO:
    header = "vendor,reference,title,start_date,end_date,grace_days,procurement_contact_email"
    data = io.BytesIO("\n".join([header, *rows]).encode())
    data.name = "contracts.csv"
    return data


def _import(client, agency, upload, run):
    """Upload a file; the job runs on commit (eagerly). The job's page, as a person ends
    up on it."""
    response = run(
        lambda: client.post(reverse("contract_import"), {"file": upload, "agency": agency.slug})
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response.url.startswith("/jobs/")
    return client.get(response.url)


def test_csv_import_reports_every_bad_row_and_imports_nothing(
    procurement_client, estate, agency, tasks_run_on_commit
):
    before = Contract.objects.count()
    upload = _csv(
        [
            "HRB-1,IMP-1,Good one,2026-01-01,2027-01-01,0,",
            "HRB-404,IMP-2,Unknown vendor,2026-01-01,2027-01-01,0,",
            "HRB-1,IMP-3,Bad dates,2027-01-01,2026-01-01,0,",
            "HRB-1,IMP-1,Duplicate in file,2026-01-01,2027-01-01,0,",
            "Acme Data Services,IMP-5,Bad date,2026-01-01,31/12/2027,x,",
        ]
    )
    html = _import(procurement_client, agency, upload, tasks_run_on_commit).content.decode()
    assert "Nothing was imported: 4 bad rows" in html
    for line in (3, 4, 5, 6):
        assert f'<td data-label="Line">{line}</td>' in html
    assert Contract.objects.count() == before
    # The job's start and end are the only events: nothing of the file was written.
    assert not AuditEvent.objects.filter(action="contract.created").exists()
    assert AuditEvent.objects.filter(action="job.failed").count() == 1

    good = _csv(
        [
            "HRB-1,IMP-1,One,2026-01-01,2027-01-01,0,",
            "Acme Data Services,IMP-2,Two,2026-01-01,2027-06-30,5,buyer@agency.example",
        ]
    )
    html = _import(procurement_client, agency, good, tasks_run_on_commit).content.decode()
    assert "Imported 2 contracts from contracts.csv." in html
    assert Contract.objects.count() == before + 2
    assert AuditEvent.objects.filter(action="contract.created").count() == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("HRB-1,IMP-1,Two,2026-01-01,2027-01-01,\u00b2,", "is not a whole number"),
        ("HRB-1,IMP-1,Far,2026-01-01,9999-12-31,0,", "beyond the last supported date"),
        ("HRB-1,IMP-1,Long,2026-01-01,2027-01-01,99999999999,", "beyond the last supported"),
    ],
)
def test_csv_import_bad_values_are_row_problems(
    procurement_client, estate, agency, content, message, tasks_run_on_commit
):
    page = _import(procurement_client, agency, _csv([content]), tasks_run_on_commit)
    assert message in page.content.decode()
    assert not Contract.objects.filter(reference__startswith="IMP").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("HRB-1,IMP\x00,Nul,2026-01-01,2027-01-01,0,", "contains NUL characters"),
        ("HRB-1,IMP-1," + "x" * 200_000 + ",2026-01-01,2027-01-01,0,", "not valid CSV"),
    ],
)
def test_csv_import_unreadable_files_are_form_errors(
    procurement_client, estate, agency, content, message
):
    # Refused in the request, before any job: the file itself cannot be read.
    response = procurement_client.post(
        reverse("contract_import"), {"file": _csv([content]), "agency": agency.slug}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not AuditEvent.objects.filter(action="job.started").exists()


def test_csv_import_refuses_a_file_too_large_before_reading_it(
    procurement_client, estate, agency, monkeypatch
):
    monkeypatch.setattr("dashboard.views.contracts.MAX_IMPORT_BYTES", 1_000_000)
    upload = _csv(["HRB-1,IMP-1," + "x" * 1_000_000 + ",2026-01-01,2027-01-01,0,"])
    response = procurement_client.post(
        reverse("contract_import"), {"file": upload, "agency": agency.slug}
    )
    assert response.status_code == 400
    assert "The file is larger than 1 MB." in response.content.decode()


def test_end_date_at_the_end_of_the_calendar_is_a_form_error(procurement_client, estate):
    response = procurement_client.post(
        reverse("contract_end_date", args=[estate["running"].pk]),
        {"end_date": "9999-12-31", "reason": "renewed"},
    )
    assert response.status_code == 400
    assert "beyond the last supported date" in response.content.decode()


def test_register_and_revoke_a_credential(officer_client, estate):
    response = officer_client.post(
        reverse("credential_register"),
        {
            "vendor": estate["vendor"].pk,
            "system": estate["db"].pk,
            "contracts": [estate["running"].pk],
            "kind": "database_role",
            "external_id": "acme_ro",
            "holder": "reporting job",
        },
    )
    credential = Credential.objects.get(external_id="acme_ro")
    assert response.status_code == 302
    dup = officer_client.post(
        reverse("credential_register"),
        {
            "vendor": estate["vendor"].pk,
            "system": estate["db"].pk,
            "contracts": [estate["running"].pk],
            "kind": "database_role",
            "external_id": "acme_ro",
        },
    )
    assert dup.status_code == 400
    response = officer_client.post(
        reverse("credential_revoke", args=[credential.pk]), {"reason": "no longer needed"}
    )
    assert response.status_code == 302
    credential.refresh_from_db()
    assert credential.status == Credential.Status.PENDING
    assert officer_client.get(reverse("credential_revoke", args=[credential.pk])).status_code == 405


def test_kill_switch_confirms_then_revokes_and_manual_task_completes(officer_client, estate):
    vendor = estate["vendor"]
    url = reverse("vendor_kill_switch", args=[vendor.pk])
    page = officer_client.get(url).content.decode()
    for name in ("acme_rw", "acme_old", "acme_broken"):
        assert name in page
    assert "This revokes 3 credentials on 2 systems" in page
    unconfirmed = officer_client.post(url, {"reason": "breach"})
    assert unconfirmed.status_code == 400
    assert Credential.objects.filter(vendor=vendor, status="pending").count() == 0

    response = officer_client.post(url, {"reason": "breach", "confirm": "on"})
    assert response.status_code == 302
    assert Credential.objects.filter(vendor=vendor, status="pending").count() == 3
    vendor.refresh_from_db()
    assert vendor.status == "suspended"

    # The manual system hands its credential to a person through a manual task.
    revocation_batch_run(system_id=estate["desk"].pk, worker="test")
    task = ManualTask.objects.get(credential=estate["overdue"], status="open")
    queue = officer_client.get(reverse("revocation_queue")).content.decode()
    assert "acme_old" in queue
    bad = officer_client.post(reverse("manual_task_complete", args=[task.pk]), {"note": ""})
    # The error is in that task's card, on its note field, not a banner tied to nothing.
    assert bad.status_code == 400
    assert f'id="id_task{task.pk}_note_error"' in bad.content.decode()
    assert "Say what you did to revoke the access." in bad.content.decode()
    long = officer_client.post(
        reverse("manual_task_complete", args=[task.pk]), {"note": "x" * 50_000}
    )
    assert long.status_code == 400
    assert "at most 2000 characters (it has 50000)" in long.content.decode()
    response = officer_client.post(
        reverse("manual_task_complete", args=[task.pk]), {"note": "deleted the helpdesk login"}
    )
    assert response.status_code == 302
    estate["overdue"].refresh_from_db()
    assert estate["overdue"].status == Credential.Status.CONFIRMED
    page = officer_client.get(reverse("credential_detail", args=[estate["overdue"].pk]))
    text = page.content.decode()
    assert "Revoked, confirmed by" in text and "Revoked (verified)" not in text
    # Not a verified revocation: the home chart of verified revocations stays empty.
    home = officer_client.get(reverse("home"))
    assert all(sum(b["count"] for b in o.revoked_chart) == 0 for o in home.context["overviews"])


def test_auditor_cannot_complete_manual_tasks(auditor_client, officer_client, estate):
    officer_client.post(
        reverse("credential_revoke", args=[estate["overdue"].pk]), {"reason": "ended"}
    )
    revocation_batch_run(system_id=estate["desk"].pk, worker="test")
    task = ManualTask.objects.get(credential=estate["overdue"], status="open")
    url = reverse("manual_task_complete", args=[task.pk])
    assert auditor_client.post(url, {"note": "x"}).status_code == 404


def test_audit_filters_export_and_verify(officer_client, auditor_client, estate, actor):
    from vendors.services import vendor_update

    vendor_update(actor=actor, vendor=estate["vendor"], contact_name="=HYPERLINK(evil)")
    page = auditor_client.get(reverse("audit_log") + "?action=vendor.updated").content.decode()
    assert "vendor.updated" in page and "HYPERLINK" in page
    none = auditor_client.get(reverse("audit_log") + "?action=nothing.like.this")
    assert "No events match." in none.content.decode()

    export = auditor_client.get(reverse("audit_export") + "?action=vendor.updated")
    body = b"".join(export.streaming_content).decode()
    lines = body.strip().splitlines()
    assert lines[0].startswith("seq,occurred_at")
    assert len(lines) == 2 and "vendor.updated" in lines[1]

    # Checking the chain reads and changes nothing: the auditor's job (VIEW_AUDIT).
    response = auditor_client.post(reverse("audit_verify"))
    assert response.status_code == 302
    run = VerificationRun.objects.get()
    assert run.ok
    page = auditor_client.get(reverse("audit_log")).content.decode()
    assert "Hash chain intact" in page
    assert AuditEvent.objects.filter(action="audit.chain_verified").exists()


def test_procurement_creates_a_vendor(procurement_client, agency, other_agency):
    from vendors.models import Vendor

    url = reverse("vendor_create")
    assert procurement_client.get(url).status_code == 200
    response = procurement_client.post(
        url, {"agency": agency.slug, "name": "Beta Cloud AG", "risk_tier": "high"}
    )
    vendor = Vendor.objects.get(name="Beta Cloud AG")
    assert response.status_code == 302 and vendor.agency == agency
    assert AuditEvent.objects.filter(action="vendor.created", target_id=str(vendor.pk)).exists()
    dup = procurement_client.post(
        url, {"agency": agency.slug, "name": "Beta Cloud AG", "risk_tier": "high"}
    )
    assert dup.status_code == 400
    # An agency where the clerk holds no role is not a choice.
    other = procurement_client.post(
        url, {"agency": other_agency.slug, "name": "Sneaky", "risk_tier": "low"}
    )
    assert other.status_code == 400 and not Vendor.objects.filter(name="Sneaky").exists()


def test_auditor_cannot_create_vendors(auditor_client):
    assert auditor_client.get(reverse("vendor_create")).status_code == 404


def test_queue_polls_its_live_part_manual_tasks_included(officer_client, estate):
    page = officer_client.get(reverse("revocation_queue")).content.decode()
    assert 'hx-trigger="every 10s"' in page
    # Only the status line is a live region, and dashboard.js fills it on changes only.
    assert page.count("aria-live") == 1 and 'id="queue-status"' in page
    partial = officer_client.get(reverse("revocation_queue"), HTTP_HX_REQUEST="true")
    html = partial.content.decode()
    assert "acme_broken" in html and "permission denied to drop role" in html
    assert "<html" not in html and "Open manual tasks" in html
    assert "data-queue-summary=" in html


def test_audit_export_cells_are_json_or_defused(auditor_client, estate, officer):
    """before/after are JSON, other cells as stored, and formulas are defused."""
    from vendors.services import vendor_update

    vendor_update(actor=Actor.for_user(officer), vendor=estate["vendor"], name="=HYPERLINK(evil)")
    export = auditor_client.get(reverse("audit_export") + "?action=vendor.updated")
    (row,) = csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode()))
    event = AuditEvent.objects.get(action="vendor.updated")
    assert json.loads(row["before"]) == event.before
    assert json.loads(row["after"]) == event.after
    assert row["agency_id"] == str(event.agency_id)
    assert row["target_repr"] == "'=HYPERLINK(evil)"
    assert event.request_id == "" and row["request_id"] == ""  # empty stays empty


def test_queue_poll_reads_a_bounded_number_of_queries(officer_client, estate):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        officer_client.get(reverse("revocation_queue"), HTTP_HX_REQUEST="true")
    assert 0 < len(queries.captured_queries) <= 15


def test_a_credential_never_seen_on_its_target_says_so(officer_client, estate):
    live = estate["live"]
    page = officer_client.get(reverse("credential_detail", args=[live.pk])).content.decode()
    assert "Not yet seen on the target" in page
    listing = officer_client.get(reverse("vendor_detail", args=[live.vendor_id])).content.decode()
    assert "not yet seen on the target" in listing
    Credential.objects.filter(pk=live.pk).update(
        last_seen_on_target_at=timezone.now(), target_checked_at=timezone.now()
    )
    page = officer_client.get(reverse("credential_detail", args=[live.pk])).content.decode()
    assert "Not yet seen on the target" not in page and "Last seen" in page
