"""Dashboard fixtures: a small estate in two agencies and signed-in clients per persona."""

import datetime as dt

import pytest
from django.utils import timezone

from access.models import Credential, System
from findings.models import Finding
from tests.factories import ContractFactory, CredentialFactory, SystemFactory, VendorFactory
from tests.sessions import signed_in


@pytest.fixture
def estate(agency, other_agency):
    """Vendors, contracts, systems and credentials in ``agency`` and ``other_agency``."""
    today = timezone.localdate()
    acme = VendorFactory(agency=agency, name="Acme Data Services", registration_number="HRB-1")
    ended = ContractFactory(
        vendor=acme,
        reference="ACME-OLD",
        start_date=today - dt.timedelta(days=400),
        end_date=today - dt.timedelta(days=3),
        access_ends_at=timezone.now() - dt.timedelta(days=2),
        status="ended",
    )
    running = ContractFactory(vendor=acme, reference="ACME-2026")
    db = SystemFactory(agency=agency, name="citizen-db", kind=System.Kind.POSTGRES)
    desk = SystemFactory(agency=agency, name="helpdesk", kind=System.Kind.MANUAL)
    live = CredentialFactory(vendor=acme, system=db, external_id="acme_rw", contracts=[running])
    overdue = CredentialFactory(vendor=acme, system=desk, external_id="acme_old", contracts=[ended])
    failed = CredentialFactory(
        vendor=acme,
        system=db,
        external_id="acme_broken",
        contracts=[running],
        status=Credential.Status.FAILED,
        last_error="permission denied to drop role",
    )
    # The other agency: nothing of this may ever show up for agency users.
    secret_vendor = VendorFactory(
        agency=other_agency, name="Zeta Secret Contractors", registration_number="HRB-ZETA"
    )
    secret_contract = ContractFactory(vendor=secret_vendor, reference="ZETA-CONTRACT")
    secret_system = SystemFactory(agency=other_agency, name="zeta-tax-ledger")
    secret_credential = CredentialFactory(
        vendor=secret_vendor,
        system=secret_system,
        external_id="zeta_admin",
        contracts=[secret_contract],
    )
    finding = Finding.objects.create(
        kind="drift",
        severity="critical",
        system=db,
        account="acme_rw",
        vendor=acme,
        credential=live,
        first_seen_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    return {
        "finding": finding,
        "vendor": acme,
        "ended": ended,
        "running": running,
        "db": db,
        "desk": desk,
        "live": live,
        "overdue": overdue,
        "failed": failed,
        "secret_vendor": secret_vendor,
        "secret_contract": secret_contract,
        "secret_system": secret_system,
        "secret_credential": secret_credential,
    }


@pytest.fixture
def officer_client(officer):
    return signed_in(officer)


@pytest.fixture
def procurement_client(procurement):
    return signed_in(procurement, verified=False)


@pytest.fixture
def auditor_client(auditor):
    return signed_in(auditor, verified=False)


@pytest.fixture
def outsider_client(outsider):
    return signed_in(outsider)
