"""Links between Sundown users and the identity provider's subjects."""

from django.conf import settings
from django.db import models


class OidcIdentity(models.Model):
    """One user's subject (``sub``) at one OpenID provider (``iss``).

    Users are found by this pair, never by a username or e-mail claim, so an IdP account
    that later claims a local account's name cannot take that account over.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identity"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OpenID Connect identity"
        verbose_name_plural = "OpenID Connect identities"
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "subject"], name="oidc_identity_unique_subject"
            ),
        ]

    def __str__(self):
        return f"{self.subject} at {self.issuer}"
