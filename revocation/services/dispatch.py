"""Handing work to Celery: only ids, only after commit.

The database says what is due; a lost or duplicated message changes nothing
because the batch claims its rows under a lease (revocation.services.batch).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import Now

from access.models import Credential, System
from revocation.models import TargetState
from revocation.services.breaker import outages_due, state_row
from revocation.services.leases import claimable, leases_reap
from revocation.tasks import revoke_system_batch_task

logger = logging.getLogger(__name__)


def dispatch_on_commit(system_ids: Iterable[int]) -> None:
    """Enqueue one batch task per system once the requesting transaction commits."""
    system_ids = sorted(set(system_ids))
    if not system_ids:
        return

    def send():
        kinds = dict(System.objects.filter(pk__in=system_ids).values_list("pk", "kind"))
        for system_id in system_ids:
            try:
                revoke_system_batch_task.delay(system_id, kind=kinds.get(system_id, ""))
            except Exception:  # broker down: the sweep dispatches pending work again
                logger.exception("could not enqueue revocation of system %s", system_id)

    transaction.on_commit(send)


def dispatch_system_on_commit(*, system_id: int, kind: str) -> None:
    """After commit, as many batch tasks for one system as may run side by side (an
    outage just closed: its deferred batches go at once, not at the next sweep)."""
    n = settings.SUNDOWN_REVOCATION_PARALLEL_PER_SYSTEM

    def send():
        try:
            for _ in range(n):
                revoke_system_batch_task.delay(system_id, kind=kind)
        except Exception:  # broker down: the sweep dispatches pending work again
            logger.exception("could not enqueue revocation of system %s", system_id)

    transaction.on_commit(send)


def dispatch_when_leases_lapse(*, system_id: int, kind: str) -> bool:
    """A task found nothing to claim while other batches hold pending rows of the system:
    if one of their workers died, those rows are claimable once its pulse lapses
    (SUNDOWN_REVOCATION_LIVENESS_SECONDS). One delayed task per system looks then,
    instead of the rows waiting for the next sweep and a free slot behind it. (A live
    batch renews its pulse: the delayed task finds nothing and, if rows are still
    held, sets the next one.) Returns whether it sent one."""
    held = (
        Credential.objects.filter(system_id=system_id, status=Credential.Status.PENDING)
        .exclude(lease_owner="")
        .exists()
    )
    if not held:
        return False
    delay = settings.SUNDOWN_REVOCATION_LIVENESS_SECONDS + 0.5
    state_row(system_id)
    won = (
        TargetState.objects.filter(system_id=system_id)
        .filter(Q(wake_at__isnull=True) | Q(wake_at__lt=Now()))
        .update(wake_at=Now() + timedelta(seconds=delay))
    )
    if not won:
        return False  # one is on its way
    try:
        revoke_system_batch_task.apply_async((system_id,), {"kind": kind}, countdown=delay)
    except Exception:  # noqa: BLE001 - broker down: the sweep dispatches pending work again
        logger.exception("could not enqueue the delayed revocation of system %s", system_id)
    return True


def revocation_probe_due() -> list[int]:
    """Beat, every SUNDOWN_OUTAGE_PROBE_SECONDS: a batch task for each system whose
    outage is due a probe; the task probes (revocation.services.breaker.gate)."""
    due = outages_due()
    for system_id, kind in due:
        try:
            revoke_system_batch_task.delay(system_id, kind=kind)
        except Exception:  # noqa: BLE001 - broker down: the next tick tries again
            logger.exception("could not enqueue the probe of system %s", system_id)
    return [system_id for system_id, _ in due]


def revocation_dispatch_due() -> dict[int, int]:
    """Enqueue batch tasks for every system with claimable pending work.

    Several tasks per large backlog so more than one worker process helps; a
    surplus task finds nothing to claim and returns.
    """
    batch = settings.SUNDOWN_REVOCATION_BATCH_SIZE
    parallel = settings.SUNDOWN_REVOCATION_PARALLEL_PER_SYSTEM
    leases_reap()  # a dead worker's rows count as due now, not when its pulse lapses
    due = (
        Credential.objects.filter(status=Credential.Status.PENDING, next_attempt_at__lte=Now())
        .filter(claimable())
        # A system whose target is down waits for its probe (revocation_probe_due).
        .exclude(system__target_state__outage_since__isnull=False)
        .values("system_id", "system__kind")
        .annotate(n=Count("pk"))
        .order_by("system_id")
    )
    plan: dict[int, int] = {}
    kinds: dict[int, str] = {}
    for row in due:
        plan[row["system_id"]] = min(parallel, -(-row["n"] // batch))
        kinds[row["system_id"]] = row["system__kind"]
    if plan:

        def send():
            for system_id, n in plan.items():
                try:
                    for _ in range(n):
                        # Each kind has its queue (revocation.routing): slow ones wait alone.
                        revoke_system_batch_task.delay(system_id, kind=kinds[system_id])
                except Exception:  # noqa: BLE001 - broker down: every system still gets its try
                    logger.exception("could not enqueue revocation of system %s", system_id)

        # Outside a transaction (the sweep) this runs at once, as before.
        transaction.on_commit(send)
    return plan
