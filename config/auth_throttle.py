"""Failed authentication counted per source address, across usernames and API tokens.

django-axes locks a username at an address; spraying one password over many
usernames (or guessing tokens) never trips it. This counts every failed sign-in
and every invalid or refused token from an address in a fixed window on the
shared cache (CACHE_URL), and refuses the address once it is over the budget,
with the right password too, until the window ends.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied


def _window() -> tuple[int, int, int]:
    limit = int(settings.SUNDOWN_AUTH_FAILURES_PER_ADDRESS)
    seconds = int(settings.SUNDOWN_AUTH_FAILURE_WINDOW_SECONDS)
    return limit, seconds, int(time.time() // seconds)


def _key(address: str, number: int) -> str:
    return f"sundown_auth_failures:{address}:{number}"


def auth_failure_record(address: str | None) -> None:
    if not address:
        return
    _, seconds, number = _window()
    key = _key(address, number)
    cache.add(key, 0, seconds * 2)
    try:
        cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, seconds * 2)


def auth_blocked_for(address: str | None) -> int:
    """Seconds until ``address`` may try again; 0 when it may now."""
    if not address:
        return 0
    limit, seconds, number = _window()
    if cache.get(_key(address, number), 0) < limit:
        return 0
    return max(1, seconds - int(time.time()) % seconds)


class AddressThrottleBackend:
    """First authentication backend: an address over its budget is refused before any
    password is checked (Django stops at a backend's PermissionDenied)."""

    def authenticate(self, request, **credentials):
        from audit.actor import client_ip

        if request is not None and auth_blocked_for(client_ip(request)):
            raise PermissionDenied("Too many failed sign-ins from this address.")
        return None

    # No get_user: it never signs anyone in, so no session names it as its backend.
