"""System lifecycle acts: decommissioning revokes everything on the system."""

import pytest

from access.services import system_update
from audit.actor import Actor
from audit.models import AuditEvent
from tests.factories import CredentialFactory, SystemFactory, VendorFactory

pytestmark = pytest.mark.django_db


def test_decommissioning_a_system_revokes_every_credential_on_it(agency, officer):
    system = SystemFactory(agency=agency, name="old-ledger")
    vendor = VendorFactory(agency=agency)
    live = [CredentialFactory(vendor=vendor, system=system) for _ in range(2)]
    failed = CredentialFactory(vendor=vendor, system=system, status="failed")
    elsewhere = CredentialFactory(vendor=vendor, system=SystemFactory(agency=agency))
    system_update(actor=Actor.for_user(officer), system=system, lifecycle="decommissioned")
    for credential in (*live, failed):
        credential.refresh_from_db()
        assert credential.status == "pending"
    elsewhere.refresh_from_db()
    assert elsewhere.status == "active"
    events = AuditEvent.objects.filter(action="credential.revocation_requested")
    assert events.count() == 3
    assert {e.after["trigger"] for e in events} == {"system_decommissioned"}
    assert {e.actor_name for e in events} == {"officer"}
    # Saving it again (already decommissioned) requests nothing more.
    system_update(actor=Actor.for_user(officer), system=system, owner_email="x@agency.example")
    assert AuditEvent.objects.filter(action="credential.revocation_requested").count() == 3


def test_home_lists_legacy_systems_with_live_vendor_access(agency, officer):
    import datetime as dt

    from django.urls import reverse
    from django.utils import timezone

    from tests.factories import ContractFactory
    from tests.sessions import signed_in

    legacy = SystemFactory(
        agency=agency, name="old-benefits-db", lifecycle="legacy", estimated_records=2_400_000
    )
    SystemFactory(agency=agency, name="empty-legacy", lifecycle="legacy", estimated_records=0)
    vendor = VendorFactory(agency=agency)
    ended = ContractFactory(
        vendor=vendor,
        end_date=timezone.localdate() - dt.timedelta(days=12),
        access_ends_at=timezone.now() - dt.timedelta(days=11, hours=1),
        status="ended",
    )
    CredentialFactory(vendor=vendor, system=legacy, contracts=[ended])
    CredentialFactory(vendor=vendor, system=legacy)
    html = signed_in(officer).get(reverse("home")).content.decode()
    section = html[html.index('data-testid="legacy-exposure"') :]
    assert "old-benefits-db" in section and "2,400,000" in section
    assert "11 days" in section
    assert "empty-legacy" not in html
