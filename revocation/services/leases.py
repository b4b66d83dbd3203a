"""Leases: how a worker takes a batch so that no two workers ever do the same job.

The lease is a conditional UPDATE with the database clock; a worker that died
leaves its name on the rows, and whoever claims them after the lease expired
records that lost attempt as ``abandoned``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone

from access.models import Credential, System
from audit.services import PendingEvent, audit_record_many
from revocation.models import RevocationAttempt
from revocation.services.attempts import attempt_row, insert_attempts
from revocation.services.common import credential_target, db_now, worker_actor
from revocation.services.observe import abandoned_observe_on_commit


def claim(*, system_id: int, lease: str, limit: int) -> tuple[list[Credential], datetime]:
    """Take up to ``limit`` due pending credentials of one system under a lease.

    The conditional UPDATE is the lease: only rows that are pending, due and not
    leased by a live worker are taken, and SKIP LOCKED keeps two claimers apart.
    An expired lease (a worker that died) is simply taken again.
    """
    lease_seconds = settings.SUNDOWN_REVOCATION_LEASE_SECONDS
    with transaction.atomic():
        claimable = (
            Credential.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                system_id=system_id,
                status=Credential.Status.PENDING,
                next_attempt_at__lte=Now(),
            )
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=Now()))
            .order_by("next_attempt_at", "pk")
        )
        rows = list(claimable[:limit])
        if not rows:
            return [], timezone.now()
        Credential.objects.filter(pk__in=[row.pk for row in rows]).update(
            lease_owner=lease,
            lease_expires_at=Now() + timedelta(seconds=lease_seconds),
            attempts=F("attempts") + 1,
        )
        now = db_now()
        # A lease that expired with its owner still named on the row is a worker
        # that died between claim and outcome: that attempt is recorded as lost.
        lost = [row for row in rows if row.lease_owner]
        if lost:
            record_abandoned(system_id=system_id, rows=lost, now=now, lease_seconds=lease_seconds)
        for row in rows:
            row.attempts += 1
            row.lease_owner = lease
    return rows, now


def record_abandoned(
    *, system_id: int, rows: list[Credential], now: datetime, lease_seconds: int
) -> None:
    """Attempts whose worker died before recording an outcome: a row and an event each."""
    system = System.objects.only("kind", "agency_id").get(pk=system_id)
    error = "worker lost before recording an outcome (lease expired)"
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
            PendingEvent(
                action="credential.revocation_attempt_failed",
                target=credential_target(row),
                agency_id=system.agency_id,
                after={
                    "connector": system.kind,
                    "attempt": row.attempts,
                    "outcome": RevocationAttempt.Outcome.ABANDONED,
                    "error": error,
                    "worker": row.lease_owner,
                    "permanent": False,
                },
            )
            for row in rows
        ],
    )
