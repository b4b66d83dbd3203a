"""End to end through real processes: a Celery worker (and beat) subprocess, Redis, the
test database and real PostgreSQL roles on 127.0.0.1:5432. Fault tests kill the
worker, restart Redis, take the target away, repeat messages and run two beats; every
credential must end revoked and verified (or failed with a manual task), with exactly
one ``credential.revoked`` event each."""

import datetime as dt
import uuid

import psycopg2
import pytest
from django.utils import timezone

from access.models import Credential
from access.services import system_update
from audit.actor import Actor
from audit.models import AuditEvent
from revocation import services
from revocation.models import RevocationAttempt, TargetState
from tests.factories import ContractFactory, CredentialFactory
from tests.revocation.conftest import connect_as, role_can_login
from tests.revocation.helpers import Worker, free_port, pg_admin, wait_for
from vendors.models import Contract

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ACTOR = Actor.system("test")
# One worker (with beat) serves the tests that need nothing special of it: starting
# Django and every connector takes seconds, and the tests share one process's queue.
SHARED_ENV = {
    "SUNDOWN_REVOCATION_MAX_ATTEMPTS": 3,
    "SUNDOWN_SECURITY_ALERT_EMAILS": "soc@x.example",
}


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), Worker(beat=True, concurrency=3, env=SHARED_ENV) as shared:
        yield shared


def statuses(credentials) -> dict[int, str]:
    return dict(
        Credential.objects.filter(pk__in=[c.pk for c in credentials]).values_list("pk", "status")
    )


def all_status(credentials, status):
    return lambda: set(statuses(credentials).values()) == {status}


def revoked_events(credential) -> int:
    return AuditEvent.objects.filter(
        action="credential.revoked", target_type="access.credential", target_id=str(credential.pk)
    ).count()


def assert_revoked_once(credentials, names):
    for credential, name in zip(credentials, names, strict=True):
        credential.refresh_from_db()
        assert credential.status == Credential.Status.REVOKED
        assert role_can_login(name) is False, name
        assert revoked_events(credential) == 1, credential
        assert (
            RevocationAttempt.objects.filter(credential=credential, outcome="success").count() == 1
        )


def test_contract_ending_now_revokes_the_role_and_ends_its_session(
    worker, vendor, pg_system, pg_roles
):
    names = pg_roles(2)
    contract = ContractFactory(vendor=vendor)
    # Ends two seconds from now: the sweep, not the test, notices the end.
    Contract.objects.filter(pk=contract.pk).update(
        access_ends_at=timezone.now() + dt.timedelta(seconds=2)
    )
    credentials = [
        CredentialFactory(vendor=vendor, system=pg_system, external_id=n, contracts=[contract])
        for n in names
    ]
    session = connect_as(names[0])

    wait_for(all_status(credentials, "revoked"), timeout=40, message=worker.log)

    assert_revoked_once(credentials, names)
    with pytest.raises(psycopg2.Error), session.cursor() as cursor:
        cursor.execute("SELECT 1")
    with pytest.raises(psycopg2.OperationalError, match="not permitted to log in"):
        connect_as(names[1])
    with pg_admin() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = ANY(%s)", [names])
        assert cursor.fetchone()[0] == 0
    requested = AuditEvent.objects.filter(action="credential.revocation_requested")
    assert requested.count() == 2
    assert {e.after["trigger"] for e in requested} == {"contract_ended"}
    contract.refresh_from_db()
    assert contract.status == Contract.Status.ENDED
    assert AuditEvent.objects.filter(action="contract.ended").count() == 1


def test_target_down_then_back(worker, vendor, pg_system, pg_roles):
    (name,) = pg_roles(1)
    good = dict(pg_system.config)
    pg_system.config = {**good, "port": free_port(), "connect_timeout": 1}
    pg_system.save()
    credential = CredentialFactory(vendor=vendor, system=pg_system, external_id=name)

    services.credential_revoke(actor=ACTOR, credential=credential, reason="down/up")
    wait_for(
        lambda: AuditEvent.objects.filter(
            action="system.target_unreachable", target_id=str(pg_system.pk)
        ).exists(),
        timeout=30,
        message=worker.log,
    )
    assert Credential.objects.get(pk=credential.pk).status == "pending"
    system_update(actor=ACTOR, system=pg_system, config=good)  # the target is back
    # The probe (every 2 s) notices, and the batch goes at once: no rung to wait out.
    wait_for(all_status([credential], "revoked"), timeout=15, message=worker.log)

    assert_revoked_once([credential], [name])
    outcomes = RevocationAttempt.objects.filter(credential=credential).order_by("attempt", "id")
    assert list(outcomes.values_list("outcome", flat=True)) == ["deferred", "success"]
    assert AuditEvent.objects.filter(action="credential.revocation_attempt_failed").count() == 0
    assert AuditEvent.objects.filter(action="system.target_reachable").count() == 1


def test_target_that_stays_down_is_one_outage_one_row_and_one_mail(worker, vendor, pg_system):
    pg_system.config = {**pg_system.config, "port": free_port(), "connect_timeout": 1}
    pg_system.save()
    credentials = [
        CredentialFactory(vendor=vendor, system=pg_system, external_id=f"gone_for_good_{i}")
        for i in range(3)
    ]
    for credential in credentials:
        services.credential_revoke(actor=ACTOR, credential=credential, reason="stays down")
    wait_for(
        lambda: TargetState.objects.filter(system=pg_system, probes__gte=3).exists(),
        timeout=30,
        message=worker.log,
    )
    mails = wait_for(
        lambda: [m for m in worker.mails() if "unreachable" in m and pg_system.name in m],
        timeout=10,
        message="alert",
    )
    assert len(mails) == 1, mails
    recipients = next(line for line in mails[0].splitlines() if line.startswith("To: "))
    # (The agency's officers are on it too: test_engine checks that in-process.)
    assert "soc@x.example" in recipients and "dba@agency.example" in recipients, recipients
    # Probes every 2 s, not a try per credential per rung: the three still wait.
    assert all_status(credentials, "pending")()
    assert RevocationAttempt.objects.filter(system=pg_system).count() <= len(credentials)
    assert set(
        RevocationAttempt.objects.filter(system=pg_system).values_list("outcome", flat=True)
    ) == {"deferred"}
    assert AuditEvent.objects.filter(action="system.target_unreachable").count() == 1
    assert AuditEvent.objects.filter(action="credential.revocation_attempt_failed").count() == 0


def test_the_same_task_delivered_three_times(worker, vendor, pg_system, pg_roles):
    names = pg_roles(4)
    credentials = [CredentialFactory(vendor=vendor, system=pg_system, external_id=n) for n in names]
    # Pending without the usual dispatch: the only messages are the three copies below.
    Credential.objects.filter(pk__in=[c.pk for c in credentials]).update(
        status="pending", next_attempt_at=timezone.now()
    )
    task_id = str(uuid.uuid4())
    for _ in range(3):  # one message, delivered three times, to three worker processes
        worker.send("revocation.revoke_system_batch", pg_system.pk, task_id=task_id)
    wait_for(all_status(credentials, "revoked"), timeout=30, message=worker.log)
    assert_revoked_once(credentials, names)
    assert RevocationAttempt.objects.count() == 4  # one attempt each: nobody claimed twice


def test_two_beats_sweeping_at_once(worker, vendor, pg_system, pg_roles):
    names = pg_roles(20)
    contract = ContractFactory(vendor=vendor, end_date=timezone.localdate() - dt.timedelta(days=2))
    credentials = [
        CredentialFactory(vendor=vendor, system=pg_system, external_id=n, contracts=[contract])
        for n in names
    ]
    # The shared worker runs a beat too: three beats in all, sweeping every second.
    with Worker(beat_only=True), Worker(beat_only=True):
        wait_for(all_status(credentials, "revoked"), timeout=40, message=worker.log)
    assert_revoked_once(credentials, names)
    assert AuditEvent.objects.filter(action="credential.revocation_requested").count() == 20
    assert AuditEvent.objects.filter(action="contract.ended").count() == 1
