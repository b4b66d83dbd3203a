"""A job's page (jobs app): progress while a worker does it, then its result.

The page polls ``job_status`` with htmx every 2 seconds; the answer is the progress
panel again (a native <progress> with done of total) and, only when the job's state
differs from the one the page showed, new text for the page's polite status line, so a
screen reader hears "running", "finished" or "failed" once, not every poll.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from audit.actor import Actor
from dashboard.views._common import found
from jobs.kinds import KINDS
from jobs.models import Job
from jobs.selectors import job_get, job_result_file
from jobs.services import job_result_taken


def _title(job: Job) -> str:
    if job.kind == Job.Kind.CONTRACT_IMPORT:
        return f"Contract import: {job.subject.get('file_name', '')}"
    return f"Evidence pack: {job.subject.get('label', '')}"


def _state_text(job: Job) -> str:
    """The status line: what changed, in words (announced politely when it changes)."""
    spec = KINDS[job.kind]
    if job.state == Job.State.QUEUED:
        return "Queued: waiting for a worker to take it."
    if job.state == Job.State.RUNNING:
        return f"Running: a worker is {spec.running}."
    if job.state == Job.State.FAILED:
        return f"Failed. {job.error}"
    if job.kind == Job.Kind.CONTRACT_IMPORT:
        created = job.result.get("created", 0)
        return f"Finished: {created:,} contract{'s' if created != 1 else ''} imported."
    return "Finished: the evidence pack is ready to download."


def _context(job: Job) -> dict:
    return {
        "job": job,
        "spec": KINDS[job.kind],
        "title": _title(job),
        "state_text": _state_text(job),
        "row_errors": job.result.get("row_errors", []),
    }


@login_required
@require_GET
def job_detail(request, pk: int):
    job = found(job_get(user=request.user, pk=pk))
    return render(request, "dashboard/jobs/detail.html", _context(job))


@login_required
@require_GET
def job_status(request, pk: int):
    """Polled by the job's page: the panel, and the status line when the state moved."""
    job = found(job_get(user=request.user, pk=pk))
    context = _context(job)
    context["state_changed"] = request.GET.get("shown") != job.state
    response = render(request, "dashboard/jobs/_status.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


@login_required
@require_GET
def job_download(request, pk: int):
    """The file a job made (an evidence pack), while it is kept; each download audited."""
    job, data = found(job_result_file(user=request.user, pk=pk))
    job_result_taken(actor=Actor.from_request(request), job=job)
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{job.result["file_name"]}"'
    return response
