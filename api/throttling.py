"""Rate limits per API token (per user for sessions, per address when anonymous)."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from audit.actor import client_ip


def _rates() -> dict[str, str | None]:
    # Read at request time (not import time) so the limits follow settings.
    rates: dict[str, str | None] = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})  # type: ignore[assignment]
    return rates


class TokenRateThrottle(SimpleRateThrottle):
    """One bucket per token, so two integrations of one user do not starve each other."""

    scope = "token"

    def get_rate(self):
        return _rates().get("token")

    def allow_request(self, request, view):
        anonymous = not (request.user and request.user.is_authenticated)
        self.rate = _rates().get("anon" if anonymous else "token")
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_ident(self, request):
        # DRF's own reads X-Forwarded-For from anyone; this trusts only our proxies.
        return client_ip(request) or "unknown"

    def get_cache_key(self, request, view):
        token = getattr(request, "auth", None)
        if token is not None and hasattr(token, "prefix"):
            ident = f"token:{token.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"anon:{self.get_ident(request)}"
        return f"sundown_api_throttle:{ident}"
