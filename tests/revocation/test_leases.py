"""Leases in-process against real PostgreSQL roles: a batch whose process died (its
advisory lock gone) or whose pulse stopped is taken over, a live one is not, batches are
sized to fit their lease, and a system never runs more batches at once than its share.
(Through real worker processes: test_worker_faults.py, bench/chaos.py.)"""

import time
import uuid

import psycopg2
import pytest
from django.db import connection
from django.utils import timezone

from revocation import services
from revocation.models import BatchLease, RevocationAttempt
from revocation.services import batch
from revocation.services.leases import LEASE_LOCK_CLASS
from tests.revocation.test_engine import count, fast_ladder, request  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=True)


def _stall_with_second_claim(monkeypatch, *, wait: float = 0.0):
    """While the first batch is in its target call, a second worker claims (after ``wait``)."""
    real_call = batch._call_connector
    second = {}

    def stalled_call(system, rows, **kwargs):
        if not second:
            second["started"] = True
            time.sleep(wait)
            second["result"] = services.revocation_batch_run(system_id=system.pk, worker="B")
        return real_call(system, rows, **kwargs)

    monkeypatch.setattr(batch, "_call_connector", stalled_call)
    return second


def test_a_batch_whose_pulse_stopped_is_taken_over_before_its_lease_ends(
    settings, pg_system, pg_roles, make_credentials, monkeypatch
):
    """A SIGKILLed worker stops renewing its pulse: its rows go to the next claimer in
    SUNDOWN_REVOCATION_LIVENESS_SECONDS, long before the hard lease would end, and are
    still revoked and audited once."""
    credentials = make_credentials(pg_system, pg_roles(2))
    request(credentials)
    settings.SUNDOWN_REVOCATION_LEASE_SECONDS = 3600
    settings.SUNDOWN_REVOCATION_LIVENESS_SECONDS = 0  # A's pulse is stale at once
    settings.SUNDOWN_REVOCATION_HEARTBEAT_SECONDS = 60  # and never renewed
    second = _stall_with_second_claim(monkeypatch)
    first = services.revocation_batch_run(system_id=pg_system.pk, worker="A")

    assert sorted(second["result"].revoked) == sorted(c.pk for c in credentials)
    assert sorted(first.lost_lease) == sorted(c.pk for c in credentials)
    for credential in credentials:
        assert count("credential.revoked", credential) == 1
        outcomes = list(
            RevocationAttempt.objects.filter(credential=credential)
            .order_by("attempt")
            .values_list("outcome", "worker")
        )
        assert [o for o, _ in outcomes] == ["abandoned", "success"]
        assert outcomes[0][1].startswith("A/") and outcomes[1][1].startswith("B/")
    assert not BatchLease.objects.exists()  # both pulses are gone with their batches


def test_a_live_pulse_keeps_the_batch_past_the_liveness_window(
    settings, pg_system, pg_roles, make_credentials, monkeypatch
):
    """The heartbeat thread renews the pulse while the target call runs, so a slow but
    live batch is not taken over (and nobody does its work twice)."""
    credentials = make_credentials(pg_system, pg_roles(2))
    request(credentials)
    settings.SUNDOWN_REVOCATION_LEASE_SECONDS = 3600
    settings.SUNDOWN_REVOCATION_LIVENESS_SECONDS = 1
    settings.SUNDOWN_REVOCATION_HEARTBEAT_SECONDS = 0.2
    second = _stall_with_second_claim(monkeypatch, wait=2.0)
    first = services.revocation_batch_run(system_id=pg_system.pk, worker="A")

    assert second["result"].claimed == 0
    assert sorted(first.revoked) == sorted(c.pk for c in credentials)
    assert not RevocationAttempt.objects.filter(outcome="abandoned").exists()


def test_a_batch_is_sized_from_the_systems_pace_to_finish_well_inside_its_lease(
    settings, pg_system, pg_roles, make_credentials
):
    from revocation.models import TargetState
    from revocation.services.pace import batch_limit

    settings.SUNDOWN_REVOCATION_LEASE_SECONDS = 60
    settings.SUNDOWN_REVOCATION_BATCH_SIZE = 500
    assert batch_limit(pg_system.pk) == 500  # never measured: the configured size
    names = pg_roles(3)
    request(make_credentials(pg_system, names))
    assert len(services.revocation_batch_run(system_id=pg_system.pk).revoked) == 3
    state = TargetState.objects.get(system=pg_system)
    assert state.seconds_per_credential and state.paced_at  # measured by the batch
    # A target at 0.1 s per credential: 15 s of work (a quarter of the lease) per batch.
    TargetState.objects.filter(system=pg_system).update(seconds_per_credential=0.1)
    assert batch_limit(pg_system.pk) == 150
    TargetState.objects.filter(system=pg_system).update(seconds_per_credential=100)
    assert batch_limit(pg_system.pk) == 1


def another_process_holds(lease: str):
    """A connection of its own holding the lease's lock, as the worker running the batch
    does; closing it is what PostgreSQL sees when that process dies."""
    params = connection.settings_dict
    other = psycopg2.connect(
        host=params["HOST"] or "127.0.0.1",
        port=params["PORT"] or 5432,
        user=params["USER"] or "postgres",
        dbname=params["NAME"],
    )
    other.autocommit = True
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", [LEASE_LOCK_CLASS, lease])
    return other


def lock_held(lease: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s "
            "AND objid = hashtext(%s)::oid AND objsubid = 2",
            [LEASE_LOCK_CLASS, lease],
        )
        return cursor.fetchone()[0] > 0


def test_a_system_never_runs_more_batches_at_once_than_its_share(
    settings, pg_system, pg_roles, make_credentials
):
    """So batches stuck on a frozen target cannot take every worker slot from the others."""
    from datetime import timedelta

    settings.SUNDOWN_REVOCATION_PARALLEL_PER_SYSTEM = 1
    names = pg_roles(1)
    request(make_credentials(pg_system, names))
    lease = f"elsewhere/{uuid.uuid4().hex}"
    process = another_process_holds(lease)
    try:
        running = BatchLease.objects.create(
            lease=lease, system_id=pg_system.pk, alive_until=timezone.now() + timedelta(60)
        )
        assert services.revocation_batch_run(system_id=pg_system.pk).claimed == 0
        running.alive_until = timezone.now() - timedelta(seconds=1)  # its pulse stopped
        running.save()
        assert len(services.revocation_batch_run(system_id=pg_system.pk).revoked) == 1
    finally:
        process.close()


def test_a_batch_whose_process_died_is_taken_over_at_once(
    settings, pg_system, pg_roles, make_credentials
):
    """A SIGKILLed worker's connections close and PostgreSQL drops its lease lock: the
    next claim takes its rows (and its slot) at once, though its pulse is still fresh,
    records the lost attempt as abandoned and revokes each once."""
    from datetime import timedelta

    from access.models import Credential

    settings.SUNDOWN_REVOCATION_PARALLEL_PER_SYSTEM = 1
    settings.SUNDOWN_REVOCATION_LIVENESS_SECONDS = 3600
    credentials = make_credentials(pg_system, pg_roles(2))
    request(credentials)
    lease = f"dead-host:1/{uuid.uuid4().hex}"
    process = another_process_holds(lease)
    Credential.objects.filter(pk__in=[c.pk for c in credentials]).update(
        lease_owner=lease, lease_expires_at=timezone.now() + timedelta(hours=1), attempts=1
    )
    BatchLease.objects.create(
        lease=lease, system_id=pg_system.pk, alive_until=timezone.now() + timedelta(hours=1)
    )
    assert services.revocation_batch_run(system_id=pg_system.pk).claimed == 0  # alive

    process.close()  # the worker is killed
    started = time.monotonic()
    while lock_held(lease) and time.monotonic() - started < 5:
        time.sleep(0.01)  # the server ends the closed session's backend
    result = services.revocation_batch_run(system_id=pg_system.pk)
    assert time.monotonic() - started < 5
    assert sorted(result.revoked) == sorted(c.pk for c in credentials)
    for credential in credentials:
        assert count("credential.revoked", credential) == 1
        outcomes = list(
            RevocationAttempt.objects.filter(credential=credential)
            .order_by("attempt")
            .values_list("outcome", flat=True)
        )
        assert outcomes == ["abandoned", "success"]
    assert not BatchLease.objects.exists()
    with connection.cursor() as cursor:  # and the batch let its own lock go
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s "
            "AND pid = pg_backend_pid()",
            [LEASE_LOCK_CLASS],
        )
        assert cursor.fetchone()[0] == 0
