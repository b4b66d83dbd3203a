"""The identity provider as seen through Authlib: discovery, the code flow, ID-token checks.

Authlib does the protocol: state and nonce kept in the session, PKCE (S256), the code
exchange, the ID token's signature against the provider's JWKS (fetched again when a new
key id appears) and its claims. Sundown adds what Authlib leaves to the caller: the
discovered issuer must be the configured one, ``aud`` must be our client id, and neither
``none`` nor a symmetric algorithm is accepted for the signature.
"""

import threading
from typing import Any

from authlib.integrations.base_client import OAuthError
from authlib.integrations.django_client import DjangoOAuth2App, OAuth
from joserfc.errors import JoseError
from requests import RequestException

from sso.config import OidcConfig

_lock = threading.Lock()
_apps: dict[tuple[str, ...], DjangoOAuth2App] = {}


class ProviderError(Exception):
    """The sign-in cannot go on; ``reason`` is the short code the audit trail records."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def app_for(config: OidcConfig) -> DjangoOAuth2App:
    # One Authlib app per configuration, so discovery and JWKS are fetched once per process.
    with _lock:
        app = _apps.get(config.cache_key)
        if app is None:
            app = OAuth().register(
                name="sundown_idp",
                client_id=config.client_id,
                client_secret=config.client_secret,
                server_metadata_url=config.discovery_url,
                client_kwargs={
                    "scope": config.scopes,
                    "code_challenge_method": "S256",
                    "default_timeout": config.timeout,
                },
            )
            _apps[config.cache_key] = app
    return app


def provider_metadata(app: DjangoOAuth2App, config: OidcConfig) -> dict[str, Any]:
    try:
        metadata = app.load_server_metadata()
    except (RequestException, ValueError) as exc:
        raise ProviderError("provider_unreachable", str(exc)) from None
    if metadata.get("issuer", "").rstrip("/") != config.issuer.rstrip("/"):
        raise ProviderError(
            "issuer_mismatch", f"discovery says {metadata.get('issuer')!r}, not {config.issuer!r}"
        )
    algorithms = [
        alg
        for alg in metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        if alg != "none" and not alg.startswith("HS")
    ]
    metadata["id_token_signing_alg_values_supported"] = algorithms
    return metadata


def id_token_claims_options(metadata: dict[str, Any], config: OidcConfig) -> dict[str, Any]:
    """What the ID token's claims must say besides Authlib's checks (exp, iat, nonce, azp)."""
    return {
        "iss": {"essential": True, "value": metadata["issuer"]},
        "aud": {"essential": True, "value": config.client_id},
        "sub": {"essential": True},
        "exp": {"essential": True},
    }


def authorize_redirect(request, config: OidcConfig, redirect_uri: str):
    """The redirect to the provider's authorization endpoint (state, nonce, PKCE saved)."""
    app = app_for(config)
    provider_metadata(app, config)
    try:
        return app.authorize_redirect(request, redirect_uri)
    except RequestException as exc:
        raise ProviderError("provider_unreachable", str(exc)) from None


def authorize_callback(request, config: OidcConfig) -> dict[str, Any]:
    """Check the callback, exchange the code and return the verified claims.

    The ID token's claims win over userinfo's: amr and acr, in particular, are only
    believed from the signed token.
    """
    app = app_for(config)
    metadata = provider_metadata(app, config)
    options = id_token_claims_options(metadata, config)
    try:
        token = app.authorize_access_token(request, claims_options=options)
    except OAuthError as exc:
        reason = "state_mismatch" if exc.error == "mismatching_state" else "provider_error"
        raise ProviderError(reason, exc.description or exc.error or "") from None
    except JoseError as exc:
        raise ProviderError("invalid_id_token", f"{exc.error}: {exc.description}") from None
    except RequestException as exc:
        raise ProviderError("provider_unreachable", str(exc)) from None
    id_claims = token.get("userinfo")
    if not id_claims:
        raise ProviderError("invalid_id_token", "the token response had no ID token")
    claims: dict[str, Any] = {}
    if metadata.get("userinfo_endpoint"):
        try:
            claims.update(app.userinfo(token=token))
        except (RequestException, ValueError) as exc:
            raise ProviderError("provider_unreachable", f"userinfo: {exc}") from None
        if claims.get("sub") != id_claims["sub"]:
            raise ProviderError("invalid_id_token", "userinfo is about another subject")
    claims.update(id_claims)
    return claims
