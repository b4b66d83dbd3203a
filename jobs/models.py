"""A long operation a person started from the dashboard, done by a worker."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from vendors.models import Agency


class Job(models.Model):
    """One CSV import of contracts or one evidence pack, done by a Celery worker while
    the person watches its page (``done`` of ``total`` rows or events).

    Created ``queued`` with its start audited, in the transaction that also sends the
    task on commit; a worker claims it (``running``, conditional UPDATE) and ends it
    ``succeeded`` or ``failed`` in the transaction of the work itself, audited too.
    ``payload`` is the input while it waits (an upload, sealed under
    SUNDOWN_ENCRYPTION_KEYS) and is emptied when the job ends; ``result_file`` is the
    output to download (an evidence pack) until SUNDOWN_JOB_KEEP_HOURS have passed.
    The actor is frozen as in the audit trail, so the work is recorded as theirs.
    """

    class Kind(models.TextChoices):
        CONTRACT_IMPORT = "contract_import", "Contract import"
        EVIDENCE_PACK = "evidence_pack", "Evidence pack"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Finished"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="jobs")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    actor_type = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64, blank=True, default="")
    actor_name = models.CharField(max_length=200)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, default="")
    # What it works on: {"file_name", "rows"} or {"vendor", "contract", "label"}.
    subject = models.JSONField(default=dict)
    payload = models.BinaryField(null=True, editable=False)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    result_file = models.BinaryField(null=True, editable=False)
    error = models.TextField(blank=True, default="")
    worker = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The sweep's work queue: jobs not yet ended, oldest first.
            models.Index(
                fields=["created_at"],
                name="job_open_idx",
                condition=Q(state__in=["queued", "running"]),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["queued", "running", "succeeded", "failed"]),
                name="job_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["contract_import", "evidence_pack"]),
                name="job_kind_valid",
            ),
            models.CheckConstraint(condition=Q(done__lte=F("total")), name="job_done_le_total"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.pk}"

    @property
    def ended(self) -> bool:
        return self.state in (self.State.SUCCEEDED, self.State.FAILED)
