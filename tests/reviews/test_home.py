"""Home's policy figures: time to verified revocation against the targets, reviews
overdue, attestations missing."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.actor import Actor
from audit.services import audit_record_standalone
from dashboard.policy_targets import _percentile, policy_targets
from reviews.models import ReviewCampaign, ReviewItem, RosterAttestation
from tests.factories import ContractFactory, CredentialFactory, SystemFactory, VendorFactory
from tests.sessions import signed_in

pytestmark = pytest.mark.django_db


def revoked_after_end(vendor, system, hours: float, now):
    ended = now - dt.timedelta(days=2)
    contract = ContractFactory(vendor=vendor, access_ends_at=ended, status="ended")
    return CredentialFactory(
        vendor=vendor,
        system=system,
        contracts=[contract],
        status="revoked",
        revoked_at=ended + dt.timedelta(hours=hours),
    )


def test_percentiles_of_contract_end_and_kill_switch_against_the_targets(
    agency, other_agency, officer
):
    now = timezone.now()
    vendor = VendorFactory(agency=agency)
    system = SystemFactory(agency=agency)
    for hours in (1, 2, 3, 4, 30):
        revoked_after_end(vendor, system, hours, now)
    # Outside the window, still live, or another agency's: not counted.
    old = revoked_after_end(vendor, system, 1, now)
    type(old).objects.filter(pk=old.pk).update(revoked_at=now - dt.timedelta(days=100))
    CredentialFactory(vendor=vendor, system=system)
    other = VendorFactory(agency=other_agency)
    revoked_after_end(other, SystemFactory(agency=other_agency), 500, now)
    # A kill switch revoked 30 minutes after it was pulled.
    killed = CredentialFactory(vendor=vendor, system=system, status="revoked", revoked_at=now)
    event = audit_record_standalone(
        actor=Actor.system("test"),
        action="credential.revocation_requested",
        target=killed,
        agency_id=agency.pk,
        after={"trigger": "kill_switch"},
    )
    type(killed).objects.filter(pk=killed.pk).update(
        revoked_at=event.occurred_at + dt.timedelta(minutes=30)
    )
    figures = policy_targets(agency_ids=[agency.pk, other_agency.pk], now=now)
    mine = figures[agency.pk]
    ends = mine.contract_end
    assert ends.count == 5 and ends.target_hours == 24
    assert ends.p50 == pytest.approx(3 * 3600, abs=1)
    assert ends.p95 == pytest.approx(_percentile([1, 2, 3, 4, 30], 0.95) * 3600, abs=1)
    assert ends.within == 4 and ends.within_share == 80 and ends.met is False
    kill = mine.kill_switch
    assert kill.count == 1 and kill.p50 == pytest.approx(1800, abs=1) and kill.met is True
    assert figures[other_agency.pk].contract_end.count == 1
    html = signed_in(officer).get(reverse("home")).content.decode()
    section = html[html.index('data-testid="policy-targets"') :]
    assert "3 h 0 min" in section and "target 24 h" in section and "80% of 5 within" in section
    assert "30 min 0 s" in section and "target 1 h" in section


def test_reviews_overdue_and_attestations_missing(agency):
    now = timezone.now()
    vendor = VendorFactory(agency=agency)
    credential = CredentialFactory(vendor=vendor, system=SystemFactory(agency=agency))
    ReviewCampaign.objects.create(agency=agency, name="late", deadline=now - dt.timedelta(hours=1))
    ReviewCampaign.objects.create(agency=agency, name="fine", deadline=now + dt.timedelta(days=1))
    closed = ReviewCampaign.objects.create(
        agency=agency, name="escalated", deadline=now, status="closed"
    )
    ReviewItem.objects.create(campaign=closed, credential=credential, decision="escalated")
    for status in ("completed", "missed"):  # the latest one counts
        RosterAttestation.objects.create(
            vendor=vendor,
            status=status,
            token_hash=status.ljust(64, "0"),
            sent_to="s@v.example",
            sent_at=now - dt.timedelta(days=1 if status == "missed" else 40),
            expires_at=now,
        )
    figures = policy_targets(agency_ids=[agency.pk], now=now)[agency.pk]
    assert figures.reviews_overdue == 2 and figures.attestations_missing == 1
    assert figures.contract_end.count == 0 and figures.contract_end.p50_text == "—"
