"""Every write and verb of the API leaves its audit event, with the token as actor."""

import datetime as dt

import pytest

from api.models import ApiToken
from audit.models import AuditEvent
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db
TODAY = dt.date.today()


def _call(client, method, url, body):
    response = getattr(client, method)(url, body, format="json")
    assert response.status_code < 300, response.content
    return response


ACTIONS = [
    (
        "vendor.created",
        "post",
        lambda w: "/api/v1/vendors/",
        lambda w: {"agency": w["agency"].pk, "name": "Acme"},
    ),
    (
        "vendor.updated",
        "patch",
        lambda w: f"/api/v1/vendors/{w['vendor'].pk}/",
        lambda w: {"risk_tier": "high"},
    ),
    (
        "vendor.kill_switch",
        "post",
        lambda w: f"/api/v1/vendors/{w['vendor'].pk}/kill-switch/",
        lambda w: {"reason": "breach"},
    ),
    (
        "contract.created",
        "post",
        lambda w: "/api/v1/contracts/",
        lambda w: {
            "vendor": w["vendor"].pk,
            "reference": "C-NEW",
            "start_date": str(TODAY),
            "end_date": str(TODAY + dt.timedelta(days=10)),
        },
    ),
    (
        "contract.updated",
        "patch",
        lambda w: f"/api/v1/contracts/{w['contract'].pk}/",
        lambda w: {"title": "Support"},
    ),
    (
        "contract.end_date_changed",
        "patch",
        lambda w: f"/api/v1/contracts/{w['contract'].pk}/",
        lambda w: {"end_date": str(TODAY + dt.timedelta(days=200)), "change_reason": "renewed"},
    ),
    (
        "contract.terminated",
        "post",
        lambda w: f"/api/v1/contracts/{w['contract'].pk}/terminate/",
        lambda w: {"reason": "breach", "effective_date": str(TODAY)},
    ),
    (
        "system.created",
        "post",
        lambda w: "/api/v1/systems/",
        lambda w: {"agency": w["agency"].pk, "name": "crm", "kind": "manual"},
    ),
    (
        "system.updated",
        "patch",
        lambda w: f"/api/v1/systems/{w['system'].pk}/",
        lambda w: {"secret": "s3cret-value"},
    ),
    (
        "credential.registered",
        "post",
        lambda w: "/api/v1/credentials/",
        lambda w: {
            "vendor": w["vendor"].pk,
            "system": w["system"].pk,
            "contracts": [w["contract"].pk],
            "kind": "api_key",
            "external_id": "key-1",
        },
    ),
    (
        "credential.updated",
        "patch",
        lambda w: f"/api/v1/credentials/{w['credential'].pk}/",
        lambda w: {"privileges": "SELECT"},
    ),
    (
        "credential.revocation_requested",
        "post",
        lambda w: f"/api/v1/credentials/{w['credential'].pk}/revoke/",
        lambda w: {"reason": "left the project"},
    ),
    (
        "finding.acknowledged",
        "post",
        lambda w: f"/api/v1/findings/{w['finding'].pk}/acknowledge/",
        lambda w: {"reason": "on it"},
    ),
    (
        "finding.resolved",
        "post",
        lambda w: f"/api/v1/findings/{w['finding'].pk}/resolve/",
        lambda w: {"reason": "account dropped by the DBA"},
    ),
    (
        "finding.false_positive",
        "post",
        lambda w: f"/api/v1/findings/{w['finding'].pk}/false-positive/",
        lambda w: {"reason": "the agency's own backup role"},
    ),
    (
        "finding.adopted",
        "post",
        lambda w: f"/api/v1/findings/{w['finding'].pk}/adopt/",
        lambda w: {"vendor": w["vendor"].pk, "contracts": [w["contract"].pk]},
    ),
    (
        "system.reconciliation_requested",
        "post",
        lambda w: f"/api/v1/systems/{w['system'].pk}/reconcile/",
        lambda w: {},
    ),
    (
        "system.usage_reported",
        "post",
        lambda w: "/api/v1/usage-events/",
        lambda w: {
            "events": [
                {
                    "id": "audit-1",
                    "system": w["system"].pk,
                    "account": "own_role",
                    "occurred_at": "2026-01-01T00:00:00Z",
                    "source_address": "192.0.2.1",
                    "bytes": 10,
                }
            ]
        },
    ),
    (
        "review.campaign_opened",
        "post",
        lambda w: "/api/v1/review-campaigns/",
        lambda w: {
            "agency": w["agency"].pk,
            "name": "Yearly",
            "deadline": (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat(),
        },
    ),
    (
        "review.items_reassigned",
        "post",
        lambda w: f"/api/v1/review-campaigns/{w['campaign'].pk}/reassign/",
        lambda w: {"reviewer": w["reviewer"].username},
    ),
    (
        "review.campaign_closed",
        "post",
        lambda w: f"/api/v1/review-campaigns/{w['campaign'].pk}/close/",
        lambda w: {},
    ),
    (
        "review.item_decided",
        "post",
        lambda w: f"/api/v1/review-items/{w['item'].pk}/decide/",
        lambda w: {"decision": "keep", "reason": "still on the project"},
    ),
    (
        "review.item_decided",
        "post",
        lambda w: "/api/v1/review-items/decide/",
        lambda w: {"items": [w["item"].pk], "decision": "revoke"},
    ),
    (
        "manual_task.completed",
        "post",
        lambda w: f"/api/v1/manual-tasks/{w['task'].pk}/complete/",
        lambda w: {"note": "dropped by hand"},
    ),
]


@pytest.mark.parametrize("action,method,url,body", ACTIONS, ids=[a[0] for a in ACTIONS])
def test_action_is_audited(action, method, url, body, agency, world):
    from tests.factories import UserFactory
    from vendors.permissions import role_grant

    user = UserFactory(username="all-rights")
    for role in ("security_officer", "procurement"):
        role_grant(user=user, agency=agency, role=role)
    client = token_client(user)
    token = ApiToken.objects.get(user=user)
    before = AuditEvent.objects.count()
    response = _call(client, method, url(world), body(world))
    event = AuditEvent.objects.filter(seq__gt=before, action=action).first()
    assert event is not None, list(
        AuditEvent.objects.filter(seq__gt=before).values_list("action", flat=True)
    )
    assert event.actor_type == "token" and event.actor_id == str(token.pk)
    assert event.agency_id == agency.pk
    assert event.request_id == response["X-Request-ID"]
    assert "s3cret-value" not in str(event.after)


def test_kill_switch_returns_what_was_queued(officer, world):
    response = token_client(officer).post(
        f"/api/v1/vendors/{world['vendor'].pk}/kill-switch/", {"reason": "breach"}, format="json"
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["vendor"]["status"] == "suspended"
    assert body["queued_count"] == 2
    assert {c["status"] for c in body["queued"]} == {"pending"}
    requested = AuditEvent.objects.filter(action="credential.revocation_requested")
    assert requested.count() == 2


def test_denied_attempt_is_audited(auditor, world):
    client = token_client(auditor)
    response = client.post(
        f"/api/v1/credentials/{world['credential'].pk}/revoke/", {"reason": "x"}, format="json"
    )
    assert response.status_code == 403
    event = AuditEvent.objects.get(action="api.permission_denied")
    assert event.actor_name.startswith("auditor (token ")
    assert event.target_id == str(world["credential"].pk)
    assert event.agency_id == world["agency"].pk
    assert event.after["permission"] == "vendors.revoke_access"
    assert event.after["endpoint"] == "credential.revoke"


def test_probe_of_another_agency_is_404_and_audited(outsider, world):
    """Audited in the deployment's trail, not the probed agency's; the same answer and the
    same one event for an id that exists elsewhere and one that exists nowhere."""
    client = token_client(outsider)
    response = client.get(f"/api/v1/credentials/{world['credential'].pk}/")
    missing = client.get("/api/v1/credentials/987654321/")
    assert response.status_code == missing.status_code == 404
    assert (
        response.json()
        == missing.json()
        == {"error": {"status": 404, "code": "not_found", "message": "Not found."}}
    )
    probe, nothing = AuditEvent.objects.filter(action="api.not_found").order_by("seq")
    assert probe.agency_id is None and nothing.agency_id is None
    assert probe.target_id == nothing.target_id == ""
    assert probe.after["exists_elsewhere"] is True and nothing.after["exists_elsewhere"] is False
    assert not AuditEvent.objects.filter(
        agency_id=world["agency"].pk, actor_name__startswith="outsider"
    )
