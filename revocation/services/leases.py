"""Leases: how a worker takes a batch so that no two workers ever do the same job.

The lease is a conditional UPDATE with the database clock; a worker that died
leaves its name on the rows, and whoever claims them after the lease expired
records that lost attempt as ``abandoned``.

A lease ends in one of three ways for a claimer: its hard expiry passed (the longest
a batch may run, ``SUNDOWN_REVOCATION_LEASE_SECONDS``); its process is gone; or its
pulse stopped. The process doing a batch holds a PostgreSQL session advisory lock
named after the lease from the claim to the end of the batch: when the process dies
(SIGKILL, OOM, a pool child killed) its connections close and PostgreSQL lets the lock
go at once, so the next claim sees a ``BatchLease`` whose lock nobody holds and takes
the rows over (``leases_reap``) instead of waiting. The pulse covers what the lock
cannot see, a machine or network that is gone while its connection still looks open:
the process renews ``BatchLease.alive_until`` every
``SUNDOWN_REVOCATION_HEARTBEAT_SECONDS`` from a thread, and a row not renewed for
``SUNDOWN_REVOCATION_LIVENESS_SECONDS`` is dead too. Either way the batch that is
recording under its own lease still decides alone which rows are its
(``batch._lock_still_mine``): a takeover never makes a second side effect count.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.base import ModelState
from django.db.models.functions import Now
from django.utils import timezone

from access.models import Credential, System
from audit.services import audit_record_many
from config.planner import planner_without
from revocation.models import BatchLease, RevocationAttempt
from revocation.services.attempts import attempt_row, insert_attempts
from revocation.services.common import db_now, in_ids, worker_actor
from revocation.services.events import attempt_failed_event
from revocation.services.observe import abandoned_observe_on_commit

logger = logging.getLogger(__name__)

CLAIM_LOCK_CLASS = 0x434C4D  # "CLM": pg_advisory_xact_lock(class, system id) per claim
# "LSE": pg_advisory_lock(class, hashtext(lease)), held by the process running the batch.
LEASE_LOCK_CLASS = 0x4C5345
# The leases this process holds the lock of (a hash shared with a live lease elsewhere
# is not taken: that batch then relies on its pulse alone).
_held: set[str] = set()


def claimable() -> Q:
    """Rows no live batch holds: never leased, past the hard expiry, or whose pulse stopped."""
    alive = BatchLease.objects.filter(lease=OuterRef("lease_owner"), alive_until__gte=Now())
    return Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=Now()) | Q(~Exists(alive))


def claim(*, system_id: int, lease: str, limit: int) -> tuple[list[Credential], datetime]:
    """Take up to ``limit`` due pending credentials of one system under a lease.

    The conditional UPDATE is the lease: only rows that are pending, due and not
    leased by a live worker are taken, and SKIP LOCKED keeps two claimers apart.
    An expired lease (a worker that died) is simply taken again.
    """
    try:
        return _claim(system_id=system_id, lease=lease, limit=limit)
    except BaseException:
        _lock_drop(lease)  # a session lock outlives a rolled-back transaction
        raise


def _claim(*, system_id: int, lease: str, limit: int) -> tuple[list[Credential], datetime]:
    lease_seconds = settings.SUNDOWN_REVOCATION_LEASE_SECONDS
    with transaction.atomic():
        _system_lock(system_id)
        leases_reap(system_id=system_id)
        if not _slot_free(system_id):
            return [], timezone.now()
        claimable_rows = (
            Credential.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                system_id=system_id,
                status=Credential.Status.PENDING,
                next_attempt_at__lte=Now(),
            )
            .filter(claimable())
            .order_by("next_attempt_at", "pk")
        )
        rows = _still_claimable(_claim_read(claimable_rows[:limit]))
        if not rows:
            return [], timezone.now()
        Credential.objects.filter(in_ids("pk", [row.pk for row in rows])).update(
            lease_owner=lease,
            lease_expires_at=Now() + timedelta(seconds=lease_seconds),
            attempts=F("attempts") + 1,
        )
        # Before the BatchLease row commits: nobody ever sees it without its lock.
        _lock_take(lease)
        BatchLease.objects.create(lease=lease, system_id=system_id, alive_until=_alive_until())
        now = db_now()
        # A lease that expired with its owner still named on the row is a worker
        # that died between claim and outcome: that attempt is recorded as lost.
        lost = [row for row in rows if row.lease_owner]
        if lost:
            record_abandoned(system_id=system_id, rows=lost, now=now, lease_seconds=lease_seconds)
            # The dead batches' pulse rows: nobody renews them any more.
            BatchLease.objects.filter(lease__in={row.lease_owner for row in lost}).delete()
        for row in rows:
            row.attempts += 1
            row.lease_owner = lease
    return rows, now


# What a claimed row is read with: all that the batch, its connectors (the account's
# name and the row's id), its audit events, metrics and mails read of it. Any other
# field loads on first access, as a deferred field does.
CLAIM_FIELDS = (
    "id",
    "vendor_id",
    "system_id",
    "kind",
    "external_id",
    "status",
    "attempts",
    "lease_owner",
    "lease_expires_at",
    "next_attempt_at",
    "last_seen_on_target_at",
    "revocation_requested_at",
)


def _claim_read(rows: QuerySet[Credential]) -> list[Credential]:
    """The claim's rows, read by walking the work-queue index.

    credential_pending_idx hands rows out in the claim's own order. Right after a mass
    contract end the table's statistics still say almost nothing is pending, and the
    planner took the status index instead and sorted every pending row (100,000 rows,
    on disk) to keep 1,000: 40-95 ms a claim against a few with the queue index.
    Without the sort it walks the queue index.
    """
    values = rows.values_list(*CLAIM_FIELDS)
    if connection.vendor != "postgresql":
        return claimed_instances(values)
    with connection.cursor() as cursor, planner_without(cursor, "enable_sort"):
        return claimed_instances(values)


def claimed_instances(values) -> list[Credential]:
    """Credential instances of ``CLAIM_FIELDS`` value rows, the other fields deferred.

    What ``Model.from_db`` makes of a deferred read, without ``Model.__init__``: its
    work per field (descriptors, the foreign keys' cache checks) was most of a batch's
    Python time in the claim, ~26 us a row on the benches' machine against ~5 here
    (``bench/revocation.py``, issue 16). __init__ sends pre_init and post_init, which
    no receiver in Sundown listens to (tests/revocation/test_claim_rows.py checks
    that, and that the instances equal fully read ones).
    """
    new = Credential.__new__
    alias = connection.alias
    out = []
    for row in values:
        instance = new(Credential)
        fields = instance.__dict__
        fields.update(zip(CLAIM_FIELDS, row, strict=True))
        state = fields["_state"] = ModelState()
        state.adding = False
        state.db = alias
        out.append(instance)
    return out


def _system_lock(system_id: int) -> None:
    """One claim per system at a time (until the claim's transaction ends)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [CLAIM_LOCK_CLASS, system_id])


def _lock_take(lease: str) -> None:
    if connection.vendor != "postgresql":
        return  # SQLite: one machine, the pulse alone says who is alive
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", [LEASE_LOCK_CLASS, lease])
        if cursor.fetchone()[0]:
            _held.add(lease)


def _lock_drop(lease: str) -> None:
    if lease not in _held:
        return
    _held.discard(lease)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [LEASE_LOCK_CLASS, lease])
    except Exception:  # noqa: BLE001 - a broken connection has let the lock go already
        logger.warning("could not unlock lease %s", lease, exc_info=True)


def leases_reap(*, system_id: int | None = None) -> int:
    """Forget the pulse rows of batches whose process is gone: nobody holds their lock.

    Their rows become claimable at once (``claimable``) and their slots free
    (``_slot_free``), instead of after SUNDOWN_REVOCATION_LIVENESS_SECONDS. A row whose
    lock was never taken (a hash shared with a live lease) looks held and waits for
    its pulse, as every row did before. Returns how many went.
    """
    if connection.vendor != "postgresql":
        return 0
    table = BatchLease._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} b WHERE (%s::int IS NULL OR b.system_id = %s) "
            "AND NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' "
            "AND l.granted AND l.database = (SELECT oid FROM pg_database "
            "WHERE datname = current_database()) AND l.classid = %s::oid "
            "AND l.objid = hashtext(b.lease)::oid AND l.objsubid = 2)",
            [system_id, system_id, LEASE_LOCK_CLASS],
        )
        return cursor.rowcount


def _slot_free(system_id: int) -> bool:
    """Fewer than SUNDOWN_REVOCATION_PARALLEL_PER_SYSTEM live batches of this system?

    Under the per-system claim lock, so two claims cannot both see the last slot free.
    The cap keeps worker slots for other systems: batches stuck on a frozen target
    (until their read timeout) never hold every slot of the pool.
    """
    live = BatchLease.objects.filter(system_id=system_id, alive_until__gte=Now()).count()
    return live < settings.SUNDOWN_REVOCATION_PARALLEL_PER_SYSTEM


def _still_claimable(rows: list[Credential]) -> list[Credential]:
    """Drop rows whose owner's pulse is alive after all, looked at again now.

    A row another batch claimed while the SELECT ran is re-checked by PostgreSQL on
    its new version (lease_owner set), but the pulse subquery still reads the
    statement's older snapshot, in which that batch's BatchLease row does not exist
    yet: it would look dead. A fresh statement sees it; the rows are locked by now,
    so their owner cannot change under us.
    """
    owners = {row.lease_owner for row in rows if row.lease_owner}
    if not owners:
        return rows
    now = db_now()
    alive = set(
        BatchLease.objects.filter(lease__in=owners, alive_until__gte=now).values_list(
            "lease", flat=True
        )
    )
    return [
        row
        for row in rows
        if row.lease_owner not in alive
        or (row.lease_expires_at is not None and row.lease_expires_at < now)
    ]


def record_abandoned(
    *, system_id: int, rows: list[Credential], now: datetime, lease_seconds: int
) -> None:
    """Attempts whose worker died before recording an outcome: a row and an event each."""
    system = System.objects.only("kind", "agency_id").get(pk=system_id)
    error = "worker lost before recording an outcome (lease expired or its pulse stopped)"
    abandoned_observe_on_commit(kind=system.kind, n=len(rows))
    insert_attempts(
        [
            attempt_row(
                row,
                system_id=system_id,
                connector=system.kind,
                worker=row.lease_owner,
                attempt=row.attempts,
                outcome=RevocationAttempt.Outcome.ABANDONED,
                error=error,
                # Approximate: the lease was taken this long before it expired.
                started_at=(row.lease_expires_at or now) - timedelta(seconds=lease_seconds),
                finished_at=now,
            )
            for row in rows
        ]
    )
    audit_record_many(
        actor=worker_actor(),
        events=[
            attempt_failed_event(
                row,
                system=system,
                outcome=RevocationAttempt.Outcome.ABANDONED,
                error=error,
                permanent=False,
                worker=row.lease_owner,
            )
            for row in rows
        ],
    )


def _alive_until():
    return Now() + timedelta(seconds=settings.SUNDOWN_REVOCATION_LIVENESS_SECONDS)


def lease_release(lease: str) -> None:
    """The batch is over (recorded, or failed before it could be): its pulse row goes.

    Rows still naming the lease become claimable at once; a claimer records them as
    abandoned, which is what they are if the batch did not record them.
    """
    BatchLease.objects.filter(lease=lease).delete()
    _lock_drop(lease)


class LeaseHeartbeat:
    """Renews one batch's ``BatchLease`` from a thread while the batch runs.

    The thread has its own database connection (Django's are per thread) and closes
    it on exit. A failed renewal is logged and tried again on the next beat: if the
    database stays away long enough for the pulse to lapse, another worker may take
    the rows over, and this batch then finds them no longer its own when recording.
    """

    def __init__(self, lease: str):
        self.lease = lease
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LeaseHeartbeat:
        self._thread = threading.Thread(
            target=self._run, name=f"lease-heartbeat-{self.lease[-12:]}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        interval = settings.SUNDOWN_REVOCATION_HEARTBEAT_SECONDS
        try:
            while not self._stop.wait(interval):
                try:
                    BatchLease.objects.filter(lease=self.lease).update(alive_until=_alive_until())
                except Exception:  # noqa: BLE001 - the next beat tries again
                    logger.warning("could not renew lease %s", self.lease, exc_info=True)
        finally:
            connection.close()
