"""Celery tasks: thin, take ids, and leave every decision to revocation.services.

Delivery is at least once (acks_late, reject on worker lost); the leases in the
services make a repeated or replayed message harmless. The services import this
module at the top to enqueue; each task imports the services in its body, so the
two modules never import each other at load time.
"""

import logging
import time

from celery import shared_task
from django.conf import settings

from access.models import System

logger = logging.getLogger(__name__)


@shared_task(name="revocation.revoke_system_batch", ignore_result=True)
def revoke_system_batch_task(system_id: int, kind: str = "") -> int:
    """Revoke due pending credentials of one system, batch after batch, for a while.

    ``kind`` (the system's connector kind) only routes the message to its kind's
    queue (revocation.routing); the system's row decides everything else.
    """
    from revocation.connectors.kept import kept_connections
    from revocation.services import revocation_batch_run, worker_identity
    from revocation.services.dispatch import dispatch_when_leases_lapse

    if not System.objects.filter(pk=system_id).exists():
        return 0  # the row is gone: nothing to do
    deadline = time.monotonic() + settings.SUNDOWN_REVOCATION_TASK_SECONDS
    worker = worker_identity()
    done = 0
    # The batches of this task may go on on the previous one's target connection.
    with kept_connections():
        while True:
            result = revocation_batch_run(system_id=system_id, worker=worker)
            done += result.claimed
            if not result.claimed:
                # Rows held by other batches may be a dead worker's: look again when its
                # pulse would have lapsed (one delayed task per system).
                dispatch_when_leases_lapse(system_id=system_id, kind=kind)
                return done
            if time.monotonic() >= deadline:
                # Hand the rest to a fresh message so other systems get their turn.
                revoke_system_batch_task.delay(system_id, kind=kind)
                return done


@shared_task(name="revocation.sweep", ignore_result=True)
def revocation_sweep_task() -> int:
    """Beat, every few seconds: due credentials to pending, then dispatch pending work."""
    from revocation.services import revocation_sweep

    result = revocation_sweep(fan_out=settings.SUNDOWN_SWEEP_FAN_OUT)
    if result.requested or result.handed_out or result.expired or result.contracts_ended:
        logger.info(
            "sweep: %s credential(s) to pending, %s handed out in chunks, %s expired, "
            "%s contract(s) ended, dispatched %s",
            result.requested,
            result.handed_out,
            result.expired,
            result.contracts_ended,
            result.dispatched,
        )
    return result.requested + result.expired


@shared_task(name="revocation.request_due", ignore_result=True)
def revocation_request_due_task(credential_ids: list[int]) -> int:
    """A chunk of a large sweep: those of these credentials still due to pending."""
    from revocation.services.sweep import sweep_request_chunk

    return sweep_request_chunk(ids=credential_ids)


@shared_task(name="revocation.outage_probes", ignore_result=True)
def revocation_outage_probes_task() -> int:
    """Beat, every couple of seconds: probe each system whose target stopped answering."""
    from revocation.services.dispatch import revocation_probe_due

    return len(revocation_probe_due())


@shared_task(name="revocation.expiry_notices", ignore_result=True)
def expiry_notices_task() -> int:
    """Beat: the 30/7/1-day notices that are due; each goes out once."""
    from revocation.services import expiry_notices_send

    return expiry_notices_send()


@shared_task(name="revocation.check_target", ignore_result=True)
def credential_target_check_task(credential_id: int) -> bool | None:
    """After registration: does the target show this account? (records when seen)"""
    from revocation.services import credential_target_check

    return credential_target_check(credential_id=credential_id)
