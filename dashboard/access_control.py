"""What the signed-in user may do, computed once per request for navigation and OTP.

Row-level checks stay with ``vendors.permissions.restrict``; this only answers
"does the user hold PERM in any agency", to decide which links and buttons to show.
"""

from revocation import selectors as revocation_selectors
from vendors import permissions

_CACHE_ATTR = "_sundown_held_perms"
_ERROR_READERS_ATTR = "_sundown_connector_error_readers"


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
