"""Usage evidence from reconciliation, the schedule, and a worker killed mid-pass."""

import datetime as dt
import time

import psycopg2
import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from audit.actor import Actor
from audit.models import AuditEvent
from findings.models import Finding, ReconcileSchedule, ReconciliationRun
from findings.reconciliation import (
    reconciliation_due,
    reconciliation_request,
    reconciliation_run,
)
from revocation import services
from tests.factories import ContractFactory, CredentialFactory, SystemFactory
from tests.revocation.conftest import connect_as
from tests.revocation.connectors.servers import request_all
from tests.revocation.helpers import Worker, pg_admin, wait_for

ACTOR = Actor.system("tests")


def reconcile(system) -> ReconciliationRun:
    run, _ = reconciliation_request(actor=ACTOR, system=system, trigger="manual", enqueue=False)
    run = reconciliation_run(run_id=run.pk)
    assert run is not None and run.status == "succeeded", run and run.error
    return run


@pytest.mark.django_db
def test_sessions_after_the_contract_end_and_after_revocation(
    pg_system, pg_roles, vendor, officer, django_capture_on_commit_callbacks
):
    officer.email = "officer@health.example"
    officer.save()
    ended_user, revoked_user, fine_user = pg_roles(3)
    ended = ContractFactory(
        vendor=vendor,
        start_date=timezone.localdate() - dt.timedelta(days=100),
        end_date=timezone.localdate() - dt.timedelta(days=2),
        access_ends_at=timezone.now() - dt.timedelta(days=1),
        status="ended",
    )
    running = ContractFactory(vendor=vendor)
    after_end = CredentialFactory(
        vendor=vendor, system=pg_system, external_id=ended_user, contracts=[ended]
    )
    revoked = CredentialFactory(
        vendor=vendor, system=pg_system, external_id=revoked_user, contracts=[running]
    )
    fine = CredentialFactory(
        vendor=vendor, system=pg_system, external_id=fine_user, contracts=[running]
    )
    request_all([revoked])
    assert services.revocation_batch_run(system_id=pg_system.pk).revoked == [revoked.pk]
    with pg_admin() as cursor:  # an administrator lets the vendor back in
        cursor.execute(f'ALTER ROLE "{revoked_user}" LOGIN')
    sessions = [connect_as(ended_user), connect_as(revoked_user), connect_as(fine_user)]
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run = reconcile(pg_system)
    finally:
        for session in sessions:
            session.close()
    assert run.sessions >= 3
    used = {
        f.account: f
        for f in Finding.objects.filter(
            system=pg_system, kind__in=["used_after_contract_end", "used_after_revocation"]
        )
    }
    assert set(used) == {ended_user, revoked_user}
    assert used[ended_user].kind == "used_after_contract_end"
    assert used[ended_user].severity == "critical"
    assert used[ended_user].evidence["sessions"] == 1
    assert "127.0.0.1" in used[ended_user].evidence["sources"]
    assert used[revoked_user].kind == "used_after_revocation"
    for credential in (after_end, revoked, fine):
        credential.refresh_from_db()
        assert credential.last_used_at is not None
    assert AuditEvent.objects.filter(action="finding.opened", target_id=str(used[ended_user].pk))
    assert any("CRITICAL" in m.subject for m in mail.outbox)


@pytest.mark.django_db
def test_vendor_patterns_attribute_orphans(pg_system, pg_roles, vendor):
    from findings.models import AccountPattern

    (name,) = pg_roles(1, prefix="acmeco")
    AccountPattern.objects.create(vendor=vendor, kind="prefix", value="ACMECO_")
    reconcile(pg_system)
    finding = Finding.objects.get(system=pg_system, kind="orphan", account=name)
    assert finding.vendor_id == vendor.pk
    assert finding.evidence["attributed_by"] == ["prefix:acmeco_"]


@pytest.mark.django_db
def test_the_schedule_queues_what_is_due(agency, pg_system):
    manual = SystemFactory(agency=agency, kind="manual")
    queued = reconciliation_due()
    runs = ReconciliationRun.objects.filter(pk__in=queued)
    assert pg_system.pk in {r.system_id for r in runs}
    assert manual.pk not in {r.system_id for r in runs}  # nothing to list on a manual one
    assert pg_system.pk not in {  # queued already: not twice
        r.system_id for r in ReconciliationRun.objects.filter(pk__in=reconciliation_due())
    }
    ReconciliationRun.objects.filter(system=pg_system).update(
        status="succeeded", queued_at=timezone.now() - dt.timedelta(minutes=30)
    )
    ReconcileSchedule.objects.create(system=pg_system, interval_minutes=20)
    again = ReconciliationRun.objects.filter(pk__in=reconciliation_due())
    assert pg_system.pk in {r.system_id for r in again}
    ReconciliationRun.objects.filter(system=pg_system).update(
        status="succeeded", queued_at=timezone.now() - dt.timedelta(minutes=30)
    )
    ReconcileSchedule.objects.filter(system=pg_system).update(interval_minutes=60)
    assert pg_system.pk not in {
        r.system_id for r in ReconciliationRun.objects.filter(pk__in=reconciliation_due())
    }


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_pass_leaves_no_duplicates(pg_system, pg_roles, settings):
    """A worker killed inside the pass's first chunk (waiting for the system's row)
    leaves nothing behind, its run is abandoned, and the next pass opens each finding
    once (killed after a committed chunk: test_reconcile_chunks.py)."""
    orphans = pg_roles(2)
    first, _ = reconciliation_request(actor=ACTOR, system=pg_system, trigger="manual")
    # Hold the system's row so the worker's comparison waits inside its transaction.
    db = connection.settings_dict
    holder = psycopg2.connect(
        host=db["HOST"] or None, port=db["PORT"] or None, user=db["USER"], dbname=db["NAME"]
    )
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT 1 FROM access_system WHERE id = %s FOR UPDATE", [pg_system.pk])
        with Worker(kinds=["postgres"]) as worker:
            wait_for(
                lambda: ReconciliationRun.objects.get(pk=first.pk).status == "running",
                message=lambda: worker.log,
            )
            time.sleep(1)  # listed, now waiting for the row inside its transaction
            worker.kill()
    finally:
        holder.rollback()
        holder.close()
    assert not Finding.objects.filter(system=pg_system).exists()
    settings.SUNDOWN_RECONCILE_STALE_SECONDS = 0
    for _ in range(2):
        reconcile(pg_system)
    assert ReconciliationRun.objects.get(pk=first.pk).status == "abandoned"
    for name in orphans:
        findings = Finding.objects.filter(system=pg_system, kind="orphan", account=name)
        assert findings.count() == 1 and findings.get().times_seen == 2
        assert (
            AuditEvent.objects.filter(
                action="finding.opened", target_id=str(findings.get().pk)
            ).count()
            == 1
        )


@pytest.mark.django_db
def test_dormant_access_is_a_finding_and_revoked_when_the_agency_says_so(
    pg_system, pg_roles, vendor, agency
):
    from findings.services import finding_policy_set

    old_user, recent_user = pg_roles(2)
    old = CredentialFactory(vendor=vendor, system=pg_system, external_id=old_user)
    recent = CredentialFactory(vendor=vendor, system=pg_system, external_id=recent_user)
    old.last_used_at = timezone.now() - dt.timedelta(days=40)
    old.save()
    recent.last_used_at = timezone.now() - dt.timedelta(days=5)
    recent.save()
    reconcile(pg_system)  # the default limit (90 days): nothing dormant
    assert not Finding.objects.filter(system=pg_system, kind="dormant").exists()
    finding_policy_set(actor=ACTOR, agency=agency, dormant_days=35, dormant_revoke=True)
    assert AuditEvent.objects.filter(action="agency.finding_policy_changed").count() == 1
    reconcile(pg_system)
    finding = Finding.objects.get(system=pg_system, kind="dormant")
    assert finding.account == old_user and finding.evidence["limit_days"] == 35
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.status == "pending" and recent.status == "active"
    request = AuditEvent.objects.filter(
        action="credential.revocation_requested", target_id=str(old.pk)
    ).get()
    assert request.after["trigger"] == "dormant"
    assert request.after["policy"] == {"name": "dormant", "days": 35}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "lifecycle,kind,severity",
    [("decommissioned", "decommissioned_access", "critical"), ("legacy", "legacy_access", "high")],
)
def test_an_account_that_can_log_in_on_a_legacy_or_decommissioned_system(
    pg_system, pg_roles, lifecycle, kind, severity, django_capture_on_commit_callbacks
):
    """Reconciliation on a real PostgreSQL target: any account that can still log in
    there is a finding, registered or not; one that cannot is not, and one removed
    since is resolved by the next pass."""
    from access.models import System

    registered, unregistered, locked = pg_roles(3)
    with pg_admin() as cursor:
        cursor.execute(f'ALTER ROLE "{locked}" NOLOGIN')
    credential = CredentialFactory(system=pg_system, external_id=registered)
    System.objects.filter(pk=pg_system.pk).update(lifecycle=lifecycle)
    pg_system.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        reconcile(pg_system)
    found = {f.account: f for f in Finding.objects.filter(system=pg_system, kind=kind)}
    assert registered in found and unregistered in found and locked not in found
    assert found[registered].severity == severity
    assert found[registered].credential_id == credential.pk
    assert AuditEvent.objects.filter(
        action="finding.opened", target_id=str(found[unregistered].pk)
    ).exists()

    with pg_admin() as cursor:
        cursor.execute(f'ALTER ROLE "{unregistered}" NOLOGIN')
    reconcile(pg_system)
    found[unregistered].refresh_from_db()
    assert found[unregistered].status == "resolved"
    assert Finding.objects.filter(system=pg_system, kind=kind, status="open").count() >= 1
