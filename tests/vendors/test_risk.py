"""Risk per vendor: the documented score, its parts, and one query for a whole list."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access.models import Credential
from findings.models import Finding
from tests.factories import CredentialFactory, SystemFactory, VendorFactory
from vendors.models import Vendor
from vendors.risk import risk_annotate, risk_parts

pytestmark = pytest.mark.django_db


def scored(vendor):
    return risk_annotate(Vendor.objects.filter(pk=vendor.pk)).get()


def finding(vendor, system, severity, n, status="open"):
    now = timezone.now()
    return Finding.objects.create(
        kind="orphan",
        severity=severity,
        status=status,
        system=system,
        vendor=vendor,
        account=f"{vendor.pk}-{severity}-{n}",
        first_seen_at=now,
        last_seen_at=now,
    )


def test_the_parts_add_up_as_documented(agency):
    vendor = VendorFactory(agency=agency, risk_tier="high")
    assert risk_parts(scored(vendor)) == {
        "tier": 18,
        "classification": 0,
        "records": 0,
        "privileges": 0,
        "findings": 0,
    }
    crm = SystemFactory(
        agency=agency, data_classification="confidential", estimated_records=2_500_000
    )
    tax = SystemFactory(agency=agency, data_classification="restricted", estimated_records=5_000)
    CredentialFactory(vendor=vendor, system=crm, privileges="SELECT on crm.*")
    CredentialFactory(vendor=vendor, system=crm, privileges="superuser")
    CredentialFactory(vendor=vendor, system=tax, privileges="db_owner, write")
    # Revoked access counts for nothing, however privileged or sensitive.
    vault = SystemFactory(agency=agency, data_classification="restricted", estimated_records=10**8)
    CredentialFactory(
        vendor=vendor,
        system=vault,
        privileges="ALL PRIVILEGES",
        status=Credential.Status.REVOKED,
        revoked_at=timezone.now(),
    )
    for n in range(2):
        finding(vendor, crm, "critical", n)
    finding(vendor, crm, "medium", 3)
    finding(vendor, crm, "high", 4, status="resolved")
    vendor = scored(vendor)
    assert risk_parts(vendor) == {
        "tier": 18,
        "classification": 25,  # restricted (tax)
        "records": 15,  # 2.5 million (crm)
        "privileges": 7,  # superuser, db_owner/write
        "findings": 20,  # 10 + 10 + 2, capped at 20
    }
    assert vendor.risk_score == 85


def test_the_list_sorts_by_risk_in_one_query(agency):
    low = VendorFactory(agency=agency, risk_tier="low", name="Low")
    critical = VendorFactory(agency=agency, risk_tier="critical", name="Critical")
    medium = VendorFactory(agency=agency, risk_tier="medium", name="Medium")
    restricted = SystemFactory(agency=agency, data_classification="restricted")
    CredentialFactory(vendor=medium, system=restricted)
    internal = SystemFactory(agency=agency, data_classification="internal")
    for n in range(40):
        other = VendorFactory(agency=agency, risk_tier="low", name=f"Bulk {n}")
        CredentialFactory(vendor=other, system=internal)
    with CaptureQueriesContext(connection) as queries:
        ranked = list(risk_annotate(Vendor.objects.all()).order_by("-risk_score", "name"))
    assert len(queries) == 1
    assert [v.pk for v in ranked[:2]] == [medium.pk, critical.pk]  # 10 + 25 > 25
    assert ranked[-1].pk == low.pk
