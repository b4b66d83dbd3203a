"""The ownership table: ``restrict``, ``agency_id_of`` and the held-permission summary agree."""

import pytest
from django.apps import apps
from django.contrib.auth.models import AnonymousUser, Group
from django.utils import timezone
from guardian.shortcuts import assign_perm

from audit.actor import Actor
from audit.services import audit_record_standalone
from findings.models import (
    AccountPattern,
    Finding,
    FindingPolicy,
    ReconcileSchedule,
    ReconciliationRun,
    UsageEvent,
    VendorNetwork,
)
from jobs.models import Job
from reviews.models import ReviewCampaign, ReviewItem, ReviewSchedule, RosterAttestation
from revocation.models import ManualTask, RevocationAttempt
from tests.factories import CredentialFactory, UserFactory
from vendors.permissions import (
    AGENCY_OWNER,
    AGENCY_PERMS,
    MANAGE_CONTRACTS,
    REVOKE,
    VIEW,
    agencies_for,
    agency_id_of,
    agency_ids_for,
    perms_held_anywhere,
    restrict,
    role_grant,
)

pytestmark = pytest.mark.django_db


def _one_of_each(agency) -> dict:
    """A row of every model in the table, all owned by ``agency``."""
    credential = CredentialFactory(vendor__agency=agency)
    contract = credential.contracts.first()
    now = timezone.now()
    rows = {
        "vendors.agency": agency,
        "vendors.vendor": credential.vendor,
        "vendors.contract": contract,
        "access.system": credential.system,
        "access.credential": credential,
        "revocation.revocationattempt": RevocationAttempt.objects.create(
            credential=credential,
            system=credential.system,
            connector="manual",
            worker="tests",
            attempt=1,
            outcome=RevocationAttempt.Outcome.ERROR,
            started_at=now,
        ),
        "revocation.manualtask": ManualTask.objects.create(
            credential=credential,
            system=credential.system,
            reason=ManualTask.Reason.FAILED,
            opened_at=now,
        ),
        "findings.finding": Finding.objects.create(
            kind="orphan",
            severity="high",
            system=credential.system,
            account="orphan",
            first_seen_at=now,
            last_seen_at=now,
        ),
        "findings.reconciliationrun": ReconciliationRun.objects.create(
            system=credential.system, trigger="tests", queued_at=now
        ),
        "findings.reconcileschedule": ReconcileSchedule.objects.create(system=credential.system),
        "findings.accountpattern": AccountPattern.objects.create(
            vendor=credential.vendor, kind="prefix", value="acme_"
        ),
        "findings.findingpolicy": FindingPolicy.objects.create(agency=agency),
        "findings.vendornetwork": VendorNetwork.objects.create(
            vendor=credential.vendor, cidr="192.0.2.0/24"
        ),
        "findings.usageevent": UsageEvent.objects.create(
            system=credential.system,
            event_id="e-1",
            account="acme_ro",
            occurred_at=now,
            received_at=now,
        ),
        "reviews.reviewcampaign": (
            campaign := ReviewCampaign.objects.create(agency=agency, name="c", deadline=now)
        ),
        "reviews.reviewitem": ReviewItem.objects.create(campaign=campaign, credential=credential),
        "reviews.reviewschedule": ReviewSchedule.objects.create(
            agency=agency, name="s", interval_days=90, next_run_at=now
        ),
        "reviews.rosterattestation": RosterAttestation.objects.create(
            vendor=credential.vendor,
            token_hash="0" * 64,
            sent_to="sec@vendor.example",
            sent_at=now,
            expires_at=now,
        ),
        "jobs.job": Job.objects.create(
            kind=Job.Kind.EVIDENCE_PACK,
            agency=agency,
            actor_type="system",
            actor_name="t",
            created_at=now,
        ),
        "audit.auditevent": audit_record_standalone(
            actor=Actor.system("tests"),
            action="tests.owned",
            target=credential,
            agency_id=agency.pk,
        ),
    }
    assert set(rows) == set(AGENCY_OWNER)
    return rows


def test_restrict_and_agency_id_of_read_the_same_path(agency, other_agency, officer, outsider):
    for label, obj in _one_of_each(agency).items():
        model = apps.get_model(label)
        assert agency_id_of(obj) == agency.pk, label
        assert restrict(model.objects.filter(pk=obj.pk), officer, VIEW).exists(), label
        assert not restrict(model.objects.filter(pk=obj.pk), outsider, VIEW).exists(), label


def test_held_permissions_are_the_union_over_agencies(agency, other_agency):
    user = UserFactory()
    assert perms_held_anywhere(user) == frozenset()
    role_grant(user=user, agency=agency, role="auditor")
    role_grant(user=user, agency=other_agency, role="procurement")
    held = perms_held_anywhere(user)
    assert MANAGE_CONTRACTS in held and REVOKE not in held
    # The summary for links and the row filter come from the same lookup.
    assert held == {p for p in AGENCY_PERMS if agencies_for(user, p).exists()}
    user.is_active = False
    assert perms_held_anywhere(user) == frozenset()


def test_superuser_holds_every_agency_permission(admin_user):
    assert perms_held_anywhere(admin_user) == frozenset(AGENCY_PERMS)


def test_agency_ids_for_reads_what_guardian_reads(agency, other_agency, admin_user):
    # agency_ids_for is guardian's query written out: direct grants, grants to a group
    # the user is in (not to other groups), superusers everywhere, inactive users nowhere.
    direct, grouped, inactive, nobody = UserFactory(), UserFactory(), UserFactory(), UserFactory()
    role_grant(user=direct, agency=agency, role="auditor")
    role_grant(user=inactive, agency=agency, role="auditor")
    inactive.is_active = False
    inactive.save()
    group, stranger = Group.objects.create(name="readers"), Group.objects.create(name="others")
    grouped.groups.add(group)
    assign_perm(VIEW, group, other_agency)
    assign_perm(REVOKE, stranger, agency)
    for user in (direct, grouped, inactive, nobody, admin_user, AnonymousUser()):
        for perm in AGENCY_PERMS:
            expected = sorted(agencies_for(user, perm).values_list("pk", flat=True))
            assert sorted(agency_ids_for(user, perm)) == expected, (user, perm)
    assert agency_ids_for(direct, VIEW) == [agency.pk]
    assert agency_ids_for(grouped, VIEW) == [other_agency.pk]
    assert agency_ids_for(grouped, REVOKE) == []
