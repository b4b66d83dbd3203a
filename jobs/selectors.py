"""Reads of jobs, each kind visible where its permission is held (jobs.kinds)."""

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet

from jobs.kinds import KINDS
from jobs.models import Job
from vendors.permissions import restrict

# Megabytes each (an upload, a zip): read only by the worker and the download.
_LARGE = ("payload", "result_file")


def job_list(*, user) -> QuerySet[Job]:
    """Jobs of every kind in the agencies where ``user`` holds that kind's permission."""
    queryset = Job.objects.none()
    for kind, spec in KINDS.items():
        queryset = queryset | restrict(Job.objects.filter(kind=kind), user, spec.perm)
    return (
        queryset.defer(*_LARGE)
        .select_related("agency")
        .annotate(
            has_file=ExpressionWrapper(Q(result_file__isnull=False), output_field=BooleanField())
        )
    )


def job_get(*, user, pk: int) -> Job | None:
    return job_list(user=user).filter(pk=pk).first()


def job_result_file(*, user, pk: int) -> tuple[Job, bytes] | None:
    """A finished job and the file it made, or None (not permitted, none, expired)."""
    job = job_get(user=user, pk=pk)
    if job is None or job.state != Job.State.SUCCEEDED:
        return None
    data = Job.objects.filter(pk=pk).values_list("result_file", flat=True).first()
    return (job, bytes(data)) if data is not None else None


def vendor_evidence_jobs(*, user, vendor, limit: int = 5) -> list[Job]:
    """The latest evidence packs started for ``vendor`` (whole or one contract)."""
    jobs = job_list(user=user).filter(kind=Job.Kind.EVIDENCE_PACK, subject__vendor=vendor.pk)
    return list(jobs[:limit])
