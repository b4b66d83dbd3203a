"""Celery tasks for the audit trail: thin; the work is in audit.shipping."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="audit.ship", ignore_result=True)
def audit_ship_task() -> int:
    """Ship new audit events to every configured sink (beat, every SUNDOWN_SIEM_SHIP_SECONDS).

    Runs overlapping or repeated are harmless: each sink's cursor is leased.
    """
    from audit.shipping import audit_ship

    shipped = 0
    for result in audit_ship():
        shipped += result.shipped
        if result.error:
            logger.warning("audit shipping to %s: %s", result.sink, result.error)
    return shipped


@shared_task(name="audit.checkpoint", ignore_result=True)
def audit_checkpoint_task() -> int:
    """Sign and ship a checkpoint (beat, every SUNDOWN_CHECKPOINT_SECONDS)."""
    from audit.checkpoints import checkpoint_create

    return checkpoint_create().size
