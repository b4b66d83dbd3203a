"""Findings: what Sundown saw on a target that the registry does not account for.

A finding names its subject (the system, the account identifier there, and the vendor
and credential when known), its kind (``findings.kinds``), a severity and a triage
status. There is at most one open (or acknowledged) finding per system, account and
kind, held by a partial unique index: seeing the same thing again moves its
``last_seen_at``; it never opens a second one. Rows change only through
``findings.services``, which audits every opening and every triage step.
"""

from django.db import models
from django.db.models import Q

from access.models import Credential, System
from findings.kinds import FINDING_KINDS, Severity, kind_choices
from vendors.models import Vendor


class Finding(models.Model):
    """One difference between the registry and a target, and what people made of it."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"
        FALSE_POSITIVE = "false_positive", "False positive"

    # Open and acknowledged findings are live: one per subject and kind.
    LIVE = (Status.OPEN, Status.ACKNOWLEDGED)

    # A callable, so a kind added to findings.kinds needs no migration.
    kind = models.CharField(max_length=40, choices=kind_choices)
    severity = models.CharField(max_length=10, choices=Severity.CHOICES)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="findings")
    account = models.CharField(
        max_length=500,
        blank=True,
        default="",
        help_text="The account's identifier on the target (role name, DN, SCIM id, ...).",
    )
    vendor = models.ForeignKey(
        Vendor, on_delete=models.PROTECT, null=True, blank=True, related_name="findings"
    )
    credential = models.ForeignKey(
        Credential, on_delete=models.PROTECT, null=True, blank=True, related_name="findings"
    )
    summary = models.CharField(max_length=500, blank=True, default="")
    evidence = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    times_seen = models.PositiveIntegerField(default=1)
    # The last triage step (the whole history is in the audit trail).
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_by = models.CharField(max_length=200, blank=True, default="")
    status_reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "kind", "account"],
                condition=Q(status__in=["open", "acknowledged"]),
                name="finding_one_live_per_subject_kind",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "acknowledged", "resolved", "false_positive"]),
                name="finding_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(severity__in=["low", "medium", "high", "critical"]),
                name="finding_severity_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "severity"], name="finding_status_severity_idx"),
            models.Index(fields=["system", "status"], name="finding_system_status_idx"),
            models.Index(fields=["vendor", "status"], name="finding_vendor_status_idx"),
        ]

    def __str__(self):
        # No related lookups: audit rows for batches of findings call this.
        subject = f" {self.account}" if self.account else ""
        return f"{self.kind_label}{subject}"

    @property
    def kind_label(self) -> str:
        entry = FINDING_KINDS.get(self.kind)
        return entry.label if entry else self.kind

    @property
    def severity_rank(self) -> int:
        return Severity.RANK.get(self.severity, 0)

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE
