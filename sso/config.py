"""Single sign-on settings as one value, read from django.conf.settings at call time."""

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from sso.mapping import MappingError, RoleMapping, parse_mapping
from vendors.permissions import ROLES

LOCAL_LOGIN_POLICIES = ("all", "superusers", "none")


@dataclass(frozen=True)
class OidcConfig:
    """Where the identity provider is, who we are to it, and how its claims map to roles."""

    issuer: str
    discovery_url: str
    client_id: str
    client_secret: str
    scopes: str
    provider_name: str
    username_claim: str
    groups_claim: str
    mapping: RoleMapping
    mfa_amr: tuple[str, ...]
    mfa_acr: tuple[str, ...]
    timeout: int

    @property
    def cache_key(self) -> tuple[str, str, str, str, str]:
        return (self.issuer, self.discovery_url, self.client_id, self.client_secret, self.scopes)


def oidc_config() -> OidcConfig | None:
    """The configured provider, or None when single sign-on is off (no issuer set)."""
    # Kept exactly as given: it must equal the ID token's iss, trailing slash and all.
    issuer = settings.SUNDOWN_OIDC_ISSUER.strip()
    if not issuer:
        return None
    if not settings.SUNDOWN_OIDC_CLIENT_ID:
        raise ImproperlyConfigured("SUNDOWN_OIDC_ISSUER is set but SUNDOWN_OIDC_CLIENT_ID is not.")
    try:
        mapping = parse_mapping(settings.SUNDOWN_OIDC_ROLE_MAPPING, roles=ROLES)
    except MappingError as exc:
        raise ImproperlyConfigured(f"SUNDOWN_OIDC_ROLE_MAPPING: {exc}") from None
    return OidcConfig(
        issuer=issuer,
        discovery_url=settings.SUNDOWN_OIDC_DISCOVERY_URL
        or f"{issuer.rstrip('/')}/.well-known/openid-configuration",
        client_id=settings.SUNDOWN_OIDC_CLIENT_ID,
        client_secret=settings.SUNDOWN_OIDC_CLIENT_SECRET,
        scopes=" ".join(dict.fromkeys(["openid", *settings.SUNDOWN_OIDC_SCOPES])),
        provider_name=settings.SUNDOWN_OIDC_PROVIDER_NAME,
        username_claim=settings.SUNDOWN_OIDC_USERNAME_CLAIM,
        groups_claim=settings.SUNDOWN_OIDC_GROUPS_CLAIM,
        mapping=mapping,
        mfa_amr=tuple(settings.SUNDOWN_OIDC_MFA_AMR),
        mfa_acr=tuple(settings.SUNDOWN_OIDC_MFA_ACR),
        timeout=settings.SUNDOWN_OIDC_TIMEOUT_SECONDS,
    )


def local_login_policy() -> str:
    """Who may sign in with a password: everyone, superusers only (break-glass), or nobody."""
    policy = settings.SUNDOWN_LOCAL_LOGIN
    if policy not in LOCAL_LOGIN_POLICIES:
        raise ImproperlyConfigured(
            f"SUNDOWN_LOCAL_LOGIN={policy!r}; use one of {', '.join(LOCAL_LOGIN_POLICIES)}."
        )
    return policy
