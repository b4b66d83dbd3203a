"""Roles and agency-scoped object permissions, shared by the API and the dashboard.

A user's rights are django-guardian object permissions on ``Agency`` rows. A
role is a named bundle of those permissions; granting a role in an agency
assigns the bundle on that agency object and puts the user in the role's group.
Every query for agency-owned data goes through ``restrict``.
"""

from typing import cast

from django.contrib.auth.models import Group
from django.db.models import Model, QuerySet
from guardian.shortcuts import assign_perm, get_objects_for_user, remove_perm

from vendors.models import Agency

VIEW = "vendors.view_agency"
MANAGE_VENDORS = "vendors.manage_vendors"
MANAGE_CONTRACTS = "vendors.manage_contracts"
MANAGE_INVENTORY = "vendors.manage_inventory"
REVOKE = "vendors.revoke_access"
VIEW_AUDIT = "vendors.view_audit"

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "security_officer": (VIEW, MANAGE_VENDORS, MANAGE_INVENTORY, REVOKE, VIEW_AUDIT),
    "procurement": (VIEW, MANAGE_VENDORS, MANAGE_CONTRACTS),
    "auditor": (VIEW, VIEW_AUDIT),
    "integration": (VIEW, MANAGE_VENDORS, MANAGE_CONTRACTS, MANAGE_INVENTORY),
}
ROLES = tuple(ROLE_PERMISSIONS)

# How each agency-owned model reaches its agency.
AGENCY_PATHS: dict[str, str] = {
    "vendors.agency": "pk",
    "vendors.vendor": "agency",
    "vendors.contract": "vendor__agency",
    "access.system": "agency",
    "access.credential": "system__agency",
    "audit.auditevent": "agency_id",
}


def agencies_for(user, perm: str = VIEW) -> QuerySet[Agency]:
    """Agencies in which ``user`` holds ``perm`` (superusers: all)."""
    if not user or not user.is_authenticated or not user.is_active:
        return Agency.objects.none()
    return get_objects_for_user(user, perm, klass=Agency, accept_global_perms=False)


def restrict(queryset: QuerySet, user, perm: str = VIEW) -> QuerySet:
    """Limit ``queryset`` to rows of agencies where ``user`` holds ``perm``."""
    path = AGENCY_PATHS[queryset.model._meta.label_lower]
    agency_ids = agencies_for(user, perm).values("pk")
    if path == "agency_id":
        return queryset.filter(agency_id__in=agency_ids)
    return queryset.filter(**{f"{path}__in": agency_ids})


def agency_of(obj: Model) -> Agency:
    path = AGENCY_PATHS[obj._meta.label_lower]
    value: object = obj
    if path != "pk":
        for part in path.split("__"):
            value = getattr(value, part)
    return cast(Agency, value)


def has_agency_perm(user, perm: str, obj: Model) -> bool:
    """True when ``user`` holds ``perm`` in the agency that owns ``obj``."""
    agency = agency_of(obj)
    return agencies_for(user, perm).filter(pk=agency.pk).exists()


def role_grant(*, user, agency: Agency, role: str) -> None:
    """Give ``user`` the role's permissions in ``agency`` (see vendors.services)."""
    if role not in ROLE_PERMISSIONS:
        raise ValueError(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}")
    group, _ = Group.objects.get_or_create(name=role)
    user.groups.add(group)
    for perm in ROLE_PERMISSIONS[role]:
        assign_perm(perm, user, agency)


def role_revoke(*, user, agency: Agency, role: str) -> None:
    for perm in ROLE_PERMISSIONS[role]:
        remove_perm(perm, user, agency)


def roles_of(user, agency: Agency) -> list[str]:
    from guardian.shortcuts import get_perms

    held = {f"vendors.{p}" for p in get_perms(user, agency)}
    return [role for role, perms in ROLE_PERMISSIONS.items() if set(perms) <= held]
