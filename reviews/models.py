"""Access reviews: campaigns asking a person to vouch for each piece of vendor access.

A ``ReviewCampaign`` of one agency covers the active credentials of its scope at the
moment it opens (one ``ReviewItem`` each). Each item has a reviewer (the vendor's
sponsor by default, reassignable) who keeps it (with a reason) or revokes it (the
engine revokes it, trigger ``review``). At the deadline the unanswered items are
revoked or escalated to security staff, as the campaign says. A ``ReviewSchedule``
opens campaigns again and again (quarterly privileged, yearly the rest, ...).
Rows change only through ``reviews.services``, which audits every step.
"""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from access.models import Credential, System
from vendors.models import Agency, Vendor


class Scope(models.TextChoices):
    """Which credentials a campaign covers (always only active ones)."""

    ALL = "all", "All vendor credentials"
    VENDOR = "vendor", "One vendor"
    SYSTEM = "system", "One system"
    PRIVILEGED = "privileged", "Privileged only (privileges recorded)"
    CITIZEN_DATA = "citizen_data", "Systems holding citizen records"


class OnNoAnswer(models.TextChoices):
    """What the deadline does to an item nobody answered."""

    REVOKE = "revoke", "Revoke"
    ESCALATE = "escalate", "Escalate to security staff"


class ReviewSchedule(models.Model):
    """Opens a campaign of the same scope every ``interval_days`` (beat, reviews.due)."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="review_schedules")
    name = models.CharField(max_length=200)
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.ALL)
    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, null=True, blank=True)
    system = models.ForeignKey(System, on_delete=models.CASCADE, null=True, blank=True)
    interval_days = models.PositiveIntegerField(
        validators=[MinValueValidator(1)], help_text="Days between campaigns (90: quarterly)."
    )
    duration_days = models.PositiveIntegerField(
        default=14, validators=[MinValueValidator(1)], help_text="Days reviewers have."
    )
    on_no_answer = models.CharField(
        max_length=16, choices=OnNoAnswer.choices, default=OnNoAnswer.REVOKE
    )
    next_run_at = models.DateTimeField()
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["next_run_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(interval_days__gte=1) & Q(duration_days__gte=1),
                name="review_schedule_days_positive",
            ),
        ]

    def __str__(self):
        return f"{self.name} (every {self.interval_days} days)"


class ReviewCampaign(models.Model):
    """One round of review over a scope, with a deadline."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="review_campaigns")
    name = models.CharField(max_length=200)
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.ALL)
    vendor = models.ForeignKey(
        Vendor, on_delete=models.PROTECT, null=True, blank=True, related_name="review_campaigns"
    )
    system = models.ForeignKey(
        System, on_delete=models.PROTECT, null=True, blank=True, related_name="review_campaigns"
    )
    deadline = models.DateTimeField()
    on_no_answer = models.CharField(
        max_length=16, choices=OnNoAnswer.choices, default=OnNoAnswer.REVOKE
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    schedule = models.ForeignKey(
        ReviewSchedule, on_delete=models.SET_NULL, null=True, blank=True, related_name="campaigns"
    )
    created_by = models.CharField(max_length=200, blank=True, default="")
    # Days-before-deadline reminders already sent (SUNDOWN_REVIEW_REMINDER_DAYS).
    reminders_sent = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["open", "closed"]), name="review_campaign_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(scope="vendor") | Q(vendor__isnull=False),
                name="review_campaign_vendor_scope_names_vendor",
            ),
            models.CheckConstraint(
                condition=~Q(scope="system") | Q(system__isnull=False),
                name="review_campaign_system_scope_names_system",
            ),
        ]
        indexes = [
            models.Index(
                fields=["deadline"], condition=Q(status="open"), name="review_campaign_open_idx"
            ),
        ]

    def __str__(self):
        return self.name


class ReviewItem(models.Model):
    """One credential in one campaign, and what its reviewer said."""

    class Decision(models.TextChoices):
        PENDING = "pending", "Awaiting answer"
        KEEP = "keep", "Kept"
        REVOKE = "revoke", "Revoked"
        LAPSED = "lapsed", "No answer: revoked"
        ESCALATED = "escalated", "No answer: escalated"

    ANSWERED = (Decision.KEEP, Decision.REVOKE)

    campaign = models.ForeignKey(ReviewCampaign, on_delete=models.CASCADE, related_name="items")
    credential = models.ForeignKey(
        Credential, on_delete=models.PROTECT, related_name="review_items"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="review_items",
    )
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.PENDING)
    reason = models.TextField(blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "credential"], name="review_item_once_per_campaign"
            ),
            models.CheckConstraint(
                condition=Q(decision__in=["pending", "keep", "revoke", "lapsed", "escalated"]),
                name="review_item_decision_valid",
            ),
            models.CheckConstraint(
                condition=~Q(decision="keep") | ~Q(reason=""),
                name="review_item_keep_has_reason",
            ),
        ]
        indexes = [
            # The reviewer's queue: their pending items, in order.
            models.Index(
                fields=["reviewer", "campaign", "id"],
                condition=Q(decision="pending"),
                name="review_item_queue_idx",
            ),
            models.Index(fields=["campaign", "decision"], name="review_item_progress_idx"),
        ]

    def __str__(self):
        return f"review item {self.pk}"


# What a reviewer may answer (the API's ReviewAnswerEnum).
ANSWERS = [(ReviewItem.Decision.KEEP, "Keep"), (ReviewItem.Decision.REVOKE, "Revoke")]


class RosterAttestation(models.Model):
    """One request to a vendor's security contact to vouch for the vendor's people.

    The contact gets a signed link that works once, until ``expires_at``; only a hash
    of its token is stored. ``roster`` is who held the vendor's live access when the
    link was sent; ``answers`` what the contact said of each (``stays`` or ``left``).
    A departure revokes that person's credentials at once (trigger ``attestation``);
    an unanswered link is ``missed`` at ``expires_at`` and the vendor's access is then
    alerted on or revoked, as SUNDOWN_ATTESTATION_ON_MISSED says.
    """

    class Status(models.TextChoices):
        SENT = "sent", "Waiting for the contact"
        COMPLETED = "completed", "Attested"
        MISSED = "missed", "Missed the deadline"
        SUPERSEDED = "superseded", "Replaced by a newer link"

    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="attestations")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SENT)
    # SHA-256 of the link's token; the token itself exists only in the mail.
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    sent_to = models.EmailField()
    sent_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    roster = models.JSONField(default=list, blank=True)
    answers = models.JSONField(default=dict, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    revoked_credentials = models.JSONField(default=list, blank=True)
    requested_by = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-sent_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["sent", "completed", "missed", "superseded"]),
                name="attestation_status_valid",
            ),
            # One live link per vendor: a new one supersedes the old first.
            models.UniqueConstraint(
                fields=["vendor"], condition=Q(status="sent"), name="attestation_one_live"
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"], condition=Q(status="sent"), name="attestation_due_idx"
            ),
        ]

    def __str__(self):
        return f"roster attestation {self.pk}"
