"""Reconciliation against every real target: orphans, drift revoked again, not found.

Each target (its default on_revoke mode, where revoking keeps the account) gets an
account made by hand and never registered, a registered live account, one Sundown
revoked and an administrator re-enabled by hand, and a registered identifier the
target never had. One pass must find exactly that, audit it, send the drifted
credential back to revocation (which then revokes and verifies it: the vendor is
refused again), and a second pass must add nothing.
"""

import pytest

from audit.actor import Actor
from audit.models import AuditEvent
from findings.models import Finding, ReconciliationRun
from findings.reconciliation import reconciliation_request, reconciliation_run
from revocation import services
from revocation.connectors.base import connector_for
from tests.revocation.connectors.servers import credentials, request_all
from tests.revocation.connectors.targets import TARGETS, Target

pytestmark = pytest.mark.django_db

# One mode per target, where a revoked account stays on the target (so it can come back).
RECONCILED = [
    "postgres-nologin",
    "mariadb-lock",
    "redis-disable",
    "ldap-password",
    "ad-disable",
    "scim-deactivate",
    "scimmy-deactivate",
    "ssh-remove",
    "htpasswd-disable",
]
OFFICER = Actor.system("tests")


@pytest.fixture(params=RECONCILED)
def target(request, agency) -> Target:
    cls, mode = TARGETS[request.param]
    return cls(request, agency, **mode)


def reconcile(system) -> ReconciliationRun:
    run, _ = reconciliation_request(actor=OFFICER, system=system, trigger="manual", enqueue=False)
    run = reconciliation_run(run_id=run.pk)
    assert run is not None and run.status == "succeeded", run and run.error
    return run


def live_findings(system, kind):
    return {f.account: f for f in Finding.objects.filter(system=system, kind=kind, status="open")}


def test_orphans_drift_and_not_found(target):
    system = target.system()
    with connector_for(system) as connector:
        key = connector.account_key
    orphan = target.account()
    live, revoked, never = credentials(
        system, [target.account(), target.account(), target.missing()]
    )
    # Revoked for real by the engine, then re-enabled by hand behind Sundown's back.
    request_all([revoked])
    assert services.revocation_batch_run(system_id=system.pk).revoked == [revoked.pk]
    target.restore_by_hand(revoked.external_id)

    run = reconcile(system)

    orphans = {key(a): f for a, f in live_findings(system, "orphan").items()}
    assert key(orphan) in orphans
    assert key(live.external_id) not in orphans and key(revoked.external_id) not in orphans
    drift = live_findings(system, "drift")
    assert set(drift) == {revoked.external_id}
    assert drift[revoked.external_id].severity == "critical"
    assert set(live_findings(system, "not_found")) == {never.external_id}
    revoked.refresh_from_db()
    assert revoked.status == "pending"
    request = AuditEvent.objects.filter(
        action="credential.revocation_requested", target_id=str(revoked.pk)
    ).last()
    assert request.after["trigger"] == "drift" and request.actor_name == "system:reconciler"
    live.refresh_from_db()
    assert live.last_seen_on_target_at is not None
    assert run.drifted == 1 and run.not_found == 1 and run.orphans >= 1
    opened = AuditEvent.objects.filter(action="finding.opened").count()
    assert opened == run.findings_opened
    assert AuditEvent.objects.filter(action="system.reconciled", target_id=str(system.pk))

    # Revoked again by the engine, with no person involved; the vendor is refused.
    assert services.revocation_batch_run(system_id=system.pk).revoked == [revoked.pk]
    if target.login:
        assert not target.can_login(revoked.external_id)

    # A second pass: nothing new, nothing duplicated.
    again = reconcile(system)
    assert again.findings_opened == 0 and again.drifted == 0
    assert AuditEvent.objects.filter(action="finding.opened").count() == opened
    assert Finding.objects.filter(system=system, kind="drift").count() == 1
    assert (
        orphans[key(orphan)].pk == live_findings(system, "orphan")[orphans[key(orphan)].account].pk
    )
