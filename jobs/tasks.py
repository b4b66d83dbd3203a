"""Celery tasks of jobs: thin, take ids; the work is in jobs.runners."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="jobs.run", ignore_result=True)
def job_run_task(job_id: int) -> str:
    """Do one queued job (a second delivery finds it claimed and does nothing)."""
    from jobs.runners import job_run

    job = job_run(job_id=job_id)
    return job.state if job is not None else "not queued"


@shared_task(name="jobs.sweep", ignore_result=True)
def jobs_sweep_task() -> int:
    """Beat: end what no worker finished, drop expired result files."""
    from jobs.services import jobs_sweep

    failed, dropped = jobs_sweep()
    if failed or dropped:
        logger.info("jobs: %s failed as stale, %s result file(s) dropped", failed, dropped)
    return failed
