"""Celery tasks of reconciliation: thin, take ids, decisions in findings.reconciliation."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="findings.reconcile_system", ignore_result=True)
def reconcile_system_task(run_id: int, kind: str = "") -> str:
    """Do one queued pass. ``kind`` only routes the message to its kind's queue."""
    from findings.reconciliation import reconciliation_run

    run = reconciliation_run(run_id=run_id)
    return run.status if run is not None else "gone"


@shared_task(name="findings.reconcile_due", ignore_result=True)
def reconcile_due_task() -> int:
    """Beat: queue a pass for every system whose interval has passed."""
    from findings.reconciliation import reconciliation_due

    queued = reconciliation_due()
    if queued:
        logger.info("reconciliation: %s pass(es) queued", len(queued))
    return len(queued)


@shared_task(name="findings.policies_apply", ignore_result=True)
def policies_apply_task() -> int:
    """Beat: the time-based policies (maximum age per credential kind) over every agency."""
    from findings.policies import policies_apply

    result = policies_apply()
    if result.findings_opened or result.revoked:
        logger.info(
            "policies: %s finding(s) opened, %s credential(s) revoked",
            result.findings_opened,
            len(result.revoked),
        )
    return len(result.revoked)
