"""Writes of jobs: start (audited, task sent on commit), claim, progress, end (audited
in the transaction of the work), and the sweep that ends what no worker finished."""

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now

from access.crypto import seal
from audit.actor import Actor
from audit.services import audit_record
from jobs.models import Job
from jobs.tasks import job_run_task
from revocation.services.common import db_now
from vendors.models import Agency


class JobLost(Exception):
    """The job is no longer running (the sweep ended it): its work must not commit."""


def job_actor(job: Job) -> Actor:
    """Who started the job, as they were then: the work is recorded as theirs."""
    return Actor(
        type=job.actor_type,
        id=job.actor_id,
        name=job.actor_name,
        source_ip=job.source_ip,
        request_id=job.request_id,
        user=job.started_by,
    )


def _summary(job: Job, **extra) -> dict:
    return {"kind": job.kind, **job.subject, **extra}


def job_start(
    *,
    actor: Actor,
    agency: Agency,
    kind: str,
    subject: dict,
    payload: bytes | None = None,
    total: int = 0,
) -> Job:
    """Record a job and its start (audited); a worker is sent it once this commits."""
    with transaction.atomic():
        job = Job.objects.create(
            kind=kind,
            agency=agency,
            started_by_id=getattr(actor.user, "pk", None),
            actor_type=actor.type,
            actor_id=actor.id,
            actor_name=actor.name[:200],
            source_ip=actor.source_ip,
            request_id=actor.request_id,
            subject=subject,
            payload=seal(payload) if payload is not None else None,
            total=total,
            created_at=db_now(),
        )
        audit_record(
            actor=actor,
            action="job.started",
            target=job,
            agency_id=agency.pk,
            after=_summary(job, total=total),
        )
        transaction.on_commit(lambda: job_run_task.delay(job.pk))
    return job


def job_claim(*, job_id: int, worker: str) -> Job | None:
    """The job, now running on ``worker``; None when it is gone or not queued (a second
    delivery of the message, or a job the sweep already ended)."""
    claimed = Job.objects.filter(pk=job_id, state=Job.State.QUEUED).update(
        state=Job.State.RUNNING, started_at=Now(), worker=worker[:200]
    )
    if not claimed:
        return None
    return Job.objects.select_related("agency", "started_by").get(pk=job_id)


def job_progress(*, job_id: int, done: int, total: int) -> None:
    """Shown on the job's page at its next poll (its own statement, outside the work's
    transaction, so the page sees it while the work goes on)."""
    Job.objects.filter(pk=job_id, state=Job.State.RUNNING).update(
        done=min(done, total), total=total
    )


def _end(job: Job, actor: Actor, state: str, action: str, after: dict, **fields) -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("a job ends inside the transaction of its work")
    ended = Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
        state=state, payload=None, finished_at=Now(), **fields
    )
    if not ended:
        raise JobLost(f"job {job.pk} is no longer running")
    audit_record(actor=actor, action=action, target=job, agency_id=job.agency_id, after=after)


def job_succeed(*, job: Job, actor: Actor, result: dict, result_file: bytes | None = None) -> None:
    """End the job with its result, audited, in the caller's transaction (that of the
    work itself: if the sweep ended the job meanwhile, JobLost rolls the work back)."""
    _end(
        job,
        actor,
        Job.State.SUCCEEDED,
        "job.succeeded",
        _summary(job, **{k: v for k, v in result.items() if k != "row_errors"}),
        done=F("total"),
        result=result,
        result_file=result_file,
    )


def job_fail(*, job: Job, actor: Actor, error: str, result: dict | None = None) -> None:
    """End the job with what went wrong (audited), in the caller's transaction."""
    _end(
        job,
        actor,
        Job.State.FAILED,
        "job.failed",
        _summary(job, error=error[:2000]),
        error=error[:2000],
        result=result or {},
    )


def jobs_sweep() -> tuple[int, int]:
    """Beat: fail jobs that no worker finished within SUNDOWN_JOB_STALE_SECONDS (a lost
    message, a killed worker) and drop result files older than SUNDOWN_JOB_KEEP_HOURS.
    Returns (failed, files dropped)."""
    actor = Actor.system("jobs")
    stale_before = Now() - dt.timedelta(seconds=settings.SUNDOWN_JOB_STALE_SECONDS)
    stale = Job.objects.filter(
        state__in=[Job.State.QUEUED, Job.State.RUNNING], created_at__lt=stale_before
    )
    failed = 0
    for job in stale.defer("payload", "result_file").order_by("created_at")[:500]:
        with transaction.atomic():
            minutes = settings.SUNDOWN_JOB_STALE_SECONDS // 60
            message = f"No worker finished this job within {minutes} minutes; start it again."
            ended = Job.objects.filter(pk=job.pk, state=job.state).update(
                state=Job.State.FAILED, payload=None, finished_at=Now(), error=message
            )
            if ended:
                audit_record(
                    actor=actor,
                    action="job.failed",
                    target=job,
                    agency_id=job.agency_id,
                    after=_summary(job, error=message, was=job.state),
                )
                failed += 1
    kept_after = Now() - dt.timedelta(hours=settings.SUNDOWN_JOB_KEEP_HOURS)
    dropped = Job.objects.filter(result_file__isnull=False, finished_at__lt=kept_after).update(
        result_file=None
    )
    return failed, dropped


def job_result_taken(*, actor: Actor, job: Job) -> None:
    """Audit a download of a job's file: who took the evidence out, each time."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="job.result_downloaded",
            target=job,
            agency_id=job.agency_id,
            after=_summary(job, file_name=job.result.get("file_name", "")),
        )
