"""Reviews over the API: reviewers answer their own items, officers run campaigns."""

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from reviews.models import ReviewItem
from tests.api.conftest import token_client
from tests.factories import CredentialFactory, SystemFactory, UserFactory, VendorFactory
from vendors.permissions import role_grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def sponsor(agency):
    user = UserFactory(username="sponsor")
    role_grant(user=user, agency=agency, role="auditor")
    return user


def test_a_campaign_from_open_to_answers(agency, officer, sponsor):
    mine = VendorFactory(agency=agency, sponsor=sponsor)
    theirs = VendorFactory(agency=agency, sponsor=officer)
    system = SystemFactory(agency=agency)
    keep, revoke = (CredentialFactory(vendor=mine, system=system) for _ in range(2))
    other = CredentialFactory(vendor=theirs, system=system)
    boss = token_client(officer)
    bad = boss.post(
        "/api/v1/review-campaigns/",
        {"agency": agency.pk, "name": "Q1", "scope": "vendor", "deadline": "2000-01-01T00:00Z"},
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"deadline", "vendor"}
    deadline = (timezone.now() + dt.timedelta(days=7)).isoformat()
    created = boss.post(
        "/api/v1/review-campaigns/",
        {"agency": agency.pk, "name": "Q1", "deadline": deadline},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["items"], body["pending"], body["status"]) == (3, 3, "open")

    client = token_client(sponsor)
    listed = client.get("/api/v1/review-items/", {"mine": "true"}).json()["results"]
    assert {row["credential"] for row in listed} == {keep.pk, revoke.pk}
    items = {i.credential_id: i.pk for i in ReviewItem.objects.all()}
    no_reason = client.post(
        f"/api/v1/review-items/{items[keep.pk]}/decide/", {"decision": "keep"}, format="json"
    )
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["error"]["fields"]
    kept = client.post(
        f"/api/v1/review-items/{items[keep.pk]}/decide/",
        {"decision": "keep", "reason": "On the payroll project"},
        format="json",
    )
    assert kept.status_code == 200 and kept.json()["decision"] == "keep"
    again = client.post(
        f"/api/v1/review-items/{items[keep.pk]}/decide/",
        {"decision": "revoke"},
        format="json",
    )
    assert again.status_code == 400
    # Not theirs: refused and audited.
    denied = client.post(
        f"/api/v1/review-items/{items[other.pk]}/decide/", {"decision": "revoke"}, format="json"
    )
    assert denied.status_code == 403
    assert AuditEvent.objects.filter(action="api.permission_denied").count() == 1
    bulk = client.post(
        "/api/v1/review-items/decide/",
        {"items": [items[revoke.pk], items[other.pk]], "decision": "revoke"},
        format="json",
    )
    assert bulk.status_code == 200 and bulk.json() == {"decided": [items[revoke.pk]]}
    revoke.refresh_from_db()
    other.refresh_from_db()
    assert revoke.status == "pending" and other.status == "active"
    campaign = boss.get(f"/api/v1/review-campaigns/{body['id']}/").json()
    assert (campaign["kept"], campaign["revoked"], campaign["pending"]) == (1, 1, 1)
    closed = boss.post(f"/api/v1/review-campaigns/{body['id']}/close/", format="json")
    assert closed.json()["status"] == "closed" and closed.json()["lapsed"] == 1
    other.refresh_from_db()
    assert other.status == "pending"
