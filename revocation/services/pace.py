"""Batch size and lease, chosen together: a batch must finish well inside its lease.

The lease's hard expiry (``SUNDOWN_REVOCATION_LEASE_SECONDS``, 60 s) is the longest a
live batch may hold its rows. A batch is sized from the system's measured pace
(seconds per credential, a moving average of its recent batches kept in
``TargetState``) to take about a quarter of it (``batch_seconds``, 15 s), capped by
``SUNDOWN_REVOCATION_BATCH_SIZE``; the connector must be done by half of it
(``connector_budget``, 30 s: one-by-one loops stop there and leave the rest untried,
uncounted), which leaves the verify read and the recording the other half.

Measured on the 2-core development machine (bench/chaos.py, bench/revocation.py):
PostgreSQL ~0.1-0.3 ms per role in a batch (500 roles in 0.05-0.15 s: the cap decides),
a one-by-one SCIM service ~2-5 ms per user, LDAP ~1 ms per entry, SSH one command per
batch. A system whose pace is slower than 30 ms per credential gets batches smaller
than 500; at 1 s per credential (a slow appliance), 15 per batch.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Case, F, Value, When
from django.db.models.functions import Now

from revocation.models import TargetState
from revocation.services.breaker import state_row

# How much the newest batch moves the average (the rest is the history).
WEIGHT = 0.5


def batch_seconds() -> float:
    return settings.SUNDOWN_REVOCATION_LEASE_SECONDS / 4


def connector_budget() -> float:
    return settings.SUNDOWN_REVOCATION_LEASE_SECONDS / 2


def batch_limit(system_id: int) -> int:
    """How many credentials of this system one batch should claim."""
    cap = settings.SUNDOWN_REVOCATION_BATCH_SIZE
    pace = (
        TargetState.objects.filter(system_id=system_id)
        .values_list("seconds_per_credential", flat=True)
        .first()
    )
    if not pace:
        return cap
    return max(1, min(cap, int(batch_seconds() / pace)))


def pace_record(*, system_id: int, seconds: float, credentials: int) -> None:
    """Fold one batch's pace into the system's average (after the batch committed)."""
    pace = seconds / credentials
    state_row(system_id)
    TargetState.objects.filter(system_id=system_id).update(
        seconds_per_credential=Case(
            When(seconds_per_credential__isnull=True, then=Value(pace)),
            default=F("seconds_per_credential") * (1 - WEIGHT) + WEIGHT * pace,
        ),
        paced_at=Now(),
    )
