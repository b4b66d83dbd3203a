"""Authentication for the API: hashed API tokens and the browser session (with CSRF)."""

from django.core.cache import cache
from rest_framework import authentication, exceptions

from api.selectors import api_token_for_key, api_token_usable
from api.services import api_token_touch
from audit.actor import Actor, client_ip
from audit.models import ActorType
from audit.services import audit_record_standalone
from config.auth_throttle import auth_blocked_for, auth_failure_record

# A revoked or expired key still in use is worth a look (a leaked key, a forgotten
# integration), but one event per token per this many seconds is enough.
REFUSAL_AUDIT_INTERVAL = 300


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token <key>``; the key is looked up by its SHA-256 hash."""

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid token header: use 'Authorization: Token <key>'."
            )
        address = client_ip(request)
        wait = auth_blocked_for(address)
        if wait:
            # Before the lookup: guessing keys from one address has a budget.
            raise exceptions.Throttled(wait=wait)
        try:
            key = header[1].decode("ascii")
        except UnicodeError:
            auth_failure_record(address)
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = api_token_for_key(key)
        if token is None:
            auth_failure_record(address)
            raise exceptions.AuthenticationFailed("Invalid token.")
        usable, why = api_token_usable(token)
        if not usable:
            auth_failure_record(address)
            self._audit_refusal(request, token, why)
            raise exceptions.AuthenticationFailed(why)
        api_token_touch(token=token, ip=client_ip(request))
        # audit.actor.Actor.from_request records the token (pk and prefix) as
        # the actor; it reads it from the Django request underneath DRF's.
        request._request.auth_token = token
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword

    def _audit_refusal(self, request, token, why: str) -> None:
        if not cache.add(f"sundown_api_token_refused:{token.pk}", 1, REFUSAL_AUDIT_INTERVAL):
            return
        actor = Actor(
            type=ActorType.TOKEN,
            id=str(token.pk),
            name=f"{token.user.get_username()} (token {token.prefix})",
            source_ip=client_ip(request),
            request_id=getattr(request, "request_id", ""),
        )
        audit_record_standalone(
            actor=actor,
            action="api.token_refused",
            target=token,
            after={"reason": why, "path": request.path[:300]},
        )


class CsrfSessionAuthentication(authentication.SessionAuthentication):
    """The dashboard's session; DRF enforces CSRF on unsafe methods for it."""
