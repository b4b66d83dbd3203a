"""Time-based policies: a credential's own expiry, the agency's maximum age per kind.

Each revocation goes through the engine (pending, trigger naming the policy) and its
request event names the policy; a maximum age is a finding first and a revocation only
when the agency's policy says so.
"""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.actor import Actor
from audit.models import AuditEvent
from findings.models import Finding
from findings.policies import policies_apply
from findings.services import finding_policy_set
from revocation import services
from tests.factories import CredentialFactory, SystemFactory, VendorFactory

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("test")


def requests_of(credential):
    return AuditEvent.objects.filter(
        action="credential.revocation_requested", target_id=str(credential.pk)
    )


def test_an_expired_credential_is_swept_to_pending_naming_the_expiry_policy(agency):
    vendor = VendorFactory(agency=agency)
    system = SystemFactory(agency=agency)
    expired = CredentialFactory(
        vendor=vendor, system=system, expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    later = CredentialFactory(
        vendor=vendor, system=system, expires_at=timezone.now() + dt.timedelta(days=1)
    )
    never = CredentialFactory(vendor=vendor, system=system)
    result = services.revocation_sweep(actor=ACTOR)
    assert result.expired == 1 and result.requested == 0
    for credential in (expired, later, never):
        credential.refresh_from_db()
    assert (expired.status, later.status, never.status) == ("pending", "active", "active")
    event = requests_of(expired).get()
    assert event.after["trigger"] == "expiry"
    assert event.after["policy"] == {"name": "expiry", "field": "expires_at"}
    assert "expiry" in expired.revocation_reason
    # The next sweep finds nothing new: one request per credential.
    assert services.revocation_sweep(actor=ACTOR).expired == 0
    assert requests_of(expired).count() == 1


def _api_key(vendor, system, days_old, **fields):
    fields.setdefault("issued_at", timezone.now() - dt.timedelta(days=days_old))
    return CredentialFactory(vendor=vendor, system=system, kind="api_key", **fields)


def test_max_age_by_kind_is_a_finding_and_no_revocation_by_default(agency):
    vendor = VendorFactory(agency=agency)
    system = SystemFactory(agency=agency)
    old_key = _api_key(vendor, system, 400)
    young_key = _api_key(vendor, system, 30)
    old_role = CredentialFactory(
        vendor=vendor, system=system, issued_at=timezone.now() - dt.timedelta(days=4000)
    )  # database roles have no maximum age by default
    result = policies_apply(actor=ACTOR)
    assert result.over_age == 1 and result.findings_opened == 1 and result.revoked == []
    finding = Finding.objects.get(kind="max_age")
    assert finding.credential_id == old_key.pk and finding.evidence["limit_days"] == 365
    assert "365 days" in finding.summary
    for credential in (old_key, young_key, old_role):
        credential.refresh_from_db()
        assert credential.status == "active"
    # Seen again: the same finding, no second one, no second event.
    policies_apply(actor=ACTOR)
    assert Finding.objects.filter(kind="max_age").count() == 1
    assert AuditEvent.objects.filter(action="finding.opened").count() == 1


def test_max_age_revokes_when_the_agency_says_so_and_names_the_policy(agency, other_agency):
    vendor = VendorFactory(agency=agency)
    system = SystemFactory(agency=agency)
    old_key = _api_key(vendor, system, 40)
    ssh_key = CredentialFactory(
        vendor=vendor,
        system=system,
        kind="ssh_key",
        issued_at=timezone.now() - dt.timedelta(days=40),
    )
    other_vendor = VendorFactory(agency=other_agency)
    elsewhere = _api_key(other_vendor, SystemFactory(agency=other_agency), 40)
    finding_policy_set(
        actor=ACTOR, agency=agency, max_age_days={"api_key": 30}, max_age_revoke=True
    )
    change = AuditEvent.objects.get(action="agency.finding_policy_changed")
    assert change.after["max_age_days"] == {"api_key": 30} and change.after["max_age_revoke"]
    result = policies_apply(actor=ACTOR)
    assert result.revoked == [old_key.pk]
    for credential in (old_key, ssh_key, elsewhere):
        credential.refresh_from_db()
    assert (old_key.status, ssh_key.status, elsewhere.status) == ("pending", "active", "active")
    event = requests_of(old_key).get()
    assert event.after["trigger"] == "max_age"
    assert event.after["policy"] == {"name": "max_age", "credential_kind": "api_key", "days": 30}
    # Revoked, the access is no longer over age: its finding resolves itself.
    policies_apply(actor=ACTOR)
    finding = Finding.objects.get(credential=old_key, kind="max_age")
    assert finding.status == "resolved"


def test_never_issued_counts_from_registration(agency):
    vendor = VendorFactory(agency=agency)
    key = _api_key(vendor, SystemFactory(agency=agency), 0, issued_at=None)
    type(key).objects.filter(pk=key.pk).update(created_at=timezone.now() - dt.timedelta(days=500))
    assert policies_apply(actor=ACTOR).over_age == 1


def test_policy_values_are_checked(agency):
    with pytest.raises(ValidationError, match="not a credential kind"):
        finding_policy_set(actor=ACTOR, agency=agency, max_age_days={"door_key": 30})
    with pytest.raises(ValidationError, match="at least 1"):
        finding_policy_set(actor=ACTOR, agency=agency, max_age_days={"api_key": 0})
    policy = finding_policy_set(actor=ACTOR, agency=agency, max_age_days={})
    assert policy.max_age_days == {}
    assert policies_apply(actor=ACTOR).over_age == 0


def test_the_command_shows_and_changes_the_policy(agency):
    import io

    from django.core.management import CommandError, call_command

    out = io.StringIO()
    call_command("finding_policy", agency.slug, stdout=out)
    assert "api_key 365 days" in out.getvalue() and "defaults" in out.getvalue()
    out = io.StringIO()
    call_command(
        "finding_policy",
        agency.slug,
        "--max-age",
        "api_key=180",
        "--max-age-revoke",
        "--dormant-days",
        "35",
        stdout=out,
    )
    assert "api_key 180 days" in out.getvalue() and "ssh_key" not in out.getvalue()
    assert "revoke over age: yes" in out.getvalue() and "dormant after 35 days" in out.getvalue()
    event = AuditEvent.objects.get(action="agency.finding_policy_changed")
    assert event.actor_name == "system:finding-policy-command"
    assert event.after["max_age_days"] == {"api_key": 180}
    with pytest.raises(CommandError, match="not a credential kind"):
        call_command("finding_policy", agency.slug, "--max-age", "door=3", stdout=io.StringIO())
    with pytest.raises(CommandError, match="No agency"):
        call_command("finding_policy", "nowhere", stdout=io.StringIO())
