"""What a worker does for each kind of job (jobs.kinds): the domain's own services,
with progress written to the job as they go and the end recorded with the work."""

import json
import logging
import time
from collections.abc import Callable

from django.db import transaction

from access.crypto import unseal
from audit.actor import Actor
from jobs.models import Job
from jobs.services import JobLost, job_actor, job_claim, job_fail, job_progress, job_succeed
from revocation.services.common import worker_identity

logger = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
# How often a job's progress is written for its page to read (seconds).
PROGRESS_SECONDS = 0.5


def job_run(*, job_id: int) -> Job | None:
    """Claim and do the job; None when it was not queued (gone, done, or claimed)."""
    job = job_claim(job_id=job_id, worker=worker_identity())
    if job is None:
        return None
    actor = job_actor(job)
    written = [-PROGRESS_SECONDS]

    def progress(done: int, total: int) -> None:
        # A write per reported step (a hundredth) cost a 5,000-row import about a
        # second on a loaded machine; the page polls every 2 s, so twice a second is plenty.
        now = time.monotonic()
        if done < total and now - written[0] < PROGRESS_SECONDS:
            return
        written[0] = now
        job_progress(job_id=job.pk, done=done, total=total)

    try:
        RUNNERS[job.kind](job, actor, progress)
    except JobLost:
        logger.warning("job %s was ended by the sweep while it ran; its work was undone", job.pk)
    except Exception:
        logger.exception("job %s (%s) failed", job.pk, job.kind)
        with transaction.atomic():
            job_fail(job=job, actor=actor, error="Internal error (see the worker's log).")
        raise
    job.refresh_from_db(fields=["state", "done", "total", "error", "finished_at"])
    return job


def _contract_import(job: Job, actor: Actor, progress: Progress) -> None:
    from vendors.imports import contract_import_check, contract_import_write

    if job.payload is None:
        raise ValueError(f"job {job.pk} has no upload to import")
    rows = json.loads(unseal(job.payload))
    contracts, problems = contract_import_check(agency=job.agency, rows=rows, progress=progress)
    with transaction.atomic():
        if not problems:
            problems = contract_import_write(actor=actor, agency=job.agency, contracts=contracts)
        if not problems:
            job_succeed(job=job, actor=actor, result={"created": len(contracts)})
            return
        bad_rows = [p for p in problems if p[0]]
        error = (
            f"Nothing was imported: {len(bad_rows)} bad row{'s' if len(bad_rows) != 1 else ''}."
            if bad_rows
            else "Nothing was imported: " + " ".join(problems[0][2])
        )
        job_fail(job=job, actor=actor, error=error, result={"row_errors": problems})


def _evidence_pack(job: Job, actor: Actor, progress: Progress) -> None:
    from audit.evidence import (
        EvidenceError,
        evidence_pack_make,
        evidence_pack_record,
        scope_for_contract,
        scope_for_vendor,
    )
    from vendors.models import Contract, Vendor

    contract_id = job.subject.get("contract")
    if contract_id:
        contract = Contract.objects.select_related("vendor__agency").get(
            pk=contract_id, vendor__agency=job.agency
        )
        scope = scope_for_contract(contract)
    else:
        vendor = Vendor.objects.select_related("agency").get(
            pk=job.subject["vendor"], agency=job.agency
        )
        scope = scope_for_vendor(vendor)
    try:
        pack = evidence_pack_make(actor=actor, scope=scope, progress=progress)
    except EvidenceError as exc:
        with transaction.atomic():
            job_fail(job=job, actor=actor, error=f"No evidence pack: {exc}")
        return
    with transaction.atomic():
        evidence_pack_record(actor=actor, scope=scope, pack=pack)
        job_succeed(
            job=job,
            actor=actor,
            result={"file_name": pack.name, "bytes": len(pack.data), "events": pack.events},
            result_file=pack.data,
        )


RUNNERS: dict[str, Callable[[Job, Actor, Progress], None]] = {
    Job.Kind.CONTRACT_IMPORT: _contract_import,
    Job.Kind.EVIDENCE_PACK: _evidence_pack,
}
