"""Handing work to Celery: only ids, only after commit.

The database says what is due; a lost or duplicated message changes nothing
because the batch claims its rows under a lease (revocation.services.batch).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.db.models.functions import Now

from access.models import Credential, System
from revocation.services.leases import claimable
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


def revocation_dispatch_due() -> dict[int, int]:
    """Enqueue batch tasks for every system with claimable pending work.

    Several tasks per large backlog so more than one worker process helps; a
    surplus task finds nothing to claim and returns.
    """
    batch = settings.SUNDOWN_REVOCATION_BATCH_SIZE
    parallel = settings.SUNDOWN_REVOCATION_PARALLEL_PER_SYSTEM
    due = (
        Credential.objects.filter(status=Credential.Status.PENDING, next_attempt_at__lte=Now())
        .filter(claimable())
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
