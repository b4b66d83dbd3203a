"""Findings: one live finding per subject and kind, audited openings and triage."""

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from access.models import Credential
from audit.actor import Actor
from audit.models import AuditEvent
from findings.kinds import FINDING_KINDS, FindingKind, kind_choices, kind_register
from findings.models import Finding
from findings.services import (
    Sighting,
    finding_acknowledge,
    finding_adopt,
    finding_mark_false_positive,
    finding_raise,
    finding_resolve,
    findings_raise,
    findings_resolve_absent,
)
from tests.factories import ContractFactory, CredentialFactory, SystemFactory, VendorFactory
from tests.sessions import signed_in

pytestmark = pytest.mark.django_db
WORKER = Actor.system("reconcile")


@pytest.fixture
def system(agency):
    return SystemFactory(agency=agency, name="crm-db", kind="postgres")


def test_raising_twice_updates_last_seen_and_never_duplicates(system):
    first, opened = finding_raise(actor=WORKER, system=system, kind="orphan", account="ghost")
    again, opened_again = finding_raise(actor=WORKER, system=system, kind="orphan", account="ghost")
    assert opened and not opened_again
    assert again.pk == first.pk
    assert again.times_seen == 2 and again.last_seen_at >= first.last_seen_at
    assert Finding.objects.count() == 1
    assert AuditEvent.objects.filter(action="finding.opened").count() == 1
    event = AuditEvent.objects.get(action="finding.opened")
    assert event.target_type == "findings.finding" and event.target_id == str(first.pk)
    assert event.agency_id == system.agency_id and event.actor_name == "system:reconcile"
    assert event.after["kind"] == "orphan" and event.after["account"] == "ghost"
    # Another kind or another account is another finding.
    finding_raise(actor=WORKER, system=system, kind="dormant", account="ghost")
    finding_raise(actor=WORKER, system=system, kind="orphan", account="ghost2")
    assert Finding.objects.count() == 3


def test_the_database_refuses_a_second_live_finding(system):
    finding_raise(actor=WORKER, system=system, kind="orphan", account="ghost")
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        Finding.objects.create(
            kind="orphan",
            severity="high",
            system=system,
            account="ghost",
            first_seen_at=now,
            last_seen_at=now,
        )


def test_bulk_raise_in_one_call(system):
    sightings = [Sighting(kind="orphan", account=f"acct{i}") for i in range(50)]
    result = findings_raise(actor=WORKER, system=system, sightings=sightings)
    assert len(result.opened) == 50 and all(f.pk for f in result.opened)
    result = findings_raise(actor=WORKER, system=system, sightings=sightings)
    assert not result.opened and len(result.seen_again) == 50
    assert Finding.objects.count() == 50
    assert AuditEvent.objects.filter(action="finding.opened").count() == 50


def test_triage_is_audited_with_who_and_why(system, officer):
    finding, _ = finding_raise(actor=WORKER, system=system, kind="orphan", account="ghost")
    actor = Actor.for_user(officer)
    finding = finding_acknowledge(actor=actor, finding=finding, reason="asking the DBA")
    assert finding.status == "acknowledged" and finding.status_changed_by == "officer"
    finding = finding_resolve(actor=actor, finding=finding, reason="dropped by the DBA")
    assert finding.status == "resolved" and finding.status_reason == "dropped by the DBA"
    events = list(
        AuditEvent.objects.filter(target_type="findings.finding").values_list(
            "action", "actor_name", "before", "after"
        )
    )
    assert events[1:] == [
        (
            "finding.acknowledged",
            "officer",
            {"status": "open"},
            {"status": "acknowledged", "reason": "asking the DBA"},
        ),
        (
            "finding.resolved",
            "officer",
            {"status": "acknowledged"},
            {"status": "resolved", "reason": "dropped by the DBA"},
        ),
    ]
    # Closed: it cannot be acknowledged again, and a reason is required.
    with pytest.raises(ValidationError):
        finding_acknowledge(actor=actor, finding=finding, reason="again")
    with pytest.raises(ValidationError):
        finding_mark_false_positive(actor=actor, finding=finding, reason="  ")
    # Seen again after it was resolved: a new finding.
    again, opened = finding_raise(actor=WORKER, system=system, kind="orphan", account="ghost")
    assert opened and again.pk != finding.pk


def test_false_positive_quiets_suppressible_kinds_only(system, officer):
    actor = Actor.for_user(officer)
    orphan, _ = finding_raise(actor=WORKER, system=system, kind="orphan", account="backup")
    finding_mark_false_positive(actor=actor, finding=orphan, reason="the agency's backup role")
    same, opened = finding_raise(actor=WORKER, system=system, kind="orphan", account="backup")
    assert not opened and same.pk == orphan.pk and same.status == "false_positive"
    assert same.times_seen == 2
    drift, _ = finding_raise(actor=WORKER, system=system, kind="drift", account="vendor_x")
    finding_mark_false_positive(actor=actor, finding=drift, reason="test restore")
    again, opened = finding_raise(actor=WORKER, system=system, kind="drift", account="vendor_x")
    assert opened and again.pk != drift.pk  # access that came back is news every time


def test_critical_findings_alert_security_staff(
    system, officer, django_capture_on_commit_callbacks
):
    officer.email = "officer@health.example"
    officer.save()
    with django_capture_on_commit_callbacks(execute=True):
        finding_raise(actor=WORKER, system=system, kind="orphan", account="quiet")  # high: no mail
        finding_raise(
            actor=WORKER, system=system, kind="drift", account="vendor_x", summary="back again"
        )
    assert len(mail.outbox) == 1
    assert "CRITICAL on crm-db" in mail.outbox[0].subject
    assert "vendor_x" in mail.outbox[0].body
    assert mail.outbox[0].to == ["officer@health.example"]


def test_resolve_absent_closes_what_a_full_pass_no_longer_sees(system):
    findings_raise(
        actor=WORKER,
        system=system,
        sightings=[Sighting(kind="orphan", account="a"), Sighting(kind="orphan", account="b")],
    )
    closed = findings_resolve_absent(
        actor=WORKER,
        system=system,
        kinds=["orphan"],
        present={("orphan", "a")},
        reason="no longer on the target",
    )
    assert Finding.objects.get(pk=closed[0]).account == "b"
    assert Finding.objects.filter(status="resolved").count() == 1
    event = AuditEvent.objects.get(action="finding.resolved")
    assert event.after["automatic"] is True


def test_adopting_an_orphan_registers_a_governed_credential(system, officer):
    vendor = VendorFactory(agency=system.agency)
    contract = ContractFactory(vendor=vendor)
    finding, _ = finding_raise(actor=WORKER, system=system, kind="orphan", account="acme_etl")
    credential = finding_adopt(
        actor=Actor.for_user(officer), finding=finding, vendor=vendor, contracts=[contract]
    )
    assert credential.external_id == "acme_etl" and credential.kind == "database_role"
    assert list(credential.contracts.all()) == [contract]
    finding.refresh_from_db()
    assert finding.status == "resolved" and finding.credential_id == credential.pk
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"credential.registered", "finding.adopted"} <= actions
    # A drift finding is not an account to adopt.
    drift, _ = finding_raise(actor=WORKER, system=system, kind="drift", account="x")
    with pytest.raises(ValidationError):
        finding_adopt(
            actor=Actor.for_user(officer), finding=drift, vendor=vendor, contracts=[contract]
        )


def test_other_apps_register_kinds():
    kind = FindingKind("Test kind", "low", "for this test")
    kind_register("test_only", kind)
    try:
        assert ("test_only", "Test kind") in kind_choices()
        kind_register("test_only", kind)  # the same twice is fine
        with pytest.raises(ValueError):
            kind_register("test_only", FindingKind("Other", "low", "different"))
    finally:
        FINDING_KINDS.pop("test_only")
    assert {"max_age", "dormant", "orphan", "drift"} <= set(FINDING_KINDS)


def test_pages_list_detail_triage_and_home(officer, agency, other_agency):
    officer_client = signed_in(officer)
    system = SystemFactory(agency=agency, name="crm-db")
    vendor = VendorFactory(agency=agency, name="Acme")
    credential = CredentialFactory(vendor=vendor, system=system, status=Credential.Status.ACTIVE)
    drift, _ = finding_raise(
        actor=WORKER,
        system=system,
        kind="drift",
        account=credential.external_id,
        vendor_id=vendor.pk,
        credential_id=credential.pk,
        evidence={"detail": "LOGIN again"},
    )
    orphan, _ = finding_raise(actor=WORKER, system=system, kind="orphan", account="ghost_acct")
    secret, _ = finding_raise(
        actor=WORKER, system=SystemFactory(agency=other_agency), kind="orphan", account="zeta_acct"
    )
    home = officer_client.get(reverse("home")).content.decode()
    assert 'data-testid="critical-findings"' in home and "Drift" in home
    assert home.index("critical-findings") < home.index("active credentials")
    listing = officer_client.get(reverse("finding_list")).content.decode()
    assert "ghost_acct" in listing and "zeta_acct" not in listing
    assert listing.index("Drift") < listing.index("ghost_acct")  # most severe first
    assert (
        "ghost_acct"
        not in officer_client.get(reverse("finding_list") + "?kind=drift").content.decode()
    )
    detail = officer_client.get(reverse("finding_detail", args=[orphan.pk])).content.decode()
    assert "Adopt" in detail and "Record decision" in detail
    assert officer_client.get(reverse("finding_detail", args=[secret.pk])).status_code == 404
    response = officer_client.post(
        reverse("finding_triage", args=[orphan.pk]),
        {"to": "false_positive", "reason": "our monitoring role"},
    )
    assert response.status_code == 302
    orphan.refresh_from_db()
    assert orphan.status == "false_positive" and orphan.status_changed_by == "officer"
    response = officer_client.post(
        reverse("finding_triage", args=[secret.pk]), {"to": "resolved", "reason": "x"}
    )
    assert response.status_code == 404
    detail = officer_client.get(reverse("finding_detail", args=[drift.pk])).content.decode()
    assert "LOGIN again" in detail and "finding.opened" in detail


def test_api_filters(officer, agency):
    from tests.api.conftest import token_client

    system = SystemFactory(agency=agency)
    finding_raise(actor=WORKER, system=system, kind="drift", account="a")
    finding_raise(actor=WORKER, system=system, kind="orphan", account="b")
    client = token_client(officer)
    body = client.get("/api/v1/findings/").json()
    assert [r["kind"] for r in body["results"]] == ["drift", "orphan"]  # critical first
    assert client.get("/api/v1/findings/?kind=orphan").json()["count"] == 1
    assert client.get("/api/v1/findings/?severity=critical").json()["count"] == 1
    assert client.get(f"/api/v1/findings/?system={system.pk}&status=open").json()["count"] == 2
    assert client.get("/api/v1/findings/?live=false").json()["count"] == 0
    assert client.get("/api/v1/findings/?kind=nonsense").status_code == 400
