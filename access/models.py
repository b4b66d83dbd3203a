"""Target systems and the credentials vendors hold on them."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from config.json_depth import BoundedJSONField, Truncated
from revocation.connectors.registry import kind_choices, kind_enum
from vendors.models import Agency, Contract, Vendor


class System(models.Model):
    """A target system that holds data and accepts vendor credentials."""

    # The kinds are the connector registry's: one member per kind with a working connector.
    Kind = kind_enum()

    class Lifecycle(models.TextChoices):
        ACTIVE = "active", "Active"
        LEGACY = "legacy", "Legacy"
        DECOMMISSIONED = "decommissioned", "Decommissioned"

    class Classification(models.TextChoices):
        PUBLIC = "public", "Public"
        INTERNAL = "internal", "Internal"
        CONFIDENTIAL = "confidential", "Confidential"
        RESTRICTED = "restricted", "Restricted"

    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="systems")
    name = models.CharField(max_length=200)
    # A callable, so adding a kind to the registry needs no migration. A row whose kind
    # has left the registry fails validation with this message, and its revocations
    # fail permanently (connector_for), instead of crashing anything.
    kind = models.CharField(
        max_length=16,
        choices=kind_choices,
        error_messages={
            "invalid_choice": "Sundown has no connector for systems of kind %(value)r: "
            'choose one of the kinds offered ("manual" hands revocations to a person).'
        },
    )
    # Bounded: a config stored before the API's depth limit reads without a RecursionError
    # (cut short, and shown as one to enter again: System.config_truncated).
    config = BoundedJSONField(
        default=dict, blank=True, help_text="Non-secret connection settings (host, port, ...)."
    )
    # Fernet token (see access.crypto); never shown back to anyone.
    secret_encrypted = models.TextField(blank=True, default="", editable=False)
    lifecycle = models.CharField(max_length=16, choices=Lifecycle.choices, default=Lifecycle.ACTIVE)
    data_classification = models.CharField(
        max_length=16, choices=Classification.choices, default=Classification.INTERNAL
    )
    estimated_records = models.BigIntegerField(
        default=0,
        validators=[MinValueValidator(0)],
        help_text="Estimated citizen records held.",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_systems",
    )
    owner_email = models.EmailField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "name"], name="system_name_unique_per_agency"
            ),
            models.CheckConstraint(
                condition=Q(estimated_records__gte=0), name="system_records_not_negative"
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def config_truncated(self) -> bool:
        """True when the stored config is nested deeper than the API has allowed since
        issue 10 (a row from before the limit): it is shown cut short, and no connector
        can use it; its settings must be entered again."""
        return isinstance(self.config, Truncated)

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)

    @property
    def tls_verify(self) -> bool | None:
        """False when this system's config switches TLS certificate and host-name checks
        off (``tls_verify: false``); None where its kind has no such setting."""
        from access.system_config import config_keys

        if "tls_verify" not in config_keys(self.kind)[0]:
            return None
        return (self.config or {}).get("tls_verify", True) is not False

    @property
    def demo_label(self) -> str:
        """ "demo: host does not exist" for the demo's placeholder systems, else ""."""
        from access.system_config import demo_label

        return demo_label(self.kind, self.config)

    def get_secret(self) -> str:
        from access.crypto import decrypt

        return decrypt(self.secret_encrypted) if self.secret_encrypted else ""


class Credential(models.Model):
    """One piece of access a vendor holds on one system."""

    class Kind(models.TextChoices):
        DATABASE_ROLE = "database_role", "Database role"
        DIRECTORY_ACCOUNT = "directory_account", "Directory account"
        SAAS_ACCOUNT = "saas_account", "SaaS account"
        API_KEY = "api_key", "API key"
        SSH_KEY = "ssh_key", "SSH key"
        CACHE_USER = "cache_user", "Cache / Redis ACL user"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PENDING = "pending", "Revocation pending"
        REVOKED = "revoked", "Revoked (verified)"
        # A person's word that the access is gone, with no read of the target behind
        # it: never shown or counted as verified (see status_label).
        CONFIRMED = "confirmed", "Revoked, confirmed by a person"
        FAILED = "failed", "Revocation failed"

    # Checked where they are written (the request's reason, the connector's error), not
    # by every save: an old value there must not block editing the holder
    # (config.modeling.text_errors).
    TEXT_WRITTEN_ELSEWHERE = ("revocation_reason", "last_error")

    # No index of their own: (vendor, status) and the unique (system, external_id) lead
    # with them, and every index is one more entry written per revocation state change.
    vendor = models.ForeignKey(
        Vendor, on_delete=models.PROTECT, related_name="credentials", db_index=False
    )
    system = models.ForeignKey(
        System, on_delete=models.PROTECT, related_name="credentials", db_index=False
    )
    contracts = models.ManyToManyField(
        Contract, related_name="credentials", help_text="Contracts that authorise this access."
    )
    kind = models.CharField(max_length=24, choices=Kind.choices)
    external_id = models.CharField(
        max_length=500, help_text="Identifier on the target: role name, DN, SCIM id, fingerprint."
    )
    holder = models.CharField(
        max_length=200, blank=True, default="", help_text="Person or service."
    )
    privileges = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    issued_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    # Revocation bookkeeping (driven by the revocation engine).
    revocation_requested_at = models.DateTimeField(null=True, blank=True)
    revocation_reason = models.TextField(blank=True, default="")
    revocation_requested_by = models.CharField(max_length=200, blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    lease_owner = models.CharField(max_length=100, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=200, blank=True, default="")
    # When a read of the target last showed this account (registration check, a
    # batch's presence read). Never set means Sundown has not seen it there: a
    # revocation then fails as "not found" instead of counting as already gone.
    last_seen_on_target_at = models.DateTimeField(null=True, blank=True, editable=False)
    target_checked_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["system__name", "external_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "external_id"], name="credential_external_id_unique_per_system"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "pending", "revoked", "confirmed", "failed"]),
                name="credential_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["revoked", "confirmed"]) | Q(revoked_at__isnull=False),
                name="credential_revoked_has_time",
            ),
        ]
        indexes = [
            # The revocation work queue: pending credentials per system, by due time,
            # then id: the claim's order, so taking 1,000 of 100,000 rows due at the same
            # instant reads 1,000 index entries instead of sorting every pending row.
            models.Index(
                fields=["system", "next_attempt_at", "id"],
                condition=Q(status="pending"),
                name="credential_pending_idx",
            ),
            # The sweep's expiry step: active credentials by their own expiry.
            models.Index(
                fields=["expires_at"],
                condition=Q(status="active", expires_at__isnull=False),
                name="credential_active_expiry_idx",
            ),
            models.Index(fields=["vendor", "status"], name="credential_vendor_status_idx"),
            models.Index(fields=["status"], name="credential_status_idx"),
        ]

    def __str__(self):
        # No related lookups here: audit rows for batches of credentials call this.
        return f"{self.external_id} ({self.get_kind_display()})"

    @property
    def status_label(self) -> str:
        """The status as people read it: a confirmation names who confirmed."""
        if self.status == self.Status.CONFIRMED:
            return f"Revoked, confirmed by {self.revoked_by or 'a person'}"
        # What get_status_display() gives, read from a dict: Django's own hashes every
        # choice again on each call (0.2 ms of CPU for a page of 50 in the API's list).
        return _STATUS_LABELS.get(self.status, self.status)

    @property
    def seen_on_target(self) -> bool:
        """Whether a read of the target has ever shown this account."""
        return self.last_seen_on_target_at is not None


_STATUS_LABELS: dict[str, str] = dict(Credential.Status.choices)
