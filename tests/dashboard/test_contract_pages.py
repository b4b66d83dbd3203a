"""Contract and vendor pages say what the rules mean: a contract wholly in the past is
questioned before it is saved, a duplicate registration number is a readable error, and
a vendor whose contracts all ended does not look like one with a running contract."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import ContractFactory, VendorFactory
from vendors.models import Contract

pytestmark = pytest.mark.django_db


def test_a_contract_wholly_in_the_past_is_questioned(procurement_client, estate):
    today = timezone.localdate()
    data = {
        "vendor": estate["vendor"].pk,
        "reference": "OLD-1",
        "start_date": (today - dt.timedelta(days=400)).isoformat(),
        "end_date": (today - dt.timedelta(days=30)).isoformat(),
        "grace_days": 0,
    }
    warned = procurement_client.post(reverse("contract_create"), data)
    assert warned.status_code == 400
    body = warned.content.decode()
    assert "wholly in the past" in body and 'name="past_ok"' in body
    assert not Contract.objects.filter(reference="OLD-1").exists()
    saved = procurement_client.post(reverse("contract_create"), {**data, "past_ok": "on"})
    assert saved.status_code == 302
    assert Contract.objects.filter(reference="OLD-1").exists()
    # Grace days that reach into the future make it no past contract.
    recent = {**data, "reference": "RECENT", "grace_days": 60}
    assert procurement_client.post(reverse("contract_create"), recent).status_code == 302


def test_duplicate_registration_number_is_readable(procurement_client, estate, agency):
    response = procurement_client.post(
        reverse("vendor_create"),
        {
            "agency": agency.slug,
            "name": "Other GmbH",
            "registration_number": "HRB-1",
            "risk_tier": "medium",
        },
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "Another vendor of this agency already has this registration number." in body
    assert "Constraint" not in body


def test_vendor_list_tells_ended_contracts_apart(procurement_client, agency):
    now = timezone.now()
    today = timezone.localdate()
    done = VendorFactory(agency=agency, name="Done Ltd")
    ContractFactory(
        vendor=done,
        reference="D-1",
        start_date=today - dt.timedelta(days=100),
        end_date=today - dt.timedelta(days=10),
        access_ends_at=now - dt.timedelta(days=9),
        status="ended",
    )
    VendorFactory(agency=agency, name="Fresh Ltd")
    running = VendorFactory(agency=agency, name="Running Ltd")
    ContractFactory(vendor=running, reference="R-1")
    body = procurement_client.get(reverse("vendor_list")).content.decode()
    assert f"Ended {today - dt.timedelta(days=10):%Y-%m-%d}" in body
    assert "every contract ended" in body
    assert "No contract" in body and "no contract yet" in body
    assert body.count('data-testid="no-running-contract"') == 2
