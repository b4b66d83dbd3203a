"""The one list of job kinds: who may start and see each, what its progress counts and
what does the work (jobs.runners). A new kind is added here and in ``Job.Kind``."""

from dataclasses import dataclass

from jobs.models import Job
from vendors.permissions import MANAGE_CONTRACTS, VIEW_AUDIT


@dataclass(frozen=True)
class JobKind:
    perm: str  # held in the job's agency to start it, follow it and take its result
    unit: str  # what ``done`` and ``total`` count, as the progress bar says it
    running: str  # what a worker is doing, for the page's state line


KINDS: dict[str, JobKind] = {
    Job.Kind.CONTRACT_IMPORT: JobKind(
        perm=MANAGE_CONTRACTS, unit="rows checked", running="checking every row"
    ),
    Job.Kind.EVIDENCE_PACK: JobKind(
        perm=VIEW_AUDIT, unit="events proved", running="proving every event"
    ),
}
