"""Rate limits per API token (per user for sessions, per address when anonymous)."""

import math

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from audit.actor import client_ip


def _rates() -> dict[str, str | None]:
    # Read at request time (not import time) so the limits follow settings.
    rates: dict[str, str | None] = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})  # type: ignore[assignment]
    return rates


class TokenRateThrottle(SimpleRateThrottle):
    """One bucket per token, so two integrations of one user do not starve each other.

    A sliding window counted as two fixed ones: this window's requests, plus the previous
    window's weighted by how much of it still lies within the last ``duration`` seconds
    (the previous window's requests taken as evenly spread). DRF's own keeps the time of
    every request of the last window in one cache entry and reads and writes all of it on
    each request: at the default 1200/min a busy integration's every call pickled 1,200
    floats twice and sent them to Redis and back; this entry is three numbers.
    """

    scope = "token"

    def get_rate(self):
        return _rates().get("token")

    def allow_request(self, request, view):
        anonymous = not (request.user and request.user.is_authenticated)
        self.rate = _rates().get("anon" if anonymous else "token")
        if self.rate is None:
            return True
        limit, duration = self.num_requests, self.duration = self.parse_rate(self.rate)
        assert limit is not None and duration is not None  # a rate was given
        self.key = self.get_cache_key(request, view)
        now = self.timer()
        window = int(now // duration)
        into = now - window * duration  # seconds into this window
        current = previous = 0
        kept = self.cache.get(self.key)
        # (window, its count, the count of the one before); anything else (DRF's list of
        # times, from before this class) counts as nothing.
        if isinstance(kept, tuple) and len(kept) == 3:
            if kept[0] == window:
                current, previous = kept[1], kept[2]
            elif kept[0] == window - 1:
                previous = kept[1]
        weight = 1 - into / duration  # of the previous window, still inside
        if previous * weight + current >= limit:
            self._wait = _wait_for(limit, duration, current, previous, into)
            return False
        # Two windows' time: the next window still reads this one's count.
        self.cache.set(self.key, (window, current + 1, previous), 2 * duration)
        return True

    def wait(self):
        # Whole seconds for Retry-After; rounded first so float noise (10.000000000000007)
        # does not add one.
        return max(1, math.ceil(round(self._wait, 3)))

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


def _wait_for(limit: int, duration: int, current: int, previous: int, into: float) -> float:
    """Seconds until the estimate of TokenRateThrottle drops below ``limit`` again."""
    if current < limit:
        # Within this window, as the previous one's weight falls.
        return duration * (1 - (limit - current) / previous) - into
    if not current:  # a limit of 0: nothing until the next window
        return duration - into
    # In the next window, this one becomes the previous one.
    return (duration - into) + duration * (1 - limit / current)
