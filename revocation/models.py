"""Revocation bookkeeping: one row per attempt on a target, manual tasks, expiry notices.

The credential's own status (access.Credential) is the state machine; these rows
record what the engine did to get there and what it handed to people.
"""

from django.db import models
from django.db.models import Q

from access.models import Credential, System
from vendors.models import Contract


class RevocationAttempt(models.Model):
    """One call of a connector for one credential, written with its outcome.

    A worker that dies between claim and outcome leaves its lease on the credential;
    the worker that re-claims it after the lease expired writes that attempt as
    ``abandoned`` (its start approximated from the lease), then makes its own.
    """

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Revoked and verified"
        HANDED_OFF = "handed_off", "Handed to a person (manual task)"
        ERROR = "error", "Error"
        VERIFY_FAILED = "verify_failed", "Target still accepts the credential"
        ABANDONED = "abandoned", "Worker lost (lease expired)"
        # One row per batch, not per credential: the target did not answer, and the
        # batch waits for the system's outage to close (TargetState).
        DEFERRED = "deferred", "Target unreachable: batch deferred"

    # Indexed by (credential, attempt) below; a second index on the column alone
    # would be one more entry written for each of a batch's 1,000 attempt rows.
    # No foreign-key constraints in the database (migration 0006): the rows are written
    # only by the engine (revocation.services.attempts), in the transaction that has just
    # locked and updated the credential rows they name, so the constraint's check at
    # commit (two lookups with a row lock per attempt row) re-proved what that
    # transaction holds, at 14% of a batch's database time. PROTECT is Django's: a
    # credential or system with attempts is still not deleted through the ORM.
    credential = models.ForeignKey(
        Credential,
        on_delete=models.PROTECT,
        related_name="revocation_attempts",
        db_index=False,
        db_constraint=False,
    )
    system = models.ForeignKey(
        System, on_delete=models.PROTECT, related_name="revocation_attempts", db_constraint=False
    )
    connector = models.CharField(max_length=16, help_text="Connector kind used.")
    worker = models.CharField(max_length=200, help_text="Lease owner that made the call.")
    attempt = models.PositiveIntegerField(help_text="1 for the first try of this credential.")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    permanent = models.BooleanField(default=False, help_text="The error said retrying cannot help.")
    error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["credential", "attempt"], name="revattempt_credential_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    outcome__in=[
                        "success",
                        "handed_off",
                        "error",
                        "verify_failed",
                        "abandoned",
                        "deferred",
                    ]
                ),
                name="revattempt_outcome_valid",
            ),
        ]

    def __str__(self):
        return f"attempt {self.attempt} on credential {self.credential_id}: {self.outcome}"


class ManualTask(models.Model):
    """Work for a person: revoke a credential by hand and confirm it with a note."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"

    class Reason(models.TextChoices):
        MANUAL_SYSTEM = "manual_system", "The system is revoked by hand"
        FAILED = "failed", "Automatic revocation failed"

    credential = models.ForeignKey(
        Credential, on_delete=models.PROTECT, related_name="manual_tasks"
    )
    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="manual_tasks")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    detail = models.TextField(blank=True, default="", help_text="Last error, when it failed.")
    opened_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.CharField(max_length=200, blank=True, default="")
    note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            # A credential never has two open tasks: two workers or a re-run
            # cannot hand the same job to people twice.
            models.UniqueConstraint(
                fields=["credential"],
                condition=Q(status="open"),
                name="manualtask_one_open_per_credential",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "done"]), name="manualtask_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status="open") | Q(completed_at__isnull=False),
                name="manualtask_done_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["system"], condition=Q(status="open"), name="manualtask_open_idx")
        ]

    def __str__(self):
        return f"manual task {self.pk} ({self.status}) for credential {self.credential_id}"


class ExpiryNotice(models.Model):
    """A pre-expiry notice that was sent; the unique key makes each one go out once."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="expiry_notices")
    days_before = models.PositiveSmallIntegerField()
    access_ends_at = models.DateTimeField(help_text="The end the notice announced.")
    recipients = models.JSONField(default=list)
    sent_at = models.DateTimeField()

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            # Keyed on the announced end too: an extended contract gets fresh notices
            # for its new end date, never a repeat for the same one.
            models.UniqueConstraint(
                fields=["contract", "days_before", "access_ends_at"],
                name="expirynotice_once",
            )
        ]

    def __str__(self):
        return f"{self.days_before}-day notice for contract {self.contract_id}"


class BatchLease(models.Model):
    """A running batch's pulse: the process doing it renews ``alive_until`` every few seconds.

    The credentials of a batch carry its lease name and a hard expiry (the longest a
    batch may take, ``SUNDOWN_REVOCATION_LEASE_SECONDS``). A worker that was SIGKILLed
    stops renewing, so its rows may be claimed again once ``alive_until`` has passed
    (``SUNDOWN_REVOCATION_LIVENESS_SECONDS``), in seconds rather than at the hard
    expiry; a live but stuck batch still loses its rows at the hard expiry. One row
    per batch, not per credential, so a renewal never touches the rows the batch is
    recording under lock.
    """

    lease = models.CharField(max_length=100, primary_key=True)
    alive_until = models.DateTimeField()
    # Whose batch: a system never runs more than SUNDOWN_REVOCATION_PARALLEL_PER_SYSTEM
    # batches at once (leases.claim), so a stalled target cannot take every worker slot.
    system_id = models.IntegerField(null=True, blank=True, db_index=True)

    def __str__(self):
        return f"lease {self.lease} alive until {self.alive_until:%H:%M:%S}"


class TargetState(models.Model):
    """What the engine knows about one system's target: is it answering, and how fast.

    The circuit breaker: a batch whose target did not answer (refused, timed out, cut
    mid-call) opens the outage (``outage_since``) instead of spending an attempt row and
    an audit event per credential. While it is open no batch of the system is claimed;
    one cheap probe runs every ``SUNDOWN_OUTAGE_PROBE_SECONDS`` (``next_probe_at``,
    claimed by a conditional UPDATE so one worker probes), and the first probe that
    passes closes it and sends the deferred batches at once. Opening and closing are
    audited (``system.target_unreachable`` / ``system.target_reachable``).

    The pace: seconds per credential of the system's recent batches (a moving average),
    so a batch is sized to finish well inside its lease (``pace.batch_limit``).
    """

    system = models.OneToOneField(
        System, on_delete=models.CASCADE, primary_key=True, related_name="target_state"
    )
    outage_since = models.DateTimeField(null=True, blank=True)
    outage_error = models.TextField(blank=True, default="")
    next_probe_at = models.DateTimeField(null=True, blank=True)
    probes = models.PositiveIntegerField(default=0, help_text="Failed probes of this outage.")
    deferred_batches = models.PositiveIntegerField(
        default=0, help_text="Batches deferred by this outage."
    )
    seconds_per_credential = models.FloatField(null=True, blank=True)
    paced_at = models.DateTimeField(null=True, blank=True)
    # A delayed batch task is on its way for then (dispatch.dispatch_when_leases_lapse):
    # one per system, not one per task that found the rest leased.
    wake_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_probe_at"],
                condition=Q(outage_since__isnull=False),
                name="targetstate_outage_idx",
            )
        ]

    def __str__(self):
        state = f"unreachable since {self.outage_since:%H:%M:%S}" if self.outage_since else "up"
        return f"target of system {self.system_id}: {state}"
