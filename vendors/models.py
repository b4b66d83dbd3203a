"""Agencies (tenants), vendors and their contracts."""

import datetime as dt
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known IANA time zone (e.g. Europe/Berlin).")


class Agency(models.Model):
    """A tenant: a ministry or regional body. Users act within the agencies granted to them."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="Contract end dates are days in this time zone.",
    )
    # Changed only through vendors.services.agency_set_idp_mfa_trust, which audits it.
    trust_idp_mfa = models.BooleanField(
        "accept the identity provider's MFA",
        default=False,
        help_text=(
            "A single sign-on whose ID token reports a second factor (amr/acr) stands in "
            "for Sundown's own TOTP check for this agency's security officers."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "agencies"
        # Object permissions granted per agency with django-guardian; see vendors.permissions.
        default_permissions = ("add", "change", "delete", "view")
        permissions = [
            ("manage_vendors", "Create and change vendors"),
            ("manage_contracts", "Create and amend contracts"),
            ("manage_inventory", "Register systems and credentials"),
            ("revoke_access", "Revoke credentials and use the kill switch"),
            ("view_audit", "Read the audit trail"),
        ]

    def __str__(self):
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Vendor(models.Model):
    """A third party that holds access to agency systems under one or more contracts."""

    class RiskTier(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        OFFBOARDING = "offboarding", "Offboarding"
        OFFBOARDED = "offboarded", "Offboarded"
        SUSPENDED = "suspended", "Suspended"

    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="vendors")
    name = models.CharField("legal name", max_length=200)
    registration_number = models.CharField(max_length=64, blank=True, default="")
    risk_tier = models.CharField(max_length=16, choices=RiskTier.choices, default=RiskTier.MEDIUM)
    sponsor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sponsored_vendors",
        help_text="Agency staff member accountable for this vendor.",
    )
    contact_name = models.CharField(max_length=200, blank=True, default="")
    contact_email = models.EmailField(blank=True, default="")
    # The vendor's own security contact (outside the agency, no account): attests the
    # roster of the vendor's people through a signed, single-use link (reviews.attestation).
    security_contact_name = models.CharField(max_length=200, blank=True, default="")
    security_contact_email = models.EmailField(
        blank=True,
        default="",
        help_text="Gets the roster attestation link; leave empty for no attestation.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "name"], name="vendor_name_unique_per_agency"
            ),
            models.UniqueConstraint(
                fields=["agency", "registration_number"],
                condition=~Q(registration_number=""),
                name="vendor_regno_unique_per_agency",
                # A partial constraint's default message names the constraint itself.
                violation_error_message=(
                    "Another vendor of this agency already has this registration number."
                ),
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "offboarding", "offboarded", "suspended"]),
                name="vendor_status_valid",
            ),
        ]

    def __str__(self):
        return self.name


class Contract(models.Model):
    """A vendor's contract. Access under it ends at the end of ``end_date`` plus grace."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ENDED = "ended", "Ended"
        TERMINATED = "terminated", "Terminated early"

    # Checked by contract_terminate, which writes it (config.modeling.text_errors).
    TEXT_WRITTEN_ELSEWHERE = ("termination_reason",)

    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="contracts")
    reference = models.CharField(max_length=100)
    title = models.CharField(max_length=200, blank=True, default="")
    start_date = models.DateField()
    end_date = models.DateField(help_text="Last day of the contract, in the agency's time zone.")
    grace_days = models.PositiveSmallIntegerField(
        default=0, help_text="Days of access kept after the end date (handover)."
    )
    # Derived from end_date, grace_days and the agency's time zone by the services;
    # stored so the sweep and "ending before X" are one indexed range query.
    access_ends_at = models.DateTimeField(editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    procurement_contact_email = models.EmailField(blank=True, default="")
    termination_reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["end_date", "reference"]
        constraints = [
            models.CheckConstraint(
                condition=Q(start_date__lte=F("end_date")),
                name="contract_start_not_after_end",
                violation_error_message="The start date must not be after the end date.",
            ),
            models.UniqueConstraint(
                fields=["vendor", "reference"], name="contract_reference_unique_per_vendor"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "ended", "terminated"]),
                name="contract_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["access_ends_at"], name="contract_access_ends_idx"),
            models.Index(
                fields=["access_ends_at"],
                condition=Q(status="active"),
                name="contract_active_ending_idx",
            ),
        ]

    def __str__(self):
        return self.reference

    def compute_access_ends_at(self, agency: Agency | None = None) -> dt.datetime:
        """End of ``end_date`` in the agency's zone, plus grace days."""
        tz = (agency or self.vendor.agency).tz
        last_day = self.end_date + dt.timedelta(days=1 + self.grace_days)
        return dt.datetime.combine(last_day, dt.time.min, tzinfo=tz)
