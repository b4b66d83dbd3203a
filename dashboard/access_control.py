"""What the signed-in user may do, computed once per request for navigation and OTP.

Row-level checks stay with ``vendors.permissions.restrict``; this only answers
"does the user hold PERM in any agency", to decide which links and buttons to show.
"""

from django.contrib.contenttypes.models import ContentType
from guardian.models import GroupObjectPermission, UserObjectPermission

from vendors import permissions
from vendors.models import Agency

ALL_PERMS = (
    permissions.VIEW,
    permissions.MANAGE_VENDORS,
    permissions.MANAGE_CONTRACTS,
    permissions.MANAGE_INVENTORY,
    permissions.REVOKE,
    permissions.VIEW_AUDIT,
)
_CACHE_ATTR = "_sundown_held_perms"


def held_perms(request) -> frozenset[str]:
    """Agency permissions the user holds in at least one agency (one query, cached)."""
    cached = getattr(request, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    user = request.user
    held: frozenset[str]
    if not user.is_authenticated or not user.is_active:
        held = frozenset()
    elif user.is_superuser:
        held = frozenset(ALL_PERMS)
    else:
        ct = ContentType.objects.get_for_model(Agency)
        direct = UserObjectPermission.objects.filter(user=user, content_type=ct).values_list(
            "permission__codename"
        )
        via_groups = GroupObjectPermission.objects.filter(
            group__user=user, content_type=ct
        ).values_list("permission__codename")
        held = frozenset(f"vendors.{codename}" for (codename,) in direct.union(via_groups))
    setattr(request, _CACHE_ATTR, held)
    return held


def otp_required(request) -> bool:
    """Security officers (the only role that may revoke) must pass TOTP every session."""
    return permissions.REVOKE in held_perms(request)
