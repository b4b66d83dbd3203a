"""Every role x {own agency, other agency} x every endpoint and verb -> allow or deny.

Expectations are written out per endpoint (not derived from ROLE_PERMISSIONS), so
a change of a role's bundle shows up here as a failing cell. Each cell runs in a
savepoint that is rolled back, so verbs never see each other's effects; every
denial must leave an ``api.permission_denied`` audit event.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from audit.actor import Actor
from audit.models import AuditEvent
from audit.services import audit_record_standalone
from revocation.models import RevocationAttempt
from tests.api.conftest import make_world, token_client
from tests.factories import UserFactory
from vendors.permissions import role_grant

pytestmark = pytest.mark.django_db

OFFICER, PROCUREMENT, AUDITOR, INTEGRATION = (
    "security_officer",
    "procurement",
    "auditor",
    "integration",
)
ALL = {OFFICER, PROCUREMENT, AUDITOR, INTEGRATION}
TODAY = dt.date.today()

DENIALS = ("api.permission_denied", "api.not_found")


@dataclass
class Case:
    name: str
    method: str
    url: Callable[[dict], str]
    allowed: set[str]  # roles allowed in their own agency
    kind: str  # list | detail | create | write
    body: Callable[[dict, dict], dict] | None = None  # (target world, own world) -> body
    ok: int = 200


def _id(key):
    return lambda w: w[key].pk


CASES = [
    Case("agencies.list", "get", lambda w: "/api/v1/agencies/", ALL, "list"),
    Case(
        "agencies.retrieve", "get", lambda w: f"/api/v1/agencies/{w['agency'].pk}/", ALL, "detail"
    ),
    Case("vendors.list", "get", lambda w: "/api/v1/vendors/", ALL, "list"),
    Case("vendors.retrieve", "get", lambda w: f"/api/v1/vendors/{w['vendor'].pk}/", ALL, "detail"),
    Case(
        "vendors.create",
        "post",
        lambda w: "/api/v1/vendors/",
        {OFFICER, PROCUREMENT, INTEGRATION},
        "create",
        body=lambda w, own: {"agency": w["agency"].pk, "name": "Brand New GmbH"},
        ok=201,
    ),
    Case(
        "vendors.update",
        "patch",
        lambda w: f"/api/v1/vendors/{w['vendor'].pk}/",
        {OFFICER, PROCUREMENT, INTEGRATION},
        "write",
        body=lambda w, own: {"contact_name": "Jane Roe"},
    ),
    Case(
        "vendors.kill_switch",
        "post",
        lambda w: f"/api/v1/vendors/{w['vendor'].pk}/kill-switch/",
        {OFFICER},
        "write",
        body=lambda w, own: {"reason": "breach reported"},
        ok=202,
    ),
    Case("contracts.list", "get", lambda w: "/api/v1/contracts/", ALL, "list"),
    Case(
        "contracts.retrieve",
        "get",
        lambda w: f"/api/v1/contracts/{w['contract'].pk}/",
        ALL,
        "detail",
    ),
    Case(
        "contracts.create",
        "post",
        lambda w: "/api/v1/contracts/",
        {PROCUREMENT, INTEGRATION},
        "create",
        body=lambda w, own: {
            "vendor": w["vendor"].pk,
            "reference": "NEW-1",
            "start_date": str(TODAY),
            "end_date": str(TODAY + dt.timedelta(days=30)),
        },
        ok=201,
    ),
    Case(
        "contracts.update",
        "patch",
        lambda w: f"/api/v1/contracts/{w['contract'].pk}/",
        {PROCUREMENT, INTEGRATION},
        "write",
        body=lambda w, own: {"title": "Amended title"},
    ),
    Case(
        "contracts.terminate",
        "post",
        lambda w: f"/api/v1/contracts/{w['contract'].pk}/terminate/",
        {PROCUREMENT, INTEGRATION},
        "write",
        body=lambda w, own: {"reason": "vendor breached terms"},
    ),
    Case("systems.list", "get", lambda w: "/api/v1/systems/", ALL, "list"),
    Case("systems.retrieve", "get", lambda w: f"/api/v1/systems/{w['system'].pk}/", ALL, "detail"),
    Case(
        "systems.create",
        "post",
        lambda w: "/api/v1/systems/",
        {OFFICER, INTEGRATION},
        "create",
        body=lambda w, own: {"agency": w["agency"].pk, "name": "new-db", "kind": "manual"},
        ok=201,
    ),
    Case(
        "systems.update",
        "patch",
        lambda w: f"/api/v1/systems/{w['system'].pk}/",
        {OFFICER, INTEGRATION},
        "write",
        body=lambda w, own: {"lifecycle": "legacy"},
    ),
    Case("credentials.list", "get", lambda w: "/api/v1/credentials/", ALL, "list"),
    Case(
        "credentials.retrieve",
        "get",
        lambda w: f"/api/v1/credentials/{w['credential'].pk}/",
        ALL,
        "detail",
    ),
    Case(
        "credentials.create",
        "post",
        lambda w: "/api/v1/credentials/",
        {OFFICER, INTEGRATION},
        "create",
        body=lambda w, own: {
            "vendor": w["vendor"].pk,
            "system": w["system"].pk,
            "contracts": [w["contract"].pk],
            "kind": "database_role",
            "external_id": "brand_new_role",
        },
        ok=201,
    ),
    Case(
        "credentials.update",
        "patch",
        lambda w: f"/api/v1/credentials/{w['credential'].pk}/",
        {OFFICER, INTEGRATION},
        "write",
        body=lambda w, own: {"holder": "J. Doe"},
    ),
    Case(
        "credentials.revoke",
        "post",
        lambda w: f"/api/v1/credentials/{w['credential'].pk}/revoke/",
        {OFFICER},
        "write",
        body=lambda w, own: {"reason": "no longer needed"},
        ok=202,
    ),
    Case("revocations.list", "get", lambda w: "/api/v1/revocations/", {OFFICER, AUDITOR}, "list"),
    Case(
        "revocations.retrieve",
        "get",
        lambda w: f"/api/v1/revocations/{w['attempt'].pk}/",
        {OFFICER, AUDITOR},
        "detail",
    ),
    Case("manual_tasks.list", "get", lambda w: "/api/v1/manual-tasks/", ALL, "list"),
    Case(
        "manual_tasks.retrieve",
        "get",
        lambda w: f"/api/v1/manual-tasks/{w['task'].pk}/",
        ALL,
        "detail",
    ),
    Case(
        "manual_tasks.complete",
        "post",
        lambda w: f"/api/v1/manual-tasks/{w['task'].pk}/complete/",
        {OFFICER},
        "write",
        body=lambda w, own: {"note": "dropped the account by hand"},
    ),
    Case("usage_events.list", "get", lambda w: "/api/v1/usage-events/", ALL, "list"),
    Case(
        "usage_events.retrieve",
        "get",
        lambda w: f"/api/v1/usage-events/{w['usage_event'].pk}/",
        ALL,
        "detail",
    ),
    Case(
        "usage_events.create",
        "post",
        lambda w: "/api/v1/usage-events/",
        {OFFICER, INTEGRATION},
        "create",
        body=lambda w, own: {
            "events": [
                {
                    "id": "matrix-1",
                    "system": w["system"].pk,
                    "account": "matrix_reader",
                    "occurred_at": "2026-01-01T00:00:00Z",
                }
            ]
        },
    ),
    Case("findings.list", "get", lambda w: "/api/v1/findings/", ALL, "list"),
    Case(
        "findings.retrieve",
        "get",
        lambda w: f"/api/v1/findings/{w['finding'].pk}/",
        ALL,
        "detail",
    ),
    *(
        Case(
            f"findings.{verb}",
            "post",
            (lambda v: lambda w: f"/api/v1/findings/{w['finding'].pk}/{v}/")(verb),
            {OFFICER},
            "write",
            body=lambda w, own: {"reason": "looked into it"},
        )
        for verb in ("acknowledge", "resolve", "false-positive")
    ),
    Case(
        "findings.adopt",
        "post",
        lambda w: f"/api/v1/findings/{w['finding'].pk}/adopt/",
        {OFFICER, INTEGRATION},
        "write",
        body=lambda w, own: {"vendor": w["vendor"].pk, "contracts": [w["contract"].pk]},
        ok=201,
    ),
    Case(
        "systems.reconcile",
        "post",
        lambda w: f"/api/v1/systems/{w['system'].pk}/reconcile/",
        {OFFICER, INTEGRATION},
        "write",
        ok=202,
    ),
    Case("reconciliation_runs.list", "get", lambda w: "/api/v1/reconciliation-runs/", ALL, "list"),
    Case(
        "reconciliation_runs.retrieve",
        "get",
        lambda w: f"/api/v1/reconciliation-runs/{w['run'].pk}/",
        ALL,
        "detail",
    ),
    Case("review_campaigns.list", "get", lambda w: "/api/v1/review-campaigns/", ALL, "list"),
    Case(
        "review_campaigns.retrieve",
        "get",
        lambda w: f"/api/v1/review-campaigns/{w['campaign'].pk}/",
        ALL,
        "detail",
    ),
    Case(
        "review_campaigns.create",
        "post",
        lambda w: "/api/v1/review-campaigns/",
        {OFFICER},
        "create",
        body=lambda w, own: {
            "agency": w["agency"].pk,
            "name": "Matrix review",
            "deadline": (timezone.now() + dt.timedelta(days=7)).isoformat(),
        },
        ok=201,
    ),
    Case(
        "review_campaigns.reassign",
        "post",
        lambda w: f"/api/v1/review-campaigns/{w['campaign'].pk}/reassign/",
        {OFFICER},
        "write",
        body=lambda w, own: {"reviewer": w["reviewer"].username},
    ),
    Case(
        "review_campaigns.close",
        "post",
        lambda w: f"/api/v1/review-campaigns/{w['campaign'].pk}/close/",
        {OFFICER},
        "write",
    ),
    Case("review_items.list", "get", lambda w: "/api/v1/review-items/", ALL, "list"),
    Case(
        "review_items.retrieve",
        "get",
        lambda w: f"/api/v1/review-items/{w['item'].pk}/",
        ALL,
        "detail",
    ),
    # The item is unassigned: only an officer of its agency may answer it.
    Case(
        "review_items.decide",
        "post",
        lambda w: f"/api/v1/review-items/{w['item'].pk}/decide/",
        {OFFICER},
        "write",
        body=lambda w, own: {"decision": "revoke"},
    ),
    Case(
        "review_items.decide_many",
        "post",
        lambda w: "/api/v1/review-items/decide/",
        {OFFICER},
        "bulk",
        body=lambda w, own: {"items": [w["item"].pk], "decision": "revoke"},
    ),
    Case("audit_events.list", "get", lambda w: "/api/v1/audit-events/", {OFFICER, AUDITOR}, "list"),
    Case(
        "audit_events.retrieve",
        "get",
        lambda w: f"/api/v1/audit-events/{w['event'].seq}/",
        {OFFICER, AUDITOR},
        "detail",
    ),
    Case(
        "exposure.report",
        "get",
        lambda w: f"/api/v1/exposure/?at={timezone.now():%Y-%m-%dT%H:%M:%SZ}",
        {OFFICER, AUDITOR},
        "report",  # one answer over the agencies the user may read: like a list
    ),
]

# Which object of the target world each list must (not) show.
LIST_MARKERS = {
    "agencies.list": ("agency", "id"),
    "vendors.list": ("vendor", "id"),
    "contracts.list": ("contract", "id"),
    "systems.list": ("system", "id"),
    "credentials.list": ("credential", "id"),
    "revocations.list": ("attempt", "id"),
    "manual_tasks.list": ("task", "id"),
    "audit_events.list": ("event", "seq"),
    "findings.list": ("finding", "id"),
    "usage_events.list": ("usage_event", "id"),
    "reconciliation_runs.list": ("run", "id"),
    "review_campaigns.list": ("campaign", "id"),
    "review_items.list": ("item", "id"),
}


def _expected(case: Case, role: str, scope: str) -> int | str:
    allowed = role in case.allowed
    if scope == "own":
        return case.ok if allowed else 403
    if case.kind == "bulk":
        # Ids in the body: another agency's items are not there to answer (400); in
        # the user's own agency they are, but not the user's (403, audited).
        return 400
    if case.kind in ("list", "report"):
        return 200 if allowed else 403  # 200, but without the other agency's rows
    if case.kind == "create":
        # A user who may create somewhere names an object of another agency: the
        # field says it does not exist. A user who may create nowhere: 403.
        return 400 if allowed else 403
    return 404  # detail or verb on another agency's object


def _full_world(agency, tag):
    world = make_world(agency, tag)
    world["attempt"] = RevocationAttempt.objects.create(
        credential=world["credential"],
        system=world["system"],
        connector="manual",
        worker="tests",
        attempt=1,
        outcome=RevocationAttempt.Outcome.ERROR,
        error="target unreachable",
        started_at=timezone.now(),
    )
    world["event"] = audit_record_standalone(
        actor=Actor.system("tests"), action="tests.seeded", agency_id=agency.pk
    )
    return world


class _Rollback(Exception):
    pass


@pytest.mark.parametrize("scope", ["own", "other"])
@pytest.mark.parametrize("role", [OFFICER, PROCUREMENT, AUDITOR, INTEGRATION])
def test_permission_matrix(role, scope, agency, other_agency):
    own = _full_world(agency, "own")
    other = _full_world(other_agency, "other")
    user = UserFactory(username=f"matrix-{role}")
    role_grant(user=user, agency=agency, role=role)
    client = token_client(user)
    target = own if scope == "own" else other

    mismatches = []
    for case in CASES:
        expected = _expected(case, role, scope)
        try:
            with transaction.atomic():
                denials_before = AuditEvent.objects.filter(action__in=DENIALS).count()
                body = case.body(target, own) if case.body else None
                response = getattr(client, case.method)(case.url(target), body, format="json")
                got = response.status_code
                problem = None
                if got != expected:
                    problem = f"{got} != {expected}: {response.content[:300]!r}"
                elif got >= 400:
                    error = response.json().get("error", {})
                    if error.get("status") != got:
                        problem = f"error body not in the common format: {response.content!r}"
                    denied = AuditEvent.objects.filter(action__in=DENIALS).count()
                    if got in (403, 404) and denied != denials_before + 1:
                        problem = f"{got} without a denial audit event"
                elif case.kind == "list":
                    key, field = LIST_MARKERS[case.name]
                    shown = {row[field] for row in response.json()["results"]}
                    marker = getattr(target[key], "seq" if field == "seq" else "pk")
                    if scope == "own" and marker not in shown:
                        problem = f"own {key} {marker} missing from the list"
                    if scope == "other" and marker in shown:
                        problem = f"other agency's {key} {marker} leaked into the list"
                if problem:
                    mismatches.append(f"{case.name}: {problem}")
                raise _Rollback
        except _Rollback:
            pass

    assert not mismatches, f"{role} x {scope}:\n" + "\n".join(mismatches)


def test_every_endpoint_refuses_anonymous_requests(agency):
    world = _full_world(agency, "own")
    client = APIClient()
    for case in CASES:
        body = case.body(world, world) if case.body else None
        response = getattr(client, case.method)(case.url(world), body, format="json")
        assert response.status_code == 401, case.name
        assert response.json()["error"]["code"] == "not_authenticated", case.name
