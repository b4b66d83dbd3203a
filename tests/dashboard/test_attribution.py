"""A vendor's account patterns and allowed networks on the dashboard: listed, added and
removed (audited), refused with form errors, and only by who manages the inventory."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from findings.models import AccountPattern, VendorNetwork
from tests.factories import VendorFactory
from tests.sessions import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def vendor(agency):
    return VendorFactory(agency=agency, name="Acme Data")


def test_officer_adds_and_removes_patterns_and_networks(officer, vendor):
    client = signed_in(officer)
    url = reverse("vendor_attribution", args=[vendor.pk])
    detail = client.get(reverse("vendor_detail", args=[vendor.pk]))
    assert url in detail.content.decode()

    response = client.post(url, {"add": "network", "network-cidr": "203.0.113.0/24"})
    assert response.status_code == 302
    response = client.post(
        url, {"add": "pattern", "pattern-kind": "prefix", "pattern-value": "acme_"}
    )
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert "203.0.113.0/24" in page and "acme_" in page
    network = VendorNetwork.objects.get(vendor=vendor)
    pattern = AccountPattern.objects.get(vendor=vendor)
    added = AuditEvent.objects.filter(
        action__in=["vendor.network_allowed", "vendor.account_pattern_added"]
    )
    assert added.count() == 2 and {e.agency_id for e in added} == {vendor.agency_id}

    # Bad input: the form says why, nothing is stored.
    for body in (
        {"add": "network", "network-cidr": "10.0.0.1/8"},
        {"add": "network", "network-cidr": "not a network"},
        {"add": "network", "network-cidr": "203.0.113.0/24"},
        {"add": "pattern", "pattern-kind": "regex", "pattern-value": ".*"},
        {"add": "pattern", "pattern-kind": "prefix", "pattern-value": ""},
    ):
        response = client.post(url, body)
        assert response.status_code == 400, body
        assert "usa-error-message" in response.content.decode(), body
    assert VendorNetwork.objects.count() == 1 and AccountPattern.objects.count() == 1

    remove = reverse("vendor_network_remove", args=[vendor.pk, network.pk])
    assert client.post(remove).status_code == 302
    remove = reverse("vendor_pattern_remove", args=[vendor.pk, pattern.pk])
    assert client.post(remove).status_code == 302
    assert not VendorNetwork.objects.exists() and not AccountPattern.objects.exists()
    removed = AuditEvent.objects.get(action="vendor.network_removed")
    assert removed.before == {"cidr": "203.0.113.0/24", "note": ""}
    assert AuditEvent.objects.filter(action="vendor.account_pattern_removed").count() == 1


def test_readers_see_but_cannot_edit_and_outsiders_see_nothing(auditor, outsider, vendor):
    VendorNetwork.objects.create(vendor=vendor, cidr="198.51.100.0/24")
    url = reverse("vendor_attribution", args=[vendor.pk])
    reader = signed_in(auditor)
    page = reader.get(url)
    assert page.status_code == 200 and "198.51.100.0/24" in page.content.decode()
    assert "Add network" not in page.content.decode()
    assert reader.post(url, {"add": "network", "network-cidr": "192.0.2.0/24"}).status_code == 404
    network = VendorNetwork.objects.get()
    remove = reverse("vendor_network_remove", args=[vendor.pk, network.pk])
    assert reader.post(remove).status_code == 404
    assert signed_in(outsider).get(url).status_code == 404
    assert VendorNetwork.objects.count() == 1
