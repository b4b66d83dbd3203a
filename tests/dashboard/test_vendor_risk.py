"""The vendor list's risk score column, sortable by it, and the score on the vendor's page."""

import pytest
from django.urls import reverse

from tests.factories import CredentialFactory, SystemFactory, VendorFactory
from tests.sessions import signed_in

pytestmark = pytest.mark.django_db


def test_vendor_list_sorts_by_risk_score(auditor, agency):
    VendorFactory(agency=agency, name="Aardvark Calm", risk_tier="low")
    risky = VendorFactory(agency=agency, name="Zebra Risky", risk_tier="critical")
    vault = SystemFactory(agency=agency, data_classification="restricted", estimated_records=10**7)
    CredentialFactory(vendor=risky, system=vault, privileges="superuser")
    client = signed_in(auditor)

    by_name = client.get(reverse("vendor_list")).content.decode()
    assert by_name.index("Aardvark Calm") < by_name.index("Zebra Risky")
    by_risk = client.get(reverse("vendor_list") + "?sort=risk").content.decode()
    assert by_risk.index("Zebra Risky") < by_risk.index("Aardvark Calm")
    assert f'data-testid="risk-{risky.pk}"' in by_risk
    # 25 (critical) + 25 (restricted) + 20 (10 million records) + 4 (one superuser)
    assert "tier 25 + data 25 + records 20 + privileges 4 + findings 0" in by_risk
    assert client.get(reverse("vendor_list") + "?sort=nonsense").status_code == 200

    page = client.get(reverse("vendor_detail", args=[risky.pk])).content.decode()
    assert "74" in page.split('data-testid="risk-score">')[1][:10]
