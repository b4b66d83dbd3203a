"""Fault tests through real processes that need a worker of their own: SIGKILL in the
middle of a target call, and a private Redis that is flushed and restarted. (A
separate module so the shared worker of test_worker.py is gone and cannot steal
their work.)"""

import threading
import time
import uuid

import psycopg2
import pytest

from access.models import Credential
from audit.actor import Actor
from audit.models import AuditEvent
from revocation import services
from revocation.models import RevocationAttempt
from tests.factories import CredentialFactory, SystemFactory
from tests.revocation.conftest import role_can_login
from tests.revocation.helpers import PG, RedisServer, StallProxy, Worker, pg_admin, wait_for
from tests.revocation.test_worker import all_status, assert_revoked_once, statuses

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ACTOR = Actor.system("test")


def own_queue() -> str:
    return f"sundown-fault-{uuid.uuid4().hex[:10]}"


def test_worker_sigkilled_mid_revocation_loses_nothing_and_does_nothing_twice(
    vendor, pg_system, pg_roles
):
    names = pg_roles(3)
    credentials = [CredentialFactory(vendor=vendor, system=pg_system, external_id=n) for n in names]
    # Hold a lock on one role so the worker's ALTER ROLE blocks inside the target call.
    blocker = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    with blocker.cursor() as cursor:
        cursor.execute(f'ALTER ROLE "{names[1]}" CONNECTION LIMIT 5')

    env = {"SUNDOWN_REVOCATION_LEASE_SECONDS": 4}
    queue = own_queue()
    first = Worker(beat=True, env=env, queue=queue).start()
    try:
        for credential in credentials:
            services.credential_revoke(actor=ACTOR, credential=credential, reason="kill test")

        def worker_blocked_on_target():
            with pg_admin() as cursor:
                # pg_stat_activity is cluster-wide and other suites run workers too:
                # only a wait on this test's role counts.
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                    "'sundown-revocation' AND wait_event_type = 'Lock' AND query LIKE %s",
                    [f"%{names[1]}%"],
                )
                return cursor.fetchone()[0] > 0

        wait_for(worker_blocked_on_target, timeout=30, message=first.log)
        leased = Credential.objects.filter(pk__in=[c.pk for c in credentials]).exclude(
            lease_owner=""
        )
        assert leased.count() == 3
        first.kill()  # SIGKILL: no ack, no cleanup, lease still held
    finally:
        first.stop()
        blocker.rollback()
        blocker.close()
    assert set(statuses(credentials).values()) == {"pending"}
    assert [role_can_login(n) for n in names] == [True, True, True]  # never committed

    with Worker(beat=True, env=env, queue=queue) as second:
        wait_for(all_status(credentials, "revoked"), timeout=40, message=second.log)

    assert_revoked_once(credentials, names)
    for credential in credentials:
        outcomes = list(
            RevocationAttempt.objects.filter(credential=credential)
            .order_by("attempt")
            .values_list("outcome", flat=True)
        )
        assert outcomes == ["abandoned", "success"]
    assert (
        AuditEvent.objects.filter(
            action="credential.revocation_attempt_failed", after__outcome="abandoned"
        ).count()
        == 3
    )


def test_redis_flushed_and_restarted_with_work_pending(vendor, pg_system, pg_roles):
    names = pg_roles(3)
    credentials = [CredentialFactory(vendor=vendor, system=pg_system, external_id=n) for n in names]
    redis = RedisServer().start()
    worker = Worker(beat=True, broker_url=redis.url, queue=own_queue())
    try:
        # Work queued on the private Redis, then flushed away before any worker saw it.
        services.credential_revoke(actor=ACTOR, credential=credentials[0], reason="flushed")
        worker.send("revocation.revoke_system_batch", pg_system.pk)
        redis.client().flushall()
        worker.start()
        wait_for(all_status(credentials[:1], "revoked"), timeout=60, message=worker.log)

        # Redis dies under a running worker; work requested meanwhile; it comes back empty.
        redis.stop()
        for credential in credentials[1:]:
            services.credential_revoke(actor=ACTOR, credential=credential, reason="restarted")
        redis.start()
        wait_for(all_status(credentials, "revoked"), timeout=60, message=worker.log)
        assert worker.alive(), worker.log()
    finally:
        worker.stop()
        redis.stop()
    assert_revoked_once(credentials, names)


def test_worker_stays_up_through_broker_restarts_with_tasks_in_flight(vendor, pg_system):
    """kombu 5.7 exits the worker ("Unrecoverable error: AttributeError ... 'hostname'")
    when the connection drops while messages are unacked and the channel's restore runs
    after the connection let go of its parameters; config.broker turns that into a
    connection error the worker recovers from. Restarted here with a stream of tasks
    in flight (acks_late keeps each unacked while it runs); before the fix about one
    restart in ten killed the worker."""
    redis = RedisServer().start()
    worker = Worker(broker_url=redis.url, queue=own_queue(), concurrency=2)
    stop = threading.Event()

    def publish():
        # Batch tasks for a system id that does not exist: each returns at once.
        from config.celery import app

        while not stop.is_set():
            try:
                with app.connection_for_write(redis.url) as conn:
                    for _ in range(50):
                        app.send_task(
                            "revocation.revoke_system_batch",
                            args=(10**9,),
                            queue=worker.queue,
                            connection=conn,
                        )
            except Exception:  # noqa: BLE001 - the broker is down right now
                pass
            time.sleep(0.05)

    publisher = threading.Thread(target=publish, daemon=True)
    try:
        worker.start()
        publisher.start()
        wait_for(lambda: "ready" in worker.log() or worker.alive(), timeout=30)
        time.sleep(4)
        for _ in range(8):
            redis.stop()
            time.sleep(0.5)
            redis.start()
            time.sleep(1.0)
            assert worker.alive(), worker.log()[-4000:]
    finally:
        stop.set()
        publisher.join(timeout=5)
        worker.stop()
        redis.stop()
    assert "Unrecoverable error" not in worker.log()


def test_a_stalled_target_delays_no_other_system_and_resumes_once_back(
    agency, vendor, pg_system, pg_roles
):
    """One system's target freezes mid-batch (a proxy that stops forwarding, as a
    SIGSTOPped server or a black-holed network looks): another system's revocations
    go through at full speed meanwhile, the stalled batch is cut at its read timeout and
    opens one outage, and once the target answers again its credentials are revoked
    within seconds, each once."""
    proxy = StallProxy((PG["host"], PG["port"])).start()
    stalled = SystemFactory(
        agency=agency,
        kind="postgres",
        name=f"stalled-{uuid.uuid4().hex[:6]}",
        config={
            "host": "127.0.0.1",
            "port": proxy.port,
            "user": "postgres",
            "dbname": "postgres",
            "connect_timeout": 6,
            "read_timeout": 6,
        },
    )
    warm, *names = pg_roles(4)
    stalled_names = pg_roles(3)
    warm_up = CredentialFactory(vendor=vendor, system=pg_system, external_id=warm)
    healthy = [CredentialFactory(vendor=vendor, system=pg_system, external_id=n) for n in names]
    frozen = [
        CredentialFactory(vendor=vendor, system=stalled, external_id=n) for n in stalled_names
    ]
    worker = Worker(beat=True, queue=own_queue(), concurrency=2)
    try:
        worker.start()
        services.credential_revoke(actor=ACTOR, credential=warm_up, reason="warm up")
        wait_for(all_status([warm_up], "revoked"), timeout=60, message=worker.log)

        proxy.freeze()
        for credential in frozen:
            services.credential_revoke(actor=ACTOR, credential=credential, reason="stalled")
        wait_for(
            lambda: (
                Credential.objects.filter(pk__in=[c.pk for c in frozen])
                .exclude(lease_owner="")
                .exists()
            ),
            timeout=20,
            message=worker.log,
        )
        started = time.monotonic()
        for credential in healthy:
            services.credential_revoke(actor=ACTOR, credential=credential, reason="healthy")
        wait_for(all_status(healthy, "revoked"), timeout=10, message=worker.log)
        healthy_seconds = time.monotonic() - started
        # Well inside the stalled call's 6 s timeout: the other system did not wait for it.
        assert healthy_seconds < 5, healthy_seconds
        assert all_status(frozen, "pending")()

        wait_for(
            lambda: AuditEvent.objects.filter(
                action="system.target_unreachable", target_id=str(stalled.pk)
            ).exists(),
            timeout=20,
            message=worker.log,
        )
        proxy.thaw()
        back = time.monotonic()
        wait_for(all_status(frozen, "revoked"), timeout=20, message=worker.log)
        assert time.monotonic() - back < 10
    finally:
        worker.stop()
        proxy.stop()
    assert_revoked_once(frozen, stalled_names)
    assert_revoked_once(healthy, names)
    assert RevocationAttempt.objects.filter(system=stalled).exclude(outcome="success").count() <= 2
    assert AuditEvent.objects.filter(action="system.target_reachable").count() == 1
