"""Celery tasks of reviews: thin, decisions in reviews.automation."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="reviews.due", ignore_result=True)
def reviews_due_task() -> int:
    """Beat: open scheduled campaigns, send reminders, close campaigns past their deadline."""
    from reviews.automation import reviews_due

    result = reviews_due()
    if result.opened or result.reminded or result.closed:
        logger.info(
            "reviews: %s campaign(s) opened, %s reminder(s), %s closed",
            result.opened,
            result.reminded,
            result.closed,
        )
    return result.closed


@shared_task(name="reviews.attestations_due", ignore_result=True)
def attestations_due_task() -> int:
    """Beat: mail due roster attestation links, handle the missed ones."""
    from reviews.attestation import attestations_due

    sent, missed = attestations_due()
    if sent or missed:
        logger.info("attestation: %s link(s) sent, %s missed", sent, missed)
    return sent
