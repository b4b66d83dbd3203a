"""API tokens: only a hash of each key is stored; the key is shown once at creation."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class ApiToken(models.Model):
    """A personal or service-account API key, stored as its SHA-256 hash.

    The key is 256 bits of randomness, so an unsalted SHA-256 is enough to make a
    database dump useless for authenticating, and it lets a request find its
    token with one indexed lookup. ``prefix`` is a short, non-secret part of the
    key kept for display and in the audit trail ("token sdn_1a2b3c4d").
    """

    class Kind(models.TextChoices):
        PERSONAL = "personal", "Personal"
        SERVICE = "service", "Service account"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for (e.g. 'HR sync').")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PERSONAL)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200, blank=True, default="", editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.CharField(max_length=200, blank=True, default="", editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["personal", "service"]), name="apitoken_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | ~Q(revoked_by=""),
                name="apitoken_revocation_has_author",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.prefix})"
