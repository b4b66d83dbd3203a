"""Findings: what Sundown saw on a target that the registry does not account for.

A finding names its subject (the system, the account identifier there, and the vendor
and credential when known), its kind (``findings.kinds``), a severity and a triage
status. There is at most one open (or acknowledged) finding per system, account and
kind, held by a partial unique index: seeing the same thing again moves its
``last_seen_at``; it never opens a second one. Rows change only through
``findings.services``, which audits every opening and every triage step.
"""

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from access.models import Credential, System
from findings.kinds import FINDING_KINDS, Severity, kind_choices
from vendors.models import Agency, Vendor


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


class ReconciliationRun(models.Model):
    """One pass of reconciliation over one system: what the target showed, what differed.

    Created ``queued`` by whoever asks (beat, a person, the command), ``running`` while a
    worker reads and compares, then ``succeeded`` or ``failed``. A worker that dies
    leaves its run ``running``; the next pass over the system marks it ``abandoned``
    (it leaves the chunks it committed, each whole with its audit events; the next pass
    completes the work without duplicates: ``findings.reconciliation``).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        ABANDONED = "abandoned", "Abandoned (worker lost)"

    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="reconciliation_runs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=32, help_text="schedule, manual, command, ...")
    requested_by = models.CharField(max_length=200, blank=True, default="")
    worker = models.CharField(max_length=200, blank=True, default="")
    queued_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # What the target showed.
    accounts = models.PositiveIntegerField(default=0)
    active_accounts = models.PositiveIntegerField(default=0)
    sessions = models.PositiveIntegerField(default=0)
    # How it compared with the registry.
    matched = models.PositiveIntegerField(default=0)
    orphans = models.PositiveIntegerField(default=0)
    drifted = models.PositiveIntegerField(default=0)
    not_found = models.PositiveIntegerField(default=0)
    used_after_end = models.PositiveIntegerField(default=0)
    findings_opened = models.PositiveIntegerField(default=0)
    findings_resolved = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-queued_at", "-id"]
        indexes = [models.Index(fields=["system", "-queued_at"], name="reconrun_system_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "succeeded", "failed", "abandoned"]),
                name="reconrun_status_valid",
            ),
        ]

    def __str__(self):
        return f"reconciliation {self.pk} of system {self.system_id}"


# What a run counted: saved with every chunk of a pass (findings.comparison), so a pass
# that dies mid-way leaves a run that says what its committed chunks saw, opened and
# resolved; shown by the API (api.serializers.findings).
RUN_COUNT_FIELDS = [
    "accounts",
    "active_accounts",
    "sessions",
    "matched",
    "orphans",
    "drifted",
    "not_found",
    "used_after_end",
    "findings_opened",
    "findings_resolved",
]


class ReconcileSchedule(models.Model):
    """How often one system is reconciled (absent: every SUNDOWN_RECONCILE_MINUTES)."""

    system = models.OneToOneField(
        System, on_delete=models.CASCADE, primary_key=True, related_name="reconcile_schedule"
    )
    interval_minutes = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1)], help_text="Minutes between passes."
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(interval_minutes__gte=1), name="reconcile_interval_positive"
            ),
        ]

    def __str__(self):
        return f"every {self.interval_minutes} min" if self.enabled else "off"


class AccountPattern(models.Model):
    """How an account on a target is recognised as a vendor's when no credential names it.

    ``prefix``: the identifier starts with the value (``acme_``); ``email_domain``: the
    account's e-mail is at the domain; ``dn_suffix``: an LDAP/AD DN under the value (an
    OU); ``group``: the account is a member of the group (DN or name).
    """

    class Kind(models.TextChoices):
        PREFIX = "prefix", "Name prefix"
        EMAIL_DOMAIN = "email_domain", "E-mail domain"
        DN_SUFFIX = "dn_suffix", "Directory OU (DN suffix)"
        GROUP = "group", "Directory group"

    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="account_patterns")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["vendor_id", "kind", "value"]
        constraints = [
            models.UniqueConstraint(
                fields=["vendor", "kind", "value"], name="account_pattern_unique"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["prefix", "email_domain", "dn_suffix", "group"]),
                name="account_pattern_kind_valid",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.value}"


def default_max_age_days() -> dict[str, int]:
    """The deployment's maximum ages per credential kind (SUNDOWN_MAX_AGE_DAYS)."""
    from django.conf import settings

    return dict(settings.SUNDOWN_MAX_AGE_DAYS)


class FindingPolicy(models.Model):
    """An agency's settings for the findings and time-based policies (absent: the defaults).

    Dormant: active access not used for ``dormant_days`` (federal baselines say 90,
    35 at high impact) is a finding, and with ``dormant_revoke`` it is also revoked
    (trigger ``dormant``). Maximum age: active access of a kind in ``max_age_days``
    (credential kind -> days since issued) older than its limit is a ``max_age`` finding,
    and with ``max_age_revoke`` it is also revoked (trigger ``max_age``). Changed only
    through ``findings.services.finding_policy_set``.
    """

    agency = models.OneToOneField(
        Agency, on_delete=models.CASCADE, primary_key=True, related_name="finding_policy"
    )
    dormant_days = models.PositiveIntegerField(
        default=90, validators=[MinValueValidator(1)], help_text="Days unused before dormant."
    )
    dormant_revoke = models.BooleanField(
        default=False, help_text="Revoke dormant access automatically."
    )
    max_age_days = models.JSONField(
        default=default_max_age_days,
        blank=True,
        help_text='Maximum age in days per credential kind, e.g. {"api_key": 365}.',
    )
    max_age_revoke = models.BooleanField(
        default=False, help_text="Revoke access older than its maximum age automatically."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(dormant_days__gte=1), name="finding_policy_dormant_positive"
            ),
        ]

    def __str__(self):
        return f"dormant after {self.dormant_days} days"


class VendorNetwork(models.Model):
    """A network a vendor's logins may come from (an address or CIDR block).

    A vendor with none is not checked; once it has one, a reported login from outside
    all of them is an ``unexpected_source`` finding. Changed only through
    ``findings.networks``, audited.
    """

    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="allowed_networks")
    cidr = models.CharField(
        max_length=64, help_text="An address or network in CIDR form (203.0.113.0/24)."
    )
    note = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["vendor_id", "cidr"]
        constraints = [
            models.UniqueConstraint(fields=["vendor", "cidr"], name="vendor_network_unique"),
        ]

    def __str__(self):
        return self.cidr


class UsageEvent(models.Model):
    """A login a log shipper reported for a target Sundown cannot read live.

    ``event_id`` is the shipper's: a batch sent twice stores each event once (unique
    per system). ``credential`` and ``vendor`` are what Sundown matched the account to
    when it arrived; ``volume_anomaly`` marks events kept out of the vendor's baseline.
    """

    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="usage_events")
    event_id = models.CharField(max_length=200)
    account = models.CharField(max_length=500)
    occurred_at = models.DateTimeField()
    source_address = models.GenericIPAddressField(null=True, blank=True)
    bytes = models.PositiveBigIntegerField(null=True, blank=True)
    credential = models.ForeignKey(
        Credential, on_delete=models.PROTECT, null=True, blank=True, related_name="usage_events"
    )
    vendor = models.ForeignKey(
        Vendor, on_delete=models.PROTECT, null=True, blank=True, related_name="usage_events"
    )
    volume_anomaly = models.BooleanField(default=False)
    received_at = models.DateTimeField()
    reported_by = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["system", "event_id"], name="usage_event_unique_id"),
        ]
        indexes = [
            models.Index(fields=["vendor", "occurred_at"], name="usage_event_vendor_time_idx"),
            models.Index(fields=["credential", "occurred_at"], name="usage_event_cred_time_idx"),
        ]

    def __str__(self):
        return f"{self.account} at {self.occurred_at:%Y-%m-%d %H:%M}"
