"""Drift re-revoked by a real Celery worker with no person involved.

A real PostgreSQL role is registered, revoked and verified by a worker; an
administrator lets it log in again behind Sundown's back. A scheduled pass (queued as
beat queues it, run by the worker) sees the drift, opens a critical finding and sends
the credential back to revocation; the same worker revokes and verifies it again, and
the vendor's login is refused. Every event after the administrator's change is the
reconciler's or the worker's.
"""

import pytest

from access.models import Credential
from audit.models import AuditEvent
from findings.models import Finding, ReconciliationRun
from findings.reconciliation import reconciler_actor, reconciliation_due
from revocation import services
from tests.factories import CredentialFactory
from tests.revocation.conftest import connect_as, role_can_login
from tests.revocation.helpers import Worker, pg_admin, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_worker_revokes_drift_again_with_no_person(pg_system, pg_roles, vendor, actor):
    (role,) = pg_roles(1)
    credential = CredentialFactory(vendor=vendor, system=pg_system, external_id=role)
    with Worker(kinds=["postgres"]) as worker:
        services.credential_revoke(actor=actor, credential=credential, reason="contract ended")
        wait_for(
            lambda: Credential.objects.get(pk=credential.pk).status == "revoked",
            message=lambda: worker.log,
        )
        assert role_can_login(role) is False
        with pg_admin() as cursor:  # behind Sundown's back
            cursor.execute(f'ALTER ROLE "{role}" LOGIN')
        connect_as(role).close()  # the vendor is in again
        seq = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()

        # What beat does every minute: queue a pass for every system that is due.
        queued = reconciliation_due(actor=reconciler_actor())
        assert len(queued) == 1
        run = wait_for(
            lambda: ReconciliationRun.objects.filter(pk=queued[0], status="succeeded").first(),
            message=lambda: worker.log,
        )
        assert run.drifted == 1
        drift = Finding.objects.get(system=pg_system, kind="drift")
        assert drift.severity == "critical" and drift.credential_id == credential.pk
        wait_for(
            lambda: (
                Credential.objects.get(pk=credential.pk).status == "revoked"
                and AuditEvent.objects.filter(
                    seq__gt=seq, action="credential.revoked", target_id=str(credential.pk)
                ).exists()
            ),
            timeout=60,
            message=lambda: worker.log,
        )
    assert role_can_login(role) is False
    with pytest.raises(Exception, match="not permitted to log in"):
        connect_as(role)

    events = list(AuditEvent.objects.filter(seq__gt=seq).order_by("seq"))
    actions = [e.action for e in events]
    for action in (
        "system.reconciliation_requested",
        "finding.opened",
        "credential.revocation_requested",
        "system.reconciled",
        "credential.revoked",
    ):
        assert action in actions, actions
    request = next(e for e in events if e.action == "credential.revocation_requested")
    assert request.after["trigger"] == "drift"
    # No person: only the reconciler and the worker acted.
    assert {e.actor_type for e in events} == {"system"}, {
        (e.actor_type, e.actor_name) for e in events
    }
    revoked = next(e for e in events if e.action == "credential.revoked")
    assert revoked.after["status"] == "revoked" and "confirmed_by" not in revoked.after
