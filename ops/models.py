"""What operators watch: heartbeats of the periodic work, and the incidents a watchdog opened.

A heartbeat is telemetry, not a change of anything the agency governs, so writing one
(every few seconds) is not audited; opening and resolving an incident are.
"""

from django.db import models
from django.db.models import Q


class Heartbeat(models.Model):
    """The last time a periodic job (``sweep``) completed, by the database clock."""

    name = models.CharField(max_length=40, primary_key=True)
    beat_at = models.DateTimeField(help_text="Database time the job last completed.")
    detail = models.JSONField(default=dict, blank=True, help_text="What that run did.")

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"


class Incident(models.Model):
    """A check that failed (``sweep_stale``), from the first failing look until it passed again.

    At most one open incident per check (a partial unique index): every watchdog that
    sees the failure tries to open it, exactly one succeeds, and only that one alerts.
    """

    check_name = models.CharField(max_length=40)
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    detail = models.TextField(blank=True, default="")
    opened_by = models.CharField(max_length=200, help_text="Which watchdog saw it first.")
    alerted = models.JSONField(default=list, blank=True, help_text="Addresses that were mailed.")

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["check_name"],
                condition=Q(resolved_at__isnull=True),
                name="incident_one_open_per_check",
            ),
        ]

    def __str__(self) -> str:
        state = "open" if self.resolved_at is None else "resolved"
        return f"{self.check_name} since {self.opened_at:%Y-%m-%d %H:%M:%S} ({state})"
