"""The batch state machine in-process against real PostgreSQL roles: claim, revoke,
verify, retry ladder, failure hand-off, leases. (The same code through a real worker
process: test_worker.py.)"""

import threading
import time

import psycopg2
import pytest
from django.core import mail
from django.db import connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from access.models import Credential, System
from audit.models import AuditEvent
from revocation import services
from revocation.models import ManualTask, RevocationAttempt
from revocation.services import batch, manual
from tests.factories import SystemFactory
from tests.revocation.conftest import connect_as, role_can_login
from tests.revocation.helpers import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fast_ladder(settings, monkeypatch):
    settings.SUNDOWN_REVOCATION_RETRY_DELAYS = [0]
    settings.SUNDOWN_REVOCATION_MAX_ATTEMPTS = 3
    settings.SUNDOWN_SECURITY_ALERT_EMAILS = ["soc@agency.example"]
    from revocation import tasks

    monkeypatch.setattr(tasks.revoke_system_batch_task, "delay", lambda sid, **kw: None)


def request(credentials, reason="contract ended"):
    from audit.actor import Actor

    for credential in credentials:
        services.credential_revoke(actor=Actor.system("test"), credential=credential, reason=reason)


def count(action, credential=None):
    qs = AuditEvent.objects.filter(action=action)
    if credential is not None:
        qs = qs.filter(target_type="access.credential", target_id=str(credential.pk))
    return qs.count()


def test_batch_revokes_verifies_and_ends_the_open_session(pg_system, pg_roles, make_credentials):
    names = pg_roles(3)
    session = connect_as(names[0])  # the vendor is logged in right now
    credentials = make_credentials(pg_system, names)
    request(credentials)

    result = services.revocation_batch_run(system_id=pg_system.pk, worker="test")

    assert sorted(result.revoked) == sorted(c.pk for c in credentials)
    for name in names:
        assert role_can_login(name) is False
    with pytest.raises(psycopg2.OperationalError):
        connect_as(names[1])
    # The live session was terminated.
    with pytest.raises(psycopg2.Error), session.cursor() as cursor:
        cursor.execute("SELECT 1")
    for credential in credentials:
        credential.refresh_from_db()
        assert credential.status == Credential.Status.REVOKED
        assert credential.revoked_by == "system:revocation-worker"
        assert credential.lease_owner == "" and credential.revoked_at is not None
        assert count("credential.revoked", credential) == 1
        (attempt,) = RevocationAttempt.objects.filter(credential=credential)
        assert attempt.outcome == "success" and attempt.attempt == 1
        assert attempt.connector == "postgres" and attempt.duration_ms is not None
        assert attempt.finished_at >= attempt.started_at
    event = AuditEvent.objects.filter(action="credential.revoked").first()
    assert event.after["verified"] is True and event.actor_type == "system"
    # Nothing left to claim.
    assert services.revocation_batch_run(system_id=pg_system.pk).claimed == 0


def test_a_credential_or_system_with_attempts_is_still_protected(
    pg_system, pg_roles, make_credentials
):
    # The attempt table has no foreign-key constraints in the database (migration
    # revocation 0006); Django's PROTECT still keeps its history from being orphaned.
    (credential,) = make_credentials(pg_system, pg_roles(1))
    request([credential])
    services.revocation_batch_run(system_id=pg_system.pk, worker="test")
    assert RevocationAttempt.objects.filter(credential=credential).exists()
    with pytest.raises(ProtectedError):
        credential.delete()
    with pytest.raises(ProtectedError):
        System.objects.get(pk=pg_system.pk).delete()


def test_drop_mode_removes_the_role(agency, pg_system, pg_roles, make_credentials):
    pg_system.config = {**pg_system.config, "on_revoke": "drop"}
    pg_system.save()
    names = pg_roles(2)
    credentials = make_credentials(pg_system, names)
    request(credentials)
    result = services.revocation_batch_run(system_id=pg_system.pk)
    assert len(result.revoked) == 2
    assert [role_can_login(n) for n in names] == [None, None]


def test_a_role_the_target_never_showed_fails_as_not_found_with_a_task(pg_system, make_credentials):
    """Once counted as "already revoked": a typo became a verified revocation."""
    (credential,) = make_credentials(pg_system, [f"never_existed_{timezone.now():%H%M%S%f}"])
    request([credential])
    result = services.revocation_batch_run(system_id=pg_system.pk)
    assert result.revoked == [] and result.failed == [credential.pk]
    credential.refresh_from_db()
    assert credential.status == Credential.Status.FAILED
    assert "not found on the target" in credential.last_error
    assert credential.last_seen_on_target_at is None
    (task,) = ManualTask.objects.filter(credential=credential)
    assert "not found on the target" in task.detail
    assert count("credential.revoked", credential) == 0


def test_a_role_seen_before_and_gone_now_counts_as_revoked(pg_system, make_credentials):
    (credential,) = make_credentials(pg_system, [f"gone_since_{timezone.now():%H%M%S%f}"])
    Credential.objects.filter(pk=credential.pk).update(last_seen_on_target_at=timezone.now())
    request([credential])
    result = services.revocation_batch_run(system_id=pg_system.pk)
    assert result.revoked == [credential.pk]


def test_a_batch_records_when_the_target_showed_each_account(pg_system, pg_roles, make_credentials):
    credentials = make_credentials(pg_system, pg_roles(2))
    request(credentials)
    services.revocation_batch_run(system_id=pg_system.pk)
    for credential in credentials:
        credential.refresh_from_db()
        assert credential.status == Credential.Status.REVOKED
        assert credential.last_seen_on_target_at is not None


def test_registering_checks_the_target_and_records_when_seen(pg_system, pg_roles, make_credentials):
    (name,) = pg_roles(1)
    present, typo = make_credentials(pg_system, [name, name.upper()])
    assert services.credential_target_check(credential_id=present.pk) is True
    assert services.credential_target_check(credential_id=typo.pk) is False
    present.refresh_from_db()
    typo.refresh_from_db()
    assert present.last_seen_on_target_at is not None
    assert typo.last_seen_on_target_at is None and typo.target_checked_at is not None
    event = AuditEvent.objects.get(action="credential.target_checked", target_id=str(typo.pk))
    assert event.after == {"found": False, "close_matches": [name]}


def probe_due(system):
    """Make the open outage's next probe due now (instead of sleeping the period)."""
    from revocation.models import TargetState

    TargetState.objects.filter(system=system).update(next_probe_at=timezone.now())


def test_unreachable_target_opens_one_outage_instead_of_failing_per_credential(
    agency, officer, pg_system, make_credentials
):
    pg_system.config = {**pg_system.config, "port": free_port(), "connect_timeout": 1}
    pg_system.save()
    credentials = make_credentials(pg_system, ["nobody_home_1", "nobody_home_2"])
    request(credentials)

    result = services.revocation_batch_run(system_id=pg_system.pk)
    assert sorted(result.deferred) == sorted(c.pk for c in credentials)
    # Noticed once: one row for the batch, one event and one mail for the outage.
    (row,) = RevocationAttempt.objects.filter(credential__in=credentials)
    assert row.outcome == "deferred" and "2 credential(s) of this batch" in row.error
    assert count("credential.revocation_attempt_failed") == 0
    (opened,) = AuditEvent.objects.filter(action="system.target_unreachable")
    assert opened.target_id == str(pg_system.pk)
    assert opened.after["credentials_deferred"] == 2
    (alert,) = mail.outbox
    assert "Target unreachable" in alert.subject
    assert {"soc@agency.example", "officer@agency.example", "dba@agency.example"} <= set(alert.to)
    for credential in credentials:
        credential.refresh_from_db()
        assert credential.status == "pending" and credential.attempts == 1
        assert "could not connect" in credential.last_error and not credential.lease_owner

    # While it is open nothing is claimed; a due probe that fails counts and waits again.
    assert services.revocation_batch_run(system_id=pg_system.pk).claimed == 0
    probe_due(pg_system)
    assert services.revocation_batch_run(system_id=pg_system.pk).claimed == 0
    assert RevocationAttempt.objects.count() == 1 and len(mail.outbox) == 1
    assert pg_system.target_state.probes == 1
    # Whether anything listened there (refused vs timed out) stays in the server log.
    for shown in (credentials[0].last_error, row.error, alert.body, opened.after["error"]):
        assert "refused" not in shown.lower() and str(pg_system.config["port"]) not in shown


def test_a_credential_on_its_last_try_fails_with_task_and_alert_even_in_an_outage(
    pg_system, make_credentials
):
    pg_system.config = {**pg_system.config, "port": free_port(), "connect_timeout": 1}
    pg_system.save()
    (credential,) = make_credentials(pg_system, ["nobody_home"])
    request([credential])
    # Two earlier batches were cut by outages (each try counts, so a target that keeps
    # failing mid-batch ends with a person, not in a loop).
    Credential.objects.filter(pk=credential.pk).update(attempts=2)

    result = services.revocation_batch_run(system_id=pg_system.pk)
    assert result.failed == [credential.pk]
    credential.refresh_from_db()
    assert credential.status == Credential.Status.FAILED and credential.attempts == 3
    assert count("credential.revocation_failed", credential) == 1
    (task,) = ManualTask.objects.filter(credential=credential)
    assert task.status == "open" and "could not connect" in task.detail
    (alert,) = mail.outbox
    assert "FAILED" in alert.subject


def test_target_down_then_back(pg_system, pg_roles, make_credentials):
    (name,) = pg_roles(1)
    good_port = pg_system.config["port"]
    pg_system.config = {**pg_system.config, "port": free_port(), "connect_timeout": 1}
    pg_system.save()
    (credential,) = make_credentials(pg_system, [name])
    request([credential])
    assert services.revocation_batch_run(system_id=pg_system.pk).deferred == [credential.pk]

    pg_system.config = {**pg_system.config, "port": good_port}
    pg_system.save()
    probe_due(pg_system)
    # The probe passes, closes the outage, and the same call goes on to the batch: no
    # retry rung to wait for.
    assert services.revocation_batch_run(system_id=pg_system.pk).revoked == [credential.pk]
    assert role_can_login(name) is False
    outcomes = list(
        RevocationAttempt.objects.filter(credential=credential)
        .order_by("attempt", "id")
        .values_list("outcome", flat=True)
    )
    assert outcomes == ["deferred", "success"]
    (closed,) = AuditEvent.objects.filter(action="system.target_reachable")
    assert closed.after["deferred_batches"] == 1 and closed.after["failed_probes"] == 0
    pg_system.target_state.refresh_from_db()
    assert pg_system.target_state.outage_since is None


def test_failed_then_revoked_automatically_settles_its_manual_task_on_the_record(
    settings, pg_system, pg_roles, make_credentials
):
    settings.SUNDOWN_REVOCATION_MAX_ATTEMPTS = 1
    (name,) = pg_roles(1)
    good_port = pg_system.config["port"]
    pg_system.config = {**pg_system.config, "port": free_port(), "connect_timeout": 1}
    pg_system.save()
    (credential,) = make_credentials(pg_system, [name])
    request([credential])
    assert services.revocation_batch_run(system_id=pg_system.pk).failed == [credential.pk]
    (task,) = ManualTask.objects.filter(credential=credential, status="open")

    pg_system.config = {**pg_system.config, "port": good_port}
    pg_system.save()
    credential.refresh_from_db()
    request([credential], reason="try again")  # failed -> pending
    assert services.revocation_batch_run(system_id=pg_system.pk).revoked == [credential.pk]

    task.refresh_from_db()
    assert task.status == "done" and task.completed_by == "system:revocation-worker"
    (event,) = AuditEvent.objects.filter(action="manual_task.completed")
    assert event.target_id == str(task.pk) and event.actor_type == "system"
    assert event.before == {"status": "open"}
    assert event.after["status"] == "done" and event.after["credential"] == credential.pk


def test_failing_again_keeps_one_open_task_with_the_latest_error(
    settings, pg_system, make_credentials
):
    settings.SUNDOWN_REVOCATION_MAX_ATTEMPTS = 1
    pg_system.config = {**pg_system.config, "port": free_port(), "connect_timeout": 1}
    pg_system.save()
    (credential,) = make_credentials(pg_system, ["nobody_home"])
    request([credential])
    assert services.revocation_batch_run(system_id=pg_system.pk).failed == [credential.pk]
    (task,) = ManualTask.objects.filter(credential=credential, status="open")
    assert "could not connect" in task.detail

    pg_system.config = {**pg_system.config, "on_revoke": "lock"}  # now misconfigured
    pg_system.save()
    credential.refresh_from_db()
    request([credential], reason="try again")
    assert services.revocation_batch_run(system_id=pg_system.pk).failed == [credential.pk]
    (again,) = ManualTask.objects.filter(credential=credential, status="open")
    assert again.pk == task.pk and "on_revoke" in again.detail
    assert count("manual_task.opened") == 1


def test_a_connector_that_fails_to_close_keeps_the_verified_outcome(
    monkeypatch, pg_system, pg_roles, make_credentials
):
    from revocation.connectors.postgres import PostgresConnector

    (name,) = pg_roles(1)
    (credential,) = make_credentials(pg_system, [name])
    request([credential])
    close = PostgresConnector.close

    def close_then_fail(self):
        close(self)
        raise OSError("socket already gone")

    monkeypatch.setattr(PostgresConnector, "close", close_then_fail)
    assert services.revocation_batch_run(system_id=pg_system.pk).revoked == [credential.pk]
    assert role_can_login(name) is False


def test_permanent_error_fails_at_once(pg_system, make_credentials):
    (credential,) = make_credentials(pg_system, ["pg_monitor"])  # reserved: never touched
    request([credential])
    result = services.revocation_batch_run(system_id=pg_system.pk)
    assert result.failed == [credential.pk]
    assert role_can_login("pg_monitor") is False  # still as it was: a NOLOGIN built-in
    assert ManualTask.objects.filter(credential=credential, status="open").count() == 1


def test_one_bad_role_does_not_hold_the_batch_hostage(pg_system, pg_roles, make_credentials):
    names = pg_roles(2)
    credentials = make_credentials(pg_system, [*names, "pg_read_all_data"])
    request(credentials)
    result = services.revocation_batch_run(system_id=pg_system.pk)
    assert sorted(result.revoked) == sorted(c.pk for c in credentials[:2])
    assert result.failed == [credentials[2].pk]


def test_manual_system_hands_off_and_is_never_reclaimed(agency, vendor, make_credentials, officer):
    system = SystemFactory(agency=agency, kind=System.Kind.MANUAL, owner_email="ops@x.example")
    (credential,) = make_credentials(system, ["archive-share-acme"])
    request([credential])
    result = services.revocation_batch_run(system_id=system.pk)
    assert result.handed_off == [credential.pk]
    credential.refresh_from_db()
    assert credential.status == Credential.Status.PENDING and credential.next_attempt_at is None
    (task,) = ManualTask.objects.filter(credential=credential, status="open")
    assert task.reason == "manual_system"
    (notice,) = mail.outbox  # the owner is told what to revoke by hand
    assert notice.to == ["ops@x.example"] and "archive-share-acme" in notice.body
    assert services.revocation_batch_run(system_id=system.pk).claimed == 0
    assert count("credential.revoked") == 0

    from audit.actor import Actor

    services.manual_task_complete(
        actor=Actor.for_user(officer), task=task, note="Share permissions removed"
    )
    credential.refresh_from_db()
    assert credential.status == "confirmed" and credential.revoked_by == "officer"
    assert count("credential.revoked", credential) == 1


def test_concurrent_claims_take_disjoint_batches(settings, pg_system, pg_roles, make_credentials):
    settings.SUNDOWN_REVOCATION_BATCH_SIZE = 5
    names = pg_roles(10)
    credentials = make_credentials(pg_system, names)
    request(credentials)
    results = []

    def run():
        try:
            results.append(services.revocation_batch_run(system_id=pg_system.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    revoked = [pk for r in results for pk in r.revoked]
    assert sorted(revoked) == sorted(c.pk for c in credentials)  # each exactly once
    assert count("credential.revoked") == 10
    assert RevocationAttempt.objects.count() == 10


def test_a_worker_whose_lease_expired_records_nothing(settings, pg_system, pg_roles, monkeypatch):
    """Worker A claims, stalls past its lease; B re-claims and finishes; A's late result
    is dropped, so there is exactly one revoked event and A's attempt is 'abandoned'."""
    from tests.factories import CredentialFactory

    (name,) = pg_roles(1)
    credential = CredentialFactory(
        system=pg_system, vendor__agency=pg_system.agency, external_id=name
    )
    request([credential])
    settings.SUNDOWN_REVOCATION_LEASE_SECONDS = 0  # A's lease is expired at once

    real_call = batch._call_connector
    second = {}

    def stalled_call(system, rows, **kwargs):
        # While A "hangs" in the target call, B claims the expired lease and finishes.
        if not second:
            second["started"] = True
            second["result"] = services.revocation_batch_run(system_id=system.pk, worker="B")
        return real_call(system, rows, **kwargs)

    monkeypatch.setattr(batch, "_call_connector", stalled_call)
    first = services.revocation_batch_run(system_id=pg_system.pk, worker="A")

    assert second["result"].revoked == [credential.pk]
    assert first.lost_lease == [credential.pk] and first.revoked == []
    assert count("credential.revoked", credential) == 1
    outcomes = dict(
        RevocationAttempt.objects.filter(credential=credential).values_list("attempt", "outcome")
    )
    assert outcomes == {1: "abandoned", 2: "success"}
    (lost,) = AuditEvent.objects.filter(action="credential.revocation_attempt_failed")
    assert lost.after["outcome"] == "abandoned" and lost.after["worker"].startswith("A/")


def test_concurrent_sweeps_request_each_credential_once(vendor, agency):
    """Two beats firing together: one sweep works, the other steps aside."""
    import datetime as dt

    from tests.factories import ContractFactory, CredentialFactory

    contract = ContractFactory(vendor=vendor, end_date=timezone.localdate() - dt.timedelta(days=1))
    CredentialFactory.create_batch(30, vendor=vendor, contracts=[contract])
    barrier = threading.Barrier(3)
    results = []

    def sweep():
        try:
            barrier.wait()
            results.append(services.revocation_sweep(chunk=7))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.requested for r in results) == 30
    assert count("credential.revocation_requested") == 30
    assert count("contract.ended") == 1
    assert set(Credential.objects.values_list("status", flat=True)) == {"pending"}


def test_a_person_confirming_while_the_worker_settles_the_task_does_not_deadlock(
    agency, vendor, officer, make_credentials
):
    from audit.actor import Actor

    system = SystemFactory(agency=agency, kind=System.Kind.POSTGRES)
    (credential,) = make_credentials(system, ["both_at_once"])
    Credential.objects.filter(pk=credential.pk).update(status=Credential.Status.FAILED)
    task = ManualTask.objects.create(
        credential=credential, system=system, reason="failed", opened_at=timezone.now()
    )
    worker_locked, errors = threading.Event(), []

    def worker():
        # _record_batch's order: the credential first, then its open manual task.
        try:
            with transaction.atomic():
                Credential.objects.select_for_update().get(pk=credential.pk)
                worker_locked.set()
                time.sleep(0.5)  # the person's call is waiting on a lock by now
                manual.settle_manual_tasks(
                    credential_ids=[credential.pk], system=system, now=timezone.now(), events=[]
                )
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    def person():
        worker_locked.wait()
        try:
            services.manual_task_complete(
                actor=Actor.for_user(officer), task=task, note="Removed by hand"
            )
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker), threading.Thread(target=person)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    task.refresh_from_db()
    assert task.status == "done"
