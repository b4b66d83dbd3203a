"""What the signed-in user may do, computed once per request for navigation and OTP.

Row-level checks stay with ``vendors.permissions.restrict``; this only answers
"does the user hold PERM in any agency", to decide which links and buttons to show.
"""

import datetime as dt
import zoneinfo

from revocation import selectors as revocation_selectors
from vendors import permissions

_CACHE_ATTR = "_sundown_held_perms"
_ERROR_READERS_ATTR = "_sundown_connector_error_readers"
_ZONE_ATTR = "_sundown_display_zone"


def held_perms(request) -> frozenset[str]:
    """Agency permissions the user holds in at least one agency (cached on the request)."""
    cached = getattr(request, _CACHE_ATTR, None)
    if cached is None:
        cached = permissions.perms_held_anywhere(request.user)
        setattr(request, _CACHE_ATTR, cached)
    return cached


def otp_required(request) -> bool:
    """Security officers (the only role that may revoke) must pass TOTP every session."""
    return permissions.REVOKE in held_perms(request)


def connector_error_readers(request) -> frozenset[int]:
    """Agencies whose connector errors the user may read (cached on the request)."""
    cached = getattr(request, _ERROR_READERS_ATTR, None)
    if cached is None:
        cached = revocation_selectors.connector_error_readers(request.user)
        setattr(request, _ERROR_READERS_ATTR, cached)
    return cached


def display_zone(request) -> dt.tzinfo:
    """The zone the dashboard shows times in: the agencies' zone when all the user's
    agencies share one (the usual case), UTC otherwise (cached on the request)."""
    cached = getattr(request, _ZONE_ATTR, None)
    if cached is None:
        zones = set(permissions.agencies_for(request.user).values_list("time_zone", flat=True)[:50])
        cached = zoneinfo.ZoneInfo(zones.pop()) if len(zones) == 1 else dt.UTC
        setattr(request, _ZONE_ATTR, cached)
    return cached
